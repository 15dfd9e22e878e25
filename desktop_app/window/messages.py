"""The status bar's three kinds of message: a problem (stays), a notice (a problem already put
right: passes) and a routine message (passes, and never hides a recent problem)."""

from __future__ import annotations

import logging
import time

from desktop_app.texts import settings_problems_text

log = logging.getLogger("desktop_app.main_window")

MESSAGE_MS = 8000
NOTICE_MS = 20_000  # a problem already put right: long enough to read, then it goes
ERROR_HOLD_S = 15  # a problem's message is not pushed away by routine messages this soon


class MessagesMixin:
    """MainWindow's messages (its ``_error_shown_at`` and ``_reported_problems``)."""

    def _report_settings_problems(self) -> None:
        problems = [p for p in self.settings.problems() if p not in self._reported_problems]
        if problems:
            self._reported_problems.update(problems)
            self.show_notice(settings_problems_text(problems))

    def show_message(self, message: str) -> None:
        """A problem: stays in the status bar (no timeout) until another message replaces it,
        and routine messages do not replace it for ERROR_HOLD_S. The canvas and the model are
        left as they were."""
        log.info("%s", message)
        self._error_shown_at = time.monotonic()
        self.statusBar().showMessage(message)

    def show_notice(self, message: str) -> None:
        """Something went wrong and was already put right (a reset setting, a remembered model
        replaced by the shipped one): shown like a problem, but it passes after NOTICE_MS."""
        log.info("%s", message)
        self._error_shown_at = time.monotonic()
        self.statusBar().showMessage(message, NOTICE_MS)

    def withdraw_message(self, message: str) -> None:
        """Take ``message`` off the status bar if it is still there (a problem that no longer
        holds, e.g. one dataset's missing model after switching to another)."""
        if message and self.statusBar().currentMessage() == message:
            self.statusBar().clearMessage()
            self._error_shown_at = -ERROR_HOLD_S

    def show_info(self, message: str) -> None:
        """A routine message: shown for a few seconds, unless a recent problem is on display."""
        if time.monotonic() - self._error_shown_at >= ERROR_HOLD_S:
            self.statusBar().showMessage(message, MESSAGE_MS)

"""TeachDialog: Model ▸ Teach it my handwriting — progress, then before → after, Keep or Discard.

The job itself is a ``TeachController`` (a child process); this window only shows it. It is not
modal: the user can go on drawing while the model is taught.
"""

from __future__ import annotations

import html

from PySide6.QtCore import Qt, Signal, Slot
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
)

from desktop_app.learning.teach_controller import TeachController
from desktop_app.texts import teach_progress_text
from desktop_app.views.progress_bar import readable_progress_bar
from training.core.datasets import dataset_title
from training.protocol.messages import (
    EvaluateBegin,
    Message,
    TeachBatch,
    TeachBegin,
    TeachResult,
    WarningMessage,
)


def _percent(value) -> str:
    return f"{value:.2%}" if isinstance(value, (int, float)) else "—"


def results_html(result: TeachResult) -> str:
    """The before → after table of a finished run (what the user decides Keep or Discard on)."""
    before, after = result.get("before") or {}, result.get("after") or {}
    cv = result.get("cross_validation") or {}
    n = int(result.get("samples") or 0)
    rows = [(f"Official test set ({int(result.get('test_images') or 0):,} pictures)",
             _percent(before.get("test_accuracy")), _percent(after.get("test_accuracy")))]
    if cv.get("held_out"):
        rows.append((f"Your {n} samples, each held out while the others taught "
                     f"({cv.get('folds')}-fold)",
                     f"{cv.get('base_correct', 0)}/{n} right",
                     f"{cv.get('correct', 0)}/{n} right"))
    else:
        rows.append((f"Your {n} sample{'s' if n != 1 else ''} (not held out: "
                     f"{html.escape(str(cv.get('reason', 'no cross-validation')))})",
                     _percent(before.get("samples_accuracy")),
                     _percent(after.get("samples_accuracy_fit"))))
    cells = "".join(f"<tr><td>{html.escape(label)}</td><td align='right'>{b}</td>"
                    f"<td align='right'>&nbsp;→&nbsp;</td><td align='right'><b>{a}</b></td></tr>"
                    for label, b, a in rows)
    seconds = (result.get("seconds") or {}).get("total")
    took = f"Taught in {seconds:.0f} s." if isinstance(seconds, (int, float)) else ""
    confused = result.get("confused_classes") or []
    hint = (f" Before, your samples were mistaken for: {html.escape(', '.join(confused))}."
            if confused else "")
    return (f"<table cellspacing='6'><tr><th></th><th>Before</th><th></th><th>After</th></tr>"
            f"{cells}</table><p>{took}{hint}</p>")


class TeachDialog(QDialog):
    kept = Signal(str)   # the taught model's path: the window switches to it

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setObjectName("teachDialog")
        self.setWindowTitle("Teach it my handwriting")
        self.setMinimumWidth(560)
        self.controller = TeachController(self)
        self.heading = QLabel()
        self.heading.setWordWrap(True)
        self.progress = readable_progress_bar("teachProgress")
        self.progress.setTextVisible(True)
        self.results = QLabel(objectName="teachResults")
        self.results.setWordWrap(True)
        self.results.setTextFormat(Qt.TextFormat.RichText)
        self.message = QLabel(objectName="teachMessage")
        self.message.setWordWrap(True)
        self.stop_button = QPushButton("Stop", objectName="stopTeaching")
        self.keep_button = QPushButton("Keep and use it", objectName="keepTaught")
        self.discard_button = QPushButton("Discard", objectName="discardTaught")
        self.close_button = QPushButton("Close", objectName="closeTeach")
        buttons = QDialogButtonBox()
        for button in (self.keep_button, self.discard_button, self.stop_button,
                       self.close_button):
            buttons.addButton(button, QDialogButtonBox.ButtonRole.ActionRole)
        layout = QVBoxLayout(self)
        layout.addWidget(self.heading)
        layout.addWidget(self.progress)
        layout.addWidget(self.results)
        layout.addWidget(self.message)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(buttons)
        layout.addLayout(row)

        self.stop_button.clicked.connect(self.controller.request_stop)
        self.keep_button.clicked.connect(self.keep)
        self.discard_button.clicked.connect(self.discard)
        self.close_button.clicked.connect(self.close)
        self.controller.progress.connect(self._on_progress)
        self.controller.finished.connect(self._on_finished)
        self.controller.failed.connect(self._on_failed)
        self.controller.stateChanged.connect(self._show_state)
        self._show_state(False)

    # -- API
    def start(self, base_model: str, model_name: str, dataset: str, samples: int,
              data_dir: str = "") -> None:
        self.heading.setText(f"Teaching <b>{html.escape(model_name)}</b> your "
                             f"{dataset_title(dataset)} samples ({samples}). The model in use "
                             "stays as it is until you keep the result.")
        self.results.clear()
        self.message.clear()
        self.progress.setRange(0, 0)
        self.progress.setFormat("Starting…")
        self.controller.start(base_model, dataset, data_dir)
        self.show()
        self.raise_()

    def keep(self) -> None:
        path = self.controller.keep()
        self._show_state(False)
        if path:
            self.kept.emit(path)
            self.message.setText("Kept: the canvas now uses the taught model.")
            self.hide()

    def discard(self) -> None:
        self.controller.discard()
        self._show_state(False)
        self.message.setText("Discarded: the model in use is unchanged.")
        self.hide()

    def confirm_close(self) -> bool:
        """For the main window's closeEvent: True when the app may close now. Asks, as training
        does, before a running teaching is stopped, and before a taught model nobody has kept
        or discarded is lost."""
        if self.controller.is_running():
            answer = QMessageBox.question(
                self, "Teaching is running",
                "The model is being taught your samples. Stop teaching and quit? The model in "
                "use stays as it is; the taught model is not kept.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                QMessageBox.StandardButton.No)
            return answer == QMessageBox.StandardButton.Yes
        if self.controller.candidate() is not None:
            answer = QMessageBox.question(
                self, "Keep the taught model?",
                "The taught model has not been kept yet. Keep it (it is used at the next "
                "launch) or discard it?",
                QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Save)
            if answer == QMessageBox.StandardButton.Cancel:
                return False
            self.keep() if answer == QMessageBox.StandardButton.Save else self.discard()
        return True

    def shutdown(self, timeout_ms: int = 1000) -> bool:
        return self.controller.shutdown(timeout_ms)

    # -- events
    def reject(self) -> None:
        """Esc: the same as closing the dialog (QDialog's own only hid it, and teaching went on
        unseen, its model left in models/ with no word)."""
        self.close()

    def closeEvent(self, event) -> None:
        if self.controller.is_running():
            self.controller.request_stop()  # closing the dialog means "never mind"
        elif self.controller.candidate() is not None:
            answer = QMessageBox.question(
                self, "Keep the taught model?",
                "Keep the taught model and use it, or discard it?",
                QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard
                | QMessageBox.StandardButton.Cancel, QMessageBox.StandardButton.Save)
            if answer == QMessageBox.StandardButton.Cancel:
                event.ignore()
                return
            self.keep() if answer == QMessageBox.StandardButton.Save else self.discard()
        event.accept()

    @Slot(bool)
    def _show_state(self, running: bool) -> None:
        has_candidate = self.controller.candidate() is not None
        self.stop_button.setVisible(running)
        self.keep_button.setVisible(has_candidate)
        self.discard_button.setVisible(has_candidate)
        self.close_button.setVisible(not running and not has_candidate)
        if has_candidate:
            self.keep_button.setDefault(True)

    @Slot(object)
    def _on_progress(self, message: Message) -> None:
        if isinstance(message, TeachBegin):
            self.progress.setRange(0, int(message.steps))
            self.progress.setValue(0)
            self.progress.setFormat("Measuring the model as it is…")
        elif isinstance(message, EvaluateBegin):
            which = "as it is" if message.get("model") == "base" else "taught"
            self.progress.setFormat(f"Measuring the model {which} on "
                                    f"{message.samples:,} test pictures…")
        elif isinstance(message, TeachBatch):
            work, done = message.get("work"), message.get("done")
            if isinstance(work, (int, float)) and isinstance(done, (int, float)) and work > 0:
                self.progress.setRange(0, 1000)  # the whole run: reading, teaching, saving
                self.progress.setValue(max(1, round(1000 * min(1.0, done / work))))
            else:  # an older child: its teaching steps
                self.progress.setMaximum(int(message.steps))
                self.progress.setValue(int(message.step))
            self.progress.setFormat(teach_progress_text(message.to_dict()))
        elif isinstance(message, WarningMessage):
            text = message.message
            self.message.setText(text[:1].upper() + text[1:])
            self.adjustSize()

    @Slot(object)
    def _on_finished(self, result: TeachResult) -> None:
        self.progress.setRange(0, 1)
        self.progress.setValue(1)
        self.progress.setFormat("Done: compare, then keep or discard")
        self.results.setText(results_html(result))
        self._show_state(False)
        self.adjustSize()  # the table and any warning: all of it shown, nothing clipped

    @Slot(str)
    def _on_failed(self, message: str) -> None:
        self.progress.setRange(0, 1)
        self.progress.setValue(0)
        self.progress.setFormat("Stopped" if "stopped" in message.lower() else "Failed")
        self.message.setText(message)
        self._show_state(False)

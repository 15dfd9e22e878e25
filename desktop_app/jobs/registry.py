"""The window's one list of background jobs, so that closing is one call.

Every job — an in-process "latest wins" worker (desktop_app/jobs/latest.py) or a child process
(desktop_app/jobs/child.py) — registers itself here when it starts and leaves when it has ended.
``close_all`` asks every job to stop at once, then waits for all of them against one deadline:
closing the window mid-anything ends within about a second, with no thread or child left.
"""

from __future__ import annotations

import time
from typing import Protocol


class Job(Protocol):
    """What the registry needs of a job."""

    name: str

    def stop(self) -> None:
        """Ask the job to end; returns at once."""

    def wait(self, seconds: float) -> bool:
        """Block up to ``seconds`` for the job to end (ending it harder when it must); True when
        it has ended."""

    def is_running(self) -> bool:
        """True while its thread or process is alive."""


class JobRegistry:
    def __init__(self):
        self._jobs: list[Job] = []

    def add(self, job: Job) -> Job:
        if job not in self._jobs:
            self._jobs.append(job)
        return job

    def discard(self, job: Job) -> None:
        if job in self._jobs:
            self._jobs.remove(job)

    def running(self) -> list[str]:
        """Names of the jobs still alive (tests fail on any left after a close)."""
        return [job.name for job in self._jobs if job.is_running()]

    def close_all(self, timeout_s: float = 1.0) -> bool:
        """Stop every job, then wait for all of them until one shared deadline; True when none is
        left running."""
        jobs = list(self._jobs)
        for job in jobs:
            job.stop()
        deadline = time.monotonic() + timeout_s
        ended = all([job.wait(max(0.0, deadline - time.monotonic())) for job in jobs])
        self._jobs = [job for job in self._jobs if job.is_running()]
        return ended and not self._jobs

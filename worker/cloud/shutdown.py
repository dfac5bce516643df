"""SIGTERM/SIGINT: stop taking work at once; cancel the running job if it outlasts the grace period.

Kubernetes sends SIGTERM when it scales down, drains a node or deletes a Job. The worker then stops
receiving; the current alignment gets SHUTDOWN_GRACE_SECONDS to finish, after which `cancel` is
set and the job stops at its next progress report, so its message can be released unpublished.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

log = logging.getLogger(__name__)


class Shutdown:
    def __init__(self, grace_seconds: float) -> None:
        self.requested = threading.Event()  # stop receiving
        self.cancel = threading.Event()  # stop the running job
        self._grace = grace_seconds
        self._timer: threading.Timer | None = None

    def install(self) -> Shutdown:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        return self

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self.requested.is_set():
            log.warning("second %s: cancelling the running job now", signal.Signals(signum).name)
            self.cancel.set()
            return
        log.info(
            "%s: no new work; the running job has %.0f s to finish", signal.Signals(signum).name, self._grace
        )
        self.requested.set()
        self._timer = threading.Timer(self._grace, self.cancel.set)
        self._timer.daemon = True
        self._timer.start()

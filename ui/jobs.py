"""Run engine work off the GUI thread.

A :class:`Job` is a ``QThread`` that calls ``fn(job)`` in its own thread. ``fn``
reports through the job's signals (``progress``, ``tile_ready``) and checks
``job.cancel_event`` (a ``threading.Event`` passed to the engine's ``cancel=``).
Every signal carries the job itself, so the window can ignore a stale job.
The signals are emitted from the worker thread and delivered to slots of
GUI-thread objects as queued calls, so the slots always run on the GUI thread.
"""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QThread, Signal

__all__ = ["Job"]


class Job(QThread):
    """A cancellable piece of work on a worker thread.

    Signals (all carry the job first):
        progress(job, done, total): e.g. tiles restored so far.
        tile_ready(job, payload): a live-preview piece (whatever ``fn`` sends).
        succeeded(job, result): ``fn`` returned ``result``.
        failed(job, exc): ``fn`` raised ``exc`` (not a cancel).
        cancelled(job): ``fn`` stopped because ``cancel_event`` was set
            (it raised :class:`restorer.inference.Cancelled`).

    Args:
        fn: the work, called as ``fn(job)`` on the worker thread; its return
            value is sent with ``succeeded``. It must not touch widgets.
        parent: Qt parent object.
    """

    progress = Signal(object, int, int)
    tile_ready = Signal(object, object)
    succeeded = Signal(object, object)
    failed = Signal(object, object)
    cancelled = Signal(object)

    def __init__(self, fn: Callable[["Job"], Any], parent=None) -> None:
        super().__init__(parent)
        self._fn = fn
        self.cancel_event = threading.Event()

    def cancel(self) -> None:
        """Ask the work to stop at its next check (between tiles)."""
        self.cancel_event.set()

    def run(self) -> None:  # worker thread
        """QThread override: call ``fn`` and emit exactly one of ``succeeded``,
        ``failed`` (any exception, even ``BaseException``) or ``cancelled``."""
        try:
            result = self._fn(self)
        except BaseException as exc:  # noqa: BLE001 - every failure goes back to the GUI
            from restorer.inference import Cancelled

            if isinstance(exc, Cancelled):
                self.cancelled.emit(self)
            else:
                self.failed.emit(self, exc)
        else:
            self.succeeded.emit(self, result)

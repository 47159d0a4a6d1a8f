"""Run engine work off the GUI thread.

A :class:`Job` is a ``QThread`` that calls ``fn(job)`` in its own thread. ``fn``
reports through the job's signals (``progress``, ``tile_ready``) and checks
``job.cancel_event`` (a ``threading.Event`` passed to the engine's ``cancel=``).
The window never makes jobs itself: :mod:`ui.operations` does, and keeps the
bookkeeping (staleness, closing). The signals are emitted from the worker
thread and delivered to slots of GUI-thread objects as queued calls, so the
slots always run on the GUI thread.
"""
from __future__ import annotations

import gc
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from PySide6.QtCore import QThread, Signal

__all__ = ["Job", "freeze_heap", "quiet_gc"]


def freeze_heap() -> None:
    """Move every object alive now out of the garbage collector's sight (``gc.freeze``).

    Why: once torch, spandrel and PySide are imported the heap holds hundreds
    of thousands of long-lived objects, and a full (generation-2) collection
    walks them all while holding the GIL -- about 250 ms here. Triggered on a
    worker thread during a run, that freezes the GUI thread for as long. After
    a freeze, collections only walk objects created since. Cheap (it splices
    lists). Objects frozen are never collected by the cycle collector, so it
    is called only when the new objects are long-lived: after imports (see
    :func:`quiet_gc`) and once, before the first worker starts.
    """
    gc.freeze()


_first_start = True


@contextmanager
def quiet_gc() -> Iterator[None]:
    """Automatic garbage collection off for the block; then, if the block
    imported modules, :func:`freeze_heap`.

    For blocks that may import a lot (the first image decode imports torch,
    the first model load spandrel's architectures): left on, the collector
    runs full collections over the new objects every few thousand
    allocations, each holding the GIL for 50-300 ms and so freezing the GUI
    thread. Objects are still freed by reference counting meanwhile.
    """
    was_enabled = gc.isenabled()
    modules = len(sys.modules)
    gc.disable()
    try:
        yield
    finally:
        if len(sys.modules) != modules:
            freeze_heap()
        if was_enabled:
            gc.enable()


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

    def start(self, *args, **kwargs) -> None:
        """QThread.start; the first job of the process first calls :func:`freeze_heap`
        (the imports done so far: no long GC pause in the workers)."""
        global _first_start
        if _first_start:
            _first_start = False
            freeze_heap()
        super().start(*args, **kwargs)

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

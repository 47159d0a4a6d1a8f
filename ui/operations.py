"""Background operations: the one way the window runs slow work off the GUI thread.

Modelled on Anki's ``aqt.operations``: the window never creates threads or
keeps thread bookkeeping of its own. It asks its :class:`Operations` registry
for an :class:`Op`, says in one expression what happens with the result, and
runs it::

    ops.op(lambda job: load_image(path), lane="open")
       .success(show).failure(report).run()

Callbacks run on the GUI thread. Without ``failure``, an error goes to the
registry's ``error`` signal (the window shows a dialog), so no error is lost.

Two things every caller used to do by hand live here instead:

* **Staleness.** An op started in a *lane* gets the lane's next token; starting
  another op in that lane, or :meth:`Operations.invalidate`, makes the older one
  stale ("the newest request wins"), and a stale op's callbacks are dropped
  (unless it was made with ``keep_stale=True``; it can then read :attr:`Op.current`).
* **Closing.** :meth:`Operations.drain` cancels every running op, waits for its
  thread and drops every later callback: the window's close is one call.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal, Slot

from restorer.facts import first_line

from .jobs import Job

__all__ = ["Operations", "Op"]


class Op(QObject):
    """One background operation: the work, what to do with its outcome, and its staleness token.

    Made by :meth:`Operations.op`; configure with the chained setters, then
    :meth:`run`. An op runs once. It is a QObject living on the GUI thread so that
    the worker's signals reach its slots as queued calls, on the GUI thread.

    Attributes:
        lane: its staleness lane, or None (never stale).
        job: the :class:`~ui.jobs.Job` running the work (None before :meth:`run`).
    """

    def __init__(self, registry: Operations, work: Callable[[Job], Any], lane: str | None, keep_stale: bool) -> None:
        super().__init__()
        self._registry = registry
        self._work = work
        self._keep_stale = keep_stale
        self._token = 0
        self._success: Callable[[Any], None] | None = None
        self._failure: Callable[[BaseException], None] | None = None
        self._cancelled: Callable[[], None] | None = None
        self._progress: Callable[[int, int], None] | None = None
        self._tile: Callable[[Any], None] | None = None
        self._after: Callable[[], None] | None = None
        self.lane = lane
        self.job: Job | None = None

    # ------------------------------------------------------------ configure
    def success(self, fn: Callable[[Any], None]) -> Op:
        """Call ``fn(result)`` on the GUI thread when the work returns."""
        self._success = fn
        return self

    def failure(self, fn: Callable[[BaseException], None]) -> Op:
        """Call ``fn(exc)`` on the GUI thread when the work raises (a cancel is not a failure)."""
        self._failure = fn
        return self

    def cancelled(self, fn: Callable[[], None]) -> Op:
        """Call ``fn()`` when the work stopped on :meth:`cancel` (``restorer.inference.Cancelled``)."""
        self._cancelled = fn
        return self

    def progress(self, fn: Callable[[int, int], None]) -> Op:
        """Call ``fn(done, total)`` for each ``job.progress`` the work emits."""
        self._progress = fn
        return self

    def tile(self, fn: Callable[[Any], None]) -> Op:
        """Call ``fn(payload)`` for each ``job.tile_ready`` the work emits (live pieces)."""
        self._tile = fn
        return self

    def after(self, fn: Callable[[], None]) -> Op:
        """Call ``fn()`` once the outcome is handled, whatever it was and even when
        stale (not after a drain): to start work that waited for this op."""
        self._after = fn
        return self

    # ------------------------------------------------------------------ run
    def run(self) -> Op:
        """Start the work on a worker thread; after :meth:`Operations.drain` nothing starts."""
        if self._registry.closed or self.job is not None:
            return self
        job = Job(self._work, self._registry)
        job.progress.connect(self._on_progress)
        job.tile_ready.connect(self._on_tile)
        job.succeeded.connect(self._on_succeeded)
        job.failed.connect(self._on_failed)
        job.cancelled.connect(self._on_cancelled)
        self.job = job
        self._token = self._registry._enter(self)
        job.start()
        return self

    def cancel(self) -> None:
        """Ask the work to stop at its next check (between tiles)."""
        if self.job is not None:
            self.job.cancel()

    @property
    def current(self) -> bool:
        """False once a newer op of its lane started, the lane was invalidated, or the registry drained."""
        return self._registry._is_current(self.lane, self._token)

    def _deliverable(self) -> bool:
        return not self._registry.closed and (self._keep_stale or self.current)

    # ----------------------------------------------------- worker -> GUI thread
    @Slot(object, int, int)
    def _on_progress(self, job: Job, done: int, total: int) -> None:
        if self._progress is not None and self._deliverable():
            self._progress(done, total)

    @Slot(object, object)
    def _on_tile(self, job: Job, payload) -> None:
        if self._tile is not None and self._deliverable():
            self._tile(payload)

    def _end(self, callback: Callable[..., None] | None, *args) -> None:
        """The work is over: free the thread, leave the registry, deliver, then call ``after``."""
        self.job.wait()
        self.job.deleteLater()
        self._registry._leave(self)
        if self._registry.closed:
            return
        if callback is not None and (self._keep_stale or self.current):
            callback(*args)
        if self._after is not None:
            self._after()

    def _report(self, exc: BaseException) -> None:
        self._registry.error.emit("Background task failed", first_line(exc))

    @Slot(object, object)
    def _on_succeeded(self, job: Job, result) -> None:
        self._end(self._success, result)

    @Slot(object, object)
    def _on_failed(self, job: Job, exc: BaseException) -> None:
        self._end(self._failure or self._report, exc)

    @Slot(object)
    def _on_cancelled(self, job: Job) -> None:
        self._end(self._cancelled)


class Operations(QObject):
    """The registry of the window's running background operations.

    Counts what runs (:meth:`busy`), hands out staleness tokens per lane, and
    drains everything when the window closes.

    Signals:
        error(title, message): an op without a ``failure`` callback failed.
    """

    error = Signal(str, str)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._running: list[Op] = []
        self._tokens: dict[str, int] = {}
        self.closed = False

    def op(self, work: Callable[[Job], Any], *, lane: str | None = None, keep_stale: bool = False) -> Op:
        """A new :class:`Op` for ``work(job)`` (called on a worker thread; it must not touch widgets).

        Args:
            work: the work; it may report through ``job.progress``/``job.tile_ready``
                and should check ``job.cancel_event`` between steps.
            lane: a staleness lane: the op becomes stale when a newer op of the
                lane starts or the lane is invalidated.
            keep_stale: deliver callbacks even when stale (the caller reads :attr:`Op.current`).
        """
        return Op(self, work, lane, keep_stale)

    def invalidate(self, lane: str) -> None:
        """Make the running ops of ``lane`` stale (what they would deliver is out of date)."""
        self._tokens[lane] = self._tokens.get(lane, 0) + 1

    def busy(self, lane: str | None = None) -> bool:
        """True while an op (of ``lane``, when given) runs or its outcome is not yet delivered."""
        return any(lane is None or op.lane == lane for op in self._running)

    def drain(self) -> None:
        """Cancel every running op, wait for its thread, and deliver nothing from now on (window closing)."""
        self.closed = True
        running, self._running = self._running, []
        for op in running:
            op.cancel()
        for op in running:
            op.job.wait()

    # ------------------------------------------------------------------ Op's side
    def _enter(self, op: Op) -> int:
        self._running.append(op)
        if op.lane is None:
            return 0
        self.invalidate(op.lane)
        return self._tokens[op.lane]

    def _leave(self, op: Op) -> None:
        if op in self._running:
            self._running.remove(op)

    def _is_current(self, lane: str | None, token: int) -> bool:
        return not self.closed and (lane is None or self._tokens.get(lane) == token)

"""The window's background-operation helper (ui.operations) and pixel-space conversions (ui.session.Coords)."""
from __future__ import annotations

import threading

import pytest

pytest.importorskip("PySide6")
pytest.importorskip("pytestqt")

from PySide6.QtCore import QRectF  # noqa: E402

from ui.operations import Operations  # noqa: E402
from ui.session import Coords  # noqa: E402

TIMEOUT_MS = 10_000


def _gated(gate: threading.Event, value):
    """Work that waits for ``gate`` (so the test decides when it ends), then returns ``value``."""
    def work(job):
        assert gate.wait(5)
        return value
    return work


def test_the_newest_op_of_a_lane_wins(qtbot):
    ops = Operations()
    gate = threading.Event()
    got, after = [], []
    old = ops.op(_gated(gate, "old"), lane="open").success(got.append).after(lambda: after.append("old")).run()
    new = ops.op(_gated(gate, "new"), lane="open").success(got.append).after(lambda: after.append("new")).run()
    kept = ops.op(_gated(gate, "kept"), lane="open", keep_stale=True)
    kept.success(got.append).run()
    assert not old.current and not new.current and kept.current and ops.busy("open") and not ops.busy("other")
    gate.set()
    qtbot.waitUntil(lambda: not ops.busy(), timeout=TIMEOUT_MS)
    # "old" and "new" are stale (a newer op started); "kept" is delivered; "after" runs for every op.
    assert got == ["kept"] and sorted(after) == ["new", "old"]
    ops.invalidate("open")
    assert not kept.current


def test_failures_go_to_the_callback_or_the_error_signal(qtbot):
    ops = Operations()
    errors, caught = [], []
    ops.error.connect(lambda title, message: errors.append((title, message)))

    def boom(job):
        raise ValueError("first line\nsecond line")

    ops.op(boom).failure(caught.append).run()
    with qtbot.waitSignal(ops.error, timeout=TIMEOUT_MS):
        ops.op(boom).run()
    qtbot.waitUntil(lambda: not ops.busy(), timeout=TIMEOUT_MS)
    assert [str(e) for e in caught] == ["first line\nsecond line"]
    assert errors == [("Background task failed", "first line")]


def test_drain_cancels_waits_and_delivers_nothing(qtbot):
    ops = Operations()
    started, delivered = threading.Event(), []

    def until_cancelled(job):
        started.set()
        assert job.cancel_event.wait(5)
        return "finished anyway"

    op = ops.op(until_cancelled).success(delivered.append).after(lambda: delivered.append("after")).run()
    assert started.wait(5)
    ops.drain()
    assert op.job.isFinished() and op.job.cancel_event.is_set() and not ops.busy()
    qtbot.wait(50)  # the queued outcome arrives and is dropped
    assert delivered == []
    assert ops.op(lambda job: 1).run().job is None  # nothing starts after a drain


def test_coords_convert_between_input_output_and_view():
    coords = Coords(input_width=48, view_width=192)  # a x4 result shown: 4 view pixels per input pixel
    assert coords.input_to_view(QRectF(1, 2, 3, 4)) == QRectF(4, 8, 12, 16)
    assert Coords.output_to_input(QRectF(8, 12, 16, 20), 4) == QRectF(2, 3, 4, 5)
    assert coords.view_box_to_input((5, 4, 11, 13)) == (1, 1, 3, 4)  # the input box covering the view box

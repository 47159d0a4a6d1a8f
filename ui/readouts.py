"""The window's metrics: whole-image scores, the live visible-region readout and
the LPIPS heat map, computed off the GUI thread from one object per image pair.

Each image pair (the result against bicubic, against the reference, ...) is one
:class:`PairMetrics`: the engine's ``RegionMetrics`` behind it answers the
whole image (``whole(full=True)``), any region, and the per-pixel LPIPS map, so
LPIPS, SSIM and PSNR are computed once, not by two workers. It lives on the
:class:`~ui.session.Result` it describes, so its caches (the heat map too) go
with that result and can never match a later one.

:class:`MetricsController` schedules that work for the shown result on one lane
(one job at a time: the heat map first, then the visible region, then the
whole image pair by pair), debounces region requests while the user pans and
zooms, and fills the metrics panel.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QTimer, Signal

from restorer.facts import AFTER_BEFORE, AFTER_REF, MIN_SIDE, PAIRS, first_line

from .operations import Op, Operations
from .pyramid import ImagePyramid

if TYPE_CHECKING:
    from .metrics_panel import MetricsPanel
    from .session import Result, Session
    from .views import ComparisonWorkbench

__all__ = ["PairMetrics", "ConsistencyMetrics", "MetricsController"]


class PairMetrics:
    """Every number of one image pair, from one ``restorer.metrics.RegionMetrics``.

    The engine object is built on first use, on the worker thread (it loads
    LPIPS), and keeps the pair's LPIPS distance maps, so the whole image, every
    region and the heat map share them. Its methods run on a worker, one at a
    time (the controller's lane).

    Args:
        key: the pair (a key of ``restorer.facts.PAIRS``).
        image, reference: (1, 3, H, W) tensors of equal size.
        device: where the networks run.

    Attributes:
        heat: the colourised heat map ``(pyramid, vmax)`` once computed, else None.
    """

    def __init__(self, key: str, image, reference, device: str) -> None:
        self.key, self.image, self.reference, self.device = key, image, reference, device
        self.heat: tuple[ImagePyramid, float] | None = None
        self._engine = None

    def _metrics(self):
        engine = self._engine
        if engine is None:
            from restorer.metrics import RegionMetrics

            engine = self._engine = RegionMetrics(self.image, self.reference, device=self.device)
        return engine

    def whole(self) -> dict[str, float]:
        """Worker thread: the whole-image scores, as ``restorer.metrics.compare``."""
        return self._metrics().whole(full=True)

    def region(self, box: tuple[int, int, int, int]) -> dict[str, float]:
        """Worker thread: LPIPS-Alex, PSNR and SSIM of ``box`` (output pixels)."""
        return self._metrics().region(box)

    def heatmap(self) -> tuple[ImagePyramid, float]:
        """Worker thread: the LPIPS-Alex map, coloured (:func:`ui.heatmap.colorize`), and its top value."""
        from .heatmap import colorize

        image, vmax = colorize(self._metrics().lpips_map())
        return ImagePyramid(image, smooth=True), vmax

    def release(self) -> None:
        """Free the engine's feature caches (the pair is no longer shown); scores and heat map stay."""
        self._engine = None


class ConsistencyMetrics:
    """The no-reference readout of a result: downscaled back, against its input
    (``restorer.metrics.consistency``); whole image only, as the pairs differ in size."""

    def __init__(self, key: str, image, reference, device: str) -> None:
        self.key, self.image, self.reference, self.device = key, image, reference, device

    def whole(self) -> dict[str, float]:
        """Worker thread: PSNR, SSIM and LPIPS-Alex; empty when the input is under ``MIN_SIDE``."""
        if min(self.reference.shape[-2:]) < MIN_SIDE:
            return {}
        from restorer.metrics import consistency

        return consistency(self.image, self.reference, device=self.device)

    def release(self) -> None:
        """Nothing is cached."""


class MetricsController(QObject):
    """Fills the metrics panel and the heat map for the session's shown result.

    Call :meth:`refresh` whenever the shown document, result or reference
    changes, :meth:`request_region` when the visible region moves, and
    :meth:`set_heat_visible` for the heat map. One job runs at a time; region
    requests wait ``delay_ms`` after the last move and only the newest waits.
    A region result for pairs no longer shown is dropped (its lane's token).

    Signals:
        whole_finished(): the whole-image scores asked for are all in (or failed).
        region_finished(): a visible-region readout was shown.
        heatmap_finished(): a heat map was laid over the result.
        message(text, ms): a status-bar line.
        error(title, message): an error box to show.
    """

    whole_finished = Signal()
    region_finished = Signal()
    heatmap_finished = Signal()
    message = Signal(str, int)
    error = Signal(str, str)

    def __init__(self, session: Session, panel: MetricsPanel, workbench: ComparisonWorkbench, ops: Operations,
                 parent: QObject | None = None, delay_ms: int = 150) -> None:
        super().__init__(parent)
        self.session, self.panel, self.workbench, self.ops = session, panel, workbench, ops
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(delay_ms)
        self._timer.timeout.connect(self._kick)
        self._pairs: dict[str, PairMetrics] = {}  # the shown result's pairs, for regions and the heat map
        self._whole: list[tuple[Result, Any]] = []  # whole-image scores waiting: (result, pair)
        self._box: tuple[int, int, int, int] | None = None
        self._heat: PairMetrics | None = None
        self._op: Op | None = None
        self._computing: tuple[str, Any] | None = None  # what the running job computes: (kind, pair)
        self._running_restore = False
        self._error_shown = False

    # ------------------------------------------------------------------ API
    def refresh(self, restoring: bool = False) -> None:
        """Show the shown result's scores and compute the missing ones.

        Args:
            restoring: the shown document is being restored (no heat map meanwhile).
        """
        self._running_restore = restoring
        self._show_message()
        self._show_whole()
        self._point_readouts(self.session.pairs())
        self._update_heat()
        self._kick()

    def request_region(self, box: tuple[int, int, int, int] | None) -> None:
        """Score ``box`` (output pixels) ``delay_ms`` from now, unless another request comes first."""
        if box is None or not self._pairs or self.ops.closed:
            return
        self._box = tuple(int(v) for v in box)
        self._timer.start()

    def set_heat_visible(self, visible: bool) -> None:
        """Show or hide the LPIPS heat map over the shown result (computed on first use:
        against the reference when it matches, else against bicubic)."""
        self.workbench.set_heat_visible(visible)
        self._update_heat()
        self._kick()

    def busy(self) -> bool:
        """True while a job runs or a request waits."""
        return (self._op is not None or self._timer.isActive() or self._box is not None
                or self._heat is not None or bool(self._whole))

    # ------------------------------------------------------------ the panel
    def _show_message(self) -> None:
        s, panel = self.session, self.panel
        if s.doc is None:
            return
        if s.too_small():
            ow, oh = s.result.size
            panel.set_message(f"The output is {ow}×{oh}: the metrics need at least {MIN_SIDE}×{MIN_SIDE} pixels.")
        elif s.reference is None:
            panel.set_message("Press Restore; then load a reference (File ▸ Load reference…) to score against ground truth."
                              if s.result is None else
                              "No reference: File ▸ Load reference… scores against a ground-truth image of the output's size.")
        elif s.result is None:
            rw, rh = s.reference.size
            panel.set_message(f"Reference {s.reference_path.name} ({rw}×{rh}) loaded; scores appear after Restore.")
        elif not s.reference_matches():
            (rw, rh), (ow, oh) = s.reference.size, s.result.size
            panel.set_message(f"Reference {s.reference_path.name} is {rw}×{rh} but the output is {ow}×{oh}: "
                              "load a reference of the output's size.", error=True)
        else:
            rw, rh = s.reference.size
            panel.set_message(f"Reference: {s.reference_path.name} ({rw}×{rh}).")

    def _show_whole(self) -> None:
        """Fill the whole-image table from the result's scores; queue the missing ones."""
        result, panel = self.session.result, self.panel
        if result is None:
            self._whole = []
            panel.clear()
            return
        pairs = self.session.whole_pairs()
        for key in PAIRS:
            if key in pairs and key in result.metrics:
                panel.set_values(key, result.metrics[key])
            elif key not in pairs or key not in panel.values:
                panel.clear((key,))
        missing = [key for key in pairs if key not in result.metrics]
        self._whole = [(result, pairs[key]) for key in missing if self._computing != ("whole", pairs[key])]
        if missing:
            panel.set_pending(tuple(missing))

    def _point_readouts(self, pairs: dict[str, PairMetrics]) -> None:
        """Score these pairs' regions from now on; a new set drops the old set's features and results."""
        if list(pairs) != list(self._pairs) or any(pairs[k] is not self._pairs[k] for k in pairs):
            for key, old in self._pairs.items():
                if pairs.get(key) is not old:
                    old.release()
            self._pairs = dict(pairs)
            self.ops.invalidate("region")
            self.panel.clear_region()
            self._error_shown = False
        if pairs:
            self.request_region(self.workbench.visible_region())

    def _update_heat(self) -> None:
        s, wb = self.session, self.workbench
        if s.result is None or self._running_restore:
            wb.set_overlay(None, None)
            return
        if s.too_small():
            wb.set_overlay(None, None)
            if wb.heat_visible:
                self.message.emit(f"No heat map: the output is under {MIN_SIDE} pixels a side.", 5000)
            return
        pair = self._pairs.get(AFTER_REF if s.reference_matches() else AFTER_BEFORE)
        if pair is not None and pair.heat is not None:
            wb.set_overlay(s.result.label, *pair.heat, against=PAIRS[pair.key].against)
            return
        wb.set_overlay(None, None)
        if pair is not None and wb.heat_visible and self._computing != ("heat", pair):
            self._heat = pair
            self.message.emit("Computing the LPIPS heat map…", 3000)

    # ------------------------------------------------------------- the lane
    def _kick(self) -> None:
        """Start the next job when none runs: the heat map, then the region, then the whole image."""
        if self._op is not None or self.ops.closed:
            return
        if self._heat is not None:
            kind, pair, self._heat = "heat", self._heat, None
            op = self.ops.op(lambda job: pair.heatmap()).success(lambda heat: self._heat_done(pair, heat))
            op.failure(self._readout_failed)
        elif self._box is not None and not self._timer.isActive():
            kind, pair, box, self._box = "region", None, self._box, None
            pairs = dict(self._pairs)
            op = self.ops.op(lambda job: _regions(job, pairs, box), lane="region")
            op.success(lambda values: self._region_done(box, values)).failure(self._readout_failed)
        elif self._whole:
            kind, (result, pair) = "whole", self._whole.pop(0)
            op = self.ops.op(lambda job: pair.whole()).success(lambda values: self._whole_done(result, pair, values))
            op.failure(self._whole_failed)
        else:
            return
        self._op, self._computing = op, (kind, pair)
        op.after(self._next).run()

    def _next(self) -> None:
        self._op = self._computing = None
        self._kick()

    def _whole_done(self, result: Result, pair, values: dict[str, float]) -> None:
        result.metrics[pair.key] = values
        if result is self.session.result:
            self.panel.set_values(pair.key, values)
        if not self._whole:
            self.whole_finished.emit()

    def _whole_failed(self, exc: BaseException) -> None:
        message = first_line(exc)
        self._whole = []
        self.panel.clear()
        self.panel.set_message(f"Metrics failed: {message}", error=True)
        self.whole_finished.emit()
        self.error.emit("Metrics failed", message)

    def _region_done(self, box: tuple[int, int, int, int], values: dict[str, dict[str, float]]) -> None:
        self.panel.set_region_values(box, values)
        self.region_finished.emit()

    def _heat_done(self, pair: PairMetrics, heat: tuple[ImagePyramid, float]) -> None:
        pair.heat = heat
        self.message.emit("", 0)
        self._update_heat()
        self.heatmap_finished.emit()

    def _readout_failed(self, exc: BaseException) -> None:
        message = first_line(exc)
        self.panel.set_message(f"Live readout failed: {message}", error=True)
        if not self._error_shown:  # one dialog per set of pairs, not one per pan
            self._error_shown = True
            self.error.emit("Live readout failed", message)


def _regions(job, pairs: dict[str, PairMetrics], box: tuple[int, int, int, int]) -> dict[str, dict[str, float]]:
    """Worker thread: the region readout of every pair (stops between pairs on cancel)."""
    out = {}
    for key, pair in pairs.items():
        if job.cancel_event.is_set():
            break
        out[key] = pair.region(box)
    return out

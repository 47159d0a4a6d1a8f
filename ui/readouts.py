"""Live readouts: metrics of the visible region and the LPIPS heat map, computed
off the GUI thread, debounced while the user pans and zooms.

The numbers come from the engine's region metrics
(``restorer.metrics.RegionMetrics``: LPIPS distance maps cached per image
cell, so a readout of a box seen before costs a few slices) and its
``lpips_map``; this module only schedules them.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from restorer.facts import first_line

from .jobs import Job

__all__ = ["ReadoutController"]


class ReadoutController(QObject):
    """Schedules region readouts and heat maps on one worker lane.

    At most one worker runs at a time; region requests are debounced
    (``delay_ms`` after the last pan/zoom) and coalesced (only the newest box
    waits). Results of pairs that changed meanwhile are dropped.

    Signals:
        region_ready(box, values): ``{pair: {metric: value}}`` for ``box``.
        heatmap_ready(pair, pyramid, vmax): a colourised LPIPS map
            (:class:`~ui.pyramid.ImagePyramid`) and the value of its top colour.
        failed(str): a one-line error message.

    Args:
        parent: Qt parent.
        delay_ms: the debounce delay.
    """

    region_ready = Signal(object, object)
    heatmap_ready = Signal(str, object, float)
    failed = Signal(str)

    def __init__(self, parent: QObject | None = None, delay_ms: int = 150) -> None:
        super().__init__(parent)
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timer.setInterval(delay_ms)
        self._timer.timeout.connect(self._kick)
        self._pairs: dict[str, tuple[Any, Any]] = {}
        self._cache: dict[str, Any] = {}
        self._device = "cpu"
        self._generation = 0
        self._box: tuple[int, int, int, int] | None = None
        self._heat: str | None = None
        self._job: Job | None = None
        self._closed = False

    # ------------------------------------------------------------------ API
    def set_pairs(self, pairs: dict[str, tuple[Any, Any]], device: str = "cpu") -> None:
        """Score these ``{pair: (image, reference)}`` from now on (tensors
        (1, 3, H, W) of equal size per pair); forgets cached features."""
        self._pairs = dict(pairs)
        self._cache = {}
        self._device = device
        self._generation += 1

    @property
    def pairs(self) -> tuple[str, ...]:
        """The pair keys being scored."""
        return tuple(self._pairs)

    def request_region(self, box: tuple[int, int, int, int] | None) -> None:
        """Score ``box`` (image pixels) ``delay_ms`` from now, unless another request comes first."""
        if box is None or not self._pairs or self._closed:
            return
        self._box = tuple(int(v) for v in box)
        self._timer.start()

    def request_heatmap(self, pair: str) -> None:
        """Compute the LPIPS heat map of ``pair`` (after any running job)."""
        if pair not in self._pairs or self._closed:
            return
        self._heat = pair
        self._kick()

    def busy(self) -> bool:
        """True while a job runs or a request waits."""
        return self._job is not None or self._timer.isActive() or self._box is not None or self._heat is not None

    def shutdown(self) -> None:
        """Stop scheduling and wait for the running job (window closing)."""
        self._closed = True
        self._timer.stop()
        self._box = self._heat = None
        if self._job is not None:
            self._job.cancel()
            self._job.wait()
            self._job = None

    # -------------------------------------------------------------- internal
    def _metrics_for(self, pair: str, cache: dict, pairs: dict, device: str):
        if pair not in cache:
            from restorer.metrics import RegionMetrics

            image, reference = pairs[pair]
            cache[pair] = RegionMetrics(image, reference, device=device)
        return cache[pair]

    def _kick(self) -> None:
        if self._job is not None or self._closed:
            return
        gen, cache, pairs, device = self._generation, self._cache, self._pairs, self._device
        work: Callable[[Job], Any]
        if self._heat is not None:
            pair, self._heat = self._heat, None

            def work(job: Job, pair=pair):
                from .heatmap import colorize
                from .pyramid import ImagePyramid

                values = self._metrics_for(pair, cache, pairs, device).lpips_map()
                image, vmax = colorize(values)
                return ("heat", gen, pair, ImagePyramid(image, smooth=True), vmax)
        elif self._box is not None and not self._timer.isActive():
            box, self._box = self._box, None

            def work(job: Job, box=box):
                out = {}
                for pair in pairs:
                    if job.cancel_event.is_set():
                        break
                    out[pair] = self._metrics_for(pair, cache, pairs, device).region(box)
                return ("region", gen, box, out)
        else:
            return
        job = Job(work, self)
        job.succeeded.connect(self._on_done)
        job.failed.connect(self._on_failed)
        job.cancelled.connect(self._on_cancelled)
        self._job = job
        job.start()

    def _end(self, job: Job) -> bool:
        if job is not self._job:
            return False
        job.wait()
        job.deleteLater()
        self._job = None
        return not self._closed

    def _on_done(self, job: Job, result) -> None:
        if not self._end(job):
            return
        if result[1] == self._generation:
            if result[0] == "heat":
                self.heatmap_ready.emit(result[2], result[3], float(result[4]))
            else:
                self.region_ready.emit(result[2], result[3])
        self._kick()

    def _on_failed(self, job: Job, exc: BaseException) -> None:
        if not self._end(job):
            return
        self.failed.emit(first_line(exc))
        self._kick()

    def _on_cancelled(self, job: Job) -> None:
        if self._end(job):
            self._kick()

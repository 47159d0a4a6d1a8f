"""Live readouts: metrics of the visible region and the LPIPS heat map, computed
off the GUI thread, debounced while the user pans and zooms.

The numbers come from the engine's region metrics
(``restorer.metrics.RegionMetrics``: cached backbone features, so a region
readout is fast). Until that API is present in the engine this module falls
back to :class:`CropMetrics`, a small adapter that scores the visible crop with
the engine's ``psnr``/``ssim``/LPIPS functions (see its docstring).
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from .jobs import Job

__all__ = ["CropMetrics", "region_metrics_class", "ReadoutController", "REGION_METRICS"]

#: (key, label, higher is better, decimals) of the region readouts.
REGION_METRICS = [
    ("lpips_alex", "LPIPS (Alex)", False, 4),
    ("psnr", "PSNR (dB)", True, 2),
    ("ssim", "SSIM", True, 4),
]


class CropMetrics:
    """FALLBACK ADAPTER used only while ``restorer.metrics.RegionMetrics`` is
    missing: the same interface, computed naively on the crop (no cached
    features, so a region readout costs a full LPIPS pass over the crop).

    Args:
        image, reference: float32 (1, 3, H, W) RGB in [0, 1], same size.
        device: where LPIPS runs.
    """

    def __init__(self, image, reference, device: str = "cpu") -> None:
        self.image, self.reference, self.device = image, reference, device
        self._map = None

    def _scores(self, x, y) -> dict[str, float]:
        import torch

        from restorer.metrics import get_lpips, psnr, ssim
        from restorer.metrics.lpips import MIN_SIZE

        out = {"psnr": float(psnr(x, y)), "ssim": float(ssim(x, y)[0])}
        if min(x.shape[-2:]) >= MIN_SIZE["alex"]:
            with torch.inference_mode():
                out["lpips_alex"] = float(get_lpips("alex", self.device)(x.to(self.device), y.to(self.device))[0])
        return out

    def whole(self) -> dict[str, float]:
        """PSNR, SSIM, LPIPS-Alex of the whole pair (as ``restorer.metrics.compare``)."""
        return self._scores(self.image, self.reference)

    def region(self, box: tuple[int, int, int, int]) -> dict[str, float]:
        """The same scores on ``box`` = (x0, y0, x1, y1) image pixels (x1, y1
        exclusive, clipped); LPIPS is left out for crops under 31 pixels."""
        h, w = self.image.shape[-2:]
        x0, y0 = max(0, int(box[0])), max(0, int(box[1]))
        x1, y1 = min(w, int(box[2])), min(h, int(box[3]))
        if x1 <= x0 or y1 <= y0:
            raise ValueError(f"empty region {box}")
        sl = (slice(None), slice(None), slice(y0, y1), slice(x0, x1))
        return self._scores(self.image[sl], self.reference[sl])

    def lpips_map(self):
        """Per-pixel LPIPS-Alex, a float32 (H, W) tensor on the CPU (cached)."""
        if self._map is None:
            import torch

            from restorer.metrics import get_lpips

            with torch.inference_mode():
                net = get_lpips("alex", self.device)
                self._map = net(self.image.to(self.device), self.reference.to(self.device), spatial=True)[0, 0].float().cpu()
        return self._map


def region_metrics_class() -> type:
    """``restorer.metrics.RegionMetrics`` when the engine has it, else :class:`CropMetrics`."""
    try:
        from restorer.metrics import RegionMetrics  # type: ignore[attr-defined]
    except ImportError:
        return CropMetrics
    return RegionMetrics


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
        idle(): nothing is running or waiting.

    Args:
        parent: Qt parent.
        delay_ms: the debounce delay.
    """

    region_ready = Signal(object, object)
    heatmap_ready = Signal(str, object, float)
    failed = Signal(str)
    idle = Signal()

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
        self.backend = None  # the class used, set on the first computation

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
            cls = region_metrics_class()
            self.backend = cls
            image, reference = pairs[pair]
            cache[pair] = cls(image, reference, device=device)
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
                image, vmax = colorize(values.detach().float().cpu().numpy())
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
            if self._job is None and not self.busy():
                self.idle.emit()
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
        text = str(exc).strip().splitlines()
        self.failed.emit(text[0] if text else type(exc).__name__)
        self._kick()

    def _on_cancelled(self, job: Job) -> None:
        if self._end(job):
            self._kick()

"""Facts that the engine, the CLI and the window share, each written once.

This module imports nothing heavy (no torch, no Qt, no Pillow): the window reads
it at start-up, before torch has loaded. Each fact says where it comes from.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import NamedTuple

__all__ = ["SAVE_FORMATS", "IMAGE_EXTENSIONS", "OPEN_EXTENSIONS", "MIN_SIDE", "scale_tag", "output_name",
           "PRECISIONS", "DEFAULT_PRECISION", "DEFAULT_TILE",
           "Metric", "METRICS", "COMPARE_KEYS", "REGION_KEYS", "HEADLINE_KEYS", "HIGHER_IS_BETTER", "format_value",
           "first_line",
           "Pair", "AFTER_BEFORE", "AFTER_REF", "BEFORE_REF", "CONSISTENCY", "PAIRS",
           "MODEL_EXTENSIONS", "BUNDLED_MODELS", "DEFAULT_MODEL", "SCALES", "DEFAULT_SCALE"]

# ------------------------------------------------------------------- files
#: Output extensions and the Pillow format each is written in (what ``restorer.io.save_image`` can encode).
SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP", ".tif": "TIFF", ".tiff": "TIFF"}

#: Still-photo extensions: what training takes from a folder (palette GIFs and animations make poor HR photos).
IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff"})

#: What a folder contributes when it is opened to be restored (``restore FOLDER``, the window's
#: Open folder and drops, its Open dialog): the photos plus GIF and APNG, decoded on their first frame.
OPEN_EXTENSIONS = IMAGE_EXTENSIONS | {".gif", ".apng"}

#: Smallest side, in pixels, that every metric accepts: LPIPS-Alex's last stage needs 31
#: (SSIM needs 11, LPIPS-VGG and DISTS 16).
MIN_SIDE = 31


def scale_tag(scale: float) -> str:
    """``x4``, ``x1.5``: how a scale is written in file names (README: ``photo_x4.png``)."""
    return f"x{float(scale):g}"


def output_name(source: str | Path, scale: float) -> str:
    """The file name of ``source`` restored at ``scale``: ``{stem}_x{scale}{ext}``, as the README
    documents, for the CLI's outputs and the window's Save suggestion. ``ext`` is the source's own
    when it can be written (``SAVE_FORMATS``), else ``.png`` (a GIF or BMP input)."""
    path = Path(source)
    ext = path.suffix.lower()
    return f"{path.stem}_{scale_tag(scale)}{ext if ext in SAVE_FORMATS else '.png'}"


# ------------------------------------------------------------------ models
#: File extensions of model files (spandrel's loader supports exactly these).
MODEL_EXTENSIONS = (".safetensors", ".pth", ".pt", ".ckpt")
#: Bundled model names -> file names in ``weights/`` (:func:`restorer.models.weights_dir`).
BUNDLED_MODELS = {"restorer-x4": "restorer_x4.safetensors", "restorer-x2": "restorer_x2.safetensors"}
#: The bundled model used when no name is given (CLI, window, benchmarks).
DEFAULT_MODEL = "restorer-x4"
#: The output scales the window offers (the bundled models' native scales), and its default.
SCALES = (2, 4)
DEFAULT_SCALE = 4


# -------------------------------------------------------------------- runs
#: Generator precisions that ``restore --precision`` and the window's Precision list offer;
#: :func:`restorer.device.pick_dtype` decides what each gives on a device and a model.
PRECISIONS = ("auto", "fp32", "fp16", "bf16")
#: The precision of a run unless one is chosen: fp16 on CUDA when the model supports it, else fp32.
DEFAULT_PRECISION = "auto"
#: The tile side of a run unless one is chosen: None, automatic (``--tile auto``): the largest tile that
#: fits the memory budget, or the whole image when it fits (:func:`restorer.tiling.auto_tile`).
DEFAULT_TILE = None


# ----------------------------------------------------------------- metrics
class Metric(NamedTuple):
    """How a full-reference metric is named and shown (CLI table, metrics panel, captions)."""

    key: str  #: key in ``restorer.metrics.compare``'s result
    name: str  #: the name in tables and captions
    unit: str  #: "" when unitless
    higher_is_better: bool
    decimals: int  #: digits shown after the point

    @property
    def label(self) -> str:
        """The name with its unit: ``PSNR (dB)``."""
        return f"{self.name} ({self.unit})" if self.unit else self.name

    @property
    def direction(self) -> str:
        """``higher is better`` or ``lower is better``."""
        return "higher is better" if self.higher_is_better else "lower is better"

    @property
    def arrow(self) -> str:
        """``↑`` (higher is better) or ``↓``, for captions."""
        return "↑" if self.higher_is_better else "↓"


#: Every key of ``restorer.metrics.compare`` (sources: the table in ``restorer.metrics``' docstring);
#: PSNR to 0.01 dB as SR papers report it, the others to 4 decimals.
METRICS = {m.key: m for m in (
    Metric("lpips_alex", "LPIPS-Alex", "", False, 4),
    Metric("lpips_vgg", "LPIPS-VGG", "", False, 4),
    Metric("dists", "DISTS", "", False, 4),
    Metric("psnr", "PSNR", "dB", True, 2),
    Metric("ssim", "SSIM", "", True, 4),
    Metric("psnr_y", "PSNR (luma Y)", "dB", True, 2),
)}

#: What ``restorer.metrics.compare`` returns (``psnr_y`` only with ``luma=True``).
COMPARE_KEYS = ("lpips_alex", "lpips_vgg", "dists", "psnr", "ssim")
#: What ``restorer.metrics.RegionMetrics.region`` returns for a region (the cheap, live subset).
REGION_KEYS = ("lpips_alex", "psnr", "ssim")
#: The headline metrics: export captions and the benchmark's summary table.
HEADLINE_KEYS = ("lpips_alex", "dists", "psnr", "ssim")

#: For each key of ``restorer.metrics.compare``: True when a higher value is better.
HIGHER_IS_BETTER = {key: m.higher_is_better for key, m in METRICS.items()}


def format_value(value: float | None, decimals: int = 4, *, ascii: bool = False) -> str:
    """A metric value as shown: ``decimals`` fixed digits; ``∞``/``-∞`` for infinities (PSNR of
    identical images), ``n/a`` for None or NaN. ``ascii``: ``inf``/``-inf`` (the CLI's plain text)."""
    if value is None or math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return ("" if value > 0 else "-") + ("inf" if ascii else "∞")
    return f"{value:.{decimals}f}"


def first_line(error: BaseException | str) -> str:
    """The first line of an error's (or a warning's) text, for dialogs, the status bar and the
    CLI's one-line errors; the exception's class name when it has no text."""
    text = str(error).strip()
    if text:
        return text.splitlines()[0]
    return type(error).__name__ if isinstance(error, BaseException) else ""


# ------------------------------------------------------------------- pairs
class Pair(NamedTuple):
    """Two images the window scores against each other (a column of its metrics panel)."""

    key: str
    image: str  #: the image under test
    reference: str  #: what it is compared with

    @property
    def title(self) -> str:
        """``Restored vs bicubic``."""
        return f"{self.image} vs {self.reference}"

    @property
    def against(self) -> str:
        """``vs bicubic``, for captions."""
        return f"vs {self.reference}"


AFTER_BEFORE = "after_before"  #: the restored image against the bicubic upscale of its input
AFTER_REF = "after_ref"  #: the restored image against a loaded reference (ground truth)
BEFORE_REF = "before_ref"  #: the bicubic upscale against the reference
CONSISTENCY = "consistency"  #: the restored image downscaled back against its input (``restorer.metrics.consistency``)

#: Every pair, in the metrics panel's column order.
PAIRS = {p.key: p for p in (
    Pair(AFTER_BEFORE, "Restored", "bicubic"),
    Pair(AFTER_REF, "Restored", "reference"),
    Pair(BEFORE_REF, "Bicubic", "reference"),
    Pair(CONSISTENCY, "Restored↓", "input"),
)}

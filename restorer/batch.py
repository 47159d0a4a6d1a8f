"""Restoring image files into image files: planning a run, restoring one file with its
report, and refusing an output that cannot fit in memory. The CLI's ``restore`` is argparse
and printing around this module; the window's Save can call :func:`restore_file`.

Rules (DESIGN.md section 6):

- One input file: the output is the file OUT, or ``OUT/{name}`` when OUT is a folder; an
  existing output is an error without ``overwrite``.
- Several inputs, or a folder: OUT is a folder of ``OUT/{sub/folders}/{name}``. Folders are
  read sorted (subfolders with ``recursive``); other entries are skipped with a reason; an
  existing output is skipped (a run resumes) unless ``overwrite``; a file that cannot be
  read, written or fit in memory fails alone and the run goes on.
- ``{name}`` is :func:`restorer.facts.output_name`: ``{stem}_x{scale}{ext}``.
- Inputs are only read: no output replaces an input of the run, even with ``overwrite``.
  Outputs are written atomically (:meth:`restorer.io.ImageWriter.commit`: a temporary file
  beside the target, renamed over it), so a failed or cancelled job leaves no partial file.

Use::

    plan = plan_batch([Path("photos")], Path("out"), scale=4)
    for outcome in run_batch(model, plan, RestoreOptions(device="cpu")):
        print(outcome.status, outcome.report or outcome.error)
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from .facts import DEFAULT_PRECISION, DEFAULT_TILE, OPEN_EXTENSIONS, SAVE_FORMATS, output_name
from .inference import output_size, restore_into
from .io import ImageError, ImageWriter, load_image
from .tiling import InsufficientMemoryError, available_memory

__all__ = ["PlanError", "Job", "Plan", "plan_batch", "RestoreOptions", "FileReport", "restore_file", "Outcome",
           "run_batch", "check_output_memory", "OUTPUT_MEMORY_SHARE"]

#: Share of the available RAM an output buffer may take (the rest: input, tiles, encoder).
OUTPUT_MEMORY_SHARE = 0.8


class PlanError(ValueError):
    """The inputs and the output do not make a run (one-line message); nothing was written."""


@dataclass(frozen=True)
class Job:
    """One input file and the output file it is restored into."""

    source: Path
    target: Path


@dataclass
class Plan:
    """What a run will do (:func:`plan_batch`).

    Attributes:
        jobs: in order; no two share a target.
        scale: output scale (names and sizes).
        batch: False for one input file into one output: its errors end the run.
        overwrite: replace existing outputs (a batch otherwise skips them).
        skipped: one line for each entry of an input folder that is not a job, with the reason.
    """

    jobs: list[Job]
    scale: float
    batch: bool
    overwrite: bool = False
    skipped: list[str] = field(default_factory=list)

    @property
    def protect(self) -> tuple[Path, ...]:
        """The inputs: no output may be written over them."""
        return tuple(job.source for job in self.jobs)


def plan_batch(inputs: list[Path], output: Path, scale: float, *, recursive: bool = False,
               overwrite: bool = False) -> Plan:
    """Map input files and folders to output files (see the module's rules).

    Folders are scanned sorted; the output folder itself is never scanned. Without
    ``overwrite``, an image that is another input's output in this run (a folder restored
    into itself before) is skipped, not restored into ``a_x4_x4.png``; with ``overwrite`` it
    stays an input (and, being an input, is never replaced).

    Args:
        inputs: image files and folders.
        output: the output file (one input file) or folder.
        scale: output scale, for the names.
        recursive: also take images in subfolders of folder inputs.
        overwrite: replace existing outputs.

    Returns:
        The :class:`Plan`; only existing paths are read, nothing is written.

    Raises:
        PlanError: one input into a file of a format we cannot write; several inputs or
            a folder into an existing file; one input whose output exists without
            ``overwrite``; two inputs that map to the same output.
    """
    batch = len(inputs) > 1 or inputs[0].is_dir()
    if not batch:
        source = inputs[0]
        target = output / output_name(source, scale) if output.is_dir() else output
        if target.suffix.lower() not in SAVE_FORMATS:
            raise PlanError(f"{output}: unsupported output format (use {', '.join(sorted(SAVE_FORMATS))})")
        if target.exists() and not overwrite:
            raise PlanError(f"{target}: already exists (use --overwrite to replace it)")
        return Plan([Job(source, target)], scale, batch=False, overwrite=overwrite)
    if output.exists() and not output.is_dir():
        raise PlanError(f"{output}: is a file; several inputs or a folder need an output folder")
    out_root = output.resolve()
    skipped: list[str] = []
    jobs: list[Job] = []

    def scan(folder: Path, rel: Path) -> None:
        for entry in sorted(folder.iterdir()):
            if entry.is_dir():
                if entry.resolve() == out_root:
                    continue
                if recursive:
                    scan(entry, rel / entry.name)
                else:
                    skipped.append(f"{entry}: a folder (use --recursive to include it)")
            elif entry.suffix.lower() in OPEN_EXTENSIONS:
                jobs.append(Job(entry, output / rel / output_name(entry, scale)))
            else:
                skipped.append(f"{entry}: not an image file")

    for inp in inputs:
        if inp.is_dir():
            scan(inp, Path("."))
        else:
            jobs.append(Job(inp, output / output_name(inp, scale)))
    if not overwrite:
        made = {job.target.resolve(): job.source for job in jobs}
        kept = []
        for job in jobs:
            src = made.get(job.source.resolve())
            if src is not None and src.resolve() != job.source.resolve():
                skipped.append(f"{job.source}: the output of {src.name} in this batch, not an input")
            else:
                kept.append(job)
        jobs = kept
    seen: dict[Path, Path] = {}
    for job in jobs:
        if job.target in seen:
            raise PlanError(f"{job.source}: {seen[job.target]} also maps to {job.target}; rename one of them")
        seen[job.target] = job.source
    return Plan(jobs, scale, batch=True, overwrite=overwrite, skipped=skipped)


@dataclass(frozen=True)
class RestoreOptions:
    """How each file is restored: the arguments of :func:`restorer.inference.restore_into`
    (``memory_budget``: bytes one tile may use; None = from free memory), and the colour
    (RGB in [0, 1]) that a JPEG output of a transparent image is composited over."""

    alpha_mode: str = "filter"
    tile: int | None = DEFAULT_TILE
    tile_pad: int | None = None
    device: str = "auto"
    precision: str = DEFAULT_PRECISION
    memory_budget: int | None = None
    background: tuple[float, float, float] = (1.0, 1.0, 1.0)


@dataclass(frozen=True)
class FileReport:
    """A file restored: its paths and sizes (width, height) in pixels."""

    source: Path
    target: Path
    in_size: tuple[int, int]
    out_size: tuple[int, int]

    def __str__(self) -> str:
        """``a.png (64x48) -> out/a_x4.png (256x192)``."""
        (w, h), (ow, oh) = self.in_size, self.out_size
        return f"{self.source} ({w}x{h}) -> {self.target} ({ow}x{oh})"


def check_output_memory(source, out_w: int, out_h: int, need: int, available: int) -> None:
    """Refuse a job whose output buffer cannot fit, before any work.

    Args:
        source: the input (named in the message).
        out_w, out_h: output size in pixels.
        need: bytes of the output buffer (:meth:`restorer.io.ImageWriter.buffer_bytes`).
        available: available RAM in bytes (:func:`restorer.tiling.available_memory`).

    Raises:
        InsufficientMemoryError: ``need`` exceeds ``OUTPUT_MEMORY_SHARE`` of
            ``available``; one line with both figures.
    """
    if need > OUTPUT_MEMORY_SHARE * available:
        raise InsufficientMemoryError(
            f"{source}: the {out_w}x{out_h} output needs {need / 2**30:.1f} GiB of memory but only "
            f"{available / 2**30:.1f} GiB is available; use a smaller scale or free memory")


def restore_file(model, source: Path, target: Path, *, scale: float | None = None,
                 options: RestoreOptions = RestoreOptions(), overwrite: bool = False, protect: tuple = (),
                 progress: Callable[[int, int], None] | None = None, cancel=None) -> FileReport:
    """Load ``source``, restore it tile by tile into an 8/16-bit output buffer
    (:class:`~restorer.io.ImageWriter`), and write ``target`` atomically.

    The output keeps the input's alpha, bit depth, grayscale-ness, colour space (ICC
    profile) and EXIF. Memory is about the output's own size plus one tile; an output
    that cannot fit is refused before any model work.

    Args:
        model: spandrel ``ImageModelDescriptor``.
        source, target: input and output files (the extension picks the format).
        scale: output scale; None = the model's.
        options: :class:`RestoreOptions`.
        overwrite: replace an existing ``target``.
        protect: more files that must not be written (``source`` always is).
        progress, cancel: as :func:`restorer.inference.restore_into`.

    Returns:
        :class:`FileReport`.

    Raises:
        restorer.io.ImageError: unreadable input; target unwritable, existing without
            ``overwrite``, an input, or of an unknown format.
        InsufficientMemoryError: the output cannot fit in memory, or out of memory with
            the smallest tile (the message names ``source``).
        restorer.inference.Cancelled: ``cancel`` was set (nothing written).
        ValueError, RuntimeError: as :func:`restorer.inference.restore_into`.
    """
    scale = float(model.scale if scale is None else scale)
    img = load_image(source)
    out_w, out_h = output_size(img.size, scale)
    layout = dict(alpha=img.alpha is not None, bits=img.bits, grayscale=img.grayscale)
    need = ImageWriter.buffer_bytes(target, out_w, out_h, **layout)
    check_output_memory(source, out_w, out_h, need, available_memory("cpu"))
    try:
        writer = ImageWriter(target, out_w, out_h, **layout, icc_profile=img.icc_profile,
                             pixels_in_profile=img.pixels_in_profile, exif=img.exif, overwrite=overwrite,
                             protect=(source, *protect), background=options.background)
    except MemoryError:
        raise InsufficientMemoryError(f"{source}: cannot allocate the {out_w}x{out_h} output buffer "
                                      f"({need / 2**30:.1f} GiB)") from None
    try:
        restore_into(model, img.rgb, img.alpha, writer, scale=scale, alpha_mode=options.alpha_mode,
                     tile=options.tile, tile_pad=options.tile_pad, device=options.device,
                     precision=options.precision, memory_budget=options.memory_budget, progress=progress,
                     cancel=cancel)
    except InsufficientMemoryError as exc:
        raise InsufficientMemoryError(f"{source}: {exc}") from None
    in_size = img.size
    del img
    writer.commit()
    return FileReport(Path(source), Path(target), in_size, (out_w, out_h))


@dataclass
class Outcome:
    """How one job of :func:`run_batch` ended.

    Attributes:
        job: the job.
        status: ``"restored"``, ``"exists"`` (a batch without overwrite: left as it was)
            or ``"failed"``.
        report: the :class:`FileReport` when restored.
        error: the ``ImageError`` or ``InsufficientMemoryError`` when failed (its
            message names the file).
    """

    job: Job
    status: str
    report: FileReport | None = None
    error: Exception | None = None


def run_batch(model, plan: Plan, options: RestoreOptions = RestoreOptions(), *,
              progress: Callable[[int, int], None] | None = None, cancel=None) -> Iterator[Outcome]:
    """Restore the jobs of ``plan`` one after another, yielding an :class:`Outcome` as each ends.

    A job whose file cannot be read or written, or does not fit in memory, fails alone
    (``"failed"``, and the run goes on); in a batch the output folders are made as
    needed. Warnings (precision fallback, tile shrunk, JPEG compositing...) are issued
    with :mod:`warnings` while the job runs.

    Args:
        model: spandrel ``ImageModelDescriptor``.
        plan: from :func:`plan_batch`.
        options: :class:`RestoreOptions`.
        progress: ``progress(done_tiles, total_tiles)`` within each job.
        cancel: as :func:`restorer.inference.restore_into`; checked between tiles.

    Raises:
        restorer.inference.Cancelled: ``cancel`` was set.
        ValueError, RuntimeError: bad device or precision, NaN/inf from the model in
            fp32, other model errors (they would fail every job).
    """
    for job in plan.jobs:
        if plan.batch and job.target.exists() and not plan.overwrite:
            yield Outcome(job, "exists")
            continue
        if plan.batch:
            job.target.parent.mkdir(parents=True, exist_ok=True)
        try:
            report = restore_file(model, job.source, job.target, scale=plan.scale, options=options,
                                  overwrite=plan.overwrite, protect=plan.protect, progress=progress, cancel=cancel)
        except (ImageError, InsufficientMemoryError) as exc:
            yield Outcome(job, "failed", error=exc)
        else:
            yield Outcome(job, "restored", report=report)


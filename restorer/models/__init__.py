"""Generators and discriminators, and one loader for every model file.

Every generator, ours or a community one, is handled through spandrel's
``ImageModelDescriptor`` (scale, channels, fp16/bf16 support, size requirements,
tiling advice). Our :class:`~restorer.models.generator.RestorerCompact` and
:class:`~restorer.models.generator.RestorerCascade` are registered as architectures of
those names on our own copy of spandrel's registry (:func:`registry`; spandrel's global
``MAIN_REGISTRY`` is left untouched) instead of being special-cased.

Model names (:func:`resolve_model_path`): ``None`` or a bundled name
(``"restorer-x4"``, ``"restorer-x2"``) means a bundled model (:func:`weights_dir`:
the top-level ``weights/`` folder in a checkout, package data in an installed
wheel); an existing path is that file;
any other name is looked up in the user's models folder (:func:`models_dir`, by
file name or by stem), so a downloaded ``4x-Foo.pth`` dropped there runs as
``--model 4x-Foo``. Files: ``.safetensors``, ``.pth``, ``.pt``, ``.ckpt`` (any
architecture spandrel supports: ESRGAN, Real-ESRGAN, SwinIR, HAT, SPAN...).

Safety: we read model files ourselves (:func:`read_state_dict`) and hand spandrel
only the state dict (``ModelLoader.load_from_state_dict``). Pickled files
(``.pth``/``.pt``/``.ckpt``) are read with ``torch.load(weights_only=True)``
(PyTorch's allow-list unpickler: tensors, containers and numbers only), never
with spandrel's own ``torch.load`` or ``torch.jit.load``: a pickle that asks for
any other callable is refused, and TorchScript archives (which carry code) are
not loaded.
"""
from __future__ import annotations

from importlib import resources
from pathlib import Path

from ..facts import BUNDLED_MODELS, DEFAULT_MODEL, MODEL_EXTENSIONS, first_line
from .generator import RestorerCascade, RestorerCompact

__all__ = ["RestorerCompact", "RestorerCascade", "load_model", "ModelLoadError", "BUNDLED_MODELS", "DEFAULT_MODEL",
           "weights_dir", "models_dir", "resolve_model_path", "list_models", "describe_model", "MODEL_EXTENSIONS",
           "registry", "read_state_dict", "CHECKPOINT_GENERATORS"]


class ModelLoadError(Exception):
    """A model file could not be loaded; the message names the file and the reason."""


#: Where the bundled models lie inside this package once installed from a wheel: pyproject.toml
#: maps the top-level ``weights/`` folder to the package data ``restorer/models/bundled/``.
BUNDLED_PACKAGE_DIR = "bundled"


def weights_dir() -> Path:
    """Return the folder of the bundled models and their model cards.

    Installed from a wheel: the package data ``restorer/models/bundled/``, found
    with ``importlib.resources`` (wheels install unzipped, so it is a real
    folder). In a checkout, plain or installed editable: the top-level
    ``weights/`` folder beside ``restorer/``. Not checked to hold the models.
    """
    packaged = resources.files(__name__).joinpath(BUNDLED_PACKAGE_DIR)
    if packaged.is_dir():
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "weights"


_registry = None


def registry():
    """spandrel's registry with our architectures, RestorerCompact and RestorerCascade, added (built once).

    A copy of ``spandrel.MAIN_REGISTRY`` (copy-on-write): spandrel's global
    registry, which other programs in the process may use, is left untouched.
    Our detection keys (``restorer_arch``, and ``stage1.``/``stage2.restorer_arch``) are unique, so
    they are checked before every other architecture (SRVGG "Compact" would otherwise claim our files).

    Returns:
        ``spandrel.ArchRegistry``, for ``spandrel.ModelLoader(registry=...)``.
    """
    global _registry
    if _registry is not None:
        return _registry
    from spandrel import MAIN_REGISTRY, ArchSupport, Architecture, ImageModelDescriptor
    from spandrel.util import KeyCondition

    def compact(state_dict, prefix: str = "") -> RestorerCompact:
        num_feat, num_conv, scale, in_ch, out_ch = (int(v) for v in state_dict[prefix + "restorer_arch"].tolist())
        return RestorerCompact(in_ch=in_ch, out_ch=out_ch, num_feat=num_feat, num_conv=num_conv, scale=scale)

    def descriptor(arch, model, state_dict, tags):
        return ImageModelDescriptor(
            model,
            state_dict,
            architecture=arch,
            purpose="Restoration" if model.scale == 1 else "SR",
            tags=tags,
            supports_half=True,
            supports_bfloat16=True,
            scale=model.scale,
            input_channels=model.in_ch,
            output_channels=model.out_ch,
        )

    class RestorerCompactArch(Architecture[RestorerCompact]):
        def __init__(self) -> None:
            super().__init__(
                id="RestorerCompact",
                name="Restorer Compact",
                detect=KeyCondition.has_all("restorer_arch", "head.weight", "tail.weight"),
            )

        def load(self, state_dict):
            model = compact(state_dict)
            return descriptor(self, model, state_dict, [f"{model.num_feat}nf", f"{model.num_conv}nc"])

    class RestorerCascadeArch(Architecture[RestorerCascade]):
        def __init__(self) -> None:
            super().__init__(
                id="RestorerCascade",
                name="Restorer Cascade",
                detect=KeyCondition.has_all("stage1.restorer_arch", "stage2.restorer_arch"),
            )

        def load(self, state_dict):
            model = RestorerCascade(compact(state_dict, "stage1."), compact(state_dict, "stage2."))
            tags = [f"{st.num_feat}nf{st.num_conv}nc x{st.scale}" for st in (model.stage1, model.stage2)]
            return descriptor(self, model, state_dict, tags)

    ours = MAIN_REGISTRY.copy()
    others = tuple(a.architecture.id for a in ours.architectures())
    ours.add(ArchSupport.from_architecture(RestorerCompactArch(), before=others),
             ArchSupport.from_architecture(RestorerCascadeArch(), before=others))
    _registry = ours
    return ours


def models_dir() -> Path:
    """The user's models folder: ``$RESTORER_MODELS_DIR`` when set, else
    ``platformdirs.user_data_path("restorer") / "models"`` (e.g.
    ``~/.local/share/restorer/models`` on Linux). Not created here."""
    import os

    env = os.environ.get("RESTORER_MODELS_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return platformdirs.user_data_path("restorer") / "models"


def list_models() -> list[tuple[str, Path]]:
    """Every model a name can select: the bundled ones, then the model files in
    :func:`models_dir` (sorted, by file name).

    Returns:
        ``(name, path)`` pairs; bundled names map to ``weights/`` files (which may
        be missing), folder models are named by their file stem.
    """
    found = [(name, weights_dir() / file) for name, file in BUNDLED_MODELS.items()]
    folder = models_dir()
    if folder.is_dir():
        found += [(p.stem, p) for p in sorted(folder.iterdir())
                  if p.is_file() and p.suffix.lower() in MODEL_EXTENSIONS]
    return found


def resolve_model_path(name: str | None) -> Path:
    """Map a model name (see module docstring) to a file path.

    Args:
        name: None or a key of ``BUNDLED_MODELS`` (the bundled file in
            :func:`weights_dir`); a file path (``~`` is expanded); or the name
            or stem of a file in :func:`models_dir`.

    Returns:
        Path of an existing file (its contents are not checked).

    Raises:
        ModelLoadError: the bundled weights are missing, or nothing matches.
    """
    if name is None or name in BUNDLED_MODELS:
        path = weights_dir() / BUNDLED_MODELS[name or DEFAULT_MODEL]
        if not path.is_file():
            raise ModelLoadError(f"{path}: bundled model missing (is the repository complete?)")
        return path
    path = Path(name).expanduser()
    if path.is_file():
        return path
    folder = models_dir()
    if path.parent == Path(".") and folder.is_dir():
        for cand in [folder / name, *(folder / (name + ext) for ext in MODEL_EXTENSIONS)]:
            if cand.is_file():
                return cand
    raise ModelLoadError(f"{path}: no such model file (bundled models: {', '.join(BUNDLED_MODELS)}; "
                         f"models folder: {folder})")


#: The generators a training checkpoint (``last.pt``, ``step_N.pt`` of :func:`restorer.train.loop.train`)
#: holds: its EMA (what gets exported and shipped) and the raw one.
CHECKPOINT_GENERATORS = ("ema", "gen")


def read_state_dict(path: Path, generator: str = "ema") -> dict:
    """Read a model file's tensors without running code from it (module docstring).

    Args:
        path: a ``.safetensors``, ``.pth``, ``.pt`` or ``.ckpt`` file.
        generator: of a training checkpoint, which generator (:data:`CHECKPOINT_GENERATORS`).

    Returns:
        What the file holds: a state dict, possibly wrapped (``params_ema``,
        ``state_dict``...; spandrel unwraps it), on the CPU; of a training checkpoint,
        the ``generator``'s state dict.

    Raises:
        ValueError: a TorchScript archive (it carries code).
        Whatever safetensors or ``torch.load(weights_only=True)`` raise on a
        file they cannot read (turned into one line by :func:`load_model`).
    """
    if path.suffix.lower() == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    import zipfile

    import torch

    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            if any("/code/" in n or n.startswith("code/") for n in zf.namelist()):
                raise ValueError("not loaded: a TorchScript archive carries code; use a state dict "
                                 "(.pth/.safetensors)")
    obj = torch.load(path, map_location="cpu", weights_only=True)
    if isinstance(obj, dict) and {"config", *CHECKPOINT_GENERATORS} <= obj.keys():  # a training checkpoint
        return obj[generator]
    return obj


def _reason(exc: BaseException) -> str:
    """One-line reason for a loader failure; pickles refused by the allow-list name
    the callable they asked for."""
    import re

    import pickle

    text = str(exc)
    corrupt = "corrupt or truncated file, or not a model file"
    if "Weights only load failed" in text:
        m = re.search(r"GLOBAL ([\w.]+)", text)
        if m is None:  # the unpickler stopped on a byte it cannot read, not on a call
            return f"not a readable checkpoint: {corrupt}"
        return f"refused: the pickle asks to run {m.group(1)}, which is not plain weights (nothing was executed)"
    if isinstance(exc, (EOFError, KeyError, IndexError, pickle.UnpicklingError)):
        # what the pickle reader raises on bytes that are not a pickle (e.g. KeyError: 174812789)
        return f"not a readable checkpoint: {corrupt}"
    return first_line(exc).split(". ")[0]  # torch adds paragraphs of advice after the first sentence


def load_model(name: str | None = None, generator: str = "ema"):
    """Load a generator as a spandrel ``ImageModelDescriptor`` in eval mode on the CPU.

    Args:
        name: bundled model name, or a path to a model file (see module docstring); a training
            checkpoint loads as its EMA generator, or its raw one with ``generator="gen"``.

    Returns:
        ``spandrel.ImageModelDescriptor`` in float32; call ``.to(device)`` and
        pass (N, C, H, W) float tensors in [0, 1] with C =
        ``.input_channels`` (3 for RGB models); ``.scale`` is its native
        factor. Our files load as architecture ``RestorerCompact``.

    Raises:
        ModelLoadError: file missing, unsupported extension or architecture,
            not an image model, or a pickle that asks to run code (refused, see
            the module docstring); one line naming the file and the reason.
    """
    from spandrel import ImageModelDescriptor, ModelLoader, UnsupportedModelError

    path = resolve_model_path(name)
    if path.suffix.lower() not in MODEL_EXTENSIONS:
        raise ModelLoadError(f"{path}: not a model file (use {', '.join(MODEL_EXTENSIONS)})")
    if path.is_file() and path.stat().st_size == 0:
        raise ModelLoadError(f"{path}: cannot load model (empty file, 0 bytes)")
    try:
        desc = ModelLoader(registry=registry()).load_from_state_dict(read_state_dict(path, generator))
    except UnsupportedModelError:
        raise ModelLoadError(f"{path}: unsupported model architecture (spandrel does not recognise it)") from None
    except Exception as exc:  # noqa: BLE001 - any loader failure becomes one line
        raise ModelLoadError(f"{path}: cannot load model ({_reason(exc)})") from None
    if not isinstance(desc, ImageModelDescriptor):
        raise ModelLoadError(f"{path}: not an image-to-image model ({type(desc).__name__})")
    return desc.eval()


def describe_model(desc) -> dict:
    """What a loaded model is, for ``python main.py models``.

    Args:
        desc: a spandrel ``ImageModelDescriptor`` (from :func:`load_model`).

    Returns:
        dict with ``architecture`` (spandrel id, e.g. ``"ESRGAN"``,
        ``"RestorerCompact"``), ``architecture_name``, ``scale`` (int),
        ``purpose`` (``"SR"``, ``"Restoration"``, ``"FaceSR"``, ``"Inpainting"``,
        ``"SR"``...), ``input_channels``, ``output_channels``, ``params`` (count),
        ``tags`` (list of str), ``fp16``/``bf16`` (bool support), ``tiling``
        (spandrel's advice: ``"supported"``, ``"discouraged"``,
        ``"internal"``), ``size_multiple_of`` and ``min_size`` (input
        requirements in pixels).
    """
    req = desc.size_requirements
    return {
        "architecture": desc.architecture.id,
        "architecture_name": desc.architecture.name,
        "scale": int(desc.scale),
        "purpose": desc.purpose,
        "input_channels": int(desc.input_channels),
        "output_channels": int(desc.output_channels),
        "params": sum(p.numel() for p in desc.model.parameters()),
        "tags": list(desc.tags),
        "fp16": bool(desc.supports_half),
        "bf16": bool(desc.supports_bfloat16),
        "tiling": getattr(desc.tiling, "name", str(desc.tiling)).lower(),
        "size_multiple_of": int(req.multiple_of),
        "min_size": int(req.minimum),
    }

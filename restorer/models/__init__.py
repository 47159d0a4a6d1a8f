"""Generators and discriminators, and one loader for every model file.

Every generator, ours or a community one, is handled through spandrel's
``ImageModelDescriptor`` (scale, channels, fp16/bf16 support, size requirements,
tiling advice). Our :class:`~restorer.models.generator.RestorerCompact` is
registered with spandrel's registry as architecture ``RestorerCompact`` instead
of being special-cased.

Model names: ``None`` or ``"restorer-x4"`` means the bundled x4 model in
``weights/``, ``"restorer-x2"`` the bundled x2 model; any other value is a path to a ``.safetensors``/``.pth``/``.pt``/
``.ckpt`` file. Pickled files are read with ``torch.load(weights_only=True)`` by
spandrel, so no pickled code runs.
"""
from __future__ import annotations

from pathlib import Path

from .generator import RestorerCompact

__all__ = ["RestorerCompact", "load_model", "ModelLoadError", "BUNDLED_MODELS", "DEFAULT_MODEL", "weights_dir"]


class ModelLoadError(Exception):
    """A model file could not be loaded; the message names the file and the reason."""


def weights_dir() -> Path:
    """Return the repository's ``weights/`` folder (bundled models and model cards).

    The path is computed from this file's location; it is not checked to exist.
    """
    return Path(__file__).resolve().parents[2] / "weights"


#: Bundled model names -> file names in ``weights/``.
BUNDLED_MODELS = {"restorer-x4": "restorer_x4.safetensors", "restorer-x2": "restorer_x2.safetensors"}
#: The bundled model used when no name is given.
DEFAULT_MODEL = "restorer-x4"

_registered = False


def _register() -> None:
    """Add the RestorerCompact architecture to spandrel's main registry (once)."""
    global _registered
    if _registered:
        return
    from spandrel import MAIN_REGISTRY, ArchSupport, Architecture, ImageModelDescriptor
    from spandrel.util import KeyCondition

    class RestorerCompactArch(Architecture[RestorerCompact]):
        def __init__(self) -> None:
            super().__init__(
                id="RestorerCompact",
                name="Restorer Compact",
                detect=KeyCondition.has_all("restorer_arch", "head.weight", "tail.weight"),
            )

        def load(self, state_dict):
            num_feat, num_conv, scale, in_ch, out_ch = (int(v) for v in state_dict["restorer_arch"].tolist())
            model = RestorerCompact(in_ch=in_ch, out_ch=out_ch, num_feat=num_feat, num_conv=num_conv, scale=scale)
            return ImageModelDescriptor(
                model,
                state_dict,
                architecture=self,
                purpose="Restoration" if scale == 1 else "SR",
                tags=[f"{num_feat}nf", f"{num_conv}nc"],
                supports_half=True,
                supports_bfloat16=True,
                scale=scale,
                input_channels=in_ch,
                output_channels=out_ch,
            )

    if "RestorerCompact" not in MAIN_REGISTRY:
        # Our detection key ``restorer_arch`` is unique, so check it before every
        # other architecture (SRVGG "Compact" would otherwise claim our files).
        others = tuple(a.architecture.id for a in MAIN_REGISTRY.architectures())
        MAIN_REGISTRY.add(ArchSupport.from_architecture(RestorerCompactArch(), before=others))
    _registered = True


def resolve_model_path(name: str | None) -> Path:
    """Map a model name (see module docstring) to a file path.

    Args:
        name: None or a key of ``BUNDLED_MODELS`` (the bundled file in
            :func:`weights_dir`), or a file path (``~`` is expanded).

    Returns:
        Path of an existing file (its contents are not checked).

    Raises:
        ModelLoadError: the bundled weights are missing, or the path is not a file.
    """
    if name is None or name in BUNDLED_MODELS:
        path = weights_dir() / BUNDLED_MODELS[name or DEFAULT_MODEL]
        if not path.is_file():
            raise ModelLoadError(f"{path}: bundled model missing (is the repository complete?)")
        return path
    path = Path(name).expanduser()
    if not path.is_file():
        raise ModelLoadError(f"{path}: no such model file (bundled models: {', '.join(BUNDLED_MODELS)})")
    return path


def load_model(name: str | None = None):
    """Load a generator as a spandrel ``ImageModelDescriptor`` in eval mode on the CPU.

    Args:
        name: bundled model name, or a path to a model file (see module docstring).

    Returns:
        ``spandrel.ImageModelDescriptor`` in float32; call ``.to(device)`` and
        pass (N, C, H, W) float tensors in [0, 1] with C =
        ``.input_channels`` (3 for RGB models); ``.scale`` is its native
        factor. Our files load as architecture ``RestorerCompact``.

    Raises:
        ModelLoadError: file missing, unsupported architecture, or not an image
            model; one line naming the file and the reason.
    """
    _register()
    from spandrel import ImageModelDescriptor, ModelLoader, UnsupportedModelError

    path = resolve_model_path(name)
    try:
        desc = ModelLoader().load_from_file(str(path))
    except UnsupportedModelError:
        raise ModelLoadError(f"{path}: unsupported model architecture (spandrel does not recognise it)") from None
    except Exception as exc:  # noqa: BLE001 - any loader failure becomes one line
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelLoadError(f"{path}: cannot load model ({msg})") from None
    if not isinstance(desc, ImageModelDescriptor):
        raise ModelLoadError(f"{path}: not an image-to-image model ({type(desc).__name__})")
    return desc.eval()

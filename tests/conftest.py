"""Shared test fixtures: offscreen Qt, small deterministic images, a tiny model file."""
from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture
def photo_like() -> torch.Tensor:
    """A smooth, photo-like RGB image (1, 3, 96, 128) in [0, 1], deterministic."""
    g = torch.Generator().manual_seed(0)
    y, x = torch.meshgrid(torch.linspace(0, 1, 96), torch.linspace(0, 1, 128), indexing="ij")
    base = torch.stack([0.5 + 0.4 * torch.sin(6 * x + 2 * y), 0.5 + 0.3 * torch.cos(5 * y), x * y], 0)
    noise = torch.rand((3, 96, 128), generator=g) * 0.1
    return (base + noise).clamp(0, 1).unsqueeze(0)


@pytest.fixture
def random_model_file(tmp_path: Path) -> Path:
    """A RestorerCompact x4 with random (non-trivial) weights saved as safetensors."""
    from safetensors.torch import save_file

    from restorer.models import RestorerCompact

    torch.manual_seed(0)
    m = RestorerCompact(num_feat=16, num_conv=4, scale=4)
    with torch.no_grad():
        for p in m.parameters():
            p.normal_(0, 0.05)
    path = tmp_path / "tiny_x4.safetensors"
    save_file(m.state_dict(), str(path))
    return path


def save_png(path: Path, arr: np.ndarray, mode: str | None = None) -> Path:
    """Write a uint8/uint16 array to ``path`` with Pillow."""
    from PIL import Image

    Image.fromarray(arr, mode).save(path) if mode else Image.fromarray(arr).save(path)
    return path


def reference_lpips(net: str):
    """The reference ``lpips`` package with our backbone weights loaded into its slices."""
    import re
    import warnings

    import lpips

    from restorer.weights import BACKBONE_LAYERS, backbone_state_dict

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = lpips.LPIPS(net={"alex": "alex", "vgg16": "vgg", "vgg": "vgg"}[net], version="0.1", pnet_rand=True, verbose=False)
    backbone = backbone_state_dict("vgg16" if net == "vgg" else net)
    # The reference's slices keep torchvision's feature indices as module names:
    # slice k holds features [a, b); copy features.{i} into net.slice{k}.{i}.
    state = ref.state_dict()
    loaded = set()
    for key in state:
        m = re.fullmatch(r"net\.slice(\d)\.(\d+)\.(weight|bias)", key)
        if m:
            state[key] = backbone[f"features.{m.group(2)}.{m.group(3)}"]
            loaded.add(int(m.group(2)))
    assert sorted(loaded) == BACKBONE_LAYERS["vgg16" if net == "vgg" else net]
    ref.load_state_dict(state)
    return ref.eval()

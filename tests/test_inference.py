"""restorer.models loading; restorer.inference tiling, progress, cancel, scale; restorer.device choices."""
from __future__ import annotations

import threading

import pytest
import torch
from safetensors.torch import save_file

from restorer.device import available_devices, pick_device, pick_dtype
from restorer.inference import Cancelled, restore
from restorer.models import ModelLoadError, RestorerCompact, load_model
from restorer.tiling import default_tile_pad


@pytest.fixture
def model(random_model_file):
    return load_model(str(random_model_file))


def test_loads_our_architecture_through_spandrel(model):
    assert model.architecture.id == "RestorerCompact"
    assert model.scale == 4 and model.input_channels == 3 and model.purpose == "SR"
    assert isinstance(model.model, RestorerCompact) and model.model.num_conv == 4


def test_loads_community_compact_file_as_its_own_architecture(tmp_path):
    from spandrel.architectures.Compact import Compact

    net = Compact(num_in_ch=3, num_out_ch=3, num_feat=16, num_conv=2, upscale=2)
    save_file(net.state_dict(), str(tmp_path / "compact_x2.safetensors"))
    desc = load_model(str(tmp_path / "compact_x2.safetensors"))
    assert desc.architecture.id == "Compact" and desc.scale == 2


def test_bad_model_files_name_the_file(tmp_path):
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    save_file({"foo.weight": torch.zeros(3)}, str(tmp_path / "unknown.safetensors"))
    for name in ("junk.pth", "unknown.safetensors", "missing.pth"):
        with pytest.raises(ModelLoadError, match=name):
            load_model(str(tmp_path / name))


def test_tiled_equals_untiled_with_enough_padding(model):
    torch.manual_seed(1)
    x = torch.rand(1, 3, 200, 300)  # 300x200 input, as the Foundation issue asks
    whole = restore(model, x, tile=0, device="cpu").rgb
    tiled = restore(model, x, tile=64, device="cpu").rgb
    assert whole.shape == (1, 3, 800, 1200)
    assert default_tile_pad(model) == model.model.receptive_radius() == 8
    assert (whole - tiled).abs().max().item() <= 1e-4


def test_cascade_loads_through_spandrel_and_tiles_exactly(tmp_path):
    """A two-stage RestorerCascade file rebuilds from its tensors alone; its receptive radius (stage 2's
    counted in LR pixels) is enough tile padding for tiled output to equal the whole image's."""
    from restorer.models import RestorerCascade

    torch.manual_seed(0)
    net = RestorerCascade(RestorerCompact(num_feat=8, num_conv=4, scale=2),
                          RestorerCompact(num_feat=8, num_conv=6, scale=2))
    for stage in (net.stage1, net.stage2):
        torch.nn.init.normal_(stage.tail.weight, std=0.1)
    save_file(net.state_dict(), str(tmp_path / "cascade.safetensors"))
    desc = load_model(str(tmp_path / "cascade.safetensors"))
    assert desc.architecture.id == "RestorerCascade" and desc.scale == 4 and desc.tags == ["8nf4nc x2", "8nf6nc x2"]
    assert desc.model.receptive_radius() == (4 + 4) + (6 + 4 + 1) // 2 == 13
    per_stage = [9 * 3 * 8 + n * 9 * 8 * 8 + 9 * 8 * 12 for n in (4, 6)]
    assert desc.model.macs_per_pixel() == per_stage[0] + 4 * per_stage[1]
    x = torch.rand(1, 3, 40, 50)
    whole = restore(desc, x, tile=0, device="cpu").rgb
    tiled = restore(desc, x, tile=16, device="cpu").rgb
    m = 4 * desc.model.receptive_radius()  # restore reflects the input at its edges; the network alone pads zeros
    with torch.no_grad():
        assert (whole - net(x).clamp(0, 1))[..., m:-m, m:-m].abs().max().item() <= 1e-5  # computes what was saved
    assert (whole - tiled).abs().max().item() <= 1e-4
    seams = restore(desc, x, tile=16, tile_pad=2, device="cpu").rgb
    assert (whole - seams).abs().max().item() > 1e-3  # tiles do show with too little padding


def test_too_little_padding_shows_seams(model):
    torch.manual_seed(1)
    x = torch.rand(1, 3, 96, 96)
    whole = restore(model, x, tile=0, device="cpu").rgb
    tiled = restore(model, x, tile=32, tile_pad=1, device="cpu").rgb
    assert (whole - tiled).abs().max().item() > 1e-3


def test_progress_and_cancel(model):
    x = torch.rand(1, 3, 64, 96)
    calls = []
    restore(model, x, tile=32, device="cpu", progress=lambda d, t: calls.append((d, t)))
    assert calls == [(i, 6) for i in range(1, 7)]
    ev = threading.Event()

    def progress(done, total):
        if done == 2:
            ev.set()

    seen = []
    with pytest.raises(Cancelled):
        restore(model, x, tile=32, device="cpu", progress=lambda d, t: (seen.append(d), progress(d, t)), cancel=ev)
    assert seen == [1, 2]  # stopped between tiles, right after the flag was set


def test_precision_and_device_choice():
    cpu = torch.device("cpu")
    assert pick_dtype("auto", cpu) == torch.float32
    with pytest.warns(UserWarning, match="fp16 requested on the CPU"):
        assert pick_dtype("fp16", cpu) == torch.float32
    assert pick_dtype("fp16", torch.device("cuda"), supports_half=True) == torch.float16
    assert pick_dtype("bf16", torch.device("cuda"), supports_bf16=True) == torch.bfloat16
    with pytest.raises(ValueError):
        pick_dtype("fp8", cpu)
    assert pick_device("cpu") == cpu
    if not torch.cuda.is_available():
        assert pick_device("auto").type in ("cpu", "mps")
        with pytest.raises(ValueError, match="CUDA"):
            pick_device("cuda")
    names = available_devices()  # every name listed is one pick_device accepts here
    assert names[:2] == ["auto", "cpu"] and all(pick_device(n).type in ("cpu", "cuda", "mps") for n in names)
    assert ("cuda" in names) == torch.cuda.is_available()


def test_restore_other_scale_and_alpha(model, photo_like):
    alpha = torch.ones(1, 1, 96, 128)
    alpha[..., :, :64] = 0.0
    res = restore(model, photo_like, alpha, scale=2, tile=48, device="cpu")
    assert res.rgb.shape == (1, 3, 192, 256) and res.alpha.shape == (1, 1, 192, 256)
    assert res.rgb.min() >= 0 and res.rgb.max() <= 1
    # alpha keeps its two regions after upscaling
    assert res.alpha[0, 0, :, :120].max() < 0.05 and res.alpha[0, 0, :, 136:].min() > 0.95
    native = restore(model, photo_like, device="cpu")
    assert native.rgb.shape == (1, 3, 384, 512) and native.scale == 4

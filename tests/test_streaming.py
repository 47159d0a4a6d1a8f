"""restorer.inference.restore_into: streaming tiles into a sink at any scale, automatic tile
size, out-of-memory retry, the NaN guard, and alpha by filter or by model."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from restorer.inference import restore, restore_into
from restorer.resample import aa_weights, resize
from restorer.tiling import InsufficientMemoryError, auto_tile, is_out_of_memory, tile_bytes
from restorer.models import load_model


class TensorSink:
    """A float sink that marks unwritten pixels with -1."""

    def __init__(self, h, w, alpha=False):
        self.rgb = torch.full((1, 3, h, w), -1.0)
        self.alpha = torch.full((1, 1, h, w), -1.0) if alpha else None
        self.writes = 0

    def write(self, x0, y0, rgb, alpha=None):
        h, w = rgb.shape[-2:]
        self.rgb[..., y0:y0 + h, x0:x0 + w] = rgb
        if alpha is not None:
            self.alpha[..., y0:y0 + h, x0:x0 + w] = alpha
        self.writes += 1


class Flaky:
    """Wraps a model descriptor: raises out-of-memory for inputs above ``max_px`` pixels
    (counting the attempts), or returns NaN when ``nan`` is set."""

    def __init__(self, desc, max_px=None, nan=False):
        self.desc, self.max_px, self.nan, self.ooms = desc, max_px, nan, 0

    def __getattr__(self, name):
        return getattr(self.desc, name)

    def __call__(self, x):
        if self.max_px is not None and x.shape[-1] * x.shape[-2] > self.max_px:
            self.ooms += 1
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        out = self.desc(x)
        return out * float("nan") if self.nan else out


@pytest.fixture
def model(random_model_file):
    return load_model(str(random_model_file))


@pytest.mark.parametrize("in_size,out_size", [(37, 10), (37, 37), (37, 80), (12, 150), (150, 13)])
def test_aa_weights_equal_pytorch_antialiased_bicubic(in_size, out_size):
    x = torch.rand(1, 2, in_size, 3, dtype=torch.float64)
    ref = F.interpolate(x, size=(out_size, 3), mode="bicubic", antialias=True, align_corners=False)
    rows = range(3, out_size - 1) if out_size > 5 else range(out_size)
    W, first = aa_weights(in_size, out_size, rows)
    got = torch.einsum("ok,bckw->bcow", W, x[:, :, first:first + W.shape[1]])
    assert (got - ref[:, :, rows.start:rows.stop]).abs().max() < 1e-12


@pytest.mark.parametrize("scale", [4, 2, 1.5, 0.5, 2.7])
def test_streamed_equals_whole_image_restore_at_any_scale(model, photo_like, scale):
    alpha = torch.rand(1, 1, 96, 128)
    native = restore(model, photo_like, alpha, tile=0, device="cpu").rgb
    ref = resize(native, (max(1, round(96 * scale)), max(1, round(128 * scale))))  # the whole output, resampled
    sink = TensorSink(*ref.shape[-2:], alpha=True)
    size = restore_into(model, photo_like, alpha, sink, scale=scale, tile=40, device="cpu")
    assert size == (ref.shape[-1], ref.shape[-2])
    assert sink.rgb.min() >= 0 and sink.alpha.min() >= 0  # every pixel written
    assert (sink.rgb - ref).abs().max() <= 1e-4
    if scale == 4:  # native: alpha is the same bicubic as resize() of the whole alpha
        assert (sink.alpha - resize(alpha, ref.shape[-2:])).abs().max() <= 1e-5


def test_out_of_memory_retries_with_smaller_tiles_and_same_result(model, photo_like):
    """Case 9's kind: the whole image as one tile fails; smaller tiles give the exact image."""
    ref = TensorSink(384, 512)
    restore_into(model, photo_like, None, ref, tile=0, device="cpu")
    flaky = Flaky(model, max_px=60 * 60)
    sink = TensorSink(384, 512)
    with pytest.warns(UserWarning, match="out of memory with 128-pixel tiles: retrying with 64") as rec:
        restore_into(flaky, photo_like, None, sink, tile=0, device="cpu")
    assert any("retrying with 32" in str(r.message) for r in rec)
    assert flaky.ooms >= 2 and (sink.rgb - ref.rgb).abs().max() <= 1e-4
    never = Flaky(model, max_px=1)
    with pytest.raises(InsufficientMemoryError, match="out of memory even with 16-pixel tiles"), \
            pytest.warns(UserWarning, match="retrying with 16"):
        restore_into(never, photo_like[..., :20, :20], None, TensorSink(80, 80), tile=64, device="cpu")


def test_nan_output_raises_instead_of_saving_black(model, photo_like, tmp_path):
    from restorer.io import ImageWriter

    writer = ImageWriter(tmp_path / "o.png", 512, 384)
    with pytest.raises(RuntimeError, match="NaN"):
        restore_into(Flaky(model, nan=True), photo_like, None, writer, tile=64, device="cpu")
    assert not (tmp_path / "o.png").exists()  # the writer was never committed


def test_forced_tile_over_budget_is_shrunk(model, photo_like):
    budget = tile_bytes(model, 48, 48, 8)
    sink = TensorSink(384, 512)
    with pytest.warns(UserWarning, match="over the memory budget"):
        restore_into(model, photo_like, None, sink, tile=0, memory_budget=budget, device="cpu")
    ref = TensorSink(384, 512)
    restore_into(model, photo_like, None, ref, tile=0, device="cpu")
    assert (sink.rgb - ref.rgb).abs().max() <= 1e-4


def test_auto_tile_follows_the_budget(model):
    assert auto_tile(model, 96, 128, budget=1 << 40) == 0  # small image, plenty of memory: one piece
    for budget in (8 << 20, 64 << 20, 512 << 20):
        t = auto_tile(model, 4000, 3000, budget=budget)
        assert 32 <= t <= 1024 and t % 8 == 0
        assert tile_bytes(model, t, t, 8) <= budget or t == 32
        assert t == 1024 or tile_bytes(model, t + 8, t + 8, 8) > budget  # the largest that fits
    assert auto_tile(model, 4000, 3000, budget=8 << 20) < auto_tile(model, 4000, 3000, budget=512 << 20)
    assert tile_bytes(model, 64, 64, 8, torch.float16) < tile_bytes(model, 64, 64, 8, torch.float32)


def test_out_of_memory_classification():
    assert is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory"))
    assert is_out_of_memory(RuntimeError("[enforce fail at alloc_cpu.cpp:116] DefaultCPUAllocator: can't allocate memory"))
    assert is_out_of_memory(MemoryError())
    assert not is_out_of_memory(RuntimeError("shape mismatch"))
    assert not is_out_of_memory(InsufficientMemoryError("no"))


def test_alpha_by_model_or_filter(model):
    """alpha_mode="model": the generator itself upscales the alpha as a gray image."""
    alpha = torch.zeros(1, 1, 32, 32)
    alpha[..., 8:24, 8:24] = 1
    rgb = torch.rand(1, 3, 32, 32)
    by_model = TensorSink(128, 128, alpha=True)
    restore_into(model, rgb, alpha, by_model, alpha_mode="model", tile=16, device="cpu")
    grey = restore(model, alpha.expand(-1, 3, -1, -1), device="cpu").rgb.mean(1, keepdim=True)
    assert (by_model.alpha - grey).abs().max() <= 1e-4
    via_restore = restore(model, rgb, alpha, alpha_mode="model", device="cpu")
    assert (via_restore.alpha - grey).abs().max() <= 1e-4
    with pytest.raises(ValueError, match="alpha_mode"):
        restore_into(model, rgb, alpha, by_model, alpha_mode="nearest")


@pytest.mark.slow  # a subprocess importing torch
def test_available_memory_honours_ulimit():
    """Under ``ulimit -v`` the free memory is what the process may still map, not the system's RAM."""
    import subprocess
    import sys
    from pathlib import Path

    code = (
        "import resource, sys\n"
        f"sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})\n"
        "from restorer.tiling import available_memory\n"
        "vms = int(open('/proc/self/statm').read().split()[0]) * resource.getpagesize()\n"
        "resource.setrlimit(resource.RLIMIT_AS, (vms + 2**30, resource.getrlimit(resource.RLIMIT_AS)[1]))\n"
        "print(available_memory('cpu'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert 0.9 * 2**30 < int(out.stdout) <= 2**30


@pytest.fixture
def rgba_model_file(tmp_path):
    """A Compact x2 that takes and gives RGBA (spandrel's SRVGG, as Real-ESRGAN's compact
    models): every weight 0 and the alpha channel's last bias -0.25, so its output is the
    nearest-neighbour upscale of its input with 0.25 taken off the alpha."""
    from safetensors.torch import save_file
    from spandrel.architectures.Compact import Compact

    net = Compact(num_in_ch=4, num_out_ch=4, num_feat=8, num_conv=2, upscale=2)
    with torch.no_grad():
        for p in net.parameters():
            p.zero_()
        net.body[-1].bias[12:16] = -0.25  # pixel shuffle: channels 4c..4c+3 make output channel c
    path = tmp_path / "rgba_x2.safetensors"
    save_file(net.state_dict(), str(path))
    return path


def _nearest(x, k=2):
    return x.repeat_interleave(k, -1).repeat_interleave(k, -2)


def test_rgba_model_through_the_one_path(rgba_model_file, tmp_path):
    """A 4-channel model (RGBA in, RGBA out): RGB is its first three channels; with
    alpha_mode="model" (--alpha model) the alpha is its own fourth channel. The old
    in-memory restore() instead dropped that channel and ran the model again on the alpha
    as a gray image (giving nearest(alpha), without the -0.25); the streaming path, which
    the CLI used, already took the model's alpha, and is the behaviour kept."""
    from PIL import Image

    from restorer.cli import main

    model = load_model(str(rgba_model_file))
    assert (model.input_channels, model.output_channels, model.scale) == (4, 4, 2)
    g = torch.Generator().manual_seed(3)
    rgb, alpha = torch.rand(1, 3, 20, 24, generator=g), torch.rand(1, 1, 20, 24, generator=g)
    by_model = restore(model, rgb, alpha, alpha_mode="model", tile=8, device="cpu")
    assert by_model.rgb.shape == (1, 3, 40, 48) and by_model.alpha.shape == (1, 1, 40, 48)
    assert (by_model.rgb - _nearest(rgb)).abs().max() <= 1e-6
    assert (by_model.alpha - (_nearest(alpha) - 0.25).clamp(0, 1)).abs().max() <= 1e-6
    filtered = restore(model, rgb, alpha, tile=8, device="cpu")  # --alpha filter: bicubic, not the model's
    assert (filtered.rgb - _nearest(rgb)).abs().max() <= 1e-6
    assert (filtered.alpha - resize(alpha, (40, 48))).abs().max() <= 1e-5
    opaque = restore(model, rgb, None, alpha_mode="model", device="cpu")  # no alpha: opaque in, none out
    assert opaque.alpha is None and (opaque.rgb - _nearest(rgb)).abs().max() <= 1e-6

    arr = (torch.cat([rgb, alpha], 1)[0].permute(1, 2, 0).numpy() * 255).round().astype("uint8")
    Image.fromarray(arr, "RGBA").save(tmp_path / "in.png")
    out = tmp_path / "out.png"
    assert main(["restore", str(tmp_path / "in.png"), "-o", str(out), "--model", str(rgba_model_file),
                 "--alpha", "model", "--device", "cpu", "--tile", "8"]) == 0
    got = torch.from_numpy(np.asarray(Image.open(out)).astype("int32"))
    src = torch.from_numpy(arr.astype("int32"))
    want = _nearest(src.permute(2, 0, 1)).permute(1, 2, 0)
    want[..., 3] = (want[..., 3] - 63.75).clamp(0, 255).round()
    assert got.shape == (40, 48, 4) and (got - want).abs().max() <= 1


def test_region_restores_a_box_with_its_context(model, photo_like):
    """region=: only the box is restored, with the image around it as context, so it equals
    that part of the whole-image output (the crop preview); a crop without context does not."""
    whole = restore(model, photo_like, tile=0, device="cpu")
    box = (30, 20, 70, 52)
    calls = []
    part = restore(model, photo_like, region=box, tile=16, device="cpu", progress=lambda d, t: calls.append(t))
    assert part.region == box and part.rgb.shape == (1, 3, 128, 160)
    assert calls[-1] == 3 * 2  # only the region's 16-pixel tiles
    assert (part.rgb - whole.rgb[..., 80:208, 120:280]).abs().max() <= 1e-4
    bare = restore(model, photo_like[..., 20:52, 30:70], tile=0, device="cpu")
    assert (bare.rgb - whole.rgb[..., 80:208, 120:280]).abs().max() > 1e-3
    # At another scale the resampling reads a few pixels around the region too.
    whole2 = restore(model, photo_like, scale=2, tile=0, device="cpu")
    part2 = restore(model, photo_like, scale=2, region=box, device="cpu")
    assert part2.rgb.shape == (1, 3, 64, 80) and (part2.rgb - whole2.rgb[..., 40:104, 60:140]).abs().max() <= 1e-4
    edge = restore(model, photo_like, region=(100, 80, 200, 200), device="cpu")  # clipped to the image
    assert edge.region == (100, 80, 128, 96) and (edge.rgb - whole.rgb[..., 320:, 400:]).abs().max() <= 1e-4
    with pytest.raises(ValueError, match="does not overlap"):
        restore(model, photo_like, region=(200, 0, 300, 10), device="cpu")

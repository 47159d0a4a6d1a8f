"""``python main.py bench gpu``: one line and exit status 0 without a GPU; the record it writes with one."""
from __future__ import annotations

import json

import pytest
import torch

from bench import gpu
from bench import main as bench_main

HAS_GPU = gpu.gpu_device("auto") is not None


@pytest.mark.skipif(HAS_GPU, reason="a GPU is here: `bench gpu` would run the real checks")
def test_without_a_gpu_it_says_so_in_one_line(tmp_path, capsys):
    assert bench_main(["gpu", "--out", str(tmp_path)]) == 0
    cap = capsys.readouterr()
    assert cap.out.startswith("bench gpu: no CUDA or MPS device here") and cap.out.count("\n") == 1
    assert cap.err == ""
    assert not any(tmp_path.iterdir())  # nothing written


def test_record_marks_each_figure_against_its_limit(tmp_path):
    good = gpu.Check("good")
    assert good.expect("difference", 5e-5, gpu.METRIC_ATOL) and good.expect("speed-up", 40.0, 1.0, at_most=False)
    bad = gpu.Check("bad")
    assert not bad.expect("difference", float("nan"), gpu.METRIC_ATOL)  # NaN fails
    broken = gpu.Check("broken", error="ModuleNotFoundError: No module named 'spandrel'")
    env = gpu.environment(torch.device("cpu"))
    assert gpu.write_results(tmp_path, env, [good], 12.0)
    assert not gpu.write_results(tmp_path, env, [good, bad, broken], 12.0)
    record = json.loads((tmp_path / "gpu.json").read_text())
    assert [c["passed"] for c in record["checks"]] == [True, False, False] and record["passed"] is False
    md = (tmp_path / "gpu.md").read_text()
    assert md.startswith("# GPU path check: FAIL")
    assert "| good | speed-up | 40 | >= 1 | pass |" in md and "| bad | difference | nan | <= 0.0001 | FAIL |" in md
    assert "| broken | error | ModuleNotFoundError: No module named 'spandrel' | | FAIL |" in md

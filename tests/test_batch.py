"""restorer.batch: planning a run of files (names, skips, refusals) and restoring one file."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from restorer.batch import Job, PlanError, RestoreOptions, plan_batch, restore_file, run_batch
from restorer.io import ImageError


def _png(path: Path, size=(12, 9), colour=(10, 120, 240)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return path


def test_plan_names_skips_and_refusals(tmp_path):
    src, out = tmp_path / "src", tmp_path / "out"
    _png(src / "a.png")
    _png(src / "a_x4.png")  # a.png's output, from an earlier run into the same folder
    _png(src / "sub" / "c.jpg")
    (src / "notes.txt").write_text("x")
    plan = plan_batch([src], out, 4)
    assert plan.batch and plan.jobs == [Job(src / "a.png", out / "a_x4.png"), Job(src / "a_x4.png", out / "a_x4_x4.png")]
    assert plan.skipped == [f"{src / 'notes.txt'}: not an image file",
                            f"{src / 'sub'}: a folder (use --recursive to include it)"]
    deep = plan_batch([src], src, 2, recursive=True)  # into itself: a_x4.png is no output of x2
    assert [j.target for j in deep.jobs] == [src / "a_x2.png", src / "a_x4_x2.png", src / "sub" / "c_x2.jpg"]
    own = plan_batch([src], src, 4)
    assert [j.source.name for j in own.jobs] == ["a.png"] and own.skipped[-1] == f"{src / 'a_x4.png'}: the output of a.png in this batch, not an input"
    assert [j.source.name for j in plan_batch([src], src, 4, overwrite=True).jobs] == ["a.png", "a_x4.png"]
    assert own.protect == (src / "a.png",)

    one = plan_batch([src / "a.png"], tmp_path / "one.webp", 1.5)  # not a folder: the output file
    assert not one.batch and one.jobs == [Job(src / "a.png", tmp_path / "one.webp")] and one.scale == 1.5
    assert plan_batch([src / "a.png"], src / "sub", 2).jobs[0].target == src / "sub" / "a_x2.png"
    with pytest.raises(PlanError, match="a_x4.png: already exists"):
        plan_batch([src / "a.png"], src, 4)
    with pytest.raises(PlanError, match="unsupported output format"):
        plan_batch([src / "a.png"], tmp_path / "o.gif", 4)
    with pytest.raises(PlanError, match="is a file"):
        plan_batch([src], src / "a.png", 4)
    _png(tmp_path / "twin" / "a.png")
    with pytest.raises(PlanError, match="also maps to"):
        plan_batch([src / "a.png", tmp_path / "twin" / "a.png"], out, 4)


def test_restore_file_and_run_batch(tmp_path, random_model_file):
    from restorer.models import load_model

    model = load_model(str(random_model_file))
    src = _png(tmp_path / "a.png")
    before = src.read_bytes()
    report = restore_file(model, src, tmp_path / "a_x2.png", scale=2, options=RestoreOptions(device="cpu"))
    assert (report.in_size, report.out_size) == ((12, 9), (24, 18))
    assert str(report) == f"{src} (12x9) -> {tmp_path / 'a_x2.png'} (24x18)"
    assert Image.open(tmp_path / "a_x2.png").size == (24, 18) and src.read_bytes() == before
    with pytest.raises(ImageError, match="refusing to write over an input"):
        restore_file(model, src, src, overwrite=True)  # the source is always protected
    assert not any(p.name.startswith(".restorer-") for p in tmp_path.iterdir())  # no temporary file left

    (tmp_path / "broken.png").write_bytes(b"")
    plan = plan_batch([src, tmp_path / "broken.png", tmp_path / "a_x2.png"], tmp_path / "out", 2)
    _png(tmp_path / "out" / "a_x2_x2.png", colour=(1, 2, 3))  # already there: left as it is
    outcomes = list(run_batch(model, plan))
    assert [o.status for o in outcomes] == ["restored", "failed", "exists"]
    assert "broken.png" in str(outcomes[1].error) and outcomes[0].report.out_size == (24, 18)
    assert np.asarray(Image.open(tmp_path / "out" / "a_x2_x2.png"))[0, 0].tolist() == [1, 2, 3]

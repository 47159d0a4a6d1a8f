"""Community model files: safe loading (no pickled code runs), the user's models folder,
``python main.py models`` reports, and one-line errors naming the file."""
from __future__ import annotations

import json
import os

import pytest
import torch
from safetensors.torch import save_file

from restorer.cli import main
from restorer.models import ModelLoadError, RestorerCompact, describe_model, load_model, models_dir


class _Payload:
    """Unpickling this calls os.system: it would create ``marker`` if the pickle ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("ext", [".pth", ".pt", ".ckpt"])
def test_malicious_pickle_is_refused_and_never_runs(tmp_path, ext):
    marker = tmp_path / "pwned"
    path = tmp_path / f"evil{ext}"
    torch.save({"params_ema": {"conv.weight": torch.zeros(1)}, "x": _Payload(marker)}, path)
    with pytest.raises(ModelLoadError) as exc:
        load_model(str(path))
    msg = str(exc.value)
    assert msg.startswith(str(path)) and "refused" in msg and "system" in msg and "\n" not in msg
    assert not marker.exists()


def test_torchscript_archive_is_refused(tmp_path):
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scripted = torch.jit.script(torch.nn.Conv2d(3, 3, 3))
        torch.jit.save(scripted, str(tmp_path / "ts.pt"))
    with pytest.raises(ModelLoadError, match=r"ts\.pt: .*TorchScript archive carries code"):
        load_model(str(tmp_path / "ts.pt"))


@pytest.mark.parametrize("ext,wrap", [(".pth", "params_ema"), (".pt", None), (".ckpt", "state_dict"),
                                      (".safetensors", None)])
def test_plain_weight_files_load_in_every_container(tmp_path, ext, wrap):
    from spandrel.architectures.ESRGAN import ESRGAN

    net = ESRGAN(in_nc=3, out_nc=3, num_filters=8, num_blocks=1, scale=2)
    sd = net.state_dict()
    path = tmp_path / f"2x-tiny{ext}"
    if ext == ".safetensors":
        save_file(sd, str(path))
    else:
        torch.save({wrap: sd} if wrap else sd, path)
    desc = load_model(str(path))
    info = describe_model(desc)
    assert info["architecture"] == "ESRGAN" and info["scale"] == 2 and info["purpose"] == "SR"
    assert info["params"] == sum(p.numel() for p in net.parameters())
    x = torch.rand(1, 3, 8, 8)
    with torch.no_grad():
        assert torch.allclose(desc(x), net(x).clamp(0, 1), atol=1e-6)  # the descriptor clamps to [0, 1]


def test_models_folder_names_and_report(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("RESTORER_MODELS_DIR", str(tmp_path / "models"))
    assert models_dir() == tmp_path / "models"
    (tmp_path / "models").mkdir()
    torch.manual_seed(0)
    save_file(RestorerCompact(num_feat=8, num_conv=2, scale=2).state_dict(), str(tmp_path / "models" / "mine-x2.safetensors"))
    (tmp_path / "models" / "junk.pth").write_bytes(b"definitely not a checkpoint")
    (tmp_path / "models" / "readme.txt").write_text("ignored: not a model extension")
    assert load_model("mine-x2").scale == 2  # by stem
    assert load_model("mine-x2.safetensors").architecture.id == "RestorerCompact"  # by file name
    with pytest.raises(ModelLoadError, match=r"nope: no such model file .*models folder"):
        load_model("nope")
    assert main(["models"]) == 1  # junk.pth cannot load
    cap = capsys.readouterr()
    assert "restorer-x4: RestorerCompact x4 SR" in cap.out and "mine-x2: RestorerCompact x2 SR" in cap.out
    assert "readme" not in cap.out
    assert len(cap.err.strip().splitlines()) == 2 and "junk.pth: cannot load model" in cap.err
    assert main(["models", "mine-x2", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["name"] == "mine-x2" and info["scale"] == 2 and info["architecture"] == "RestorerCompact"
    assert info["input_channels"] == 3 and info["fp16"] is True


def test_restore_with_a_folder_model_and_bad_model_file(tmp_path, monkeypatch, capsys):
    from PIL import Image

    monkeypatch.setenv("RESTORER_MODELS_DIR", str(tmp_path / "models"))
    (tmp_path / "models").mkdir()
    save_file(RestorerCompact(num_feat=8, num_conv=2, scale=2).state_dict(), str(tmp_path / "models" / "m2.safetensors"))
    Image.new("RGB", (10, 8), (10, 20, 30)).save(tmp_path / "a.png")
    assert main(["restore", str(tmp_path / "a.png"), "-o", str(tmp_path / "b.png"), "--model", "m2"]) == 0
    assert Image.open(tmp_path / "b.png").size == (20, 16)
    (tmp_path / "bad.safetensors").write_bytes(b"\x00" * 10)
    assert main(["restore", str(tmp_path / "a.png"), "-o", str(tmp_path / "c.png"), "--model",
                 str(tmp_path / "bad.safetensors")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error:") and "bad.safetensors: cannot load model (" in err and "\n" not in err


@pytest.mark.parametrize("name, content, reason", [
    ("text.pth", b"junk\n", "not a readable checkpoint"),  # was "cannot load model (174812789)"
    ("text.ckpt", b"hello world", "not a readable checkpoint"),  # was "(101)"
    ("bytes.pt", b"\x80\x02garbage", "not a readable checkpoint"),  # was "the pickle asks to run code"
    ("empty.pth", b"", "empty file, 0 bytes"),  # was "(EOFError)"
    ("empty.safetensors", b"", "empty file, 0 bytes"),
])
def test_unreadable_model_files_say_why(tmp_path, name, content, reason):
    """Files that are not checkpoints at all get a reason a user can act on, on one line."""
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ModelLoadError) as info:
        load_model(str(path))
    message = str(info.value)
    assert message.startswith(f"{path}: cannot load model") and reason in message and "\n" not in message
    assert "refused" not in message


def test_truncated_checkpoint_reason_is_one_sentence(tmp_path):
    """A cut-off zip checkpoint: the reason is torch's first sentence, not its paragraphs of advice."""
    good = tmp_path / "good.pth"
    torch.save(RestorerCompact().state_dict(), good)
    data = good.read_bytes()
    cut = tmp_path / "cut.pth"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError) as info:
        load_model(str(cut))
    message = str(info.value)
    assert "cut.pth" in message and "zip archive" in message and "internal miniz error" not in message


def test_our_architecture_lives_on_a_copy_of_spandrels_registry():
    """Our architectures are detected first on our registry; spandrel's global one is left as it was."""
    from spandrel import MAIN_REGISTRY

    from restorer.models import registry

    before = len(MAIN_REGISTRY)
    assert load_model().architecture.id == "RestorerCompact"
    ours = ["RestorerCompact", "RestorerCascade"]
    assert sorted(a.architecture.id for a in registry().architectures("detection")[:2]) == sorted(ours)
    assert not any(a in MAIN_REGISTRY for a in ours) and len(MAIN_REGISTRY) == before == len(registry()) - 2

"""Weights out: the exported encoder, loaded into torchvision's ResNet as the export's docstring says,
gives the suite's h (float32, 1e-5) on fixed inputs. Weights in: an outside state dict evaluated as a
run, and an export evaluated again giving its run's numbers."""
import json

import pandas as pd
import pytest
import torch
import torchvision
from torch import nn

import simclr
import simclr.config
from simclr import export
from simclr.config import load, to_dict
from simclr.models import build_model


def fake_run(tmp_path, *overrides):
    """A run directory as a completed run leaves it (config.json, model.pt), the BN statistics made
    non-trivial so that eval mode tests them too."""
    cfg = load("configs/tiny.yaml", list(overrides))
    torch.manual_seed(0)
    model = build_model(cfg, 10)
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.5, 2.0)
            if m.weight is not None:
                m.weight.data.uniform_(0.5, 1.5)
            if m.bias is not None:
                m.bias.data.uniform_(-0.2, 0.2)
    run_dir = tmp_path / cfg.run_id
    run_dir.mkdir()
    (run_dir / "config.json").write_text(json.dumps(to_dict(cfg)))
    torch.save(model.state_dict(), run_dir / "model.pt")
    return run_dir, model.eval()


@pytest.mark.parametrize("arch, stem, suffix, size, norm", [("resnet18", "cifar", ".safetensors", 32, "centred"),
                                                            ("resnet50", "imagenet", ".pt", 64, "centred"),
                                                            ("resnet34", "imagenet", ".pt", 32, "imagenet")])
def test_torchvision_resnet_loaded_from_the_export_gives_the_same_h(tmp_path, arch, stem, suffix, size, norm):
    """The .json's normalisation is the run's (encoder.input_norm: an evaluated torchvision checkpoint's
    is ImageNet's)."""
    run_dir, model = fake_run(tmp_path, f"encoder.arch={arch}", f"encoder.stem={stem}", f"encoder.input_norm={norm}")
    out = tmp_path / f"encoder{suffix}"
    described = export.export(run_dir, out)
    tv = getattr(torchvision.models, arch)(weights=None)
    tv.fc = nn.Identity()
    if stem == "cifar":  # as the docstring (and the .json) tell the user
        tv.conv1, tv.maxpool = nn.Conv2d(3, 64, 3, 1, 1, bias=False), nn.Identity()
    tv.load_state_dict(export.load_weights(out), strict=True)
    x = torch.rand(4, 3, size, size, generator=torch.Generator().manual_seed(1))
    normalize = torchvision.transforms.v2.Normalize(**described["normalize"])
    with torch.no_grad():
        torch.testing.assert_close(tv.eval()(normalize(x)), model.encoder(x), rtol=1e-5, atol=1e-5)
    assert described["keys"] == f"torchvision.models.{arch}" and described["h_dim"] == model.encoder.dim
    assert described["sha256"] == export.sha256(out) and json.loads((tmp_path / f"encoder{suffix}.json").read_text())


def test_other_resnets_export_under_the_suites_keys_and_the_map_inverts(tmp_path):
    from simclr.models import ResNet

    run_dir, model = fake_run(tmp_path, "encoder.width=2")
    out = tmp_path / "tiny.safetensors"
    described = export.export(run_dir, out, head=True)
    assert described["keys"] == "simclr.models.ResNet" and described["h_dim"] == model.encoder.dim
    state = export.load_weights(out)
    encoder = ResNet(described["arch"], described["width"], described["stem"])
    encoder.load_state_dict({k: v for k, v in state.items() if not k.startswith("head.")}, strict=True)
    assert all(torch.equal(state[f"head.{k}"], v) for k, v in model.head.state_dict().items())
    ours = model.encoder.state_dict()
    assert export.torchvision_keys(export.torchvision_keys(ours), reverse=True).keys() == ours.keys()


def test_export_refuses_what_it_cannot_write(tmp_path, capsys):
    run_dir, _ = fake_run(tmp_path)
    assert export.main([str(run_dir), str(tmp_path / "out.bin")]) == 2
    assert "name the output .safetensors or .pt" in capsys.readouterr().err
    (run_dir / "model.pt").unlink()
    assert export.main([str(run_dir), str(tmp_path / "out.pt")]) == 2
    assert "only a completed run can be exported" in capsys.readouterr().err


# ---- weights in -------------------------------------------------------------------------------------

EVAL = ["data.num_train=512", "data.num_test=256", "eval.linear_epochs=3", "eval.knn_k=20", "train.precision=fp32",
        "train.progress=false"]


def test_a_torchvision_state_dict_is_evaluated_like_a_run(tmp_path):
    """torchvision's resnet18 as saved by torch.save (its fc included), evaluated end to end: the run
    names the file and its sha256, and its encoder is torchvision's network, input normalisation included."""
    from simclr.evaluate_weights import main

    torch.manual_seed(3)
    tv = torchvision.models.resnet18(weights=None)
    torch.save(tv.state_dict(), tmp_path / "resnet18.pth")
    args = [str(tmp_path / "resnet18.pth"), "configs/tiny.yaml", *EVAL, "--arch", "resnet18", "--stem", "imagenet",
            "--input-norm", "imagenet", "--results", str(tmp_path / "store")]
    assert main(args) == 0
    run_dir, = (tmp_path / "store").iterdir()
    cfg = simclr.config.from_dict(json.loads((run_dir / "config.json").read_text()))
    assert cfg.encoder.weights == str(tmp_path / "resnet18.pth") and cfg.train.steps == 0
    assert cfg.encoder.weights_sha256 == export.sha256(tmp_path / "resnet18.pth")
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert metrics["step"] == 0 and 0 <= metrics["knn_acc"] <= 100 and "online_acc" not in metrics
    model = build_model(cfg, 10)
    model.load_state_dict(torch.load(run_dir / "model.pt", weights_only=True))
    tv.fc = nn.Identity()
    x = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(1))
    imagenet = torchvision.transforms.v2.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    with torch.no_grad():
        torch.testing.assert_close(model.encoder.eval()(x), tv.eval()(imagenet(x)), rtol=1e-5, atol=1e-5)
    # another file under the same name is a different encoder: refused, not evaluated as the old one
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), tmp_path / "resnet18.pth")
    with pytest.raises(simclr.ConfigError, match="has changed since the config named its sha256"):
        simclr.run(simclr.replace(cfg, **{"seed": 1}), tmp_path / "store")
    # the file gone: the stored run stays readable (its config loads); a new run asking for it is refused
    (tmp_path / "resnet18.pth").unlink()
    assert simclr.config.from_dict(json.loads((run_dir / "config.json").read_text())) == cfg
    with pytest.raises(simclr.ConfigError, match="no such file"):
        simclr.run(simclr.replace(cfg, **{"seed": 1}), tmp_path / "store")


def test_an_exported_run_evaluated_again_gives_its_numbers(tmp_path):
    from simclr.evaluate_weights import main

    trained = simclr.run(load("configs/tiny.yaml", EVAL + ["train.steps=12", "train.batch_size=64",
                                                           "optim.warmup_epochs=1"]), tmp_path / "store")
    export.export(tmp_path / "store" / trained["run_id"], tmp_path / "tiny.safetensors")
    assert main([str(tmp_path / "tiny.safetensors"), "configs/tiny.yaml", *EVAL, "--results", str(tmp_path / "again")]) == 0
    again = json.loads(next((tmp_path / "again").glob("*/metrics.json")).read_text())
    assert (again["knn_acc"], again["linear_acc"]) == (trained["knn_acc"], trained["linear_acc"])


def test_weights_that_do_not_fit_are_refused_before_any_work(tmp_path, capsys):
    from simclr.evaluate_weights import main

    torch.save(torchvision.models.resnet18(weights=None).state_dict(), tmp_path / "r18.pt")
    assert main([str(tmp_path / "r18.pt"), *EVAL, "--arch", "resnet34", "--results", str(tmp_path / "s")]) == 2
    assert "does not fit this encoder (check encoder.arch" in capsys.readouterr().err
    assert not (tmp_path / "s").exists() or not any((tmp_path / "s").iterdir())
    assert main([str(tmp_path / "absent.pt"), *EVAL]) == 2
    assert "no such file" in capsys.readouterr().err


def test_a_study_puts_outside_checkpoints_beside_its_baseline(tmp_path, capsys):
    """studies/run.py checkpoints: the outside arm is the very run python -m simclr.evaluate_weights makes
    (one run id, one result), and the table and the paired comparison name both encoders."""
    from simclr.evaluate_weights import main as evaluate_weights
    from studies.run import main as study

    torch.save(torchvision.models.resnet18(weights=None).state_dict(), tmp_path / "r18.pth")
    spec = f"tv18={tmp_path / 'r18.pth'},arch=resnet18,stem=imagenet,input_norm=imagenet"
    sets = [a for s in EVAL + ["train.steps=8", "train.batch_size=64", "optim.warmup_epochs=0.5",
                               "eval.finetune_fractions=[0.1]", "eval.finetune_epochs=1", "eval.transfer=[synthetic]"]
            for a in ("--set", s)]
    assert study(["checkpoints", "--weights", spec, "--results", str(tmp_path / "store"), *sets]) == 0
    table = pd.read_csv(tmp_path / "store" / "checkpoints.csv").set_index("encoder")
    assert list(table.index) == ["SimCLR (this preset's baseline)", "tv18"] and table.loc["tv18", "weights"] == "r18.pth"
    for metric in ("knn_acc", "linear_acc", "finetune_0.1_acc", "transfer_synthetic_linear_acc"):
        # every protocol ran on the outside encoder
        assert table[metric].notna().all() and "missing" not in table[metric].tolist(), metric
    report = json.loads((tmp_path / "store" / "agreement.json").read_text())
    assert report["variant"] == "outside checkpoints"
    assert "knn_acc: SimCLR (this preset's baseline) > tv18" in {c["text"] for c in report["claims"]}
    args = [str(tmp_path / "r18.pth"), "configs/tiny.yaml", *sets[1::2], "--arch", "resnet18", "--stem", "imagenet",
            "--input-norm", "imagenet", "--results", str(tmp_path / "store")]
    capsys.readouterr()
    assert evaluate_weights(args) == 0  # the study's arm already holds this run: found, not redone
    err = capsys.readouterr().err
    outside, = [d for d in (tmp_path / "store").iterdir() if (d / "config.json").exists()
                and json.loads((d / "config.json").read_text())["encoder"]["weights"]]
    assert f"run {outside.name}" in err and len(list((tmp_path / "store").glob("*/metrics.json"))) == 2
    # refused before any work: a malformed spec, and weights that do not fit the encoder named
    assert study(["checkpoints", "--weights", "tv18", "--results", str(tmp_path / "bad")]) == 2
    assert "expected NAME=PATH" in capsys.readouterr().err
    assert study(["checkpoints", "--weights", spec.replace("imagenet,", "cifar,", 1), "--results",
                  str(tmp_path / "bad")]) == 2
    assert "does not fit this encoder" in capsys.readouterr().err and not (tmp_path / "bad").exists()

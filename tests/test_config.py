"""Config: validation errors name the problem before any work; files, overrides and run_id behave; the
schema is a leaf (no torch, no other engine module)."""
import json
import subprocess
import sys

import pytest

from simclr import config as C
from simclr.checks import validate
from simclr.config import ConfigError, RunConfig, load, op, replace, run_id, to_dict


def test_default_is_valid_and_roundtrips():
    cfg = validate(RunConfig())
    assert C.from_dict(to_dict(cfg)) == cfg
    assert json.loads(json.dumps(to_dict(cfg))) == to_dict(cfg)


def test_config_is_frozen():
    cfg = RunConfig()
    with pytest.raises(AttributeError):
        cfg.seed = 3
    with pytest.raises(AttributeError):
        cfg.loss.temperature = 0.1


@pytest.mark.parametrize("overrides, fragment", [
    (["loss.temperature=0"], "loss.temperature=0.0: must be > 0"),
    (["loss.temperature=-1"], "must be > 0"),
    (["loss.tempreature=0.5"], "loss.tempreature: unknown key; valid keys here: name, temperature"),
    (["nope=1"], "nope: unknown key"),
    (["train.batch_size=abc"], "train.batch_size: expected int, got str 'abc'"),
    (["train.batch_size=2.5"], "train.batch_size: expected int, got float"),
    (["train.channels_last=1"], "train.channels_last: expected bool, got int"),
    (["data.name=imagenet21k"], "data.name='imagenet21k': unknown; choose one of"),
    (["encoder.arch=vit"], "encoder.arch='vit': unknown"),
    (["augment.view1=[{op: solarize}]"], "augment.view1[0]"),
    (["augment.view1=[{op: crop, scael: [0.1, 1]}]"], "scael"),
    (["optim.lr_scaling=cubic"], "optim.lr_scaling='cubic'"),
    (["data.name=folder"], "needs data.root"),
    (["data.name=imagenet", "data.root=/x", "augment.view2=[flip]"], "both views start with the same crop op"),
    (["data.name=imagenet", "data.root=/x", "eval.transform_probe=true"], "need in-memory data"),
    (["optim.nesterov=true", "optim.momentum=0"], "needs optim.momentum > 0"),
    (["data.image_size=3"], "data.image_size=3: must be >= 4"),
    (["head.kind=mlp", "head.layers=1"], "head.layers=1"),
    (["eval.finetune_fractions=[0.01, 2]"], "eval.finetune_fractions: 2"),
    (["eval.finetune_head_layers=[0, 3]"], "eval.finetune_head_layers: 3 is not in 0..2"),
    (["head.kind=none", "eval.finetune_head_layers=[1]"], "eval.finetune_head_layers: 1 is not in 0..0"),
    (["eval.finetune_head_layers=[1, 1]"], "give distinct depths"),
    # unlabelled pretraining images (data.labels=none): what needs labels is refused before any work
    (["data.labels=none"], "data.labels=none reads a folder of images: data.name=folder"),
    (["data.labels=unknown"], "data.labels='unknown': unknown; choose one of folders, none"),
    (["data.name=folder", "data.root=/x", "data.labels=none", "train.method=supervised"], "needs labels"),
    (["data.name=folder", "data.root=/x", "data.labels=none", "eval.finetune_fractions=[0.1]"],
     "eval.finetune_fractions need labelled images: name them with eval.data=folder:/path"),
    (["eval.data=folder:/x"], "eval.data names the labelled set of a run whose pretraining images have none"),
    (["data.name=folder", "data.root=/x", "data.labels=none", "eval.data=folder"], "eval.data: 'folder' needs its tree"),
])
def test_bad_values_raise_one_clear_error(overrides, fragment):
    with pytest.raises(ConfigError) as err:
        validate(load(None, overrides))
    assert fragment in str(err.value)


def test_all_problems_reported_at_once():
    with pytest.raises(ConfigError) as err:
        validate(load(None, ["loss.temperature=0", "optim.name=adam", "train.batch_size=1"]))
    msg = str(err.value)
    assert "loss.temperature" in msg and "optim.name" in msg and "train.batch_size" in msg


def test_batch_not_divisible_by_processes():
    cfg = load(None, ["train.batch_size=250"])
    with pytest.raises(ConfigError, match="not divisible by the 4 processes"):
        validate(cfg, world_size=4)
    validate(cfg, world_size=2)


def test_yaml_file_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("loss:\n  temperature: 0.2\ntrain:\n  batch_size: 128\n"
                    "augment:\n  view2: []\n")
    cfg = load(path, ["train.batch_size=64", "augment.view1.2.strength=1.0", "eval.finetune_fractions=[0.01, 0.1]"])
    assert cfg.loss.temperature == 0.2 and cfg.train.batch_size == 64
    assert cfg.augment.view1[2] == op("color_jitter", strength=1.0, brightness_mode="additive", p=0.8)
    assert cfg.augment.view2 == ()
    assert cfg.eval.finetune_fractions == (0.01, 0.1)
    assert load(None, ["optim.weight_decay=5e-4"]).optim.weight_decay == 5e-4
    jpath = tmp_path / "c.json"
    jpath.write_text(json.dumps(to_dict(cfg)))
    assert load(jpath) == cfg


def test_run_id_stable_and_sensitive():
    a = RunConfig()
    assert run_id(a) == run_id(C.from_dict(to_dict(a)))
    assert run_id(a) == "%s" % a.run_id and len(a.run_id) == 12
    assert run_id(replace(a, **{"loss.temperature": 0.1})) != run_id(a)
    assert run_id(replace(a, **{"augment.view1.0.scale": [0.2, 1.0]})) != run_id(a)
    # execution-only fields do not change what is computed, so not the id either
    assert run_id(replace(a, **{"train.threads": 1, "train.log_every": 3, "data.workers": 1})) == run_id(a)


def test_replace_checks_keys_and_types_validate_checks_values():
    with pytest.raises(ConfigError, match="loss.temprature: unknown key"):
        replace(RunConfig(), **{"loss.temprature": 0.1})
    with pytest.raises(ConfigError, match="temperature"):
        validate(replace(RunConfig(), **{"loss.temperature": 0.0}))


def test_choices_come_from_each_module_registry():
    """A name added to a registry (a loss, a ResNet, a data set) is valid without touching the checks."""
    from simclr import data, losses, models, optim, train
    for key, registry in (("loss.name", losses.LOSSES), ("encoder.arch", models.RESNETS),
                          ("data.name", data.DATASETS), ("optim.name", optim.OPTIMIZERS),
                          ("train.method", train.STEPS), ("train.precision", train.PRECISIONS)):
        with pytest.raises(ConfigError) as err:
            validate(load(None, [f"{key}=nonesuch"]))
        assert f"{key}='nonesuch': unknown; choose one of {', '.join(registry)}" in str(err.value)


def test_schema_imports_no_torch_and_no_engine_module():
    """config (the schema) and store are what the analysis reads: a leaf, importable without torch."""
    code = ("import sys, simclr.config, simclr.store; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('torch', 'torchvision') "
            "or m.startswith('simclr.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "['simclr.config', 'simclr.ops', 'simclr.store']"


def test_the_analysis_imports_no_torch():
    """Every analysis module but Figure 6's (which reads images) and every study definition it reads."""
    from studies import STUDIES
    modules = ["analysis.make_all", "analysis.report", *(f"analysis.{s}" for s in STUDIES),
               *(f"studies.{s}" for s in STUDIES)]
    code = f"import sys, importlib; [importlib.import_module(m) for m in {modules!r}]; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def test_override_syntax_errors():
    with pytest.raises(ConfigError, match="expected key=value"):
        load(None, ["loss.temperature"])
    with pytest.raises(ConfigError, match="outside a list"):
        load(None, ["augment.view1.9=flip"])

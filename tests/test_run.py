"""A run end to end: files written, skip when done, exact resume, divergence, the CLI, load_results."""
import json
import math

import pytest
import torch
from scipy.stats import binomtest

import simclr
from simclr import losses
from simclr.checks import validate
from simclr.config import load
from simclr.store import load_results

# a run of a few seconds: small synthetic set, fp32 so that no number or speed depends on whether the
# CPU has bf16 kernels; the threads are the ones tests/conftest.py pins, so equality checks are exact
FAST = ["data.num_train=512", "data.num_test=256", "train.batch_size=64", "train.steps=12",
        "train.log_every=2", "train.checkpoint_every=4", "train.progress=false", "optim.warmup_epochs=1",
        "eval.linear_epochs=3", "eval.knn_k=20", "train.precision=fp32"]


def fast(*extra):
    return load("configs/tiny.yaml", FAST + list(extra))


def test_run_writes_its_directory_and_skips_when_done(tmp_path):
    cfg = fast()
    rng = torch.get_rng_state()
    m = simclr.run(cfg, tmp_path)
    assert torch.equal(torch.get_rng_state(), rng)              # the caller's global RNG is left alone
    d = tmp_path / cfg.run_id
    assert m["status"] == "completed" and m["step"] == 12
    for name in ("config.json", "metrics.json", "log.jsonl", "env.json", "model.pt"):
        assert (d / name).exists(), name
    assert not (d / "checkpoint.pt").exists()
    assert json.loads((d / "config.json").read_text()) == simclr.to_dict(cfg)
    env = json.loads((d / "env.json").read_text())
    assert env["seed"] == cfg.seed and env["packages"]["torch"] == torch.__version__
    assert "commit" in env["git"] and env["hardware"]["cpu_count"] >= 1
    assert env["precision"] == cfg.train.precision  # what autocast used (train.precision=auto resolves)
    # a CPU run; tests/test_allocator.py checks what each state does
    assert env["malloc"].startswith("kept") or env["malloc"] in ("system", "preloaded", "unsupported")
    log = [json.loads(line) for line in (d / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "event" not in r] == [2, 4, 6, 8, 10, 12]
    assert [(r["event"], r["step"]) for r in log if "event" in r] == [("epoch", 8)]
    for key in ("knn_acc", "linear_acc", "online_acc", "train_contrastive_acc", "train_entropy"):
        assert 0 <= m[key] <= 100 if key.endswith("_acc") and not key.startswith("train") else math.isfinite(m[key])
    mtime = (d / "metrics.json").stat().st_mtime_ns
    assert simclr.run(cfg, tmp_path) == m                       # done: returned as stored, not rerun
    assert (d / "metrics.json").stat().st_mtime_ns == mtime
    df = load_results(tmp_path)
    assert len(df) == 1 and df.loc[0, "config.loss.temperature"] == cfg.loss.temperature
    assert json.loads(df.loc[0, "config.augment.view1"])[0]["op"] == "crop"   # recipes: one groupable string
    assert df.loc[0, "knn_acc"] == m["knn_acc"] and df.loc[0, "status"] == "completed"


@pytest.mark.parametrize("precision, stop", [("fp32", 6), pytest.param("bf16", 6, marks=pytest.mark.real_bf16),
                                             ("fp16", 10)])
def test_resume_equals_uninterrupted(tmp_path, precision, stop):
    # checkpoints every 4 steps, 8 steps per epoch: stopping at 6 replays steps 5-6 from the checkpoint
    # at 4; stopping at 10 resumes from 8, across an epoch boundary (a new data order)
    # fp16 and bf16 run at 8 px: CPUs without their kernels emulate them slowly (bf16: without AVX-512);
    # what matters is the state a checkpoint carries (fp16's scaler, the optimizer's, the data order's)
    cfg = fast(f"train.precision={precision}", *(["data.image_size=8"] if precision != "fp32" else []))
    whole = simclr.run(cfg, tmp_path / "a")
    part = simclr.run(cfg, tmp_path / "b", stop_after=stop)
    assert part["status"] == "interrupted" and not (tmp_path / "b" / cfg.run_id / "metrics.json").exists()
    logged = [json.loads(r)["step"] for r in (tmp_path / "b" / cfg.run_id / "log.jsonl").read_text().splitlines()]
    assert max(logged) == stop   # steps past the checkpoint were logged, and must be replaced on resume
    resumed = simclr.run(cfg, tmp_path / "b")
    timing = ("seconds", "train_seconds", "train_images_per_s")
    assert {k: v for k, v in resumed.items() if k not in timing} == {k: v for k, v in whole.items() if k not in timing}
    log_a, log_b = ([r for r in map(json.loads, (tmp_path / x / cfg.run_id / "log.jsonl").read_text().splitlines())
                     if r.get("event") != "resumed"] for x in "ab")
    strip = lambda rs: [{k: v for k, v in r.items() if k != "images_per_s"} for r in rs]
    assert strip(log_a) == strip(log_b)
    sa = torch.load(tmp_path / "a" / cfg.run_id / "model.pt")
    sb = torch.load(tmp_path / "b" / cfg.run_id / "model.pt")
    assert all(torch.equal(sa[k], sb[k]) for k in sa)


def test_nan_loss_stops_run_as_diverged(tmp_path, monkeypatch):
    real, calls = losses.contrastive_loss, {"n": 0}

    def sometimes_nan(*a, **k):
        calls["n"] += 1
        out = real(*a, **k)
        return out * float("nan") if calls["n"] == 5 else out

    monkeypatch.setattr(losses, "contrastive_loss", sometimes_nan)
    cfg = fast()
    m = simclr.run(cfg, tmp_path)
    assert m["status"] == "diverged" and m["step"] == 4
    assert json.loads((tmp_path / cfg.run_id / "metrics.json").read_text())["status"] == "diverged"
    assert "knn_acc" not in m
    assert simclr.run(cfg, tmp_path)["status"] == "diverged"   # a finished (diverged) run is not rerun


def test_supervised_baseline_learns_the_labels(tmp_path):
    # cross-entropy through the encoder on crop+flip views: 150 steps reached 34.4 % test accuracy
    # (chance 10 %; kNN on h 45.0 %) when measured; SGD because LARS at a contrastive rate is far too high
    m = simclr.run(fast("train.method=supervised", "train.steps=150", "data.num_train=2000", "data.num_test=500",
                        "train.batch_size=128", "train.checkpoint_every=1000", "augment.view1=[crop, flip]",
                        "augment.view2=[crop, flip]", "optim.name=sgd", "optim.lr=0.2", "optim.nesterov=true"),
                   tmp_path)
    assert m["status"] == "completed" and "online_acc" not in m
    # learned the labels: a classifier at chance (10 classes, balanced) scores this on 500 images with a
    # probability under 1e-6 (binomial test), whatever the CPU's rounding did to the exact number
    correct = round(m["supervised_acc"] * 500 / 100)
    assert binomtest(correct, 500, 0.1, alternative="greater").pvalue < 1e-6, m


def test_online_head_sees_stop_gradient_h():
    from simclr.models import build_model
    import torch.nn.functional as F

    cfg = fast()
    model = build_model(cfg, 10)
    x, y = torch.rand(8, 3, 32, 32), torch.randint(0, 10, (8,))
    grads = []
    for with_online in (False, True):
        model.zero_grad()
        h, z, logits = model(x)
        loss = losses.nt_xent(*z.chunk(2)) + (F.cross_entropy(logits, y) if with_online else 0)
        loss.backward()
        grads.append([p.grad.clone() for p in model.encoder.parameters()])
        assert (model.classifier.weight.grad is not None) == with_online
    assert all(torch.equal(a, b) for a, b in zip(*grads))   # the classifier never reaches the encoder


def test_cli_runs_and_rejects_bad_config(tmp_path, capsys):
    from simclr.__main__ import main

    assert main(["configs/tiny.yaml", *FAST, "--results", str(tmp_path)]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "completed"
    assert main(["configs/tiny.yaml", "loss.temperature=0", "--results", str(tmp_path)]) == 2
    assert "loss.temperature=0.0: must be > 0" in capsys.readouterr().err


def test_imagenet_style_folder_streams_through_a_run(tmp_path):
    from tests.test_data import _write_tree

    _write_tree(tmp_path / "tree", splits=("train", "val"), classes=("a", "b", "c", "d"), per_class=8, size=40)
    cfg = load("configs/tiny.yaml", FAST + ["data.name=imagenet", f"data.root={tmp_path / 'tree'}",
                                            "data.workers=0", "data.image_size=24", "train.batch_size=8",
                                            "train.steps=3", "optim.warmup_epochs=0.25"])
    m = simclr.run(cfg, tmp_path / "runs")
    assert m["status"] == "completed" and m["step"] == 3 and 0 <= m["knn_acc"] <= 100
    # Figure 5's one-branch protocol: one shared crop per image made while decoding, identity on view2
    one_branch = simclr.config.replace(cfg, **{"augment.shared": [{"op": "crop"}],
                                               "augment.view1": [{"op": "rotate"}], "augment.view2": []})
    assert simclr.run(one_branch, tmp_path / "runs")["status"] == "completed"
    # Table 1's AutoAugment column: crop, flip and the policy all made while decoding
    policy = simclr.config.replace(cfg, **{"augment.view1": [{"op": "crop"}, {"op": "flip"}, {"op": "autoaugment"}],
                                           "augment.view2": [{"op": "crop"}, {"op": "flip"}, {"op": "autoaugment"}]})
    assert simclr.run(policy, tmp_path / "runs")["status"] == "completed"


def test_an_unlabelled_folder_pretrains_and_evaluates_on_the_set_eval_data_names(tmp_path):
    """data.labels=none: images at any depth, no class folders; no online head and no label-based
    evaluation unless eval.data names a labelled set; decoded into memory or streamed."""
    import shutil

    from tests.test_data import _write_tree

    _write_tree(tmp_path / "labelled", classes=("a", "b", "c"), per_class=6, size=40)
    images = sorted((tmp_path / "labelled" / "train").rglob("*.jpg"))
    (tmp_path / "flat" / "nested").mkdir(parents=True)
    for i, p in enumerate(images):  # half at the top, half one folder down: no class structure
        shutil.copy(p, tmp_path / "flat" / ("nested" if i % 2 else "") / f"{i}.jpg")
    cfg = load("configs/tiny.yaml", FAST + ["data.name=folder", f"data.root={tmp_path / 'flat'}", "data.labels=none",
                                            "data.image_size=24", "train.batch_size=8", "train.steps=3",
                                            "optim.warmup_epochs=0.25", f"data.cache_dir={tmp_path / 'cache'}"])
    m = simclr.run(cfg, tmp_path / "runs")
    assert m["status"] == "completed" and m["step"] == 3 and m["train_contrastive_acc"] >= 0
    assert not any(k.startswith(("knn", "linear", "online")) for k in m), m
    # transfer needs no labels of the pretraining images: it runs without eval.data
    moved = simclr.run(simclr.config.replace(cfg, **{"eval.transfer": ["synthetic"]}), tmp_path / "runs")
    assert 0 <= moved["transfer_synthetic_linear_acc"] <= 100
    # the same folder read with its labels and without: two caches, never one for the other
    from simclr.data import load_splits
    labelled = load_splits("folder", str(tmp_path / "labelled"), 24, cache_dir=str(tmp_path / "cache"))
    every = load_splits("folder", str(tmp_path / "labelled"), 24, cache_dir=str(tmp_path / "cache"), labels="none")
    assert len(every.train_images) == len(labelled.train_images) + len(labelled.test_images)
    log = [json.loads(line) for line in (tmp_path / "runs" / cfg.run_id / "log.jsonl").read_text().splitlines()]
    assert not any("online_acc" in r for r in log)
    evaluated = simclr.run(simclr.config.replace(cfg, **{"eval.data": f"folder:{tmp_path / 'labelled'}"}),
                           tmp_path / "runs")
    assert 0 <= evaluated["knn_acc"] <= 100 and 0 <= evaluated["linear_acc"] <= 100
    streamed = simclr.config.replace(cfg, **{"data.name": "imagenet", "data.workers": 0})
    assert simclr.run(streamed, tmp_path / "runs")["status"] == "completed"


def test_fp16_and_finetuning_evaluations(tmp_path):
    cfg = fast("train.precision=fp16", "data.image_size=8", "eval.finetune_fractions=[0.1]", "eval.finetune_epochs=2")
    m = simclr.run(cfg, tmp_path)
    assert m["status"] == "completed" and math.isfinite(m["train_loss"])
    assert 0 <= m["finetune_0.1_acc"] <= 100
    log = [json.loads(line) for line in (tmp_path / cfg.run_id / "log.jsonl").read_text().splitlines()]
    epochs = [r for r in log if r.get("event") == "epoch"]
    assert [r["epoch"] for r in epochs] == [1] and "loss" in epochs[0]   # 512 / 64 = 8 steps per epoch


@pytest.mark.parametrize("precision", [pytest.param("bf16", marks=pytest.mark.real_bf16), "fp16"])
def test_low_precision_at_temperature_005_stays_finite(tmp_path, precision):
    """Logits sim/t reach 20 (cosine) or far beyond (no l2 norm, |z|^2/t): the loss runs in float32
    outside autocast, and fp16's gradient scaler skips overflowing steps instead of diverging."""
    for l2 in ("true", "false"):
        cfg = fast(f"train.precision={precision}", "loss.temperature=0.05", f"loss.l2_normalize={l2}",
                   "data.image_size=8", "eval.linear=false")
        m = simclr.run(cfg, tmp_path)
        assert m["status"] == "completed", m
        losses_ = [r["loss"] for r in map(json.loads, (tmp_path / cfg.run_id / "log.jsonl").read_text().splitlines())
                   if "event" not in r]
        assert len(losses_) == 6 and all(math.isfinite(v) for v in losses_)


def test_knn_monitor_logs_epochs_and_keeps_the_final_model_as_the_result(tmp_path):
    cfg = fast("eval.knn_every_epochs=1", "train.steps=16")   # 8 steps per epoch: monitored at 1 and 2
    m = simclr.run(cfg, tmp_path)
    log = [json.loads(line) for line in (tmp_path / cfg.run_id / "log.jsonl").read_text().splitlines()]
    monitored = [r for r in log if r.get("event") == "monitor"]
    assert [r["epoch"] for r in monitored] == [1, 2]
    assert m["knn_acc_best"] == max(r["knn_acc"] for r in monitored)
    assert m["knn_acc"] == monitored[-1]["knn_acc"]   # the final evaluation equals the last monitor's
    assert simclr.run(simclr.replace(cfg, **{"eval.knn_every_epochs": 0}), tmp_path / "b")["knn_acc"] == m["knn_acc"]


def test_evaluation_on_z_and_transfer(tmp_path, monkeypatch):
    """Figure 8 and Table 8 evaluations. The probes on z are fed z = g(h) of the stored model (with no
    head, z = h and the probes on z equal those on h). Accuracies themselves are not compared: two
    different representations may score the same."""
    from simclr import evaluate
    from simclr.models import build_model

    fed = []  # (train features, test features) of every linear probe, in call order: h, then z

    def recording(probe):
        def wrapped(train_x, train_y, test_x, *args, **kwargs):
            fed.append((train_x.clone(), test_x.clone()))
            return probe(train_x, train_y, test_x, *args, **kwargs)
        return wrapped

    monkeypatch.setattr(evaluate, "linear_probe", recording(evaluate.linear_probe))
    cfg = fast("head.kind=none", "eval.on_z=true", "eval.linear_epochs=3", "eval.transfer=[synthetic]")
    m = simclr.run(cfg, tmp_path)
    assert m["linear_z_acc"] == m["linear_acc"] and m["knn_z_acc"] == m["knn_acc"]
    assert all(torch.equal(a, b) for a, b in zip(fed[0], fed[1]))
    assert 0 <= m["transfer_synthetic_linear_acc"] <= 100
    fed.clear()
    cfg2 = fast("eval.on_z=true", "eval.linear_epochs=3")
    simclr.run(cfg2, tmp_path)
    (h_train, h_test), (z_train, z_test) = fed
    model = build_model(cfg2, 10)
    model.load_state_dict(torch.load(tmp_path / cfg2.run_id / "model.pt"))
    with torch.no_grad():
        head = model.head.eval()
        assert z_train.shape == (len(h_train), cfg2.head.out_dim) and h_train.shape[1] == model.encoder.dim
        torch.testing.assert_close(z_train, head(h_train), rtol=1e-5, atol=1e-5)
        torch.testing.assert_close(z_test, head(h_test), rtol=1e-5, atol=1e-5)


def test_transfer_target_is_new_data_of_the_same_classes():
    from simclr.data import load_splits, transfer_splits

    cfg = load(None, ["data.num_train=300", "data.num_test=50"])
    source = load_splits("synthetic", num_train=300, num_test=50)
    target = transfer_splits("synthetic", cfg.data)
    assert target.num_classes == source.num_classes and target.train_images.shape == source.train_images.shape
    assert not torch.equal(target.train_images, source.train_images)
    with pytest.raises(simclr.config.ConfigError, match="eval.transfer") as err:
        validate(load(None, ["eval.transfer=[imagenet, folder]"]))
    assert "names no in-memory data set" in str(err.value) and "'folder:/data/pets'" in str(err.value)


def test_a_missing_transfer_set_fails_before_pretraining(tmp_path):
    cfg = fast("eval.transfer=[cifar100]", f"data.cache_dir={tmp_path / 'cache'}")
    with pytest.raises(Exception, match="download"):
        simclr.run(cfg, tmp_path / "results")
    assert not (tmp_path / "results").exists()  # nothing trained, no stub run left behind


def test_transfer_check_opens_without_decoding(tmp_path):
    from simclr.data import check_transfer

    cfg = load(None, [f"data.cache_dir={tmp_path}"])
    check_transfer("synthetic", cfg.data)  # generated: nothing to check
    with pytest.raises(FileNotFoundError, match="no folder"):
        check_transfer(f"folder:{tmp_path / 'none'}", cfg.data)
    with pytest.raises(FileNotFoundError, match="cifar100"):
        check_transfer("cifar100", cfg.data)


def test_run_id_survives_added_fields_and_old_stores_migrate(tmp_path):
    from simclr.config import identity, to_dict
    from simclr.migrate import migrate
    from studies import common

    # a field added later with a default that keeps the old behaviour does not change the identity
    assert identity({"a": 1, "s": {"b": 2, "new": 0}}, {"a": 0, "s": {"b": 1, "new": 0}}) == {"a": 1, "s": {"b": 2}}
    cfg = fast()
    m = simclr.run(cfg, tmp_path)
    entries = common.expand(__import__("studies.temperature").temperature, "tiny", "", 1, [])
    man = common.manifest("temperature", "tiny", [{**entries[0], "config": cfg}], ["x"])
    old = tmp_path / "0123456789ab"  # as an earlier run_id version named it, before train.bn_groups existed
    (tmp_path / cfg.run_id).rename(old)
    stored = json.loads((old / "config.json").read_text())
    del stored["train"]["bn_groups"]
    (old / "config.json").write_text(json.dumps(stored))
    man["arms"][0]["run_id"] = old.name
    common.write_manifest(tmp_path, man)
    assert migrate(tmp_path, quiet_for=0) == [(old.name, cfg.run_id)]
    assert json.loads((tmp_path / cfg.run_id / "metrics.json").read_text()) == m  # found again, not redone
    assert json.loads((tmp_path / cfg.run_id / "config.json").read_text()) == to_dict(cfg)
    assert common.read_manifest(tmp_path)["arms"][0]["run_id"] == cfg.run_id
    assert simclr.run(cfg, tmp_path) == m and migrate(tmp_path, quiet_for=0) == []


def test_runs_of_an_engine_whose_results_differ_are_never_renamed_or_reused(tmp_path, capsys):
    from simclr.config import RESULTS_SINCE, run_id
    from simclr.migrate import migrate

    cfg = fast("train.steps=4", "optim.warmup_epochs=0.25")
    m = simclr.run(cfg, tmp_path)
    old = tmp_path / run_id(cfg, RESULTS_SINCE - 1)  # its id under run_id version 2, whose engine differs
    assert old.name != cfg.run_id
    (tmp_path / cfg.run_id).rename(old)
    assert migrate(tmp_path, quiet_for=0) == [] and old.exists()
    assert "earlier engine" in capsys.readouterr().err
    assert not (tmp_path / cfg.run_id).exists()  # so the current engine trains the run itself
    assert simclr.run(cfg, tmp_path)["run_id"] == m["run_id"] == cfg.run_id and old.exists()


def test_arms_with_the_same_seed_share_initialisation_and_data_order(tmp_path):
    """Claims are decided on per-seed differences of arms: an arm's seed, not its other settings, fixes
    the encoder's initial weights and the order of the images."""
    from simclr.data import InMemory, load_splits

    base = ["train.steps=0", "train.epochs=0", "eval.knn=false", "eval.linear=false"]
    arms = [fast(*base, "seed=3"), fast(*base, "seed=3", "loss.temperature=0.2", "head.out_dim=32",
                                         "head.layers=3", "train.batch_size=32")]
    encoders = []
    for cfg in arms + [fast(*base, "seed=4")]:
        simclr.run(cfg, tmp_path)
        state = torch.load(tmp_path / cfg.run_id / "model.pt", weights_only=True)
        encoders.append({k: v for k, v in state.items() if k.startswith("encoder.")})
    assert all(torch.equal(encoders[0][k], encoders[1][k]) for k in encoders[0])
    assert not all(torch.equal(encoders[0][k], encoders[2][k]) for k in encoders[0])  # the seed does matter
    splits = load_splits("synthetic", num_train=512, num_test=256)
    data = InMemory(splits.train_images, splits.train_labels)
    order = lambda cfg, batch: torch.cat([y for _, y in data.batches(batch, 1, cfg.seed)])
    assert torch.equal(order(arms[0], 64), order(arms[1], 32))  # the same images in the same order


def test_faults_reach_a_run_only_through_its_on_step_hook(tmp_path, monkeypatch):
    """The training code reads no fault setting: SIMCLR_FAULT around a direct simclr.run changes nothing;
    a hook passed in sees every step once, and one that raises fails the run with nothing finished."""
    monkeypatch.setenv("SIMCLR_FAULT", "raise@2")
    seen = []
    m = simclr.run(fast("train.steps=6", "optim.warmup_epochs=0.25", "eval.linear=false"), tmp_path,
                   on_step=lambda s, d: seen.append(s))
    assert m["status"] == "completed" and seen == [1, 2, 3, 4, 5, 6]

    def fail(step, run_dir):
        if step == 3:
            raise RuntimeError("injected")
    cfg = fast("train.steps=6", "optim.warmup_epochs=0.25", "eval.linear=false", "seed=1")
    with pytest.raises(RuntimeError, match="injected"):
        simclr.run(cfg, tmp_path, on_step=fail)
    assert not (tmp_path / cfg.run_id / "metrics.json").exists()


def test_a_resumed_run_removes_the_temp_files_of_a_killed_write(tmp_path):
    """A session killed while writing (a checkpoint, its digest, a record) leaves a temp file beside the
    whole previous version; the run's next session deletes it, so the store verifies clean."""
    from simclr.store import verify

    cfg = fast()
    simclr.run(cfg, tmp_path, stop_after=6)
    run_dir = tmp_path / cfg.run_id
    for name in (".checkpoint.pt.sha256.x1.tmp", ".checkpoint.pt.x2.tmp", ".log.jsonl.x3.tmp"):
        (run_dir / name).write_bytes(b"half")
    assert len(verify(tmp_path)) == 3
    assert simclr.run(cfg, tmp_path)["status"] == "completed"
    assert verify(tmp_path) == [] and not list(run_dir.glob(".*.tmp"))


def test_a_study_writing_its_committed_store_leaves_the_code_clean(tmp_path):
    """env.json's git.dirty names modified code: a changed file under results/ or benchmarks/results/ (a
    study writing into a committed store, a benchmark appending its record) leaves it false, a changed
    source file anywhere makes it true, from any subfolder."""
    import subprocess

    from simclr.provenance import git_commit

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    for name in ("simclr/engine.py", "results/temperature/cpu/study.json",
                 "benchmarks/results/throughput_cpu.jsonl"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("0\n")
    git("init", "-q")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "x")
    clean = git_commit(tmp_path / "simclr")
    assert len(clean["commit"]) == 40 and clean["dirty"] is False
    (tmp_path / "results/temperature/cpu/study.json").write_text("1\n")
    (tmp_path / "benchmarks/results/throughput_cpu.jsonl").write_text("0\n1\n")  # a benchmark's record
    assert git_commit(tmp_path / "simclr")["dirty"] is False
    (tmp_path / "simclr/engine.py").write_text("1\n")
    assert git_commit(tmp_path / "simclr")["dirty"] is True

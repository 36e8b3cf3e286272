"""run(cfg, results_dir) -> dict: one SimCLR run = pretrain + evaluate, recorded in its run directory.

Idempotent: a run whose metrics.json exists is returned as stored; a started run resumes from its
last checkpoint. Everything a result needs to be trusted lands beside it (config, env, log).
"""
from __future__ import annotations

import contextlib
import time
from pathlib import Path

import torch

from simclr import allocator, checkpoint, checks, distributed
from simclr import device as devices
from simclr import config as config_mod
from simclr.config import RunConfig, to_dict
from simclr.data import FolderStream, InMemory, load_splits, check_transfer, pretraining_stream, transfer_splits
from simclr.evaluate import assert_unchanged, evaluate, knn_monitor, state_fingerprint, transfer
from simclr.export import load_encoder, sha256
from simclr.models import build_model, num_params
from simclr.checkpoint import atomic_torch_save
from simclr.provenance import environment
from simclr.store import check_writable, read_json, remove_interrupted_writes, run_lock, write_json
from simclr.tracking import TensorBoard
from simclr.train import pretrain, recipe
from simclr.views import decoded_prefix


def load_data(cfg: RunConfig):
    d = cfg.data
    return load_splits(d.name, root=d.root, image_size=d.image_size, num_train=d.num_train,
                       num_test=d.num_test, seed=d.seed, cache_dir=d.cache_dir or None, download=d.download,
                       workers=d.workers, labels=d.labels, clutter=d.clutter, clutter_size=tuple(d.clutter_size))


def run(cfg: RunConfig, results_dir: str | Path, stop_after: int | None = None, on_checkpoint=None,
        on_step=None) -> dict:
    """Pretrain and evaluate; write <results_dir>/<run_id>/{config,env,metrics}.json and log.jsonl.

    stop_after ends pretraining early at that step (status "interrupted"), as a kill would: nothing
    past the last checkpoint is kept. on_checkpoint(step, path) is called after each checkpoint (for
    launchers that keep their own copy), on_step(step, run_dir) after each optimizer step (the faults
    of simclr/faults.py). The caller's global RNG state is left as it was. A run on a CPU device raises
    glibc's thresholds for keeping freed memory in this process for good (simclr/allocator.py: faster
    steps; SIMCLR_MALLOC=system to opt out) and hands the free memory back to the kernel when it returns.
    """
    with torch.random.fork_rng(devices=[]), contextlib.ExitStack() as held:
        held.callback(allocator.release)
        held.callback(torch.set_num_threads, torch.get_num_threads())  # train.threads is this run's only
        return _run(cfg, Path(results_dir), stop_after, on_checkpoint, on_step, held)


def _run(cfg: RunConfig, results_dir: Path, stop_after, on_checkpoint, on_step, held) -> dict:
    rank, world_size = distributed.world()
    _check(cfg, world_size)
    run_dir = results_dir / cfg.run_id
    metrics_path = run_dir / "metrics.json"
    if metrics_path.exists():
        if rank == 0:  # a kill between the result and this clean-up left them
            checkpoint.remove(run_dir)
        return read_json(metrics_path)
    if rank == 0:
        check_writable(results_dir)  # a full or read-only disk fails now, not after hours of training
    device, execution = _start(cfg, world_size)
    t0 = time.perf_counter()
    splits, labelled = _data(cfg)  # before the run directory exists: a bad data.root fails before any work
    torch.manual_seed(cfg.seed)
    model = _model(cfg, splits.num_classes)

    run_dir.mkdir(parents=True, exist_ok=True)
    if rank == 0:  # one writer per run directory
        held.enter_context(run_lock(run_dir))  # held until this call returns: no second trainer
        if metrics_path.exists():  # finished by another process while this one loaded its data
            return read_json(metrics_path)
        remove_interrupted_writes(run_dir)  # a killed session's half-written files
        _record_start(cfg, run_dir, device, execution)
    train_set = _train_set(cfg, splits)
    monitor = knn_monitor(cfg, labelled, device) if cfg.eval.knn_every_epochs else None
    tracker = None
    if cfg.train.tensorboard and rank == 0:
        tracker = TensorBoard(results_dir / "tensorboard" / (cfg.train.run_name or cfg.run_id))
        held.callback(tracker.close)
    result = pretrain(cfg, model, train_set, device, run_dir, stop_after=stop_after,
                      monitor=monitor, on_checkpoint=on_checkpoint, on_record=tracker, on_step=on_step)
    metrics = {"run_id": cfg.run_id, "encoder_params": num_params(model.encoder),
               "head_params": num_params(model.head), **result}
    if result["status"] == "interrupted" or rank > 0:
        return metrics  # no metrics.json: the next call resumes from the checkpoint; process 0 evaluates
    if result["status"] == "completed":
        metrics.update(_evaluate(cfg, model, labelled, device))
        atomic_torch_save(run_dir / "model.pt", devices.to_cpu(model.state_dict()))  # loads anywhere
    metrics["seconds"] = time.perf_counter() - t0
    write_json(metrics_path, metrics)
    if tracker:
        tracker.results(metrics)
    checkpoint.remove(run_dir)
    (run_dir / "error.json").unlink(missing_ok=True)  # an earlier failed attempt
    return metrics


def _check(cfg: RunConfig, world_size: int) -> None:
    checks.validate(cfg, world_size=world_size)
    checks.check_environment(cfg)
    if world_size > 1 and cfg.train.bn_groups > 1:
        raise config_mod.ConfigError(f"train.bn_groups={cfg.train.bn_groups} emulates per-device BN in one "
                                     f"process; with {world_size} processes BN is global: drop the option")


def _start(cfg: RunConfig, world_size: int) -> tuple[torch.device, dict]:
    """This process's device, precision, allocator, process group and threads; what env.json records."""
    device = devices.resolve(cfg.train.device)  # one GPU per process, always with an index
    try:
        precision = devices.precision(device, cfg.train.precision)
    except ValueError as err:
        raise config_mod.ConfigError(config_mod.format_errors([str(err)])) from None
    devices.use(device)
    malloc = allocator.for_device(device.type)  # before distributed.init starts threads
    distributed.init(device)
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    emulated = {"bf16_emulated": True} if precision == "bf16" and device.type == "cpu" and \
        not devices.cpu_computes_bf16() else {}  # a run's seconds are slow for a reason the record names
    return device, {"world_size": world_size, "malloc": malloc, "precision": precision, **emulated}


def _data(cfg: RunConfig):
    """The pretraining splits and the labelled ones the evaluations read (the same, or eval.data's)."""
    splits = load_data(cfg)
    for spec in cfg.eval.transfer:  # a transfer set that cannot be read must fail now, not after pretraining
        check_transfer(spec, cfg.data)
    labelled = splits if config_mod.labelled(cfg) else cfg.eval.data and transfer_splits(cfg.eval.data, cfg.data)
    in_memory = labelled and not isinstance(labelled.train_images, FolderStream)
    checks.check_against_data(cfg, len(splits.train_labels), labelled.train_labels if in_memory else None)
    return splits, labelled


def _model(cfg: RunConfig, num_classes: int):
    """Encoder, head and online classifier, from outside weights when the config names them."""
    model = build_model(cfg, num_classes)
    if cfg.encoder.weights:  # outside weights, checked against the sha256 the run is named by
        if sha256(cfg.encoder.weights) != cfg.encoder.weights_sha256:
            raise config_mod.ConfigError(f"encoder.weights={cfg.encoder.weights} has changed since the config "
                                         "named its sha256: evaluate the new file as a run of its own, python -m "
                                         "simclr.evaluate_weights PATH")
        try:
            load_encoder(model.encoder, cfg.encoder.weights)
        except ValueError as err:
            raise config_mod.ConfigError(str(err)) from None
    return model


def _record_start(cfg: RunConfig, run_dir: Path, device, execution: dict) -> None:
    """config.json and env.json (what ran, and what ran it) before the first step."""
    write_json(run_dir / "config.json", to_dict(cfg))
    (run_dir / "error.json").unlink(missing_ok=True)  # this attempt replaces an earlier failed one
    env = {**environment(cfg.seed, device), **execution}
    if (run_dir / "env.json").exists():  # a resumed run keeps the record of every session it ran in
        before = read_json(run_dir / "env.json")
        if checkpoint.exists(run_dir) and before.get("precision", env["precision"]) != env["precision"]:
            # train.precision=auto resolves by machine: a run must not change precision halfway
            raise config_mod.ConfigError(
                f"run {cfg.run_id} was started in {before['precision']} (its env.json) and this machine resolves "
                f"train.precision={cfg.train.precision} to {env['precision']}: resume it where it resolves to "
                f"{before['precision']}, or delete {run_dir} to train it again here")
        env["previous_sessions"] = [before]
    write_json(run_dir / "env.json", env)


def _train_set(cfg: RunConfig, splits):
    """The pretraining images: in memory, or streamed from a folder with the crops made while decoding."""
    if not isinstance(splits.train_images, FolderStream):
        return InMemory(splits.train_images, splits.train_labels)
    d, a = cfg.data, cfg.augment  # the crop made while decoding: the shared one (Figure 5), else each view's
    crop, views = (a.shared[0], 1) if a.shared else (a.view1[0], 2)
    view1, view2 = recipe(a.view1), recipe(a.view2)  # AutoAugment too, per image (views.decoded_prefix)
    after = [] if a.shared else view1[1:decoded_prefix(view1, view2)]
    return pretraining_stream(d.root, d.image_size, crop.kwargs(), d.workers, views, after,
                              labelled=config_mod.labelled(cfg))


def _evaluate(cfg: RunConfig, model, labelled, device) -> dict:
    """Every evaluation the config asks for, on the frozen encoder (checked unchanged after)."""
    frozen, metrics = state_fingerprint(model.encoder), {}
    if labelled:
        metrics.update(evaluate(cfg, model, labelled, device))
    for spec in [] if labelled else cfg.eval.transfer:  # unlabelled, no eval.data: transfer needs none
        metrics.update(transfer(cfg, model, spec, device))
    assert_unchanged(model.encoder, frozen)
    return metrics

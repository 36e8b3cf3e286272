"""The pretraining loop: two views per image, encoder + head, contrastive loss, per-step schedule.

Mixed precision (bf16/fp16 autocast; the loss's logits stay float32), channels_last, optional
torch.compile. Checkpoints are atomic and hold everything needed for an exact resume: model,
optimizer, gradient scaler, step, and the augmentation and CPU generators. The data order is a pure
function of (seed, epoch), so a resumed run sees the same batches and the same views.
"""
from __future__ import annotations

import contextlib
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from simclr import augment, checkpoint, distributed, faults, gradcache, losses, views
from simclr import device as devices
from simclr.augment import Rows
from simclr.bn import grouped_bn
from simclr.config import RunConfig, online_head, steps_per_epoch, total_steps
from simclr.optim import build_optimizer, lr_at, scaled_lr, set_lr
from simclr.store import JsonlLog

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}


def autocast(device: torch.device, precision: str):
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=DTYPES[precision])


def recipe(ops) -> list[tuple[str, dict]]:
    return [(o.name, o.kwargs()) for o in ops]


def make_views(cfg: RunConfig, images: torch.Tensor, generator: torch.Generator, rows: Rows | None = None):
    a = cfg.augment
    return views.two_views(images, recipe(a.shared), recipe(a.view1), recipe(a.view2), generator, rows)


def _step_metrics(cfg, z1, z2, logits, labels, block: int = 0) -> dict:
    """Online-head accuracy and Table 5's diagnostics; over blocks of anchors when `block` is set."""
    with torch.no_grad():
        out = {}
        if online_head(cfg) or cfg.train.method == "supervised":
            out["online_acc"] = (logits.argmax(1) == labels).float().mean().item()
        if cfg.train.method == "simclr":
            total = 2 * len(z1)
            blocks = [slice(a, min(a + block, total)) for a in range(0, total, block)] if block else [None]
            for rows in blocks:
                m = losses.contrastive_metrics(z1, z2, cfg.loss.temperature, cfg.loss.l2_normalize,
                                               negatives=cfg.loss.negatives, anchors=rows)
                for k, v in m.items():
                    out[k] = out.get(k, 0.0) + float(v)
    return out


def loss_params(cfg: RunConfig) -> dict:
    lo = cfg.loss
    params = {"l2_normalize": lo.l2_normalize, "negatives": lo.negatives}
    if lo.name != "margin_triplet":
        params["temperature"] = lo.temperature
    if lo.name != "nt_xent":
        params["semi_hard"] = lo.semi_hard
    if lo.name == "margin_triplet":
        params["margin"] = lo.margin
    return params


def pretrain(cfg: RunConfig, model: torch.nn.Module, train_set, device: torch.device, run_dir: Path,
             stop_after: int | None = None, monitor=None, on_checkpoint=None, on_record=None) -> dict:
    """Train until the configured number of steps (or `stop_after`, to simulate an interruption).

    monitor(model) -> dict, if given, runs every eval.knn_every_epochs epochs; its results are logged
    as "monitor" events (it must not draw from the training generators, so resumes stay exact).
    on_checkpoint(step, path), if given, is called after each checkpoint is written (a launcher ships
    it to its own checkpoint store, e.g. Ray Tune's). on_record(record), if given, gets every record
    log.jsonl gets (simclr/tracking.py's TensorBoard sink).

    Returns {"status": "completed" | "diverged" | "interrupted", "step", "train_*" summaries}.
    """
    t = cfg.train
    spe = steps_per_epoch(len(train_set), t.batch_size)
    total = total_steps(cfg, len(train_set))
    warmup = min(total, round(cfg.optim.warmup_epochs * spe))
    peak = scaled_lr(cfg.optim.lr, t.batch_size, cfg.optim.lr_scaling)
    model.to(device)
    if t.channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(cfg, model, t.batch_size)
    scaler = torch.amp.GradScaler(device.type, enabled=t.precision == "fp16")
    generator = devices.generator(device, cfg.seed)
    ddp = distributed.uses_ddp(cfg, device)
    augment.compile_kernels(t.compile)
    amp = lambda: autocast(device, t.precision)
    cache = t.grad_cache_chunk  # views per chunk of the gradient cache; 0: one forward over the batch
    contrastive = lambda z1, z2, rows: losses.contrastive_loss(cfg.loss.name, z1, z2, anchors=rows,
                                                               **loss_params(cfg))

    log = JsonlLog(run_dir / "log.jsonl")
    rank, world = distributed.world()
    main = rank == 0  # process 0 alone writes the run directory
    def write(record: dict) -> None:
        if main:
            log.write(record)
            if on_record:
                on_record(record)

    def restore(state: dict) -> None:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scaler.load_state_dict(state["scaler"])
        generator.set_state(state["generator"].to(generator.get_state().device))
        torch.set_rng_state(state["cpu_rng"])

    start = 0
    state, rejected = checkpoint.load(run_dir, main)
    if state is not None:
        try:
            restore(state)
        except Exception as err:  # a sound file that does not fit this run: never silently discarded
            raise RuntimeError(f"the checkpoint in {run_dir} does not fit this run's model or optimizer "
                               f"({type(err).__name__}: {' '.join(str(err).split())[:300]}); move it away to start the run "
                               "over") from err
        start = state["step"]
    if not distributed.agree(start):  # every process resumes from the same step, or none starts
        raise RuntimeError(f"the processes of run {run_dir.name} found different checkpoints; rerun it")
    if main:
        log.truncate_after(start if state is not None else -1)
    for msg in rejected:  # kept in the log: a result that restarted says so
        write({"event": "checkpoint_rejected", "step": start, "reason": msg})
    if state is not None:
        write({"event": "resumed", "step": start})
    # step records of the current epoch, for its epoch record (read back once, so resumes agree)
    epoch_recs = [r for r in log.read() if "event" not in r and r["step"] > start - start % spe]

    def save(step: int) -> None:
        if not main:
            return
        path = checkpoint.save(run_dir, {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                                         "scaler": scaler.state_dict(), "generator": generator.get_state(),
                                         "cpu_rng": torch.get_rng_state(), "step": step})
        if on_checkpoint:
            on_checkpoint(step, path)

    # each process loads and augments only its rows of the global batch (its views equal those rows of
    # a one-process run's: simclr.augment.augment draws for the whole batch); the config checks that
    # the processes divide the batch, so `own` are the rows data.batches(shard=) yields
    shard = (rank, world) if world > 1 else None
    per = t.batch_size // world
    own = Rows(torch.arange(rank * per, (rank + 1) * per, device=device), t.batch_size, rank * per) \
        if world > 1 else None
    progress = _progress(total, start, t.progress)
    model.train()
    step, status = start, "completed"
    t0, images_seen = time.perf_counter(), 0
    end = total if stop_after is None else min(total, stop_after)
    # global BN over the whole batch of 2N views (across processes too), or per-device groups
    sync_bn = device.type == "cuda" and t.data_parallel != "allreduce"
    with grouped_bn(model, t.bn_groups), distributed.global_bn(model, sync_bn), explain_oom(cfg, device):
        net = distributed.data_parallel(model, device) if ddp else model  # after restore: DDP starts in sync
        forward = torch.compile(net) if t.compile else net
        while step < end:
            epoch, offset = divmod(step, spe)
            for images, labels in train_set.batches(t.batch_size, epoch, cfg.seed, start=offset, shard=shard):
                if step >= end:
                    break
                lr = lr_at(step, total, warmup, peak)
                set_lr(optimizer, lr)
                images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
                if cache:  # augmented a chunk at a time: bounded memory at any batch size
                    x = gradcache.views(lambda part, sub: make_views(cfg, part, generator, sub), images, cache,
                                        t.channels_last, own)
                else:
                    v1, v2 = make_views(cfg, images, generator, own)
                    x = torch.cat([v1, v2])  # one forward over 2N views: BN statistics span both views
                    del v1, v2
                    if t.channels_last:
                        x = x.contiguous(memory_format=torch.channels_last)
                labels2 = labels.repeat(2)
                if cache:  # z without a graph, the loss and d loss / d z in blocks; replay below
                    z, logits = gradcache.embed(model, forward, x, cache, amp)
                    loss, z_grad, (z1, z2) = gradcache.loss_and_grad(z, contrastive, cache, scaler.scale)
                    online = F.cross_entropy(logits, labels2) if online_head(cfg) else 0.0  # its value; replayed
                elif t.method == "simclr":
                    with amp():
                        h, z, logits = forward(x)
                    z1, z2 = z.float().chunk(2)
                    z1, z2 = distributed.gather(z1), distributed.gather(z2)  # negatives from every process
                    loss = losses.contrastive_loss(cfg.loss.name, z1, z2, **loss_params(cfg))
                    online = F.cross_entropy(logits.float(), labels2) if online_head(cfg) else 0.0
                else:  # supervised baseline: the classifier's gradient reaches the encoder
                    with amp():
                        h, _, _ = forward(x)
                        logits = model.classifier(h)
                    z1 = z2 = None
                    loss = F.cross_entropy(logits.float(), labels2)
                    online = 0.0
                if not distributed.all_finite(loss + online):
                    status = "diverged"
                    online_value = float(online.detach() if torch.is_tensor(online) else online)
                    reason = (f"non-finite loss (contrastive {float(loss.detach())}, online head {online_value}) "
                              f"at step {step + 1}: lower optim.lr or raise loss.temperature")
                    write({"event": "diverged", "step": step, "loss": float(loss.detach()), "reason": reason})
                    break
                optimizer.zero_grad(set_to_none=True)
                if cache:
                    head = (lambda lg, rows: scaler.scale(F.cross_entropy(lg, labels2[rows], reduction="sum")
                                                          / len(labels2))) if online_head(cfg) else None
                    gradcache.replay(forward, x, cache, amp, z_grad, head)
                else:
                    scaler.scale(loss + online).backward()
                if not ddp:  # DDP has averaged them during backward
                    distributed.average_gradients(model)
                scaler.step(optimizer)
                scaler.update()
                step += 1
                images_seen += images.shape[0] * world
                if step % t.log_every == 0 or step == total:
                    rec = {"step": step, "epoch": step / spe, "lr": lr, "loss": loss.item(),
                           **_step_metrics(cfg, z1, z2, logits, labels2, block=cache),
                           "images_per_s": images_seen / (time.perf_counter() - t0)}
                    write(rec)
                    epoch_recs.append(rec)
                    progress.set_postfix(loss=f"{rec['loss']:.3f}", refresh=False)
                if step % spe == 0:
                    write(_epoch_record(epoch_recs, step, spe))
                    epoch_recs = []
                    every = cfg.eval.knn_every_epochs
                    if monitor and every and (step // spe) % every == 0:
                        write({"event": "monitor", "epoch": step // spe, "step": step, **monitor(model)})
                if step % t.checkpoint_every == 0 and step < total:
                    save(step)
                progress.update(1)
                faults.at_step(step, run_dir)
            if status == "diverged":
                break
    progress.close()
    elapsed = time.perf_counter() - t0
    if status == "completed" and step < total:
        status = "interrupted"
    if status == "completed":
        save(step)  # the evaluations can then restart without retraining
    # "interrupted" saves nothing more, like a kill: the next call resumes from the last checkpoint
    records = log.read()
    out = {"status": status, "step": step, "total_steps": total, "epochs": step / spe,
           "train_seconds": elapsed, "train_images_per_s": images_seen / elapsed if elapsed else 0.0}
    if status == "diverged":
        out["reason"] = reason
    # train_* summaries: means over the last epoch's step records
    last = [r for r in records if "event" not in r][-max(1, spe // t.log_every):]
    for k in ("loss", "contrastive_acc", "entropy", "online_acc"):
        values = [r[k] for r in last if k in r]
        if values:
            out[f"train_{k}"] = sum(values) / len(values)
    monitored = [r for r in records if r.get("event") == "monitor"]
    if monitored:  # the best epoch is chosen on the test set: recorded, never reported as the result
        best = max(monitored, key=lambda r: r["knn_acc"])
        out.update(knn_acc_best=best["knn_acc"], knn_acc_best_epoch=best["epoch"])
    return out


class OutOfMemory(RuntimeError):
    """A step did not fit in memory; the message names the ways to make it fit."""


def is_oom(err: BaseException) -> bool:
    return isinstance(err, torch.OutOfMemoryError) or (
        isinstance(err, RuntimeError) and any(s in str(err) for s in ("out of memory", "can't allocate memory")))


@contextlib.contextmanager
def explain_oom(cfg: RunConfig, device: torch.device):
    """Turn an allocator failure into an error that says what to change (and keeps the original)."""
    try:
        yield
    except Exception as err:
        if not is_oom(err):
            raise
        t, world = cfg.train, distributed.world()[1]
        per = t.batch_size // world
        fixes = ["spread the batch over more processes (--tasks-per-run / --gpus-per-run, or torchrun "
                 "--nproc-per-node): a smaller per-device batch with the same negatives"]
        if t.method == "simclr" and not t.grad_cache_chunk:
            fixes.append(f"the gradient cache, train.grad_cache_chunk={math.gcd(2 * per, 256)} (the same loss "
                         "over the whole batch, activations of one chunk of views at a time; BN per chunk)")
        elif t.grad_cache_chunk > 1:
            fixes.append(f"a smaller train.grad_cache_chunk (now {t.grad_cache_chunk}; it must divide {2 * per})")
        if t.precision == "fp32":
            fixes.append("train.precision=bf16 (about half the activation memory)")
        fixes.append("a lower train.batch_size (this changes the experiment)")
        raise OutOfMemory(
            f"out of memory on {device} at train.batch_size={t.batch_size} ({per} images, {2 * per} views "
            f"of {cfg.data.image_size}px per process, {t.precision}). To fit: {'; or '.join(fixes)}. "
            f"Original error: {str(err).splitlines()[0][:300]}") from err


def _epoch_record(recs: list[dict], step: int, spe: int) -> dict:
    """Means of the step records of the epoch that ends at `step`."""
    keys = [k for k in recs[-1] if k not in ("step", "epoch")] if recs else []
    return {"event": "epoch", "epoch": step // spe, "step": step,
            **{k: sum(r[k] for r in recs if k in r) / sum(k in r for r in recs) for k in keys}}


def _progress(total: int, start: int, enabled: bool):
    from tqdm import tqdm

    # disable=None: shown on a terminal only, so logs of batch jobs stay clean
    return tqdm(total=total, initial=start, unit="step", dynamic_ncols=True,
                disable=None if enabled else True, desc="pretrain")

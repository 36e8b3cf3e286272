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
from typing import Callable, NamedTuple

import torch
import torch.nn.functional as F

from simclr import augment, checkpoint, distributed, gradcache, losses, views
from simclr import device as devices
from simclr.augment import Rows
from simclr.bn import grouped_bn
from simclr.config import RunConfig, choice, online_head, steps_per_epoch, total_steps
from simclr.optim import build_optimizer, lr_at, scaled_lr, set_lr
from simclr.store import JsonlLog

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
PRECISIONS = (*DTYPES, "auto")  # auto: what the device computes natively (simclr/device.py)


def autocast(device: torch.device, precision: str):
    precision = devices.precision(device, precision)  # "auto": what the device computes natively
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=DTYPES[precision])


def grad_scaler(device: torch.device, precision: str) -> torch.amp.GradScaler:
    """Loss scaling, which fp16's narrow exponent needs and bf16 and fp32 do not."""
    return torch.amp.GradScaler(device.type, enabled=devices.precision(device, precision) == "fp16")


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


class Step(NamedTuple):
    """What a training step computed before its backward: the contrastive (or supervised) loss, the
    online head's loss, what the logged metrics read, and the backward that fills the gradients."""
    loss: torch.Tensor
    online: torch.Tensor | float
    logits: torch.Tensor
    z1: torch.Tensor | None
    z2: torch.Tensor | None
    backward: Callable[[], None]


def _views(cfg: RunConfig, images, generator, own) -> torch.Tensor:
    """x = [view 1 of every image; view 2 of every image]: one forward over 2N views, so BN statistics
    span both views."""
    x = torch.cat(make_views(cfg, images, generator, own))
    return x.contiguous(memory_format=torch.channels_last) if cfg.train.channels_last else x


def simclr_step(cfg, model, forward, generator, own, amp, scaler):
    """The paper's step: two views, h = f(view), z = g(h), NT-Xent over every process's z."""
    def step(images, labels2) -> Step:
        x = _views(cfg, images, generator, own)
        with amp():
            h, z, logits = forward(x)
        z1, z2 = z.float().chunk(2)
        z1, z2 = distributed.gather(z1), distributed.gather(z2)  # negatives from every process
        loss = losses.contrastive_loss(cfg.loss.name, z1, z2, **loss_params(cfg))
        online = F.cross_entropy(logits.float(), labels2) if online_head(cfg) else 0.0
        return Step(loss, online, logits, z1, z2, lambda: scaler.scale(loss + online).backward())
    return step


def gradcache_step(cfg, model, forward, generator, own, amp, scaler):
    """The same loss at the memory of one chunk of views (simclr/gradcache.py): views augmented a chunk
    at a time, z without a graph, the loss and d loss / d z in blocks, then the chunks replayed."""
    size = cfg.train.grad_cache_chunk
    contrastive = lambda z1, z2, rows: losses.contrastive_loss(cfg.loss.name, z1, z2, anchors=rows, **loss_params(cfg))

    def step(images, labels2) -> Step:
        x = gradcache.views(lambda part, sub: make_views(cfg, part, generator, sub), images, size,
                            cfg.train.channels_last, own)
        z, logits = gradcache.embed(model, forward, x, size, amp)
        loss, z_grad, (z1, z2) = gradcache.loss_and_grad(z, contrastive, size, scaler.scale)
        online = F.cross_entropy(logits, labels2) if online_head(cfg) else 0.0  # its value; replayed
        head = (lambda lg, rows: scaler.scale(F.cross_entropy(lg, labels2[rows], reduction="sum")
                                              / len(labels2))) if online_head(cfg) else None
        return Step(loss, online, logits, z1, z2, lambda: gradcache.replay(forward, x, size, amp, z_grad, head))
    return step


def supervised_step(cfg, model, forward, generator, own, amp, scaler):
    """The supervised baseline: cross-entropy on the same views, the classifier's gradient reaching f."""
    def step(images, labels2) -> Step:
        x = _views(cfg, images, generator, own)
        with amp():
            h, _, _ = forward(x)
            logits = model.classifier(h)
        loss = F.cross_entropy(logits.float(), labels2)
        return Step(loss, 0.0, logits, None, None, lambda: scaler.scale(loss).backward())
    return step


# train.method -> its step; a SimCLR step under train.grad_cache_chunk is the gradient cache's
STEPS = {"simclr": simclr_step, "supervised": supervised_step}


def pretrain(cfg: RunConfig, model: torch.nn.Module, train_set, device: torch.device, run_dir: Path,
             stop_after: int | None = None, monitor=None, on_checkpoint=None, on_record=None,
             on_step=None) -> dict:
    """Train until the configured number of steps (or `stop_after`, to simulate an interruption); return
    {"status": "completed" | "diverged" | "interrupted", "step", "train_*" summaries}. Hooks, each
    optional: monitor(model) -> dict every eval.knn_every_epochs epochs, logged as "monitor" events (it
    must not draw from the training generators, so resumes stay exact); on_checkpoint(step, path) after
    each checkpoint (a launcher's own copy, e.g. Ray Tune's); on_record(record) with every log.jsonl
    record (TensorBoard); on_step(step, run_dir) after each step (simclr/faults.py)."""
    t = cfg.train
    spe, total = steps_per_epoch(len(train_set), t.batch_size), total_steps(cfg, len(train_set))
    warmup = min(total, round(cfg.optim.warmup_epochs * spe))
    peak = scaled_lr(cfg.optim.lr, t.batch_size, cfg.optim.lr_scaling)
    model.to(device)
    if t.channels_last:
        model.to(memory_format=torch.channels_last)
    optimizer = build_optimizer(cfg, model, t.batch_size)
    precision = devices.precision(device, t.precision)  # "auto" resolved once, not every step
    scaler = grad_scaler(device, precision)
    generator = devices.generator(device, cfg.seed)
    augment.compile_kernels(t.compile)
    rank, world = distributed.world()
    log = JsonlLog(run_dir / "log.jsonl")
    write = _writer(log, on_record, rank == 0)  # process 0 alone writes the run directory
    state = {"model": model, "optimizer": optimizer, "scaler": scaler, "generator": generator}
    start = _resume(run_dir, state, log, write, rank == 0)
    epoch_recs = [r for r in log.read() if "event" not in r and r["step"] > start - start % spe]
    records = _Records(cfg, write, epoch_recs, spe, total, _progress(total, start, t.progress),
                       lambda: monitor(model) if monitor else None)

    save = _saver(run_dir, state, on_checkpoint, rank == 0)
    shard, own = _shard(t.batch_size, device)
    model.train()
    step, status, reason = start, "completed", ""
    t0, images_seen = time.perf_counter(), 0
    end = total if stop_after is None else min(total, stop_after)
    ddp = distributed.uses_ddp(cfg, device)
    # global BN over the whole batch of 2N views (across processes too), or per-device groups
    sync_bn = device.type == "cuda" and t.data_parallel != "allreduce"
    with grouped_bn(model, t.bn_groups), distributed.global_bn(model, sync_bn), explain_oom(cfg, device):
        net = distributed.data_parallel(model, device) if ddp else model  # after restore: DDP starts in sync
        forward = torch.compile(net) if t.compile else net
        variant = gradcache_step if t.method == "simclr" and t.grad_cache_chunk else STEPS[t.method]
        train_step = variant(cfg, model, forward, generator, own, lambda: autocast(device, precision), scaler)
        while step < end and status == "completed":
            epoch, offset = divmod(step, spe)
            for images, labels in train_set.batches(t.batch_size, epoch, cfg.seed, start=offset, shard=shard):
                if step >= end:
                    break
                lr = lr_at(step, total, warmup, peak)
                set_lr(optimizer, lr)
                images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
                out = train_step(images, labels.repeat(2))
                if not distributed.all_finite(out.loss + out.online):
                    status, reason = "diverged", _diverged(out, step)
                    write({"event": "diverged", "step": step, "loss": float(out.loss.detach()), "reason": reason})
                    break
                optimizer.zero_grad(set_to_none=True)
                out.backward()
                if not ddp:  # DDP has averaged them during backward
                    distributed.average_gradients(model)
                scaler.step(optimizer)
                scaler.update()
                step += 1
                images_seen += images.shape[0] * world
                records.after(step, lambda: {"lr": lr, "loss": out.loss.item(), **_step_metrics(
                    cfg, out.z1, out.z2, out.logits, labels.repeat(2), block=t.grad_cache_chunk),
                    "images_per_s": images_seen / (time.perf_counter() - t0)})
                if step % t.checkpoint_every == 0 and step < total:
                    save(step)
                if on_step:
                    on_step(step, run_dir)
    records.progress.close()
    elapsed = time.perf_counter() - t0
    status = "interrupted" if status == "completed" and step < total else status
    if status == "completed":
        save(step)  # the evaluations can then restart without retraining
    # "interrupted" saves nothing more, like a kill: the next call resumes from the last checkpoint
    return _summary(log.read(), status, reason, step, total, spe, t.log_every, elapsed, images_seen)


class _Records:
    """The log's records after each step: the step's (every train.log_every steps, computed only then),
    the epoch's means, the kNN monitor's; and the progress bar."""

    def __init__(self, cfg, write, epoch_recs: list[dict], spe: int, total: int, progress, monitor):
        self.cfg, self.write, self.spe, self.total = cfg, write, spe, total
        self.progress, self.monitor = progress, monitor
        self.epoch_recs = epoch_recs  # step records of the current epoch (read back once, so resumes agree)

    def after(self, step: int, measured) -> None:
        spe, every = self.spe, self.cfg.eval.knn_every_epochs
        if step % self.cfg.train.log_every == 0 or step == self.total:
            rec = {"step": step, "epoch": step / spe, **measured()}
            self.write(rec)
            self.epoch_recs.append(rec)
            self.progress.set_postfix(loss=f"{rec['loss']:.3f}", refresh=False)
        if step % spe == 0:
            self.write(_epoch_record(self.epoch_recs, step, spe))
            self.epoch_recs = []
            monitored = self.monitor() if every and (step // spe) % every == 0 else None
            if monitored:
                self.write({"event": "monitor", "epoch": step // spe, "step": step, **monitored})
        self.progress.update(1)


def _saver(run_dir: Path, state: dict, on_checkpoint, main: bool):
    """save(step): the training state as a checkpoint (process 0 alone), then on_checkpoint(step, path)."""
    def save(step: int) -> None:
        if main:
            path = checkpoint.save(run_dir, {**{k: v.state_dict() for k, v in state.items() if k != "generator"},
                                             "generator": state["generator"].get_state(),
                                             "cpu_rng": torch.get_rng_state(), "step": step})
            if on_checkpoint:
                on_checkpoint(step, path)
    return save


def _shard(batch_size: int, device: torch.device):
    """(rank, world) and this process's Rows of every global batch; None, None for one process. Each
    process loads and augments only its rows (its views equal those rows of a one-process run's:
    simclr.augment.augment draws for the whole batch); the config checks that the processes divide the
    batch, so these are the rows data.batches(shard=) yields."""
    rank, world = distributed.world()
    if world == 1:
        return None, None
    per = batch_size // world
    return (rank, world), Rows(torch.arange(rank * per, (rank + 1) * per, device=device), batch_size, rank * per)


def _writer(log: JsonlLog, on_record, main: bool):
    def write(record: dict) -> None:
        if main:
            log.write(record)
            if on_record:
                on_record(record)
    return write


def _resume(run_dir: Path, state: dict, log: JsonlLog, write, main: bool) -> int:
    """The step to start from: the last sound checkpoint's (its model, optimizer, scaler and
    generators restored), else 0; every process starts from the same one, or none starts."""
    start = 0
    saved, rejected = checkpoint.load(run_dir, main)
    if saved is not None:
        try:
            for key in ("model", "optimizer", "scaler"):
                state[key].load_state_dict(saved[key])
            generator = state["generator"]
            generator.set_state(saved["generator"].to(generator.get_state().device))
            torch.set_rng_state(saved["cpu_rng"])
        except Exception as err:  # a sound file that does not fit this run: never silently discarded
            raise RuntimeError(f"the checkpoint in {run_dir} does not fit this run's model or optimizer "
                               f"({type(err).__name__}: {' '.join(str(err).split())[:300]}); move it away to start "
                               "the run over") from err
        start = saved["step"]
    if not distributed.agree(start):
        raise RuntimeError(f"the processes of run {run_dir.name} found different checkpoints; rerun it")
    if main:
        log.truncate_after(start if saved is not None else -1)
    for msg in rejected:  # kept in the log: a result that restarted says so
        write({"event": "checkpoint_rejected", "step": start, "reason": msg})
    if saved is not None:
        write({"event": "resumed", "step": start})
    return start


def _diverged(out: Step, step: int) -> str:
    online = float(out.online.detach() if torch.is_tensor(out.online) else out.online)
    return (f"non-finite loss (contrastive {float(out.loss.detach())}, online head {online}) at step {step + 1}: "
            "lower optim.lr or raise loss.temperature")


def _summary(records: list[dict], status: str, reason: str, step: int, total: int, spe: int, log_every: int,
             elapsed: float, images_seen: int) -> dict:
    out = {"status": status, "step": step, "total_steps": total, "epochs": step / spe,
           "train_seconds": elapsed, "train_images_per_s": images_seen / elapsed if elapsed else 0.0}
    if status == "diverged":
        out["reason"] = reason
    # train_* summaries: means over the last epoch's step records
    last = [r for r in records if "event" not in r][-max(1, spe // log_every):]
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
        if devices.precision(device, t.precision) == "fp32":
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


def config_errors(cfg, world_size: int = 1) -> list[str]:
    """The problems of the train section (world_size: the processes the batch is split over)."""
    t = cfg.train
    e = choice("train.method", t.method, STEPS) + choice("train.precision", t.precision, PRECISIONS)
    e += choice("train.data_parallel", t.data_parallel, distributed.DATA_PARALLEL)
    if t.batch_size < 2:
        e.append(f"train.batch_size={t.batch_size}: contrastive learning needs >= 2 images per step")
    elif t.batch_size % world_size:
        e.append(f"train.batch_size={t.batch_size} is not divisible by the {world_size} processes; "
                 f"use a multiple of {world_size}")
    if t.grad_cache_chunk:
        views = 2 * t.batch_size // world_size
        if t.grad_cache_chunk < 0 or views % t.grad_cache_chunk:
            e.append(f"train.grad_cache_chunk={t.grad_cache_chunk}: must divide the {views} views of a "
                     "process's batch (equal chunks, equal BN statistics)")
        if t.method != "simclr" or t.bn_groups != 1:
            e.append("train.grad_cache_chunk applies to train.method=simclr with train.bn_groups=1 "
                     "(chunks already give BN per chunk)")
    if "/" in t.run_name or t.run_name.startswith("."):
        e.append(f"train.run_name={t.run_name!r}: a folder name (no '/', not starting with '.')")
    if t.data_parallel == "ddp" and not (t.method == "simclr" and online_head(cfg) and not t.grad_cache_chunk):
        e.append("train.data_parallel=ddp needs the plain SimCLR step with the online head, whose forward "
                 "reaches every parameter (DDP waits for a gradient of each): use auto or allreduce with "
                 "train.method=supervised, train.online_head=false or train.grad_cache_chunk")
    if t.epochs < 0:
        e.append(f"train.epochs={t.epochs}: must be >= 0 (0 with steps 0 evaluates the random-init encoder)")
    if t.steps < 0 or t.checkpoint_every <= 0 or t.log_every <= 0:
        e.append("train: steps >= 0, checkpoint_every > 0 and log_every > 0 are required")
    if not (t.device in ("auto", "cpu", "cuda", "mps") or t.device.startswith("cuda:")):
        e.append(f"train.device={t.device!r}: use auto, cpu, cuda or cuda:N")
    if t.bn_groups < 1 or t.batch_size % t.bn_groups:
        e.append(f"train.bn_groups={t.bn_groups}: must be >= 1 and divide train.batch_size={t.batch_size} "
                 "(each group holds both views of batch_size / bn_groups images)")
    return e

"""Pretraining throughput of a config, and where the time goes.

    python benchmarks/throughput.py configs/cpu_cifar10.yaml [key=value ...] [--steps 30] [--rounds 5]
    python benchmarks/throughput.py cifar10 encoder.arch=resnet18 ...     # a preset's baseline instead

Measures, on random uint8 images of the config's size and batch, side by side in one process:
  views         the batched augmentation alone (two views per image)
  encoder       the bare encoder + head forward/backward/step on ready-made views, with a trivial
                loss (mean of z squared): the same backward through head and encoder, no loss work
  encoder_loss  the same with the contrastive loss
  pretrain      a full training step: views + forward + loss + backward + optimizer step
and prints images/s (an image = one training example = two views) as a JSON line. The four are
timed in turns (``--rounds`` rounds of steps/rounds steps each) and each figure is the median over
rounds, so that a shared machine's drift during the run hits all alike; the pipeline's share (the
cost of augmentation and loss together) is the median of the per-round ratios full step / bare
encoder step, the loss's alone 1 - the median of encoder_loss / encoder. (Lines of results/ without
``encoder_loss_images_per_s`` are older: their encoder step included the loss.) The images are random
uint8 batches already on the device: decoding and host-to-device copies are not part of these
figures. Peak memory is the device's peak allocated memory on a GPU, the process's peak RSS on a CPU.
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import time
from pathlib import Path

import torch

from simclr import allocator, augment, config, losses
from simclr.checks import validate
from simclr.models import build_model
from simclr.optim import build_optimizer
from simclr import device as devices
from simclr.provenance import environment
from simclr.train import autocast, loss_params, make_views


def timed(fn, steps: int) -> float:
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - t0) / steps


def in_turns(fns: dict, steps: int, rounds: int) -> dict[str, list[float]]:
    """Seconds per call of each function, per round; the functions take turns within every round."""
    per = max(1, steps // rounds)
    out = {k: [] for k in fns}
    for _ in range(rounds):
        for k, fn in fns.items():
            out[k].append(timed(fn, per))
    return out


def load(name: str, overrides: list[str]):
    """A config file, or a preset's baseline (studies/presets.py) with the overrides applied; validated."""
    from studies import presets
    from studies.common import parse_sets

    bad = [o for o in overrides if "=" not in o]
    if bad:
        raise SystemExit(f"override {bad[0]!r}: expected key=value, e.g. train.batch_size=512")
    if name in presets.PRESETS and not Path(name).exists():
        cfg = presets.baseline(name, "unused" if name in presets.NEEDS_ROOT else "")
        return validate(config.replace(cfg, **parse_sets(overrides)))
    return validate(config.load(name, overrides))


def arguments(steps: int) -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser()
    ap.add_argument("config", help="a config file or a preset name (tiny, cpu, cifar10, imagenet)")
    ap.add_argument("overrides", nargs="*")
    ap.add_argument("--steps", type=int, default=steps)
    ap.add_argument("--warmup", type=int, default=5)
    return ap


def start(cfg) -> tuple[torch.device, str]:
    """The config's device, with the allocator setting and thread count a run would use."""
    device = devices.resolve(cfg.train.device)
    malloc = allocator.for_device(device.type)
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    return device, malloc


def main() -> None:
    ap = arguments(steps=30)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    cfg = load(args.config, args.overrides)
    t = cfg.train
    device, malloc = start(cfg)
    B, S = t.batch_size, cfg.data.image_size
    images = torch.randint(0, 256, (B, 3, S, S), dtype=torch.uint8, device=device)
    g = devices.generator(device, 0)
    model = build_model(cfg, 10).to(device)
    if t.channels_last:
        model.to(memory_format=torch.channels_last)
    opt = build_optimizer(cfg, model, B)
    fmt = torch.channels_last if t.channels_last else torch.contiguous_format
    ready = torch.cat(make_views(cfg, images, g)).contiguous(memory_format=fmt)

    def sync():
        if device.type == "cuda":
            torch.cuda.synchronize()

    def views_only():
        make_views(cfg, images, g)
        sync()

    forward = torch.compile(model) if t.compile else model
    augment.compile_kernels(t.compile)

    def train_step(x, contrastive=True):
        with autocast(device, t.precision):
            _, z, _ = forward(x)
        z = z.float()
        loss = (losses.contrastive_loss(cfg.loss.name, *z.chunk(2), **loss_params(cfg)) if contrastive
                else z.square().mean())
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sync()

    def full_step():
        train_step(torch.cat(make_views(cfg, images, g)).contiguous(memory_format=fmt))

    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    fns = {"views": views_only, "encoder": lambda: train_step(ready, contrastive=False),
           "encoder_loss": lambda: train_step(ready), "pretrain": full_step}
    for fn in fns.values():  # first steps allocate, build kernels
        timed(fn, args.warmup)
    secs = in_turns(fns, args.steps, args.rounds)
    share = lambda a, b: [e / p for e, p in zip(secs[a], secs[b])]  # noqa: E731
    result = {
        "config": args.config, "overrides": args.overrides, "batch_size": B, "image_size": S,
        "precision": t.precision, "channels_last": t.channels_last, "compile": t.compile,
        "threads": torch.get_num_threads(), "steps": args.steps, "rounds": args.rounds, "malloc": malloc,
        **{f"{k}_images_per_s": B / statistics.median(v) for k, v in secs.items()},
        "pipeline_share_of_encoder": statistics.median(share("encoder", "pretrain")),
        "pipeline_share_per_round": [round(r, 4) for r in share("encoder", "pretrain")],
        # what the contrastive loss costs of the encoder + loss step (within noise of 0 it may read < 0)
        "loss_share_of_step": 1 - statistics.median(share("encoder", "encoder_loss")),
        "arch": cfg.encoder.arch, "width": cfg.encoder.width, "stem": cfg.encoder.stem,
        "peak_memory_mb": round(torch.cuda.max_memory_allocated(device) / 2**20 if device.type == "cuda"
                                else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }
    env = environment(cfg.seed, device)
    result.update(hardware=env["hardware"], git=env["git"], packages=env["packages"])
    print(json.dumps(result))


if __name__ == "__main__":
    main()

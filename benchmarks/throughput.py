"""Pretraining throughput of a config, and where the time goes.

    python benchmarks/throughput.py configs/cpu_cifar10.yaml [key=value ...] [--steps 30] [--warmup 5]

Measures, on random uint8 images of the config's size and batch, side by side in one process:
  views      the batched augmentation alone (two views per image)
  encoder    the bare encoder + head forward/backward/step on ready-made views
  pretrain   a full training step: views + forward + loss + backward + optimizer step
and prints images/s (an image = one training example = two views) as a JSON line.
"""
from __future__ import annotations

import argparse
import json
import time

import torch

from simclr import config, losses
from simclr.models import build_model
from simclr.optim import build_optimizer
from simclr.run import resolve_device
from simclr.store import environment
from simclr.train import autocast, loss_params, make_views


def timed(fn, steps: int, warmup: int) -> float:
    for _ in range(warmup):
        fn()
    t0 = time.perf_counter()
    for _ in range(steps):
        fn()
    return (time.perf_counter() - t0) / steps


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("overrides", nargs="*")
    ap.add_argument("--steps", type=int, default=30)
    ap.add_argument("--warmup", type=int, default=5)
    args = ap.parse_args()
    cfg = config.load(args.config, args.overrides)
    t = cfg.train
    device = resolve_device(t.device)
    if t.threads:
        torch.set_num_threads(t.threads)
    B, S = t.batch_size, cfg.data.image_size
    images = torch.randint(0, 256, (B, 3, S, S), dtype=torch.uint8, device=device)
    g = torch.Generator(device=device).manual_seed(0)
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

    def train_step(x):
        with autocast(device, t.precision):
            _, z, _ = forward(x)
        loss = losses.contrastive_loss(cfg.loss.name, *z.float().chunk(2), **loss_params(cfg))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sync()

    def full_step():
        train_step(torch.cat(make_views(cfg, images, g)).contiguous(memory_format=fmt))

    timed(full_step, args.warmup, 0)  # first steps allocate and build oneDNN kernels: keep them out
    result = {
        "config": args.config, "overrides": args.overrides, "batch_size": B, "image_size": S,
        "precision": t.precision, "channels_last": t.channels_last, "compile": t.compile,
        "threads": torch.get_num_threads(),
        "views_images_per_s": B / timed(views_only, args.steps, args.warmup),
        "encoder_images_per_s": B / timed(lambda: train_step(ready), args.steps, args.warmup),
        "pretrain_images_per_s": B / timed(full_step, args.steps, args.warmup),
    }
    env = environment(cfg.seed, device)
    result.update(hardware=env["hardware"], git=env["git"], packages=env["packages"])
    result["pipeline_share_of_encoder"] = result["pretrain_images_per_s"] / result["encoder_images_per_s"]
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""Gradient cache: peak memory and throughput against the batch size, and the accuracy cost of BN
statistics per chunk.

    python benchmarks/gradcache.py configs/cpu_cifar10.yaml [key=value ...] --settings 512:0 512:256 8192:256
    python benchmarks/gradcache.py configs/tiny.yaml --accuracy 512:0 512:128

Memory: each setting (batch:chunk, chunk 0 = plain) trains a few steps of the engine's own pretraining
loop in a fresh process; we report the process's peak resident memory and its rise over the resting
size measured just before training (model, optimizer and the batch's images already in memory).
Accuracy: full runs (pretrain + evaluation) at one batch size, plain against chunked.
Each process keeps the memory it frees, as a run does (simclr/allocator.py), so RSS also counts the
allocator's cache: SIMCLR_MALLOC=system gives glibc's default, and SIMCLR_MALLOC=system
MALLOC_MMAP_THRESHOLD_=65536 live memory alone (slower: every large block is mmapped).
Each result is a JSON line (append with >> benchmarks/results/gradcache_cpu.jsonl).
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
from pathlib import Path



def rss_mb() -> float:
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS"):
            return int(line.split()[1]) / 1024
    return 0.0


def one(config: str, overrides: list[str], batch: int, chunk: int, steps: int) -> dict:
    """Train `steps` steps at this batch and chunk in this process; memory and speed."""
    import torch

    from benchmarks.throughput import start
    from simclr import config as C
    from simclr.checks import validate
    from simclr.data import InMemory
    from simclr.models import build_model
    from simclr.provenance import environment
    from simclr.train import pretrain

    cfg = validate(C.load(config, overrides + [f"train.batch_size={batch}", f"train.grad_cache_chunk={chunk}",
                                      f"train.steps={steps}", "optim.warmup_epochs=0", "train.progress=false",
                                      f"train.checkpoint_every={10 ** 6}", "data.name=synthetic",
                                      f"data.num_train={batch}", "eval.knn_every_epochs=0"]))
    device, malloc = start(cfg)  # allocator and threads as a run sets them
    size = cfg.data.image_size
    g = torch.Generator().manual_seed(0)
    data = InMemory(torch.randint(0, 256, (batch, 3, size, size), dtype=torch.uint8, generator=g),
                    torch.randint(0, 10, (batch,), generator=g))
    model = build_model(cfg, 10)
    resting = rss_mb()
    with tempfile.TemporaryDirectory() as d:
        out = pretrain(cfg, model, data, device, Path(d))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    log = {"batch": batch, "chunk": chunk, "steps": steps, "status": out["status"],
           "images_per_s": out["train_images_per_s"], "peak_rss_mb": round(peak), "resting_rss_mb": round(resting),
           "step_memory_mb": round(peak - resting), "config": config, "overrides": overrides,
           "precision": cfg.train.precision, "image_size": size, "malloc": malloc,
           # set (e.g. 65536): freed blocks go back to the OS at once, so RSS tracks live tensors
           "malloc_mmap_threshold": os.environ.get("MALLOC_MMAP_THRESHOLD_")}
    env = environment(cfg.seed, device)
    log["hardware"], log["git"] = env["hardware"], env["git"]
    return log


def accuracy(config: str, overrides: list[str], batch: int, chunk: int) -> dict:
    import simclr

    cfg = simclr.load(config, overrides + [f"train.batch_size={batch}", f"train.grad_cache_chunk={chunk}",
                                           "train.progress=false"])
    m = simclr.run(cfg, "results/benchmarks/gradcache")
    return {"mode": "accuracy", "batch": batch, "chunk": chunk, "run_id": cfg.run_id,
            **{k: m.get(k) for k in ("status", "linear_acc", "knn_acc", "train_loss", "train_images_per_s")}}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("config")
    ap.add_argument("overrides", nargs="*")
    ap.add_argument("--settings", nargs="*", default=["512:0", "512:256", "8192:256"], help="batch:chunk")
    ap.add_argument("--accuracy", nargs="*", default=None, help="batch:chunk full runs instead")
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--one", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.one:
        batch, chunk = map(int, args.one.split(":"))
        print(json.dumps(one(args.config, args.overrides, batch, chunk, args.steps)))
        return
    if args.accuracy is not None:
        for s in args.accuracy:
            batch, chunk = map(int, s.split(":"))
            print(json.dumps(accuracy(args.config, args.overrides, batch, chunk)), flush=True)
        return
    for s in args.settings:  # one fresh process each: peak memory is per process
        proc = subprocess.run([sys.executable, __file__, args.config, *args.overrides, "--one", s,
                               "--steps", str(args.steps)], capture_output=True, text=True)
        if proc.returncode:
            print(json.dumps({"setting": s, "error": proc.stderr.strip().splitlines()[-1:]}), flush=True)
        else:
            print(proc.stdout.strip().splitlines()[-1], flush=True)


if __name__ == "__main__":
    main()

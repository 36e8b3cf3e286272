"""Where the bare encoder step's time goes, by kind of operator (torch.profiler, self CPU time).

    python benchmarks/step_profile.py configs/cpu_cifar10.yaml data.root=unused [--steps 10]

The step is throughput.py's bare encoder step (ready views, forward, mean of z squared, backward,
optimizer), so none of it is augmentation or loss. Operators are grouped into convolution, batch norm,
ReLU, elementwise adds (the residual sums and the gradients they fan back out) and the rest; each
group's share of the profiled self time and its milliseconds per step are printed as one JSON line
(append with >> benchmarks/results/step_profile_cpu.jsonl). The profiler's own overhead inflates the
milliseconds a little; the shares are what to read. The model runs eager (train.compile is not
applied: compiled kernels would regroup the operators), on CPU only.
"""
from __future__ import annotations

import json
import re
import time

import torch
from torch.profiler import ProfilerActivity, profile

from benchmarks.throughput import arguments, load, start
from simclr import device as devices
from simclr.models import build_model
from simclr.optim import build_optimizer
from simclr.provenance import environment
from simclr.train import autocast, make_views

GROUPS = {  # first match wins; aten operator names as the profiler reports them
    "convolution": r"conv|mkldnn",
    "batch_norm": r"batch_norm",
    "relu": r"relu|clamp_min|threshold",
    "add": r"^aten::add_?$",
}


def group(name: str) -> str | None:
    return next((g for g, pattern in GROUPS.items() if re.search(pattern, name)), None)


def main() -> None:
    args = arguments(steps=10).parse_args()
    cfg = load(args.config, args.overrides)
    t = cfg.train
    device, malloc = start(cfg)
    if device.type != "cpu":
        raise SystemExit(f"step_profile.py profiles CPU time and this config runs on {device.type}: pass "
                         "train.device=cpu (on a GPU, torch.profiler's CUDA activity is the tool)")
    B, S = t.batch_size, cfg.data.image_size
    g = devices.generator(device, 0)
    images = torch.randint(0, 256, (B, 3, S, S), dtype=torch.uint8, device=device, generator=g)
    model = build_model(cfg, 10).to(device)
    fmt = torch.channels_last if t.channels_last else torch.contiguous_format
    model.to(memory_format=fmt)
    opt = build_optimizer(cfg, model, B)
    views = torch.cat(make_views(cfg, images, g)).contiguous(memory_format=fmt)

    def step():
        with autocast(device, t.precision):
            _, z, _ = model(views)
        loss = z.float().square().mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(args.warmup):
        step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        t0 = time.perf_counter()
        for _ in range(args.steps):
            step()
        wall = (time.perf_counter() - t0) * 1e3 / args.steps
    # aten operators' self times add up to the step without counting a nested call twice; the self time
    # of everything else (autograd nodes, the optimizer's Python) is reported beside them
    ms = {k: 0.0 for k in [*GROUPS, "other"]}
    outside = 0.0
    for e in prof.key_averages():
        if e.key.startswith("aten::"):
            ms[group(e.key) or "other"] += e.self_cpu_time_total / 1e3 / args.steps
        else:
            outside += e.self_cpu_time_total / 1e3 / args.steps
    total = sum(ms.values())
    result = {
        "config": args.config, "overrides": args.overrides, "batch_size": B, "image_size": S,
        "precision": t.precision, "channels_last": t.channels_last, "threads": torch.get_num_threads(),
        "steps": args.steps, "malloc": malloc, "arch": cfg.encoder.arch, "width": cfg.encoder.width,
        "ms_per_step": round(total, 1), "wall_ms_per_step": round(wall, 1),
        "outside_aten_ms_per_step": round(outside, 1),
        "share": {k: round(v / total, 3) for k, v in ms.items()},
        "ms": {k: round(v, 1) for k, v in ms.items()},
    }
    env = environment(cfg.seed, device)
    result.update(hardware=env["hardware"], git=env["git"], packages=env["packages"])
    print(json.dumps(result))


if __name__ == "__main__":
    main()

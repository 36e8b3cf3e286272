"""What produced a result: the code's commit, the packages, the hardware, the seed and the start time
(a run's env.json, a benchmark's record)."""
from __future__ import annotations

import os
import platform
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import torch

from simclr import device as devices


def git_commit(src: str | Path | None = None) -> dict:
    """Commit of the code that ran and whether its tree had uncommitted changes. The committed result
    stores (results/ at the top) and benchmark records (benchmarks/results/) do not count: a study or
    benchmark writing into one would otherwise mark what it produces as made by modified code."""
    src = src or Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=src, capture_output=True, text=True,
                                timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--",
                                ":(top)", ":(top,exclude)results",
                                ":(top,exclude)benchmarks/results"], cwd=src,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return {"commit": commit or None, "dirty": bool(dirty)}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def environment(seed: int, device: torch.device) -> dict:
    import numpy
    import torchvision

    cpu = platform.processor()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    env = {
        "git": git_commit(),
        "packages": {"python": sys.version.split()[0], "torch": torch.__version__,
                     "torchvision": torchvision.__version__, "numpy": numpy.__version__,
                     "pandas": pd.__version__},
        "hardware": {"platform": platform.platform(), "cpu": cpu, "cpu_count": os.cpu_count(),
                     "cpu_computes_bf16": devices.cpu_computes_bf16(),  # else ~10x slower than fp32: speeds differ
                     "torch_threads": torch.get_num_threads(), "device": str(device),
                     "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None},
        "host": platform.node(),
        "seed": seed,
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    return env

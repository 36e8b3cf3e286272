"""Fault injection, so the launchers' recovery paths are tested against real failures.

SIMCLR_FAULT holds comma-separated faults, read once when a run starts by the entry points (python -m
simclr, a study's launchers), which hand them to the run as its on_step hook; the training code knows
nothing of them. A test in one process can pass its own hook instead.
    kill@STEP     the process kills itself with SIGKILL after STEP steps (a crashed node, an OOM kill)
    raise@STEP    a RuntimeError after STEP steps (a bug, a lost device)
    sleep=SECONDS every step takes at least this long (a run long enough to hit a time limit)
    sleep1=SECONDS the same in the run's first process only (a run that outlives one time limit,
                  then finishes at once when resumed)
kill and raise fire once per run directory (a marker file remembers), so the retry or resume that
follows runs clean.
"""
from __future__ import annotations

import functools
import os
import signal
import time
from pathlib import Path
from typing import Callable

ENV = "SIMCLR_FAULT"


def parse(spec: str) -> dict:
    faults = {}
    for item in filter(None, (s.strip() for s in spec.split(","))):
        if "@" in item and item.split("@")[0] in ("kill", "raise"):
            kind, step = item.split("@", 1)
            faults[kind] = int(step)
        elif item.startswith(("sleep=", "sleep1=")):
            kind, seconds = item.split("=", 1)
            faults[kind] = float(seconds)
        else:
            raise ValueError(f"{ENV}={spec!r}: unknown fault {item!r}; use kill@STEP, raise@STEP, sleep=SECONDS "
                             "or sleep1=SECONDS")
    return faults


def from_env() -> Callable[[int, Path], None] | None:
    """The faults SIMCLR_FAULT names as a run's on_step hook; None when it is unset."""
    spec = os.environ.get(ENV)
    return functools.partial(at_step, parse(spec), spec) if spec else None


def at_step(faults: dict, spec: str, step: int, run_dir: Path) -> None:
    """After each optimizer step, with the number of steps done: the faults due at this step."""
    if "sleep" in faults:
        time.sleep(faults["sleep"])
    if "sleep1" in faults and _first_process(Path(run_dir)):
        time.sleep(faults["sleep1"])
    for kind in ("kill", "raise"):
        marker = Path(run_dir) / f".fault-{kind}-{faults.get(kind)}"
        if faults.get(kind) == step and not marker.exists():
            marker.touch()
            if kind == "kill":
                os.kill(os.getpid(), signal.SIGKILL)
            raise RuntimeError(f"injected fault at step {step} ({ENV}={spec})")


_claimed: set = set()  # run directories whose first process is this one


def _first_process(run_dir: Path) -> bool:
    """True in the process that first reached a step of this run (a marker file remembers it)."""
    marker = run_dir / ".fault-sleep1"
    if run_dir in _claimed:
        return True
    if marker.exists():
        return False
    marker.touch()
    _claimed.add(run_dir)
    return True

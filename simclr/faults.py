"""Fault injection, so the launchers' recovery paths are tested against real failures.

SIMCLR_FAULT holds comma-separated faults, read at each optimizer step of pretraining:
    kill@STEP     the process kills itself with SIGKILL after STEP steps (a crashed node, an OOM kill)
    raise@STEP    a RuntimeError after STEP steps (a bug, a lost device)
    sleep=SECONDS every step takes at least this long (a run long enough to hit a time limit)
    sleep1=SECONDS the same in the run's first process only (a run that outlives one time limit,
                  then finishes at once when resumed)
kill and raise fire once per run directory (a marker file remembers), so the retry or resume that
follows runs clean. Unset, this module does nothing.
"""
from __future__ import annotations

import os
import signal
import time
from pathlib import Path

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


def at_step(step: int, run_dir: Path) -> None:
    """Called after each optimizer step with the number of steps done."""
    spec = os.environ.get(ENV)
    if not spec:
        return
    faults = parse(spec)
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

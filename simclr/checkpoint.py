"""Training checkpoints that survive crashes, truncation and tampering.

    <run_dir>/checkpoint.pt       the latest state, written atomically
              checkpoint.prev.pt  the one before it, kept until the run finishes

A checkpoint loads with torch.load(weights_only=True): tensors and plain containers only, so a file
swapped into a shared store cannot run code. One that is truncated, corrupt, unsafe or does not fit the
model is set aside as <name>.corrupt with a warning and the previous one is tried, then a fresh start.
"""
from __future__ import annotations

import copy
import os
import sys
import warnings
from pathlib import Path

import torch

from simclr.store import atomic_torch_save

CHECKPOINT, PREVIOUS = "checkpoint.pt", "checkpoint.prev.pt"
KEYS = {"model", "optimizer", "scaler", "generator", "cpu_rng", "step"}


def save(run_dir: Path, state: dict) -> Path:
    """Keep the current checkpoint as the previous one, then write the new one atomically: a crash at
    any point leaves at least one complete checkpoint."""
    path = Path(run_dir) / CHECKPOINT
    if path.exists():
        os.replace(path, path.with_name(PREVIOUS))
    atomic_torch_save(path, state)
    return path


def exists(run_dir: Path) -> bool:
    return any((Path(run_dir) / name).exists() for name in (CHECKPOINT, PREVIOUS))


def remove(run_dir: Path) -> None:
    for name in (CHECKPOINT, PREVIOUS):
        (Path(run_dir) / name).unlink(missing_ok=True)


def load(run_dir: Path, restore, device: torch.device, objects: list,
         set_aside: bool = True) -> tuple[dict | None, list[str]]:
    """The newest checkpoint that loads safely and that restore(state) accepts, or None.

    restore(state) applies a state to the training objects; when it raises, every object in `objects`
    (things with state_dict/load_state_dict) is put back as it was, so a half-applied checkpoint never
    leaks into the run. Only one process of a run sets rejected files aside (`set_aside`).
    Returns (state, warnings about rejected files).
    """
    rejected = []
    for name in (CHECKPOINT, PREVIOUS):
        path = Path(run_dir) / name
        if not path.exists():
            continue
        before = [copy.deepcopy(o.state_dict()) for o in objects]
        try:
            state = torch.load(path, map_location=device, weights_only=True)
            if not isinstance(state, dict) or not KEYS <= state.keys():
                found = sorted(state)[:8] if isinstance(state, dict) else type(state).__name__
                raise ValueError(f"not a training checkpoint ({found})")
            restore(state)
            _warn(rejected, f"resuming from {name} (step {state['step']})")
            return state, rejected
        except Exception as err:  # truncated zip, unpickling refused, shapes that do not fit, ...
            for o, s in zip(objects, before):
                o.load_state_dict(s)
            aside = path.with_name(path.name + ".corrupt")
            if set_aside:
                os.replace(path, aside)
            why = (str(err).strip().splitlines() or [""])[0][:200]
            rejected.append(f"checkpoint {path} cannot be used ({type(err).__name__}: {why}); "
                            f"moved to {aside.name}")
    _warn(rejected, "no usable checkpoint is left: the run starts from scratch")
    return None, rejected


def _warn(rejected: list[str], outcome: str) -> None:
    for i, msg in enumerate(rejected):
        if i == len(rejected) - 1:
            rejected[i] = msg = f"{msg}; {outcome}"
        warnings.warn(msg)
        print(f"warning: {msg}", file=sys.stderr, flush=True)

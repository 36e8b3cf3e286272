"""Training checkpoints that survive crashes, truncation, bit rot and tampering.

    <run_dir>/checkpoint.pt (+ .sha256)       the latest state, written atomically
              checkpoint.prev.pt (+ .sha256)  the one before it, kept until the run finishes

A checkpoint is checked against its sha256 (written after it, so a crash between the two leaves a
mismatch, never a wrong file accepted) and loads with torch.load(weights_only=True): tensors and
plain containers only, so a file swapped into a shared store cannot run code. One that fails either
check is set aside as <name>.corrupt with a warning and the previous one is tried, then a fresh start.
A checkpoint that loads but does not fit the model is an error, not corruption: the run stops and
says so, and nothing is set aside.
"""
from __future__ import annotations

import hashlib
import io
import os
import sys
import warnings
from pathlib import Path

import torch

from simclr.store import atomic_write_bytes

CHECKPOINT, PREVIOUS = "checkpoint.pt", "checkpoint.prev.pt"
KEYS = {"model", "optimizer", "scaler", "generator", "cpu_rng", "step"}


def atomic_torch_save(path: Path, obj) -> None:
    """torch.save through memory, then one atomic write: a full disk then raises ENOSPC (torch's own
    file writer reports it as an opaque RuntimeError)."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getbuffer())


def _digest_path(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def save(run_dir: Path, state: dict) -> Path:
    """Keep the current checkpoint as the previous one, then write the new one and its digest
    atomically: a crash at any point leaves at least one complete, verifiable checkpoint."""
    path = Path(run_dir) / CHECKPOINT
    if path.exists():
        os.replace(path, path.with_name(PREVIOUS))
        if _digest_path(path).exists():
            os.replace(_digest_path(path), _digest_path(path.with_name(PREVIOUS)))
    buffer = io.BytesIO()
    torch.save(state, buffer)
    atomic_write_bytes(path, buffer.getbuffer())
    atomic_write_bytes(_digest_path(path), hashlib.sha256(buffer.getbuffer()).hexdigest().encode())
    return path


def exists(run_dir: Path) -> bool:
    return any((Path(run_dir) / name).exists() for name in (CHECKPOINT, PREVIOUS))


def remove(run_dir: Path) -> None:
    for name in (CHECKPOINT, PREVIOUS):
        (Path(run_dir) / name).unlink(missing_ok=True)
        _digest_path(Path(run_dir) / name).unlink(missing_ok=True)


def _read(path: Path) -> dict:
    """The state in `path`, on the CPU; raises ValueError (or torch's errors) for a damaged file."""
    data = path.read_bytes()
    digest = _digest_path(path)
    if digest.exists() and hashlib.sha256(data).hexdigest() != digest.read_text().strip():
        raise ValueError("its sha256 does not match the one written with it")
    state = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or not KEYS <= state.keys():
        found = sorted(state)[:8] if isinstance(state, dict) else type(state).__name__
        raise ValueError(f"not a training checkpoint ({found})")
    return state


def load(run_dir: Path, main: bool = True) -> tuple[dict | None, list[str]]:
    """The newest checkpoint that passes its checks, as a CPU state dict, or None.

    Only the run's main process sets damaged files aside and warns; the others skip them. A file that
    cannot be read for a reason of the disk (EIO, a network file system) raises: it is not set aside.
    Returns (state, one message per rejected file).
    """
    rejected = []
    for name in (CHECKPOINT, PREVIOUS):
        path = Path(run_dir) / name
        try:
            state = _read(path)
        except FileNotFoundError:  # absent, or set aside by the main process a moment ago
            continue
        except OSError:
            raise
        except Exception as err:  # a checksum mismatch, a truncated zip, unpickling refused, ...
            why = (str(err).strip().splitlines() or [""])[0][:200]
            aside = path.with_name(path.name + ".corrupt")
            rejected.append(f"checkpoint {path} cannot be used ({type(err).__name__}: {why}); "
                            f"set aside as {aside.name}")
            if main:
                os.replace(path, aside)
                _digest_path(path).unlink(missing_ok=True)
            continue
        _warn(rejected, f"resuming from {name} (step {state['step']})", main)
        return state, rejected
    _warn(rejected, "no usable checkpoint is left: the run starts from scratch", main)
    return None, rejected


def _warn(rejected: list[str], outcome: str, main: bool) -> None:
    if rejected:
        rejected[-1] = f"{rejected[-1]}; {outcome}"
    for msg in rejected if main else []:
        warnings.warn(msg)
        print(f"warning: {msg}", file=sys.stderr, flush=True)

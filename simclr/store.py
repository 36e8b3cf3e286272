"""The result store: one directory per run, small JSON files written atomically, read back as a table.

    <results>/<run_id>/config.json    the frozen config (what ran)
                      env.json       git commit, package versions, hardware, seed (what ran it)
                      log.jsonl      per-step and per-epoch metrics
                      metrics.json   final metrics and status; its presence means the run is finished
                      checkpoint.pt  latest training state (deleted once metrics.json exists)
"""
from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import torch


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temp file in the same directory, fsync, rename: readers never see half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path: Path, obj) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode())


def read_json(path: Path):
    return json.loads(Path(path).read_text())


def atomic_torch_save(path: Path, obj) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    os.close(fd)
    try:
        torch.save(obj, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


class JsonlLog:
    """Append-only metrics log; on resume, lines past the checkpoint's step are dropped (they will rerun)."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def truncate_after(self, step: int) -> None:
        if not self.path.exists():
            return
        keep = [line for line in self.path.read_text().splitlines()
                if line.strip() and json.loads(line).get("step", 0) <= step]
        atomic_write_bytes(self.path, "".join(line + "\n" for line in keep).encode())

    def write(self, record: dict) -> None:
        with open(self.path, "a") as f:
            f.write(json.dumps(record, default=float) + "\n")

    def read(self) -> list[dict]:
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines() if line.strip()]


def git_commit() -> dict:
    """Commit of the code that ran and whether its tree had uncommitted changes."""
    src = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=src, capture_output=True, text=True,
                                timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=src,
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
                     "torch_threads": torch.get_num_threads(), "device": str(device),
                     "gpu": torch.cuda.get_device_name(device) if device.type == "cuda" else None},
        "host": platform.node(),
        "seed": seed,
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    return env


def record_failure(run_dir: Path, cfg, failure: dict) -> None:
    """error.json (and config.json if the run never started) so the store shows the run as failed, with
    its reason; a later successful attempt removes error.json."""
    from simclr.config import to_dict

    run_dir = Path(run_dir)
    if not (run_dir / "config.json").exists():
        write_json(run_dir / "config.json", to_dict(cfg))
    write_json(run_dir / "error.json", failure)


def migrate(results_dir: str | Path, quiet_for: float = 300.0) -> list[tuple[str, str]]:
    """Rename run directories named by an earlier version of run_id to their config's current id,
    updating config.json (fields added since, at their defaults), metrics.json / error.json and the
    study manifests, so stored runs stay found and are never trained again. A directory written to in
    the last `quiet_for` seconds is left alone (a run may be writing it). Returns (old, new) pairs."""
    import time

    from simclr.config import from_dict, to_dict

    renames = {}
    for cfg_path in sorted(Path(results_dir).glob("**/config.json")):
        run_dir = cfg_path.parent
        cfg = from_dict(read_json(cfg_path))
        new = cfg.run_id
        if run_dir.name == new:
            continue
        target = run_dir.parent / new
        newest = max(p.stat().st_mtime for p in run_dir.iterdir())
        if target.exists() or time.time() - newest < quiet_for:
            print(f"warning: {run_dir} has run_id {new} under the current version; not renamed "
                  f"({'the new name exists' if target.exists() else 'written to recently'})", file=sys.stderr)
            continue
        write_json(cfg_path, to_dict(cfg))
        for name in ("metrics.json", "error.json"):
            if (run_dir / name).exists():
                write_json(run_dir / name, {**read_json(run_dir / name), "run_id": new})
        run_dir.rename(target)
        renames[run_dir.name] = new
    for path in Path(results_dir).glob("**/study.json"):
        manifest = read_json(path)
        arms = [{**a, "run_id": renames.get(a["run_id"], a["run_id"])} for a in manifest.get("arms", [])]
        if arms != manifest.get("arms"):
            write_json(path, {**manifest, "arms": arms})
    return list(renames.items())


def load_results(results_dir: str | Path) -> pd.DataFrame:
    """One row per run directory under results_dir: flattened config (config.*) and final metrics.

    Runs without metrics.json appear with status "failed" (error.json holds why) or "incomplete" (started,
    not finished) so a table can say what is missing.
    """
    rows = []
    for cfg_path in sorted(Path(results_dir).glob("**/config.json")):
        run_dir = cfg_path.parent
        row = {"run_id": run_dir.name, "run_dir": str(run_dir)}
        flat = pd.json_normalize(read_json(cfg_path), sep=".").iloc[0].to_dict()
        # lists (augmentation recipes, label fractions) become JSON strings: hashable, so they group and pivot
        row.update({f"config.{k}": json.dumps(v) if isinstance(v, list) else v for k, v in flat.items()})
        metrics_path = run_dir / "metrics.json"
        if metrics_path.exists():
            row.update(read_json(metrics_path))
        elif (run_dir / "error.json").exists():
            err = read_json(run_dir / "error.json")
            row.update(status="failed", error=err.get("error", ""))
        else:
            row["status"] = "incomplete"
        rows.append(row)
    return pd.DataFrame(rows)

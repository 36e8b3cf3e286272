"""The result store: one directory per run, small JSON files written atomically, read back as a table.

    <results>/<run_id>/config.json    the frozen config (what ran)
                      env.json       git commit, package versions, hardware, seed (what ran it)
                      log.jsonl      per-step and per-epoch metrics
                      metrics.json   final metrics and status; its presence means the run is finished
                      checkpoint.pt  latest training state (deleted once metrics.json exists)
"""
from __future__ import annotations

import errno
import fcntl
import json
import os
import shutil
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path

import pandas as pd

from simclr.config import RESULTS_SINCE, ConfigError, earlier_engine, from_dict


class StoreError(OSError):
    """The result store cannot be written (disk full, read-only, no permission); the message says how
    to fix it. Whatever was stored before stays readable: writes are all-or-nothing."""


# errors of the disk, not of the code: a study stops on them instead of failing every run in turn
DISK_ERRORS = {errno.ENOSPC: "the disk is full", errno.EDQUOT: "the disk quota is exceeded",
               errno.EROFS: "the file system is read-only", errno.EACCES: "permission denied",
               errno.EPERM: "operation not permitted", errno.EFBIG: "the file is larger than allowed"}


def _disk_error(path: Path, err: OSError) -> StoreError:
    why = DISK_ERRORS.get(err.errno, err.strerror or str(err))
    return StoreError(err.errno, f"cannot write {path}: {why}. Nothing half-written was left; free space or "
                      "fix the permissions, or pass another results directory (--results), then rerun: "
                      "finished runs are kept and started runs resume")


@contextmanager
def _atomic(path: Path):
    """Yield a temp file name beside `path`; on success it replaces `path` (rename is atomic), on any
    failure it is removed. Disk errors become a StoreError that names the fix."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as err:
        raise (_disk_error(path, err) if err.errno in DISK_ERRORS else err) from err
    os.close(fd)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError) and not isinstance(err, StoreError) and err.errno in DISK_ERRORS:
            raise _disk_error(path, err) from err
        raise


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temp file in the same directory, fsync, rename: readers never see half a file."""
    with _atomic(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())


def write_json(path: Path, obj) -> None:
    atomic_write_bytes(path, (json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n").encode())


def read_json(path: Path):
    return json.loads(Path(path).read_text())


@contextmanager
def locked(path: Path):
    """An exclusive lock (flock on <path>.lock) for read-modify-write of a file several writers share."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(f".{path.name}.lock"), "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


class RunBusy(RuntimeError):
    """Another process is training this run right now (two drivers on one store, an overlapping requeue)."""


@contextmanager
def run_lock(run_dir: Path):
    """Hold <run_dir>/.run.lock while a run trains: a second process that reaches the same run leaves it
    alone instead of training it twice. The kernel releases the lock when its process dies."""
    path = Path(run_dir) / ".run.lock"
    with open(path, "a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RunBusy(f"run {Path(run_dir).name} is being trained by another process right now "
                          f"({path} is locked); this process leaves it to that one") from None
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def update_json(path: Path, change, default=None) -> object:
    """Read, change and write back a shared JSON file under its lock: concurrent updates all land."""
    with locked(path):
        old = read_json(path) if Path(path).exists() else default
        new = change(old)
        write_json(path, new)
        return new


def remove_interrupted_writes(run_dir: Path) -> None:
    """Delete the temp files that a writer killed mid-write left in a run directory (the records they
    were to replace are whole). Only its owner calls this, under the run's lock: no write is live."""
    for tmp in Path(run_dir).glob(".*.tmp"):
        tmp.unlink(missing_ok=True)


def check_writable(results_dir: str | Path) -> None:
    """Fail before any work if the results directory cannot take a file (permissions, read-only, full)."""
    results_dir = Path(results_dir)
    if results_dir.exists() and not results_dir.is_dir():
        raise StoreError(errno.ENOTDIR, f"results directory {results_dir} is a file; pass a directory "
                         "(--results DIR)")
    created = [p for p in [results_dir, *results_dir.parents] if not p.exists()]
    try:  # a unique probe name: many runs may start at once
        results_dir.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=results_dir, prefix=".write-test.", suffix=".tmp")
        try:
            os.write(fd, b"ok\n")
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as err:
        raise (_disk_error(results_dir, err) if err.errno in DISK_ERRORS else err) from err
    for p in created:  # leave no trace: the directory appears when the first run writes to it
        try:
            p.rmdir()
        except OSError:  # another process has written into it meanwhile
            break


class JsonlLog:
    """Append-only metrics log; on resume, lines past the checkpoint's step are dropped (they will rerun)."""

    def __init__(self, path: Path):
        self.path = Path(path)

    def truncate_after(self, step: int) -> None:
        if not self.path.exists():
            return
        keep = [json.dumps(r, default=float) for r in self.read() if r.get("step", 0) <= step]
        atomic_write_bytes(self.path, "".join(line + "\n" for line in keep).encode())

    def write(self, record: dict) -> None:
        line = json.dumps(record, default=float) + "\n"
        try:
            with open(self.path, "a+b") as f:
                if f.tell() > 0:  # after a torn last line, start a new one
                    f.seek(-1, os.SEEK_END)
                    if f.read(1) != b"\n":
                        line = "\n" + line
                f.write(line.encode())
        except OSError as err:
            raise (_disk_error(self.path, err) if err.errno in DISK_ERRORS else err) from err

    def read(self) -> list[dict]:
        """The records; a line torn by a crash mid-append is skipped with a warning (the steps it
        described rerun on resume)."""
        if not self.path.exists():
            return []
        records = []
        for n, line in enumerate(self.path.read_text().splitlines(), 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                warnings.warn(f"{self.path}:{n}: skipping a torn line ({line[:60]!r})")
        return records


def copy_run(source: Path, run_dir: Path, config: dict) -> bool:
    """A finished run copied in from another store, with `config` (the source's, this store's run name):
    a run id names what a run computes, so training it again would repeat it. Under the run's lock
    (RunBusy while another process trains it); whatever an attempt here left (checkpoint, error, log)
    goes first; env.json keeps what trained it, `copied_from` the folder it trained in; metrics.json is
    written last, so a copy cut short is not a finished run. False: the run finished here meanwhile."""
    source, run_dir = Path(source), Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    with run_lock(run_dir):
        if (run_dir / "metrics.json").exists():
            return False
        for old in run_dir.iterdir():
            if old.is_file() and old.name != ".run.lock":
                old.unlink()
        write_json(run_dir / "config.json", config)
        env = read_json(source / "env.json") if (source / "env.json").exists() else {}
        env.setdefault("copied_from", str(source.resolve()))  # a copy of a copy names where it trained
        for name in ("log.jsonl", "model.pt", "env.json", "metrics.json"):
            if name == "env.json":
                write_json(run_dir / name, env)
            elif (source / name).exists():
                with _atomic(run_dir / name) as tmp:  # streamed: an ImageNet model.pt is hundreds of MB
                    shutil.copyfile(source / name, tmp)
    return True


def record_failure(run_dir: Path, config: dict, failure: dict) -> None:
    """error.json (and config.json, the run's config as a dict, if the run never started) so the store
    shows the run as failed, with its reason; a later successful attempt removes error.json."""
    run_dir = Path(run_dir)
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as err:  # a full or read-only disk stops the study with the fix, as every write does
        raise (_disk_error(run_dir, err) if err.errno in DISK_ERRORS else err) from err
    try:
        with run_lock(run_dir):
            if not (run_dir / "config.json").exists():
                write_json(run_dir / "config.json", config)
            write_json(run_dir / "error.json", failure)
    except RunBusy:  # another process trains the run again now: its outcome is the run's record
        pass


EARLIER = (f"trained by an earlier engine whose results differ from the current one's (run_id version before "
           f"{RESULTS_SINCE}: simclr/config.py's HASH_VERSION says what changed)")


def earlier_engine_runs(results_dir: str | Path, run_ids=None) -> list[str]:
    """The runs of a store (those named, else every run folder) trained by an earlier engine: their id is
    the one a version before RESULTS_SINCE gave their config. Never counted or mixed with current runs."""
    root = Path(results_dir)
    names = run_ids if run_ids is not None else sorted(p.parent.name for p in root.glob("*/config.json"))
    found = []
    for name in names:
        path = root / name / "config.json"
        try:
            if path.exists() and earlier_engine(name, from_dict(read_json(path))):
                found.append(name)
        except (ConfigError, OSError, ValueError):  # unreadable: the analysis reports it as corrupt
            continue
    return found


def load_results(results_dir: str | Path) -> pd.DataFrame:
    """One row per run directory under results_dir: flattened config (config.*) and final metrics.

    Runs without metrics.json appear with status "failed" (error.json holds why) or "incomplete" (started,
    not finished) so a table can say what is missing.
    """
    rows = []
    for cfg_path in sorted(Path(results_dir).glob("**/config.json")):
        run_dir = cfg_path.parent
        row = {"run_id": run_dir.name, "run_dir": str(run_dir)}
        try:
            flat = pd.json_normalize(read_json(cfg_path), sep=".").iloc[0].to_dict()
        except (OSError, ValueError) as err:  # a damaged record is reported, never fatal to a table
            rows.append({**row, "status": "corrupt", "error": f"{cfg_path}: {err}"})
            continue
        # lists (augmentation recipes, label fractions) become JSON strings: hashable, so they group and pivot
        row.update({f"config.{k}": json.dumps(v) if isinstance(v, list) else v for k, v in flat.items()})
        metrics_path = run_dir / "metrics.json"
        try:
            if metrics_path.exists():
                row.update(read_json(metrics_path))
            elif (run_dir / "error.json").exists():
                err = read_json(run_dir / "error.json")
                row.update(status="failed", error=err.get("error", ""))
            else:
                row["status"] = "incomplete"
        except (OSError, ValueError) as err:
            row.update(status="corrupt", error=f"{run_dir}: {err}")
        rows.append(row)
    return pd.DataFrame(rows)


def verify(results_dir: str | Path) -> list[str]:
    """Problems that would make the store lie: unreadable records, a result under another run's id, a
    finished run that still holds a checkpoint or an error, steps logged twice, left-over temp files.
    An empty list means every record is complete and readable."""
    problems = []
    root = Path(results_dir)
    for tmp in root.glob("**/.*.tmp"):
        problems.append(f"{tmp}: temp file of an interrupted write (safe to delete)")
    for cfg_path in sorted(root.glob("**/config.json")):
        run_dir = cfg_path.parent
        records = {}
        for name in ("config.json", "metrics.json", "error.json", "env.json"):
            if (run_dir / name).exists():
                try:
                    records[name] = read_json(run_dir / name)
                except (OSError, ValueError) as err:
                    problems.append(f"{run_dir / name}: unreadable ({err})")
        metrics = records.get("metrics.json")
        if metrics is not None:
            if metrics.get("run_id") != run_dir.name:
                problems.append(f"{run_dir}: metrics.json is for run {metrics.get('run_id')}")
            for leftover in ("checkpoint.pt", "checkpoint.prev.pt", "error.json"):
                if (run_dir / leftover).exists():
                    problems.append(f"{run_dir}: finished, yet {leftover} is still there")
        if (run_dir / "log.jsonl").exists():
            with warnings.catch_warnings(record=True) as torn:
                warnings.simplefilter("always")
                steps = [r["step"] for r in JsonlLog(run_dir / "log.jsonl").read()
                         if "event" not in r and "loss" in r]
            problems += [f"{run_dir}/log.jsonl: {w.message}" for w in torn if metrics is not None]
            if len(steps) != len(set(steps)):
                problems.append(f"{run_dir}/log.jsonl: steps logged twice")
            if steps != sorted(steps):
                problems.append(f"{run_dir}/log.jsonl: steps out of order")
    return problems

"""What every launcher shares: the resources of a run, `execute` (one run through the engine, its
failure recorded), the store's view of a run, the scheduler submissions and --status."""
from __future__ import annotations

import os
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import simclr
from simclr import checkpoint, faults
from simclr.config import from_dict, replace, to_dict
from simclr.store import RunBusy, StoreError, copy_run, read_json, record_failure, update_json

SUBMISSIONS = "submissions.json"  # run_id -> the scheduler job that runs it (for --status)
# scheduler states that end a job without a result
FAILED_STATES = ("CANCELLED", "FAILED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL",
                 "DEADLINE")


@dataclass(frozen=True)
class Resources:
    """What one run gets, and where the launcher sends it (flags of studies/run.py)."""
    workers: int = 1               # local: runs at once
    cpus_per_run: int = 1          # ray, slurm
    gpus_per_run: int = 0          # ray, slurm (slurm: one task per GPU)
    tasks_per_run: int = 0         # slurm: processes of one run (0: one per GPU, at least one)
    mem_gb: float = 0.0            # slurm: 0 = the partition's default
    time_min: int = 60             # slurm: time limit of one run's job
    partition: str = ""
    account: str = ""
    qos: str = ""
    nodes: int = 1                 # ray-slurm: nodes of the allocation
    parallelism: int = 0           # slurm: array tasks at once (0: no cap)
    max_requeues: int = 3          # slurm: timeouts or preemptions survived by one run
    max_failures: int = 2          # ray: retries of a crashed trial
    ray_address: str = ""          # ray: an existing cluster ("auto" or host:port); empty: start one
    wait: bool = False             # slurm: block until every job ended
    logs: str = ""                 # slurm: submitit's folder (default <results>/.slurm)
    extra: dict = field(default_factory=dict)


def execute(cfg, results: str, threads: int = 0, on_checkpoint=None, reraise: bool = False) -> dict:
    """One run through the engine. A failure is recorded in the store (error.json, with the reason);
    it is returned as an outcome, or re-raised where the launcher retries (Ray, SLURM)."""
    if threads:
        cfg = replace(cfg, **{"train.threads": threads, "train.progress": False})
    try:
        return simclr.run(cfg, results, on_checkpoint=on_checkpoint, on_step=faults.from_env())
    except StoreError:  # the store itself cannot take a record: the launcher stops the study
        raise
    except RunBusy as err:  # another driver trains it: not a failure, and not this one's to record
        print(f"note: {err}", file=sys.stderr, flush=True)
        return {"run_id": cfg.run_id, "status": "running elsewhere", "error": str(err)}
    except Exception as err:
        failure = {"run_id": cfg.run_id, "status": "failed", "error": f"{type(err).__name__}: {err}",
                   "traceback": traceback.format_exc()}
        record_failure(Path(results) / cfg.run_id, to_dict(cfg), failure)
        if reraise:
            raise
        return failure


def unfinished(configs, results: str) -> list:
    """The runs without metrics.json: the only ones a launcher needs to send anywhere."""
    return [c for c in configs if not (Path(results) / c.run_id / "metrics.json").exists()]


def reuse(configs, results: str, stores: list[str]) -> list[tuple[str, Path]]:
    """Copy in every unfinished run that one of `stores` (other result stores) has finished, the first
    store holding it first: [(run id, the run copied)]. A stored diverged run counts, as in its own store.
    A run another process is training here is left to it."""
    copied = []
    for cfg in unfinished(configs, results):
        for store in map(Path, stores):
            source = _finished(store / cfg.run_id, cfg.run_id)
            if source is None:
                continue
            try:
                if copy_run(store / cfg.run_id, Path(results) / cfg.run_id,
                            to_dict(replace(source, **{"train.run_name": cfg.train.run_name}))):
                    copied.append((cfg.run_id, store / cfg.run_id))
            except RunBusy as err:
                print(f"note: {err}", file=sys.stderr, flush=True)
            break
    return copied


def _finished(run: Path, run_id: str):
    """The config of the finished run in `run` if it is run_id's (a folder's name alone could lie), else
    None."""
    try:
        config = from_dict(read_json(run / "config.json"))
        ok = read_json(run / "metrics.json").get("run_id") == run_id == config.run_id
    except (OSError, ValueError, TypeError, KeyError, AttributeError):  # missing, unreadable, or a config
        return None                                                     # this version cannot read
    return config if ok else None


def stored_outcome(cfg, results: str, reason: str = "") -> dict:
    """What the store says about a run; a run that left nothing gets `reason` recorded as its failure."""
    run_dir = Path(results) / cfg.run_id
    if (run_dir / "metrics.json").exists():
        return read_json(run_dir / "metrics.json")
    if not (run_dir / "error.json").exists() or reason:
        record_failure(run_dir, to_dict(cfg), {"run_id": cfg.run_id, "status": "failed",
                                      "error": reason or "the run ended without a result"})
    return {"run_id": cfg.run_id, "status": "failed", **read_json(run_dir / "error.json")}


def record_submissions(results: str, jobs: dict[str, dict]) -> None:
    """Remember which scheduler job runs which run (merged with earlier submissions)."""
    update_json(Path(results) / SUBMISSIONS, lambda old: {**old, **jobs}, default={})


def read_submissions(results: str) -> dict:
    path = Path(results) / SUBMISSIONS
    return read_json(path) if path.exists() else {}


def status(configs, results: str, states: dict[str, str] | None = None) -> dict[str, list[str]]:
    """done / running / queued / failed / not submitted, from the store and `states` (job id -> the
    scheduler's state of the jobs in submissions.json)."""
    subs, states = read_submissions(results), states or {}
    groups: dict[str, list[str]] = {k: [] for k in ("done", "running", "queued", "failed", "to run")}
    for cfg in configs:
        run_dir = Path(results) / cfg.run_id
        job = subs.get(cfg.run_id, {})
        state = states.get(str(job.get("job_id")), "")
        if (run_dir / "metrics.json").exists():
            groups["done"].append(cfg.run_id)
        elif state in ("RUNNING", "COMPLETING", "CONFIGURING"):
            groups["running"].append(f"{cfg.run_id} (job {job['job_id']})")
        elif state in ("PENDING", "REQUEUED", "REQUEUE_HOLD", "SUSPENDED", "RESIZING"):
            groups["queued"].append(f"{cfg.run_id} (job {job['job_id']}, {state.lower()})")
        elif state.startswith(FAILED_STATES) or (run_dir / "error.json").exists() or state == "COMPLETED":
            why = f"job {job.get('job_id')} {state}" if state else "error.json"
            groups["failed"].append(f"{cfg.run_id} ({why})")
        elif job and not state:
            groups["failed"].append(f"{cfg.run_id} (job {job['job_id']} left the queue without a result or "
                                    "an accounting record: cancelled before it started?)")
        elif job:
            groups["failed"].append(f"{cfg.run_id} (job {job['job_id']} {state})")
        else:
            groups["to run"].append(cfg.run_id + (" (started: resumes from its checkpoint)"
                                                         if checkpoint.exists(run_dir) else ""))
    return groups


def describe(cfg, labels: dict | None = None) -> str:
    """The cell(s) a run fills, as the study labels them."""
    if labels and cfg.run_id in labels:
        return labels[cfg.run_id]
    names = lambda ops: "+".join(o.name for o in ops) or "identity"
    return f"view1={names(cfg.augment.view1)} view2={names(cfg.augment.view2)} seed={cfg.seed}"


def cores() -> int:
    """The CPUs this process may run on (its affinity mask: a cgroup, taskset or SLURM allocation), not
    the machine's count."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def threads_for(cfg, workers: int) -> int:
    """A run's CPU threads beside workers - 1 others: its own train.threads (--set train.threads=N)
    where set, else an even share of the cores."""
    return cfg.train.threads or max(1, cores() // workers)

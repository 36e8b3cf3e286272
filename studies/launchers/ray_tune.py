"""The Ray Tune launcher: one trial per run, on a local Ray or an existing cluster (--ray-address).

Each trial runs simclr.run in the store. The engine's checkpoints also travel as Tune checkpoints,
so a trial retried on another node (FailureConfig.max_failures) resumes where it stopped even without
a shared file system for checkpoints; results land in the store, which must be shared. A crashed
trial never stops the study: after its last retry its reason is recorded in the store. Rerunning a
study sends only the runs without a result, and started runs resume from their checkpoints.
"""
from __future__ import annotations

import datetime
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from simclr.checkpoint import CHECKPOINT
from simclr.config import from_dict, to_dict
from simclr.store import atomic_write_bytes
from studies.launchers.common import Resources, cores, execute, stored_outcome, unfinished

PASSED_ENV = ("SIMCLR_FAULT",)  # set on the driver, seen by every trial wherever it runs


def _restore(checkpoint, run_dir: Path) -> None:
    """Bring a Tune checkpoint into the run directory when the store has none (another node's disk)."""
    if checkpoint is None or (run_dir / CHECKPOINT).exists() or (run_dir / "metrics.json").exists():
        return
    with checkpoint.as_directory() as d:
        run_dir.mkdir(parents=True, exist_ok=True)
        for name in (CHECKPOINT + ".sha256", CHECKPOINT, "log.jsonl"):
            if (Path(d) / name).exists():
                atomic_write_bytes(run_dir / name, (Path(d) / name).read_bytes())


def trial(space: dict, specs: dict, results: str, threads: int, env: dict) -> None:
    """One run as a Tune function trainable."""
    from ray import tune

    os.environ.update(env)
    cfg = from_dict(specs[space["run_id"]])
    run_dir = Path(results) / cfg.run_id
    _restore(tune.get_checkpoint(), run_dir)

    def ship(step: int, path: Path) -> None:
        with tempfile.TemporaryDirectory() as d:
            for name in (CHECKPOINT, CHECKPOINT + ".sha256"):
                if (path.parent / name).exists():
                    shutil.copy2(path.parent / name, Path(d) / name)
            if (run_dir / "log.jsonl").exists():
                shutil.copy2(run_dir / "log.jsonl", Path(d) / "log.jsonl")
            tune.report({"step": step}, checkpoint=tune.Checkpoint.from_directory(d))

    metrics = execute(cfg, results, threads, on_checkpoint=ship, reraise=True)
    tune.report({k: v for k, v in metrics.items() if isinstance(v, (int, float, str, bool))})


def _callback(labels: dict | None):
    from ray import tune

    def name(trial) -> str:
        run_id = trial.config["run_id"]
        return f"{run_id} ({labels[run_id]})" if labels and run_id in labels else run_id

    class Progress(tune.Callback):
        """One line per trial event, instead of Tune's status tables."""

        def on_trial_complete(self, iteration, trials, trial, **info):
            print(f"finished run {name(trial)}", file=sys.stderr, flush=True)

        def on_trial_error(self, iteration, trials, trial, **info):
            print(f"run {name(trial)} crashed (attempt {trial.num_failures}); "
                  "retried from its checkpoint while attempts remain", file=sys.stderr, flush=True)

    return Progress()


def init_ray(address: str = "", cpus: int | None = None) -> bool:
    """Connect to `address`, or start a local Ray sized to this machine. True if this call started it."""
    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    os.environ.setdefault("TUNE_WARN_EXCESSIVE_EXPERIMENT_CHECKPOINT_SYNC_THRESHOLD_S", "0")
    if ray.is_initialized():
        return False
    if address:
        ray.init(address=address, logging_level="warning")
    else:  # a small object store: runs exchange no tensors through Ray, only the file store
        ray.init(address="local", num_cpus=cpus or cores(), include_dashboard=False,
                 logging_level="warning",
                 object_store_memory=256 * 1024 ** 2)
    return True


def launch(study: str, configs, results: str, res: Resources = Resources(), labels: dict | None = None) -> list[dict]:
    """Run the study's unfinished runs as Tune trials; one outcome per run, from the store."""
    import ray
    from ray import tune

    results = str(Path(results).resolve())
    todo = unfinished(configs, results)
    if todo:
        started = init_ray(res.ray_address)
        try:
            trainable = tune.with_parameters(
                trial, specs={c.run_id: to_dict(c) for c in todo}, results=results, threads=res.cpus_per_run,
                env={k: os.environ[k] for k in PASSED_ENV if k in os.environ})
            resources = {"cpu": res.cpus_per_run, **({"gpu": res.gpus_per_run} if res.gpus_per_run else {})}
            stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
            tuner = tune.Tuner(
                tune.with_resources(trainable, resources),
                param_space={"run_id": tune.grid_search([c.run_id for c in todo])},
                run_config=tune.RunConfig(
                    name=f"{study}-{stamp}", storage_path=res.extra.get("ray_storage") or None, verbose=0,
                    # a user's own Tune callbacks (W&B, MLflow, ...): Resources(extra={"ray_callbacks": [...]})
                    callbacks=[_callback(labels), *res.extra.get("ray_callbacks", [])],
                    checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
                    failure_config=tune.FailureConfig(max_failures=res.max_failures)))
            grid = tuner.fit()
            by_id = {c.run_id: c for c in todo}
            for result in grid:
                run_id = (result.config or {}).get("run_id")
                if result.error is not None and run_id in by_id:  # out of retries: keep the reason
                    stored_outcome(by_id[run_id], results, f"Ray trial failed after {res.max_failures} "
                                   f"retries: {type(result.error).__name__}: {result.error}")
        finally:
            if started:
                ray.shutdown()
    return [outcome(c, results) for c in configs]


def outcome(cfg, results: str) -> dict:
    run_dir = Path(results) / cfg.run_id
    if (run_dir / "metrics.json").exists() or (run_dir / "error.json").exists():
        return stored_outcome(cfg, results)
    return {"run_id": cfg.run_id, "status": "incomplete"}  # interrupted study: a rerun resumes it


def wait_for_nodes(address: str, nodes: int, timeout_s: float = 180.0) -> None:
    """Connect to the cluster at `address` once its head answers and `nodes` nodes have joined."""
    import ray

    end = time.monotonic() + timeout_s
    while True:
        try:
            init_ray(address)
            break
        except Exception as err:  # the head is still starting
            if time.monotonic() > end:
                raise RuntimeError(f"no Ray head answered at {address} within {timeout_s:.0f} s: {err}") from err
            time.sleep(2)
    while sum(n["Alive"] for n in ray.nodes()) < nodes:
        if time.monotonic() > end:
            raise RuntimeError(f"only {sum(n['Alive'] for n in ray.nodes())} of {nodes} Ray nodes joined "
                               f"within {timeout_s:.0f} s")
        time.sleep(2)

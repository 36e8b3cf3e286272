"""SLURM launchers through submitit.

slurm: one job array per study, one array task per unfinished run. Each task is checkpointable: on
its time limit or on preemption submitit requeues it (at most --max-requeues times) and the run
resumes from its last engine checkpoint. A run with N GPUs is N tasks, one per GPU (or
--tasks-per-run processes on CPUs), one torch.distributed process group set up from SLURM's
environment (simclr/distributed.py: negatives gathered, BN global, gradients averaged).

ray-slurm: one allocation of --nodes nodes; its first task starts a Ray head, the others join it as
workers, the first runs the study's Tune experiment on that cluster (ray_tune.py), then all stop
their Ray processes. A SLURM-only site gets Tune's scheduling and retries this way.

Both submit and return (the study keeps running on the cluster) unless --wait; the jobs are
recorded in <results>/submissions.json, so `--status` can ask the scheduler about them later.
"""
from __future__ import annotations

import dataclasses
import datetime
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import submitit

from simclr.config import from_dict, to_dict
from studies.launchers.common import (Resources, execute, read_submissions, record_submissions, stored_outcome,
                            unfinished)

LIVE = ("PENDING", "RUNNING", "REQUEUED", "REQUEUE_HOLD", "SUSPENDED", "CONFIGURING", "COMPLETING", "RESIZING")


class SlurmRun(submitit.helpers.Checkpointable):
    """One run in one array task. checkpoint() (inherited) resubmits the same call on timeout or
    preemption; simclr.run then resumes from the run's checkpoint."""

    def __init__(self, results: str, threads: int):
        self.results, self.threads = results, threads

    def __call__(self, spec: dict) -> dict:
        env = submitit.JobEnvironment()
        if env.num_tasks > 1:  # a multi-GPU run: one process per GPU, one process group
            submitit.helpers.TorchDistributedEnvironment().export()
        return execute(from_dict(spec), self.results, self.threads, reraise=True)


def executor(results: str, res: Resources, name: str, nodes: int = 1, tasks: int = 1,
             cpus: int = 1, gpus: int = 0) -> submitit.AutoExecutor:
    """An executor for jobs of `nodes` nodes with `tasks` tasks and `gpus` GPUs on each node."""
    folder = res.logs or str(Path(results) / ".slurm")
    ex = submitit.AutoExecutor(folder=f"{folder}/%j", cluster="slurm", slurm_max_num_timeout=res.max_requeues)
    optional = {"slurm_partition": res.partition, "slurm_account": res.account, "slurm_qos": res.qos,
                "mem_gb": res.mem_gb, "slurm_array_parallelism": res.parallelism,
                "gpus_per_node": gpus,
                "slurm_signal_delay_s": res.extra.get("signal_delay_s")}  # submitit's default: 90 s
    ex.update_parameters(name=name, timeout_min=res.time_min, nodes=nodes, tasks_per_node=tasks,
                         cpus_per_task=cpus, **{k: v for k, v in optional.items() if v})
    return ex


def cpus_per_task(configs, threads: int) -> int:
    """CPUs a task asks for: its training threads, plus one per loader worker for runs that decode
    their images while training (the imagenet data set streams; 16 workers on 1 CPU would starve the GPU)."""
    loaders = max((c.data.workers for c in configs if c.data.name == "imagenet"), default=0)
    return threads + loaders


def check_cluster() -> None:
    """Fail before anything is submitted when no SLURM controller answers."""
    if not shutil.which("sbatch"):
        raise RuntimeError("--launcher slurm: sbatch is not on PATH; run on a SLURM login node")
    ping = subprocess.run(["scontrol", "ping"], capture_output=True, text=True)
    if "UP" not in ping.stdout:
        raise RuntimeError(f"--launcher slurm: the SLURM controller does not answer `scontrol ping`: "
                           f"{(ping.stdout + ping.stderr).strip()}")


def not_in_flight(configs, results: str) -> list:
    """The unfinished runs that no queued or running job of an earlier submission holds: a rerun of a
    detached study submits only these, never a second job for the same run."""
    subs = read_submissions(results)
    todo = unfinished(configs, results)
    states = scheduler_states([subs[c.run_id]["job_id"] for c in todo if c.run_id in subs])
    held = [c for c in todo if states.get(subs.get(c.run_id, {}).get("job_id"), "") in LIVE]
    if held:
        print(f"{len(held)} runs are still queued or running in earlier jobs; not submitted again",
              file=sys.stderr)
    return [c for c in todo if c not in held]


def _current(cfg, results: str) -> dict:
    run_dir = Path(results) / cfg.run_id
    if (run_dir / "metrics.json").exists() or (run_dir / "error.json").exists():
        return stored_outcome(cfg, results)
    return {"run_id": cfg.run_id, "status": "submitted"}  # held by a job in flight


def launch(study: str, configs, results: str, res: Resources = Resources(), labels: dict | None = None) -> list[dict]:
    """Submit the unfinished runs as one job array; wait for them only if res.wait."""
    check_cluster()
    results = str(Path(results).resolve())
    todo = not_in_flight(configs, results)
    if not todo:
        return [_current(c, results) for c in configs]
    tasks = res.tasks_per_run or max(1, res.gpus_per_run)  # one process per GPU by default
    if tasks % res.nodes or res.gpus_per_run % res.nodes:
        raise ValueError(f"--nodes {res.nodes} must divide the run's {tasks} tasks and {res.gpus_per_run} GPUs")
    threads = max(1, res.cpus_per_run // tasks)
    ex = executor(results, res, f"simclr-{study}", nodes=res.nodes, tasks=tasks // res.nodes,
                  cpus=cpus_per_task(todo, threads), gpus=res.gpus_per_run // res.nodes)
    jobs = ex.map_array(SlurmRun(results, threads), [to_dict(c) for c in todo])
    _record(results, "slurm", {c.run_id: j.job_id for c, j in zip(todo, jobs)}, ex, labels)
    print(f"submitted {len(jobs)} runs as SLURM job array {jobs[0].job_id.split('_')[0]}; "
          f"logs in {ex.folder}", file=sys.stderr)
    if not res.wait:
        return [{"run_id": c.run_id, "status": "submitted", "job_id": j.job_id} for c, j in zip(todo, jobs)]
    return _collect(configs, results, {c.run_id: j for c, j in zip(todo, jobs)})


def _record(results: str, launcher: str, job_ids: dict, ex, labels: dict | None) -> None:
    """submissions.json: which job runs which run (and the cell it fills), for --status."""
    now = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    record_submissions(results, {rid: {"launcher": launcher, "job_id": jid, "submitted": now, "logs": str(ex.folder),
                                       **({"cell": labels[rid]} if labels and rid in labels else {})}
                                 for rid, jid in job_ids.items()})


def _collect(configs, results: str, jobs: dict) -> list[dict]:
    """Wait for every job; a job that ended without a result has its scheduler state recorded. A job
    that leaves the queue unseen by accounting (an array task cancelled while pending) also ends."""
    waiting, gone = set(jobs.values()), {}
    while waiting:
        queued = set(scheduler_states([j.job_id for j in waiting], accounting=False))
        for job in list(waiting):
            gone[job] = gone.get(job, 0) + 1 if job.job_id not in queued else 0
            if gone[job] >= 3 or (job.job_id not in queued and job.done()):
                waiting.discard(job)
        time.sleep(2)
    out = []
    for cfg in configs:
        job, run_dir, reason = jobs.get(cfg.run_id), Path(results) / cfg.run_id, ""
        if job is not None and not (run_dir / "metrics.json").exists() and not (run_dir / "error.json").exists():
            state = scheduler_states([job.job_id]).get(job.job_id) or "CANCELLED (left the queue before it started)"
            reason = f"SLURM job {job.job_id} ended {state} without a result"
            if job.done():
                try:
                    job.result()
                except Exception as err:  # submitit's view: timed out too often, node failure...
                    reason += f": {str(err).strip().splitlines()[0]}"
        out.append(stored_outcome(cfg, results, reason))
    return out


def scheduler_states(job_ids: list[str], accounting: bool = True) -> dict[str, str]:
    """job id -> SLURM state: squeue for jobs still queued or running, then sacct for ended ones. A job
    neither knows is absent (e.g. an array task cancelled before it started leaves no record)."""
    ids = sorted(set(job_ids))
    if not ids:
        return {}
    states = {}
    queue = subprocess.run(["squeue", "-h", "-r", "-o", "%i|%T"], capture_output=True, text=True)
    for line in queue.stdout.splitlines():
        jid, _, state = line.partition("|")
        if jid.strip() in ids:
            states[jid.strip()] = state.strip()
    rest = [i for i in ids if i not in states]
    if accounting and rest:
        acct = subprocess.run(["sacct", "-n", "-P", "-X", "-j", ",".join(rest), "--format=JobID,State"],
                              capture_output=True, text=True)
        for line in acct.stdout.splitlines():
            jid, _, state = line.partition("|")
            if jid.strip() in rest and state.strip():
                states[jid.strip()] = state.split()[0]
    return states


class RayCluster:
    """The task body of a ray-slurm allocation: rank 0 hosts the Ray head and the Tune experiment,
    the other ranks are Ray workers; all of them stop their Ray processes at the end."""

    def __init__(self, study: str, specs: list[dict], results: str, res: Resources):
        self.study, self.specs, self.results, self.res = study, specs, results, res

    def __call__(self) -> list[dict] | None:
        env = submitit.JobEnvironment()
        head = socket.gethostbyname(env.hostnames[0])
        port = 20000 + int(str(env.job_id).split("_")[0]) % 20000  # one cluster per job, no clash
        done = Path(self.results) / f".ray-slurm-{env.job_id}.done"
        ray_bin = Path(sys.executable).with_name("ray")
        cpus = str(self.res.extra.get("cpus_per_node") or os.cpu_count())
        common = ["--num-cpus", cpus, "--block", "--disable-usage-stats"]
        if env.global_rank == 0:
            cmd = [str(ray_bin), "start", "--head", "--port", str(port), "--node-ip-address", head,
                   "--include-dashboard=false", *common]
        else:
            cmd = [str(ray_bin), "start", "--address", f"{head}:{port}", *common]
        node = subprocess.Popen(cmd, stdout=sys.stderr, stderr=sys.stderr)
        try:
            if env.global_rank != 0:
                while not done.exists() and node.poll() is None:
                    time.sleep(2)
                return None
            from studies.launchers import ray_tune

            ray_tune.wait_for_nodes(f"{head}:{port}", env.num_nodes)
            res = dataclasses.replace(self.res, ray_address=f"{head}:{port}")
            out = ray_tune.launch(self.study, [from_dict(s) for s in self.specs], self.results, res)
            done.touch()
            return out
        finally:
            if env.global_rank == 0:
                import ray
                ray.shutdown()
            node.terminate()  # `ray start --block` stops the Ray processes it started
            try:
                node.wait(timeout=60)
            except subprocess.TimeoutExpired:
                node.kill()


def launch_ray_cluster(study: str, configs, results: str, res: Resources = Resources(),
                       labels: dict | None = None) -> list[dict]:
    """Submit one allocation hosting a Ray cluster that runs the study's unfinished runs."""
    check_cluster()
    results = str(Path(results).resolve())
    todo = not_in_flight(configs, results)
    if not todo:
        return [_current(c, results) for c in configs]
    cpus = res.extra.get("cpus_per_node") or res.cpus_per_run
    ex = executor(results, res, f"simclr-ray-{study}", nodes=res.nodes, tasks=1, cpus=cpus,
                  gpus=res.extra.get("gpus_per_node") or res.gpus_per_run)
    res = dataclasses.replace(res, extra={**res.extra, "cpus_per_node": cpus})
    job = ex.submit(RayCluster(study, [to_dict(c) for c in todo], results, res))
    _record(results, "ray-slurm", {c.run_id: job.job_id for c in todo}, ex, labels)
    print(f"submitted a {res.nodes}-node Ray cluster as SLURM job {job.job_id}; logs in {ex.folder}",
          file=sys.stderr)
    if not res.wait:
        return [{"run_id": c.run_id, "status": "submitted", "job_id": job.job_id} for c in todo]
    return _collect(configs, results, {c.run_id: job for c in todo})

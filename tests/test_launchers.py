"""The Ray Tune and SLURM launchers against a real Ray and a real single-node SLURM (scripts/slurm-start.sh,
started here if .ci/run has not, where we are root): results land in the same store as a local run,
crashed trials are retried, time limits requeue, cancellations are recorded, reruns never duplicate."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from simclr.store import verify
from studies import common
from studies.run import load_study, main

# one pytest-xdist worker runs every test of this file, one after another: they share one SLURM and
# their jobs wait on its two CPUs, while the other worker runs the rest of the suite
pytestmark = pytest.mark.xdist_group("cluster")
ROOT = Path(__file__).resolve().parent.parent
# runs of a few seconds that checkpoint every 2 steps
SETS = ["data.num_train=256", "data.num_test=128", "train.batch_size=64", "train.steps=6",
        "train.checkpoint_every=2", "optim.warmup_epochs=0.25", "eval.linear=false", "eval.knn_k=10",
        "train.progress=false", "train.threads=1"]


def sets(*extra):
    return [a for s in SETS + list(extra) for a in ("--set", s)]


def configs(study="temperature", extra=()):
    entries = common.expand(load_study(study), "tiny", "", 1, SETS + list(extra))
    return common.runs([(e["labels"], e["config"]) for e in entries])


def logs(run_dir: Path) -> list[dict]:
    return [json.loads(x) for x in (run_dir / "log.jsonl").read_text().splitlines()]


@pytest.fixture
def ray_env(monkeypatch):
    pytest.importorskip("ray.tune")
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")  # no token file written to the home directory
    monkeypatch.setenv("RAY_USAGE_STATS_ENABLED", "0")


def slurm_up() -> bool:
    if not shutil.which("scontrol"):
        return False
    return "UP" in subprocess.run(["scontrol", "ping"], capture_output=True, text=True).stdout


@pytest.fixture(scope="session")
def slurm():
    """A running SLURM: the one .ci/run started, else one started (and stopped) here."""
    pytest.importorskip("submitit")
    started = False
    if not slurm_up():
        if os.geteuid() != 0 or not shutil.which("apt-get"):
            pytest.skip("no SLURM controller answers and scripts/slurm-start.sh needs root on Debian")
        subprocess.run(["bash", str(ROOT / "scripts/slurm-start.sh")], check=True)
        started = True
    yield
    if started:
        subprocess.run(["bash", str(ROOT / "scripts/slurm-stop.sh")], check=False)


# ---------------------------------------------------------------------------------------------- Ray

def test_ray_study_lands_in_the_store_and_a_crashed_trial_resumes(tmp_path, ray_env, monkeypatch):
    """Every trial is killed (SIGKILL) once at step 2: Tune retries it, it resumes from step 2."""
    monkeypatch.setenv("SIMCLR_FAULT", "kill@2")
    args = ["h_vs_gh", "--results", str(tmp_path), "--launcher", "ray", "--ray-storage", str(tmp_path / "ray"),
            *sets("eval.probe_epochs=1")]
    assert main(args) == 0
    done = sorted(tmp_path.glob("*/metrics.json"))
    assert len(done) == 2 and not list(tmp_path.glob("*/error.json"))
    for m in done:
        assert json.loads(m.read_text())["status"] == "completed"
        assert (m.parent / ".fault-kill-2").exists()  # the kill happened
        resumed = [r for r in logs(m.parent) if r.get("event") == "resumed"]
        assert [r["step"] for r in resumed] == [2]  # one retry, from the checkpoint, not from scratch
    assert (tmp_path / "table3.md").exists() and (tmp_path / "agreement.md").exists()
    assert verify(tmp_path) == []


def test_ray_trial_out_of_retries_is_recorded_and_the_study_goes_on(tmp_path, ray_env):
    cfgs = configs("h_vs_gh", ["eval.probe_epochs=1"])
    from studies.launchers import ray_tune
    from studies.launchers.common import Resources

    bad = cfgs[0]
    (tmp_path / bad.run_id / "config.json").mkdir(parents=True)  # the record cannot be written: every attempt fails
    out = ray_tune.launch("h_vs_gh", cfgs, str(tmp_path), Resources(max_failures=1,
                                                                      extra={"ray_storage": str(tmp_path / "r")}))
    status = {o["run_id"]: o["status"] for o in out}
    assert status == {bad.run_id: "failed", cfgs[1].run_id: "completed"}
    error = json.loads((tmp_path / bad.run_id / "error.json").read_text())
    assert "Ray trial failed after 1 retries" in error["error"]


def test_interrupted_ray_study_continues_without_duplicates(tmp_path, ray_env):
    env = {**os.environ, "SIMCLR_FAULT": "sleep=0.5"}
    args = [sys.executable, str(ROOT / "studies/run.py"), "temperature", "--results", str(tmp_path),
            "--launcher", "ray", "--ray-storage", str(tmp_path / "ray"), *sets()]
    driver = subprocess.Popen(args, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 300
    while not list(tmp_path.glob("*/metrics.json")) and time.monotonic() < deadline:
        time.sleep(0.5)
    driver.send_signal(signal.SIGINT)  # Ctrl-C: Tune saves its state and stops the trials
    assert driver.wait(timeout=120) != 0
    finished = {p.parent.name: p.stat().st_mtime_ns for p in tmp_path.glob("*/metrics.json")}
    assert 0 < len(finished) < 6
    assert main(args[2:]) == 0
    assert len(list(tmp_path.glob("*/metrics.json"))) == 6 and len(list(tmp_path.glob("*/config.json"))) == 6
    for run_id, mtime in finished.items():  # finished runs were not trained again
        assert (tmp_path / run_id / "metrics.json").stat().st_mtime_ns == mtime
    for m in tmp_path.glob("*/metrics.json"):  # every step trained once in the surviving log
        steps = [r["step"] for r in logs(m.parent) if "event" not in r]
        assert steps == sorted(set(steps)) and steps[-1] == 6
    assert verify(tmp_path) == []


# -------------------------------------------------------------------------------------------- SLURM

def test_slurm_job_array_lands_in_the_store(tmp_path, slurm):
    """Submitted and detached; a second submission while the jobs are in flight sends nothing again."""
    from analysis import temperature as t5
    from studies.launchers.slurm import LIVE, scheduler_states

    args = ["temperature", "--results", str(tmp_path), "--launcher", "slurm", "--time", "10",
            "--array-parallelism", "2", *sets()]
    assert main(args) == 0
    subs = json.loads((tmp_path / "submissions.json").read_text())
    assert len(subs) == 6 and len({s["job_id"].split("_")[0] for s in subs.values()}) == 1  # one array
    # each job's cell recorded beside it
    assert sorted(s["cell"].split(", seed=")[0] for s in subs.values()) == sorted(f"l2={a}, t={b}" for a, b in t5_cells())
    assert main(args) == 0
    assert json.loads((tmp_path / "submissions.json").read_text()) == subs  # no second job for any run
    deadline = time.monotonic() + 300
    while any(s in LIVE for s in scheduler_states([s["job_id"] for s in subs.values()]).values()):
        assert time.monotonic() < deadline
        time.sleep(1)
    assert len(list(tmp_path.glob("*/metrics.json"))) == 6
    t5.make(tmp_path)
    assert "failed" not in (tmp_path / "table5.md").read_text() and (tmp_path / "agreement.md").exists()
    envs = [json.loads(p.read_text()) for p in tmp_path.glob("*/env.json")]
    assert all(e["hardware"]["torch_threads"] == 1 for e in envs)
    assert verify(tmp_path) == []


def test_slurm_time_limit_requeues_and_resumes(tmp_path, slurm, monkeypatch):
    """SLURM's own time-limit warning (sbatch --signal, 40 s before the limit) requeues the job through
    submitit, and the run resumes from its checkpoint. SLURM may send the warning up to 60 s early, and
    a warning that comes while the job is still loading kills it instead of requeueing it, so the job is
    submitted with 3 minutes and cut to 1 once it is training (the warning then falls due at once); the
    requeued job gets its 3 minutes back and its 2-minute hold lifted. Only the first job's steps are
    slow (fault sleep1), so the first job is still training when the warning comes."""
    from studies.launchers import slurm as slurm_launcher
    from studies.launchers.common import Resources

    monkeypatch.setenv("SIMCLR_FAULT", "sleep1=0.3")
    cfg = configs(extra=["train.steps=300", "train.checkpoint_every=5"])[0]
    job_id = slurm_launcher.launch("requeue", [cfg], str(tmp_path),
                                 Resources(time_min=3, max_requeues=8, extra={"signal_delay_s": 40}))[0]["job_id"]
    _wait_for_checkpoint(tmp_path / cfg.run_id)
    subprocess.run(["scontrol", "update", f"JobId={job_id}", "TimeLimit=1"], check=True)
    deadline = time.monotonic() + 120
    while slurm_launcher.scheduler_states([job_id]).get(job_id) == "RUNNING":  # until requeued
        assert time.monotonic() < deadline, "no time-limit warning within 120 s"
        time.sleep(1)
    subprocess.run(["scontrol", "update", f"JobId={job_id}", "TimeLimit=3"], check=True)
    metrics = _wait_for_result(tmp_path, cfg, job_id)
    assert metrics["status"] == "completed" and metrics["step"] == 300
    resumed = [r["step"] for r in logs(tmp_path / cfg.run_id) if r.get("event") == "resumed"]
    assert resumed and all(s > 0 and s % 5 == 0 for s in resumed)
    env = json.loads((tmp_path / cfg.run_id / "env.json").read_text())
    assert env.get("previous_sessions")  # it ran in more than one job start
    assert verify(tmp_path) == []


def _wait_for_checkpoint(run_dir: Path, limit_s=240):
    """Until the run has written its first checkpoint: it is training, submitit's handler installed."""
    deadline = time.monotonic() + limit_s
    while not (run_dir / "checkpoint.pt").exists():
        assert time.monotonic() < deadline, f"no checkpoint in {run_dir} after {limit_s} s"
        time.sleep(0.5)


def _wait_for_result(tmp_path, cfg, job_id, limit_s=480):
    """Poll until the run has its metrics; lift the 2-minute hold SLURM puts on requeued jobs."""
    from studies.launchers import slurm as slurm_launcher

    deadline = time.monotonic() + limit_s
    while not (tmp_path / cfg.run_id / "metrics.json").exists():
        state = slurm_launcher.scheduler_states([job_id]).get(job_id, "")
        if state.startswith(("FAILED", "CANCELLED", "TIMEOUT", "COMPLETED")):
            time.sleep(3)  # the result may land a moment after the state
            if not (tmp_path / cfg.run_id / "metrics.json").exists():
                pytest.fail(f"job {job_id} ended {state} without a result")
        assert time.monotonic() < deadline, f"job {job_id} still {state}"
        subprocess.run(["scontrol", "update", f"JobId={job_id}", "StartTime=now"], capture_output=True)
        time.sleep(2)
    return json.loads((tmp_path / cfg.run_id / "metrics.json").read_text())


def test_preempted_slurm_job_requeues_and_resumes(tmp_path, slurm, monkeypatch):
    """Preemption as SLURM signals it (SIGTERM, then USR2, well before the 20-minute limit): the job
    is requeued without using its time-out budget and the run resumes from its checkpoint."""
    from studies.launchers import slurm as slurm_launcher
    from studies.launchers.common import Resources

    monkeypatch.setenv("SIMCLR_FAULT", "sleep1=0.3")
    cfg = configs(extra=["train.steps=60", "train.checkpoint_every=5"])[1]
    job_id = slurm_launcher.launch("preempt", [cfg], str(tmp_path),
                                 Resources(time_min=20, max_requeues=0))[0]["job_id"]
    _wait_for_checkpoint(tmp_path / cfg.run_id)
    for sig in ("SIGTERM", "USR2"):
        subprocess.run(["scancel", job_id, "--signal", sig], check=True)
    metrics = _wait_for_result(tmp_path, cfg, job_id)
    assert metrics["status"] == "completed" and metrics["step"] == 60
    resumed = [r["step"] for r in logs(tmp_path / cfg.run_id) if r.get("event") == "resumed"]
    assert len(resumed) == 1 and resumed[0] % 5 == 0 and resumed[0] > 0
    assert verify(tmp_path) == []


def test_cancelled_slurm_job_is_failed_and_the_rest_completes(tmp_path, slurm):
    """A study of two runs, both running at once: one is cancelled by its user while it trains, the
    other completes, the study exits 1 and its status names the cancelled run."""
    env = {**os.environ, "SIMCLR_FAULT": "sleep=0.5"}
    args = [sys.executable, str(ROOT / "studies/run.py"), "h_vs_gh", "--results", str(tmp_path),
            "--launcher", "slurm", "--wait", "--time", "10", "--array-parallelism", "2", *sets()]
    driver = subprocess.Popen(args, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    subs_path = tmp_path / "submissions.json"
    deadline = time.monotonic() + 60
    while not subs_path.exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    from studies.launchers.slurm import scheduler_states

    subs = json.loads(subs_path.read_text())
    victim = next(r for r, s in subs.items() if s["job_id"].endswith("_1"))
    job = subs[victim]["job_id"]
    while scheduler_states([job]).get(job) != "RUNNING" and time.monotonic() < deadline + 120:
        time.sleep(0.2)
    subprocess.run(["scancel", job], check=True)  # a running job, killed by its user
    _, err = driver.communicate(timeout=480)
    assert driver.returncode == 1, err.decode()[-2000:]
    assert len(list(tmp_path.glob("*/metrics.json"))) == 1
    error = json.loads((tmp_path / victim / "error.json").read_text())
    assert "CANCELLED" in error["error"]
    status = subprocess.run([sys.executable, str(ROOT / "studies/run.py"), "h_vs_gh", "--status",
                             "--results", str(tmp_path), *sets()], capture_output=True, text=True, cwd=ROOT)
    assert status.stdout.startswith("done 1 | running 0 | queued 0 | failed 1"), status.stdout
    assert victim in status.stdout and "CANCELLED" in status.stdout
    assert verify(tmp_path) == []


def test_ray_cluster_inside_a_slurm_allocation(tmp_path, slurm, ray_env):
    args = ["h_vs_gh", "--results", str(tmp_path), "--launcher", "ray-slurm", "--nodes", "1",
            "--cpus-per-node", "2", "--wait", "--time", "10", "--ray-storage", str(tmp_path / "ray"),
            *sets("eval.probe_epochs=1")]
    assert main(args) == 0
    assert len(list(tmp_path.glob("*/metrics.json"))) == 2
    subs = json.loads((tmp_path / "submissions.json").read_text())
    assert {s["launcher"] for s in subs.values()} == {"ray-slurm"}
    log = next(Path(next(iter(subs.values()))["logs"]).parent.glob("*/*_log.err")).read_text()
    assert "Ray runtime started" in log or "ray start" in log.lower()
    assert verify(tmp_path) == []


# ------------------------------------------------------------------------------------- no cluster

def test_status_of_a_local_study_reads_the_store(tmp_path, capsys):
    import simclr
    from simclr.store import record_failure

    cfgs = configs()
    simclr.run(cfgs[0], tmp_path)
    simclr.run(cfgs[1], tmp_path, stop_after=2)
    record_failure(tmp_path / cfgs[2].run_id, simclr.to_dict(cfgs[2]), {"error": "RuntimeError: boom"})
    assert main(["temperature", "--status", "--results", str(tmp_path), *sets()]) == 0
    out = capsys.readouterr().out
    assert out.startswith("done 1 | running 0 | queued 0 | failed 1 | to run 4")
    assert f"failed   {cfgs[2].run_id} (error.json)" in out and "store " not in out
    (tmp_path / cfgs[0].run_id / "metrics.json").write_text("{")   # a damaged record is reported
    main(["temperature", "--status", "--results", str(tmp_path), *sets()])
    assert f"store    {tmp_path / cfgs[0].run_id / 'metrics.json'}: unreadable" in capsys.readouterr().out


def test_fault_specs_are_checked():
    from simclr import faults

    assert faults.parse("kill@3, sleep=0.5, sleep1=0.2") == {"kill": 3, "sleep": 0.5, "sleep1": 0.2}
    with pytest.raises(ValueError, match="unknown fault 'explode@3'"):
        faults.parse("explode@3")


def test_sleep1_slows_the_first_process_of_a_run_only(tmp_path, monkeypatch):
    from simclr import faults

    slept = []
    monkeypatch.setattr(faults.time, "sleep", slept.append)
    monkeypatch.setenv("SIMCLR_FAULT", "sleep1=0.3")
    monkeypatch.setattr(faults, "_claimed", set())
    on_step = faults.from_env()
    on_step(1, tmp_path)
    on_step(2, tmp_path)
    assert slept == [0.3, 0.3]
    monkeypatch.setattr(faults, "_claimed", set())  # another process: the marker says it resumes
    on_step(3, tmp_path)
    assert slept == [0.3, 0.3]


def test_slurm_launcher_without_a_controller_says_so(tmp_path, monkeypatch):
    pytest.importorskip("submitit")
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch anywhere
    assert main(["temperature", "--launcher", "slurm", "--results", str(tmp_path), *sets()]) == 2
    assert not list(tmp_path.glob("*/config.json"))  # nothing started


def test_two_task_torch_distributed_run_through_submitit(tmp_path, slurm):
    """One run as 2 SLURM tasks (gloo): submitit's environment forms the process group; process 0
    writes the run, whose result equals the 1-process run's up to float32 summation order."""
    from studies.launchers import slurm as slurm_launcher
    from studies.launchers.common import Resources

    cfg = configs(extra=["train.precision=fp32", "train.steps=4", "train.log_every=1"])[2]  # t = 0.5
    out = slurm_launcher.launch("ddp", [cfg], str(tmp_path / "two"),
                              Resources(tasks_per_run=2, cpus_per_run=2, time_min=10, wait=True))
    assert out[0]["status"] == "completed", out
    env = json.loads((tmp_path / "two" / cfg.run_id / "env.json").read_text())
    assert env["world_size"] == 2
    steps = [r["step"] for r in logs(tmp_path / "two" / cfg.run_id) if "event" not in r]
    assert steps == sorted(set(steps)) and steps[-1] == 4  # one writer
    import simclr
    simclr.run(cfg, tmp_path / "one")
    loss = lambda d: [r["loss"] for r in logs(d / cfg.run_id) if "event" not in r]
    assert loss(tmp_path / "two") == pytest.approx(loss(tmp_path / "one"), rel=2e-3)


def t5_cells():
    from studies.temperature import CELLS

    return CELLS


def test_every_launcher_is_one_function_of_the_same_signature():
    import importlib
    import inspect

    from studies.launchers import LAUNCHERS, REGISTRY, launch

    assert set(LAUNCHERS) == {"local", "ray", "slurm", "ray-slurm"}
    for name, (module, function) in REGISTRY.items():
        fn = getattr(importlib.import_module(f"studies.launchers.{module}"), function)
        assert list(inspect.signature(fn).parameters) == ["study", "configs", "results", "res", "labels"], name
    with pytest.raises(ValueError, match="unknown launcher 'pbs'; choose from local, ray, slurm, ray-slurm"):
        launch("pbs", "temperature", [], "results", None)


def test_local_workers_share_the_allowed_cores_unless_a_run_sets_its_threads(monkeypatch):
    from simclr.config import replace
    from studies.launchers import common as launch
    from studies.presets import baseline

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 3})  # e.g. taskset -c 0,3 on a bigger machine
    assert launch.cores() == 2
    monkeypatch.delattr(os, "sched_getaffinity")  # macOS: the machine's count
    assert launch.cores() == os.cpu_count()
    monkeypatch.setattr(launch, "cores", lambda: 8)
    cfg = baseline("tiny", "")
    assert launch.threads_for(cfg, 2) == 4 and launch.threads_for(cfg, 3) == 2 and launch.threads_for(cfg, 16) == 1
    assert launch.threads_for(replace(cfg, **{"train.threads": 1}), 2) == 1


def test_a_streaming_run_gets_a_cpu_per_loader_worker():
    from studies.launchers.slurm import cpus_per_task
    from studies.presets import baseline

    streamed = baseline("imagenet", "/data/imagenet")
    assert cpus_per_task([streamed], 1) == 1 + streamed.data.workers
    assert cpus_per_task([baseline("tiny")], 2) == 2  # in-memory data: the training threads only

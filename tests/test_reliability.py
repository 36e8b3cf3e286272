"""Reliability and safety: faults survived with nothing lost or duplicated, bad inputs refused before any
work with a message that names the fix, and nothing in the store that can run code.

Faults (numbered as in the reliability contract of the README):
 1 kill -9 of a run                      test_killed_run_resumes_to_the_uninterrupted_result
 2 kill -9 of the study driver           test_killed_driver_reruns_only_the_missing_runs
 3 crash mid-write, corrupt checkpoint   test_crash_mid_write_*, test_torn_log_line_*, test_corrupt_checkpoint_*
 4 8 writers on one store                test_eight_writers_share_one_store
 5 NaN / Inf loss                        test_diverged_run_is_recorded_and_the_study_goes_on
 6 disk full, unwritable store           test_full_disk_*, test_unwritable_results_*
 7 SLURM timeout / preemption / cancel, Ray trial crash: tests/test_launchers.py, each ending in store.verify
 8 out of memory                         test_out_of_memory_names_the_fixes
"""
import errno
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

import simclr
from simclr import checkpoint, losses
from simclr.config import load
from simclr.store import JsonlLog, StoreError, check_writable, load_results, verify, write_json
from studies.run import main

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
# a run of a few seconds; fp32 and one thread, so two processes compute bit-identical results
FAST = ["data.num_train=512", "data.num_test=256", "train.batch_size=64", "train.steps=12",
        "train.log_every=2", "train.checkpoint_every=4", "train.progress=false", "optim.warmup_epochs=1",
        "eval.linear_epochs=3", "eval.knn_k=20", "train.threads=1", "train.precision=fp32"]
TIMING = ("seconds", "train_seconds", "train_images_per_s")
STUDY_SETS = ["data.num_train=256", "data.num_test=128", "train.batch_size=64", "train.steps=8",
              "train.checkpoint_every=2", "optim.warmup_epochs=0.25", "eval.linear=false", "eval.knn_k=10",
              "train.progress=false", "train.threads=1"]


def fast(*extra):
    return load(ROOT / "configs/tiny.yaml", FAST + list(extra))


def cli_run(results, *extra, env=None, **kw):
    """`python -m simclr` in its own process, as a user or a scheduler starts it."""
    return subprocess.run([PY, "-m", "simclr", str(ROOT / "configs/tiny.yaml"), *FAST, *extra,
                           "--results", str(results)], cwd=ROOT, capture_output=True, text=True,
                          env={**os.environ, **(env or {})}, timeout=600, **kw)


def without_timing(m):
    return {k: v for k, v in m.items() if k not in TIMING}


def study_args(study, results, *extra):
    return [study, "--results", str(results), *extra, *[a for s in STUDY_SETS for a in ("--set", s)]]


# ------------------------------------------------------------------------------------------- faults

def test_killed_run_resumes_to_the_uninterrupted_result(tmp_path):
    """1: SIGKILL at step 6 (last checkpoint at 4); the rerun resumes from 4 and ends where an
    uninterrupted run ends, to the bit."""
    cfg = fast()
    killed = cli_run(tmp_path / "b", env={"SIMCLR_FAULT": "kill@6"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    run_dir = tmp_path / "b" / cfg.run_id
    assert not (run_dir / "metrics.json").exists() and checkpoint.exists(run_dir)
    assert cli_run(tmp_path / "b").returncode == 0
    assert cli_run(tmp_path / "a").returncode == 0
    a, b = (json.loads((tmp_path / x / cfg.run_id / "metrics.json").read_text()) for x in "ab")
    assert without_timing(a) == without_timing(b)
    log = JsonlLog(run_dir / "log.jsonl").read()
    assert [r["step"] for r in log if r.get("event") == "resumed"] == [4]
    assert [r["step"] for r in log if "event" not in r] == [2, 4, 6, 8, 10, 12]   # 5-6 replaced, not doubled
    assert verify(tmp_path / "b") == []


def _wait_for(predicate, timeout=300.0, proc=None):
    end = time.time() + timeout
    while time.time() < end:
        if predicate():
            return True
        if proc is not None and proc.poll() is not None:
            return False
        time.sleep(0.05)
    return False


def test_killed_driver_reruns_only_the_missing_runs(tmp_path):
    """2: the study driver is SIGKILLed while its third run trains; the rerun trains the missing runs
    only: finished results untouched, the started run resumed from its checkpoint, nothing twice."""
    args = study_args("temperature", tmp_path)
    err = open(tmp_path / "driver.err", "w")
    driver = subprocess.Popen([PY, "studies/run.py", *args], cwd=ROOT, stdout=subprocess.DEVNULL,
                              stderr=err, env={**os.environ, "SIMCLR_FAULT": "sleep=0.3"})
    done = lambda: [p.parent for p in tmp_path.glob("*/metrics.json")]
    started = lambda: [p.parent for p in tmp_path.glob("*/checkpoint.pt") if p.parent not in done()]
    try:
        assert _wait_for(lambda: len(done()) == 2 and started(), proc=driver), \
            (tmp_path / "driver.err").read_text()[-3000:]
    finally:
        driver.kill()
        driver.wait()
        err.close()
        (tmp_path / "driver.err").unlink()
    finished = {d.name: (d / "metrics.json").stat().st_mtime_ns for d in done()}
    interrupted = started()[0]
    assert main(args) == 0
    assert {d: (tmp_path / d / "metrics.json").stat().st_mtime_ns for d in finished} == finished
    assert len(done()) == 6 and len(list(tmp_path.glob("*/config.json"))) == 6
    log = JsonlLog(interrupted / "log.jsonl").read()
    assert [r["event"] for r in log if r.get("event") in ("resumed", "checkpoint_rejected")] == ["resumed"]
    assert verify(tmp_path) == []


def test_killed_pool_worker_leaves_its_runs_to_the_rerun(tmp_path, monkeypatch, capsys):
    """2, with --workers 2: a worker SIGKILLed mid-run breaks the pool; the driver reports the runs as
    interrupted instead of crashing, and the same command finishes them."""
    args = study_args("temperature", tmp_path, "--workers", "2")
    monkeypatch.setenv("SIMCLR_FAULT", "kill@3")   # every run dies once, at step 3
    assert main(args) == 1
    assert "rerun the same command to resume" in capsys.readouterr().err
    monkeypatch.delenv("SIMCLR_FAULT")
    assert main(args) == 0
    assert len(list(tmp_path.glob("*/metrics.json"))) == 6 and verify(tmp_path) == []


def test_a_run_trained_by_another_process_is_left_to_it(tmp_path, capsys):
    """Two drivers on one store: a run whose lock another process holds is neither trained twice nor
    recorded as failed; the next invocation collects it."""
    from simclr.store import run_lock
    from studies import common
    from studies.run import load_study

    args = study_args("temperature", tmp_path)
    busy = common.runs([(e["labels"], e["config"]) for e in common.expand(load_study("temperature"), "tiny", "",
                                                                        1, STUDY_SETS)])[0]
    (tmp_path / busy.run_id).mkdir(parents=True)
    with run_lock(tmp_path / busy.run_id):                   # as the other driver would hold it
        assert main(args) == 1
        assert "being trained by another process" in capsys.readouterr().err
        assert not (tmp_path / busy.run_id / "metrics.json").exists()
        assert not list(tmp_path.glob("*/error.json")) and len(list(tmp_path.glob("*/metrics.json"))) == 5
    assert main(args) == 0 and len(list(tmp_path.glob("*/metrics.json"))) == 6


def test_crash_mid_write_leaves_the_previous_version(tmp_path):
    """3: a process killed while writing a record or a checkpoint leaves the old file whole."""
    script = f"""
import os, signal, sys, torch
sys.path.insert(0, {str(ROOT)!r})
from simclr import checkpoint, store
store.write_json(sys.argv[1] + "/metrics.json", {{"version": 1}})
checkpoint.atomic_torch_save(sys.argv[1] + "/checkpoint.pt", {{"w": torch.ones(3)}})
os.fsync = lambda fd: os.kill(os.getpid(), signal.SIGKILL)   # die in the middle of the next writes
target = sys.argv[2]
if target == "json":
    store.write_json(sys.argv[1] + "/metrics.json", {{"version": 2, "pad": "x" * 100000}})
else:
    checkpoint.atomic_torch_save(sys.argv[1] + "/checkpoint.pt", {{"w": torch.zeros(10 ** 6)}})
"""
    for target in ("json", "torch"):
        d = tmp_path / target
        d.mkdir()
        proc = subprocess.run([PY, "-c", script, str(d), target], capture_output=True, text=True)
        assert proc.returncode == -signal.SIGKILL, proc.stderr
        assert json.loads((d / "metrics.json").read_text()) == {"version": 1}
        assert torch.equal(torch.load(d / "checkpoint.pt", weights_only=True)["w"], torch.ones(3))
        leftovers = [p.name for p in d.iterdir() if p.name.endswith(".tmp")]
        assert len(leftovers) == 1                           # the half-written temp file, never the record
        assert any("temp file of an interrupted write" in p for p in verify(d))


def test_torn_log_line_is_skipped_and_the_next_record_starts_a_new_line(tmp_path):
    log = JsonlLog(tmp_path / "log.jsonl")
    log.write({"step": 1, "loss": 1.0})
    with open(log.path, "a") as f:
        f.write('{"step": 2, "lo')                           # a crash mid-append
    with pytest.warns(UserWarning, match="torn line"):
        assert log.read() == [{"step": 1, "loss": 1.0}]
    log.write({"step": 2, "loss": 0.5})
    with pytest.warns(UserWarning, match="torn line"):
        assert log.read() == [{"step": 1, "loss": 1.0}, {"step": 2, "loss": 0.5}]


def _corrupt(path: Path, how: str) -> None:
    data = path.read_bytes()
    middle = len(data) // 2  # inside the largest tensor's bytes: torch.load alone would not notice
    path.write_bytes(data[:middle] if how == "truncate" else data[:middle] + b"\0" * 64 + data[middle + 64:])


@pytest.mark.parametrize("damaged, resumed_from", [(["checkpoint.pt"], 4),
                                                   (["checkpoint.pt", "checkpoint.prev.pt"], None)])
def test_corrupt_checkpoint_falls_back_to_the_previous_one_or_a_fresh_start(tmp_path, damaged, resumed_from):
    """3: checkpoints at steps 4 and 8, stop at 10; damage the newest (truncated) or both (the second
    with 64 bytes zeroed inside a tensor, which only its sha256 catches): the run warns, resumes from
    the previous one (or starts over), and still ends at the uninterrupted result."""
    cfg = fast()
    whole = simclr.run(cfg, tmp_path / "a")
    assert simclr.run(cfg, tmp_path / "b", stop_after=10)["status"] == "interrupted"
    run_dir = tmp_path / "b" / cfg.run_id
    for name, how in zip(damaged, ("truncate", "zero")):
        _corrupt(run_dir / name, how)
    with pytest.warns(UserWarning, match="cannot be used") as caught:
        resumed = simclr.run(cfg, tmp_path / "b")
    assert without_timing(resumed) == without_timing(whole)
    assert len([w for w in caught if "cannot be used" in str(w.message)]) == len(damaged)
    log = JsonlLog(run_dir / "log.jsonl").read()
    rejected = [r["reason"] for r in log if r.get("event") == "checkpoint_rejected"]
    assert len(rejected) == len(damaged)
    assert ("starts from scratch" in rejected[-1]) == (resumed_from is None)
    assert [r["step"] for r in log if r.get("event") == "resumed"] == ([resumed_from] if resumed_from else [])
    assert sorted(p.name for p in run_dir.glob("*.corrupt")) == sorted(n + ".corrupt" for n in damaged)
    assert not checkpoint.exists(run_dir) and not list(run_dir.glob("*.sha256"))   # finished: none kept
    if len(damaged) == 2:
        assert "sha256 does not match" in rejected[1]


def test_a_checkpoint_that_does_not_fit_stops_the_run_and_is_kept(tmp_path):
    """A sound checkpoint of another model is not corruption: the run stops with the fix, the file stays."""
    cfg = fast()
    assert simclr.run(cfg, tmp_path, stop_after=4)["status"] == "interrupted"
    run_dir = tmp_path / cfg.run_id
    state = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    state["model"] = {k: torch.zeros(1) for k in state["model"]}
    checkpoint.save(run_dir, state)
    with pytest.raises(RuntimeError, match="does not fit this run's model.*move it away"):
        simclr.run(cfg, tmp_path)
    assert (run_dir / "checkpoint.pt").exists() and not list(run_dir.glob("*.corrupt"))


def _writer(results: str, worker: int, records: int) -> None:
    from simclr.store import JsonlLog, check_writable, update_json, write_json
    for i in range(records):
        check_writable(results)                              # every run starts with this probe
        run_dir = Path(results) / f"w{worker}-r{i}"
        write_json(run_dir / "config.json", json.loads(json.dumps(simclr.to_dict(simclr.RunConfig()))))
        for step in range(1, 4):
            JsonlLog(run_dir / "log.jsonl").write({"step": step, "loss": 1.0 / step})
        write_json(run_dir / "metrics.json", {"run_id": run_dir.name, "status": "completed", "pad": "x" * 20000})
        update_json(Path(results) / "submissions.json", lambda old: {**old, run_dir.name: {"worker": worker}},
                    default={})


def test_eight_writers_share_one_store(tmp_path):
    """4: eight processes write runs and update the shared submissions file at once while a reader
    loads the table: every record lands whole, no update is lost."""
    from concurrent.futures import ProcessPoolExecutor
    from multiprocessing import get_context

    workers, records = 8, 6
    with ProcessPoolExecutor(workers, mp_context=get_context("fork")) as pool:
        futures = [pool.submit(_writer, str(tmp_path), w, records) for w in range(workers)]
        while not all(f.done() for f in futures):
            df = load_results(tmp_path)                      # a reader never sees half a record
            assert not len(df) or "corrupt" not in set(df["status"])
        [f.result() for f in futures]
    df = load_results(tmp_path)
    assert len(df) == workers * records and set(df["status"]) == {"completed"}
    subs = json.loads((tmp_path / "submissions.json").read_text())
    assert len(subs) == workers * records                    # the lock kept every read-modify-write
    assert verify(tmp_path) == []


def test_diverged_run_is_recorded_and_the_study_goes_on(tmp_path, monkeypatch):
    """5: a NaN loss stops that run as "diverged" with its reason; the other runs finish."""
    real = losses.contrastive_loss

    def nan_at_t01(name, z1, z2, temperature=1.0, **k):
        out = real(name, z1, z2, temperature=temperature, **k)
        return out * float("nan") if temperature == 0.1 else out

    monkeypatch.setattr(losses, "contrastive_loss", nan_at_t01)
    assert main(study_args("temperature", tmp_path)) == 0
    df = load_results(tmp_path)
    assert sorted(df["status"]) == ["completed"] * 5 + ["diverged"]
    bad = df[df["status"] == "diverged"].iloc[0]
    assert bad["config.loss.temperature"] == 0.1 and "non-finite loss" in bad["reason"] and bad["step"] == 0
    assert "temperature" in bad["reason"]                    # the fix is named
    assert "diverged" in (tmp_path / "table5.md").read_text()


@pytest.fixture
def small_disk(tmp_path):
    """A real 8 MB file system (tmpfs): room for one tiny run and its checkpoints, not for two."""
    mnt = tmp_path / "disk"
    mnt.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m", "tmpfs", str(mnt)],
                                           capture_output=True).returncode:
        pytest.skip("needs root to mount a small tmpfs (the ENOSPC path is also tested in-process)")
    yield mnt
    subprocess.run(["umount", str(mnt)], check=True)


def test_full_disk_stops_the_study_and_a_rerun_finishes_it(small_disk, capsys):
    """6: the disk fills during the second run: the study stops with an error that names the fix,
    nothing is half-written, the first run's result stays; with space freed, the same command
    finishes the study without redoing the first run."""
    results = small_disk / "results"
    args = study_args("temperature", results, "--set", "train.checkpoint_every=1", "--set", "eval.linear=false")
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "the disk is full" in err and "--results" in err, err[-2000:]
    assert not list(results.glob("**/*.tmp"))               # nothing half-written
    assert verify(results) == []
    finished = {p: p.stat().st_mtime_ns for p in results.glob("*/metrics.json")}
    assert len(finished) == 1
    subprocess.run(["mount", "-o", "remount,size=64m", str(small_disk)], check=True)
    assert main(args) == 0
    assert {p: p.stat().st_mtime_ns for p in finished} == finished
    assert len(list(results.glob("*/metrics.json"))) == 6 and verify(results) == []


def test_full_disk_in_process_error_names_the_fix(tmp_path, monkeypatch):
    real = os.fsync

    def full(fd):
        raise OSError(errno.ENOSPC, "No space left on device")

    write_json(tmp_path / "metrics.json", {"v": 1})
    monkeypatch.setattr(os, "fsync", full)
    with pytest.raises(StoreError, match="the disk is full.*--results"):
        write_json(tmp_path / "metrics.json", {"v": 2})
    monkeypatch.setattr(os, "fsync", real)
    assert json.loads((tmp_path / "metrics.json").read_text()) == {"v": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_unwritable_results_directory_is_refused_before_any_work(tmp_path, capsys):
    ro = tmp_path / "ro"
    ro.mkdir()
    if os.geteuid() == 0:  # root ignores permissions: a read-only file system refuses everyone
        if subprocess.run(["mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", str(ro)],
                          capture_output=True).returncode:
            pytest.skip("cannot mount a read-only tmpfs")
    else:
        ro.chmod(0o555)
    try:
        with pytest.raises(StoreError, match="cannot write .*(read-only|permission denied)"):
            check_writable(ro / "results")
        assert main(study_args("temperature", ro / "results")) == 2
        err = capsys.readouterr().err
        assert ("read-only" in err or "permission denied" in err) and "--results" in err
        assert cli_run(ro / "runs").returncode == 2
    finally:
        if os.geteuid() == 0:
            subprocess.run(["umount", str(ro)], check=True)
        ro.chmod(0o755)


def test_out_of_memory_names_the_fixes(tmp_path):
    """8: a batch that does not fit (the address space capped at what python and torch use + 1 GB) stops
    with a message naming the gradient cache and a smaller per-device batch, not an allocator trace."""
    script = """
import resource, sys
import simclr.__main__
vm = int(next(line for line in open("/proc/self/status") if line.startswith("VmSize")).split()[1]) * 1024
resource.setrlimit(resource.RLIMIT_AS, (vm + 2 ** 30, vm + 2 ** 30))
sys.exit(simclr.__main__.main(sys.argv[1:]))
"""
    proc = subprocess.run([PY, "-c", script, str(ROOT / "configs/tiny.yaml"), *FAST, "train.batch_size=2048",
                           "data.num_train=2048", "data.image_size=64", "optim.warmup_epochs=0", "train.steps=1",
                           "--results", str(tmp_path)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "out of memory" in proc.stderr and "--tasks-per-run" in proc.stderr and "Traceback" not in proc.stderr
    assert "train.grad_cache_chunk=256" in proc.stderr   # the gradient cache, with a chunk that divides the batch
    assert not list(tmp_path.glob("*/metrics.json"))


# --------------------------------------------------------------------------------------- bad inputs

def _folder(root: Path, images: dict[str, bytes]) -> Path:
    for split in ("train", "test"):
        for name, data in images.items():
            path = root / split / "a" / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
    return root


def _png() -> bytes:
    from torchvision.io import encode_png
    return encode_png(torch.zeros(3, 8, 8, dtype=torch.uint8)).numpy().tobytes()


def _old_store(results: Path) -> Path:
    cfg = json.loads(json.dumps(simclr.to_dict(simclr.RunConfig())))
    cfg["loss"]["tau"] = cfg["loss"].pop("temperature")     # a field renamed by another version
    write_json(results / "0123456789ab" / "config.json", cfg)
    write_json(results / "0123456789ab" / "env.json", {"git": {"commit": "f" * 40}})
    return results


# (how to set it up, argv of studies/run.py or `python -m simclr`, what the message must say)
BAD_INPUTS = {
    "unknown preset": ("study", ["temperature", "--preset", "huge"], ["unknown preset 'huge'", "tiny, cpu"]),
    "unknown dataset": ("study", ["temperature", "--set", "data.name=imagenet21k"], ["imagenet21k", "choose one of"]),
    "unknown operator": ("study", ["augmentation_grid", "--operators", "crop,solarize"], ["solarize", "choose from"]),
    "unknown encoder": ("study", ["temperature", "--set", "encoder.arch=vit"], ["encoder.arch='vit'", "unknown"]),
    "unknown loss": ("study", ["temperature", "--set", "loss.name=infonce"], ["loss.name='infonce'", "nt_xent"]),
    "unknown config key": ("study", ["temperature", "--set", "loss.tempreature=0.5"],
                           ["tempreature: unknown key", "temperature"]),
    "wrong type": ("study", ["temperature", "--set", "train.batch_size=abc"], ["expected int, got str 'abc'"]),
    "temperature <= 0": ("run", ["loss.temperature=0"], ["loss.temperature=0.0: must be > 0"]),
    "learning rate <= 0": ("run", ["optim.lr=0"], ["need lr > 0"]),
    "negative epochs": ("run", ["train.epochs=-1"], ["train.epochs=-1.0: must be >= 0"]),
    "zero batch": ("study", ["temperature", "--set", "train.batch_size=0"], ["train.batch_size=0", ">= 2 images"]),
    "batch not divisible by the processes": ("study", ["temperature", "--launcher", "slurm", "--tasks-per-run", "3"],
                                             ["not divisible by the 3 processes"]),
    "label fraction outside (0, 1]": ("run", ["eval.finetune_fractions=[0.0]"], ["eval.finetune_fractions", "(0, 1]"]),
    "missing data root": ("study", ["temperature", "--preset", "cpu"], ["pass --data-root"]),
    "absent data root": ("study", ["temperature", "--preset", "cpu", "--data-root", "{tmp}/absent"],
                         ["must hold train/ and test/"]),
    "image folder without images": ("run", ["data.name=folder", "data.root={tmp}/empty"], ["no images", "<class>"]),
    "corrupt image file": ("run", ["data.name=folder", "data.root={tmp}/corrupt", "data.cache_dir={tmp}/cache"],
                           ["cannot be decoded", "broken.png", "Remove or replace"]),
    "config file that is not YAML": ("file", "loss: {temperature: 0.5\n", ["not valid YAML", "fix the file"]),
    "config file with a python tag": ("file", "seed: !!python/object/apply:os.system ['touch {tmp}/pwned']\n",
                                      ["not valid YAML", "python tags are refused"]),
    "store of an incompatible version": ("study", ["temperature", "--results", "{tmp}/old"],
                                         ["cannot read", "incompatible version (commit ffffffffffff)",
                                          "another --results"]),
    "zero workers": ("study", ["temperature", "--workers", "0"], ["--workers 0: must be >= 1"]),
    "shell syntax in a SLURM name": ("study", ["temperature", "--launcher", "slurm", "--partition", "gpu\nrm -rf ~"],
                                     ["--partition", "only letters, digits"]),
    "results path that is a file": ("study", ["temperature", "--results", "{tmp}/file"], ["is a file", "--results"]),
    "unknown study": ("study", ["figure99"], ["unknown study 'figure99'", "augmentation_grid"]),
}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_input_is_refused_before_any_work(case, tmp_path, capsys):
    kind, argv, fragments = BAD_INPUTS[case]
    for split in ("train", "test"):
        (tmp_path / "empty" / split / "a").mkdir(parents=True)
    _folder(tmp_path / "corrupt", {"good.png": _png(), "broken.png": b"\x89PNG\r\n\x1a\nnot really"})
    _old_store(tmp_path / "old")
    (tmp_path / "file").write_text("")
    results = tmp_path / "results"
    fill = lambda a: a.replace("{tmp}", str(tmp_path))
    if kind == "file":
        path = tmp_path / "config.yaml"
        path.write_text(fill(argv))
        argv, kind = [str(path)], "run"
    argv = [fill(a) for a in argv]
    if kind == "study":
        if "--results" not in argv:
            argv += ["--results", str(results)]
        try:
            code = main(argv)
        except SystemExit as exit_:
            code, message = 2, str(exit_)
        else:
            message = capsys.readouterr().err
    else:
        from simclr.__main__ import main as run_main
        code = run_main(argv + ["--results", str(results)])
        message = capsys.readouterr().err
    assert code == 2, message
    for fragment in fragments:
        assert fragment in message, (fragment, message)
    assert not results.exists() or not any(results.iterdir())     # refused before any work
    assert not (tmp_path / "pwned").exists()
    assert not list((tmp_path / "old").glob("*/metrics.json"))


# ------------------------------------------------------------------------------------------- safety

class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (Path(self.marker),))


def test_a_checkpoint_that_would_run_code_is_refused(tmp_path):
    """torch.load(weights_only=True): a pickle that calls a function on load is rejected, the code
    never runs, and the run starts over with a warning."""
    cfg = fast()
    assert simclr.run(cfg, tmp_path, stop_after=4)["status"] == "interrupted"
    run_dir = tmp_path / cfg.run_id
    state = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    (run_dir / "checkpoint.prev.pt").unlink(missing_ok=True)
    checkpoint.save(run_dir, {**state, "step": _Payload(tmp_path / "pwned")})   # with a matching sha256
    (run_dir / "checkpoint.prev.pt").unlink()
    with pytest.warns(UserWarning, match="Unpickl|weights_only"):
        assert simclr.run(cfg, tmp_path)["status"] == "completed"
    assert not (tmp_path / "pwned").exists()


def test_the_store_holds_json_and_weights_only(tmp_path):
    """Every record is JSON (analysis reads nothing else); the .pt files are weights that load with
    weights_only=True; analysis outputs are CSV, Markdown, LaTeX and figures."""
    assert main(study_args("temperature", tmp_path, "--set", "train.steps=2")) == 0
    for path in tmp_path.rglob("*"):
        if path.is_dir() or path.name.startswith(".") and path.suffix == ".lock":
            continue
        if path.suffix == ".json":
            json.loads(path.read_text())
        elif path.suffix == ".jsonl":
            [json.loads(line) for line in path.read_text().splitlines()]
        elif path.suffix == ".pt":
            torch.load(path, weights_only=True)
        else:
            assert path.suffix in (".csv", ".md", ".tex", ".png", ".pdf", ".html"), path


def test_no_code_path_unpickles_or_builds_shell_commands():
    """The rules above, for the code itself: no pickle, no unsafe YAML, no shell."""
    forbidden = ("import pickle", "read_pickle", "weights_only=False", "yaml.load(", "shell=True", "os.system(",
                 "os.popen(", "yaml.unsafe_load", "eval(", "exec(")
    for folder in ("simclr", "studies", "analysis", "benchmarks"):
        for path in (ROOT / folder).rglob("*.py"):
            text = path.read_text()
            for bad in forbidden:
                assert bad not in text.replace("model.eval(", "").replace(".eval()", ""), (path, bad)
            for call in text.split("torch.load(")[1:]:             # every load names weights_only=True
                assert "weights_only=True" in call.split("\n")[0], (path, call[:80])

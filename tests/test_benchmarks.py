"""The benchmark scripts keep working (they are not timed here: figures live in benchmarks/results)."""
import json
import math
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_throughput_on_a_preset_reports_every_figure_and_its_provenance():
    cmd = [sys.executable, "benchmarks/throughput.py", "tiny", "train.batch_size=16", "train.threads=1",
           "--steps", "4", "--rounds", "2", "--warmup", "1"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, check=True).stdout
    r = json.loads(out.strip().splitlines()[-1])
    assert r["config"] == "tiny" and r["batch_size"] == 16 and r["rounds"] == 2
    for key in ("views_images_per_s", "encoder_images_per_s", "encoder_loss_images_per_s", "pretrain_images_per_s",
                "peak_memory_mb"):
        assert r[key] > 0, key
    assert len(r["pipeline_share_per_round"]) == 2 and math.isfinite(r["loss_share_of_step"])  # timings: no bound
    shares = r["pipeline_share_per_round"]  # rounded to 4 digits
    assert min(shares) - 1e-4 <= r["pipeline_share_of_encoder"] <= max(shares) + 1e-4
    assert "commit" in r["git"] and r["packages"]["torch"] and r["hardware"]["device"] == "cpu"


def test_data_path_times_decoding_and_the_copy_on_stand_in_jpegs():
    cmd = [sys.executable, "benchmarks/data_path.py", "imagenet", "train.batch_size=4", "data.workers=2",
           "--batches", "2", "--stand-in-size", "48", "64"]
    r = json.loads(subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300,
                                  check=True).stdout.strip().splitlines()[-1])
    assert r["batch_size"] == 4 and r["workers"] == 2 and r["image_size"] == 224
    assert r["decode_images_per_s"] > 0 and r["decode_copy_images_per_s"] > 0
    assert r["source"].startswith("stand-in") and "commit" in r["git"] and r["hardware"]["device"] == "cpu"


def test_step_profile_groups_the_operators_and_accounts_for_the_whole_step():
    sys.path.insert(0, str(ROOT))
    from benchmarks.step_profile import group

    assert [group(n) for n in ("aten::convolution_backward", "aten::mkldnn_convolution",
                               "aten::native_batch_norm_backward", "aten::threshold_backward",
                               "aten::clamp_min_", "aten::add_", "aten::add", "aten::addmm", "aten::mm")] == \
        ["convolution", "convolution", "batch_norm", "relu", "relu", "add", "add", None, None]
    cmd = [sys.executable, "benchmarks/step_profile.py", "tiny", "train.batch_size=16", "train.threads=1",
           "--steps", "2", "--warmup", "1"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, check=True).stdout
    r = json.loads(out.strip().splitlines()[-1])
    assert set(r["share"]) == {"convolution", "batch_norm", "relu", "add", "other"}
    assert abs(sum(r["share"].values()) - 1) < 0.01
    # the operators' self times happen within the step's wall time, and they are most of what was profiled
    assert r["ms_per_step"] <= r["wall_ms_per_step"] and r["outside_aten_ms_per_step"] < r["ms_per_step"]
    assert r["share"]["convolution"] > 0 and r["share"]["batch_norm"] > 0 and r["share"]["relu"] > 0
    assert "commit" in r["git"] and r["batch_size"] == 16


def test_gradcache_benchmark_trains_each_setting_in_its_own_process():
    cmd = [sys.executable, "benchmarks/gradcache.py", "configs/tiny.yaml", "train.threads=1", "--steps", "2",
           "--settings", "64:0", "64:32"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, check=True).stdout
    rows = [json.loads(line) for line in out.strip().splitlines() if line.startswith("{")]
    assert [(r["batch"], r["chunk"], r["status"]) for r in rows] == [(64, 0, "completed"), (64, 32, "completed")]
    for r in rows:
        assert r["images_per_s"] > 0 and r["peak_rss_mb"] >= r["resting_rss_mb"] > 0
        assert r["malloc"].startswith(("kept", "default", "preloaded", "system", "unsupported")) and "commit" in r["git"]


def test_gpu_script_refuses_without_a_gpu(tmp_path):
    import os

    env = {**os.environ, "PYTHON": sys.executable, "CUDA_VISIBLE_DEVICES": ""}  # no GPU, even on a GPU machine
    done = subprocess.run(["bash", "benchmarks/gpu.sh", str(tmp_path)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env=env)
    assert done.returncode == 2 and "no CUDA device" in done.stderr
    assert not (tmp_path / "throughput_gpu.jsonl").exists()

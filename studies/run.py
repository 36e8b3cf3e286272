"""python studies/run.py <study> [--preset P] [--results DIR] [--seeds N] [--set key=value ...] [--dry-run]

Expands a study into run configs and hands each to a launcher (local: one after another, or in N
worker processes). Rerunning continues a study: finished runs are skipped, started runs resume.
"""
from __future__ import annotations

import argparse
import importlib
import inspect
import os
import sys
import traceback
from concurrent.futures import ProcessPoolExecutor, as_completed
from multiprocessing import get_context
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # `python studies/run.py` from a checkout

import simclr  # noqa: E402
from simclr.config import HASH_VERSION, ConfigError, replace, total_steps  # noqa: E402
from simclr.store import migrate, record_failure  # noqa: E402
from studies import common  # noqa: E402
from studies.presets import baseline  # noqa: E402

STUDIES = ("augmentation_grid", "color_strength", "model_size", "projection_head", "h_vs_gh", "loss_functions",
           "temperature", "batch_size_epochs", "semi_supervised", "transfer", "appendix")
# training-set sizes for --dry-run where the data is not read (folder: assumed to be CIFAR-10)
TRAIN_SIZES = {"cifar10": 50_000, "cifar100": 50_000, "stl10": 5_000, "folder": 50_000, "imagenet": 1_281_167}


def load_study(name: str):
    if name not in STUDIES:
        raise SystemExit(f"unknown study {name!r}; available: {', '.join(STUDIES)} (python studies/run.py --list)")
    return importlib.import_module(f"studies.{name}")


def expand(study, preset: str, data_root: str = "", seeds: int = 1, sets=(), **options) -> list:
    """The study's distinct runs, each arm repeated over seeds, with --set overrides applied."""
    return common.runs([(e["labels"], e["config"]) for e in common.expand(study, preset, data_root, seeds,
                                                                          sets, **options)])


def study_options(study, args) -> dict:
    """The study-specific flags that were given, checked against what the study accepts."""
    given = {"operators": tuple(args.operators.split(",")) if args.operators else None,
             "symmetric": args.symmetric or None, "grid": args.grid or None}
    accepted = inspect.signature(study.arms).parameters
    options = {}
    for name, value in given.items():
        if value is None:
            continue
        if name not in accepted:
            raise ValueError(f"--{name} does not apply to this study")
        options[name] = value
    return options


def train_flops_per_image(cfg) -> float:
    """Forward + backward FLOPs of one image's two views (backward counted as 2x forward)."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from simclr.models import build_model

    model = build_model(cfg, 10).eval()
    x = torch.rand(2, 3, cfg.data.image_size, cfg.data.image_size)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        model(x)
    return 3.0 * counter.get_total_flops()


def dry_run(configs, num_train: int | None, throughput: float, labels: dict | None = None,
            reference=None) -> None:
    """Print each run and the study's cost. `throughput` is images/s of the `reference` config (the
    preset's baseline); other encoders are costed by their FLOPs relative to it."""
    flops, images, seconds = 0.0, 0, 0.0
    per_image: dict[tuple, float] = {}

    def cost(cfg) -> float:
        key = (cfg.encoder, cfg.head, cfg.data.image_size)
        if key not in per_image:
            per_image[key] = train_flops_per_image(cfg)
        return per_image[key]

    rate = throughput * cost(reference or configs[0])  # FLOP/s
    for cfg in configs:
        n = num_train or cfg.data.num_train
        steps = total_steps(cfg, n)
        images += steps * cfg.train.batch_size
        flops += steps * cfg.train.batch_size * cost(cfg)
        print(f"{cfg.run_id}  steps={steps}  {_describe(cfg, labels)}")
    print(f"\n{len(configs)} runs, {images:,} training images (2 views each), {flops / 1e12:,.1f} TFLOP; "
          f"at {throughput:,.0f} images/s of the preset's baseline encoder ({rate / 1e12:.2f} TFLOP/s): "
          f"{flops / rate / 3600:,.2f} hours of pretraining (evaluations not counted: fine-tuning, "
          "transfer and probes add to it)")


def _describe(cfg, labels: dict | None = None) -> str:
    """The cell(s) a run fills, as the study labels them."""
    if labels and cfg.run_id in labels:
        return labels[cfg.run_id]
    names = lambda ops: "+".join(o.name for o in ops) or "identity"
    return f"view1={names(cfg.augment.view1)} view2={names(cfg.augment.view2)} seed={cfg.seed}"


def cell_labels(entries: list[dict]) -> dict[str, str]:
    out: dict[str, list[str]] = {}
    for e in entries:
        text = ", ".join(f"{k}={v}" for k, v in e["labels"].items()) + f", seed={e['seed']}"
        out.setdefault(e["config"].run_id, []).append(text)
    return {k: " | ".join(v) for k, v in out.items()}


def _run_one(cfg, results: str, threads: int) -> dict:
    if threads:
        cfg = replace(cfg, **{"train.threads": threads, "train.progress": False})
    try:
        return simclr.run(cfg, results)
    except Exception as err:  # one failed run must not stop the study; the reason is kept in the store
        failure = {"run_id": cfg.run_id, "status": "failed", "error": f"{type(err).__name__}: {err}",
                   "traceback": traceback.format_exc()}
        record_failure(Path(results) / cfg.run_id, cfg, failure)
        return failure


def launch_local(configs, results: str, workers: int = 1, labels: dict | None = None) -> list[dict]:
    """Runs one after another, or in `workers` processes sharing the CPU threads evenly."""
    if workers <= 1:
        out = []
        for i, cfg in enumerate(configs):
            print(f"[{i + 1}/{len(configs)}] {cfg.run_id} {_describe(cfg, labels)}", file=sys.stderr, flush=True)
            out.append(_run_one(cfg, results, 0))
        return out
    threads = max(1, (os.cpu_count() or 1) // workers)
    with ProcessPoolExecutor(workers, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(_run_one, cfg, results, threads) for cfg in configs]
        return [f.result() for f in as_completed(futures)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python studies/run.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("study", nargs="?")
    ap.add_argument("--list", action="store_true", help="list the studies")
    ap.add_argument("--preset", default="tiny", help="tiny | cpu | cifar10 | imagenet")
    ap.add_argument("--data-root", default="", help="data set folder (cpu, imagenet presets)")
    ap.add_argument("--results", default="", help="result store (default results/<study>/<preset>)")
    ap.add_argument("--seeds", type=int, default=1, help="repeat every run with this many seeds")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override every run")
    ap.add_argument("--launcher", default="local", choices=["local"])
    ap.add_argument("--workers", type=int, default=1, help="local: runs at once (threads split evenly)")
    ap.add_argument("--operators", default="", help="augmentation_grid: comma-separated sub-grid")
    ap.add_argument("--symmetric", action="store_true", help="augmentation_grid: ops on both branches")
    ap.add_argument("--grid", default="", help="loss_functions: small | full tuning grid (default by preset)")
    ap.add_argument("--dry-run", action="store_true", help="print the runs and their compute, run nothing")
    ap.add_argument("--throughput", type=float, default=980.0,
                    help="--dry-run: images/s of the preset's baseline on your hardware (980: the tiny and "
                         "cpu presets on a 2-core CPU, measured); other encoders are scaled by their FLOPs")
    args = ap.parse_args(argv)
    argv_used = list(sys.argv[1:] if argv is None else argv)
    if args.list or not args.study:
        for name in STUDIES:
            print(f"{name:20s} {load_study(name).TITLE}")
        return 0
    study = load_study(args.study)
    try:
        entries = common.expand(study, args.preset, args.data_root, args.seeds, args.set,
                                **study_options(study, args))
    except (ConfigError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    configs = common.runs([(e["labels"], e["config"]) for e in entries])
    results = args.results or f"results/{args.study}/{args.preset}"
    if args.dry_run:
        dry_run(configs, TRAIN_SIZES.get(configs[0].data.name), args.throughput, cell_labels(entries),
                baseline(args.preset, args.data_root))
        return 0
    for old, new in migrate(results):  # runs stored under an earlier run_id version are found, not redone
        print(f"run {old} is now {new} (run_id version {HASH_VERSION})", file=sys.stderr)
    try:
        common.write_manifest(results, common.manifest(args.study, args.preset, entries, argv_used))
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    outcomes = launch_local(configs, results, args.workers, cell_labels(entries))
    failed = [o for o in outcomes if o.get("status") == "failed"]
    for o in failed:
        print(f"run {o['run_id']} failed: {o['error']}", file=sys.stderr)
    print(f"{len(outcomes) - len(failed)}/{len(outcomes)} runs finished in {results}", file=sys.stderr)
    try:
        paths = importlib.import_module(f"analysis.{args.study}").make(results)
    except Exception:  # the runs are stored; the analysis can be rerun on its own once fixed
        traceback.print_exc()
        print(f"error: the analysis failed; the runs are kept in {results}: "
              f"python analysis/{args.study}.py --results {results}", file=sys.stderr)
        return 1
    for path in paths:
        print(f"wrote {path}", file=sys.stderr)
        if path.suffix == ".md":
            print(path.read_text())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

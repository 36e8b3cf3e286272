"""python studies/run.py <study> [--preset P] [--results DIR] [--seeds N] [--set key=value ...] [--dry-run]

Expands a study into run configs and hands each to a launcher (local: one after another, or in N
worker processes). Rerunning continues a study: finished runs are skipped, started runs resume.
"""
from __future__ import annotations

import argparse
import importlib
import inspect
import re
import sys
import traceback
from pathlib import Path

from simclr.checks import validate
from simclr.config import HASH_VERSION, ConfigError, replace, total_steps
from simclr.migrate import migrate
from simclr.store import EARLIER, StoreError, check_writable, earlier_engine_runs, read_json, verify
from studies import STUDIES, common
from studies.launchers import LAUNCHERS, launch
from studies.launchers.common import Resources, cores, describe, reuse, unfinished
from studies.presets import baseline

# training-set sizes for --dry-run where the data is not read (folder: assumed to be CIFAR-10)
TRAIN_SIZES = {"cifar10": 50_000, "cifar100": 50_000, "stl10": 5_000, "folder": 50_000, "imagenet": 1_281_167}


def load_study(name: str):
    if name not in STUDIES:
        raise SystemExit(f"unknown study {name!r}; available: {', '.join(STUDIES)} (python studies/run.py --list)")
    return importlib.import_module(f"studies.{name}")


def expand(study, preset: str, data_root: str = "", seeds: int = 1, sets=(), **options) -> list:
    """The study's distinct runs, each arm repeated over seeds, with --set overrides applied; validated."""
    return [validate(c) for c in common.runs([(e["labels"], e["config"]) for e in common.expand(
        study, preset, data_root, seeds, sets, **options)])]


def study_options(study, args) -> dict:
    """The study-specific flags that were given, checked against what the study accepts."""
    given = {"operators": tuple(args.operators.split(",")) if args.operators else None,
             "symmetric": args.symmetric or None, "grid": args.grid or None,
             "weights": tuple(args.weights) or None}
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


# images/s of one run of a preset's baseline, measured (benchmarks/throughput.py, 2-core CPU); the
# GPU presets have no default: their hours need the user's --throughput (benchmarks/throughput.py <preset>)
MEASURED_THROUGHPUT = {"tiny": 980.0, "cpu": 980.0}


def dry_run(configs, num_train: int | None, throughput: float | None, labels: dict | None = None,
            reference=None, at_once: int = 1, where: str = "one after another") -> None:
    """Print each run and the study's cost. `throughput` is images/s of one run of the `reference`
    config (the preset's baseline) on the resources it gets; other encoders are costed by their FLOPs
    relative to it (no throughput: images and FLOPs only). `at_once` runs in parallel give the
    wall-clock estimate."""
    flops, images, run_flops = 0.0, 0, []
    per_image: dict[tuple, float] = {}

    def cost(cfg) -> float:
        key = (cfg.encoder, cfg.head, cfg.data.image_size)
        if key not in per_image:
            per_image[key] = train_flops_per_image(cfg)
        return per_image[key]

    for cfg in configs:
        n = num_train or cfg.data.num_train
        steps = total_steps(cfg, n)
        images += steps * cfg.train.batch_size
        flops += steps * cfg.train.batch_size * cost(cfg)
        run_flops.append(steps * cfg.train.batch_size * cost(cfg))
        print(f"{cfg.run_id}  steps={steps}  {describe(cfg, labels)}")
    print(f"\n{len(configs)} runs, {images:,} training images (2 views each), {flops / 1e12:,.1f} TFLOP", end="")
    if not throughput:
        print("; for hours pass --throughput, the images/s of one run of this preset's baseline (with your "
              "--set) on the devices it gets: `python benchmarks/throughput.py <preset> [key=value ...]` "
              "measures one device's")
        return
    rate = throughput * cost(reference or configs[0])  # FLOP/s
    hours = [f / rate / 3600 for f in run_flops]
    print(f"; at {throughput:,.0f} images/s of the preset's baseline encoder ({rate / 1e12:.2f} TFLOP/s): "
          f"{flops / rate / 3600:,.2f} hours of pretraining (evaluations not counted: fine-tuning, "
          "transfer and probes add to it)")
    if at_once > 1:  # the longest run bounds the wall clock however many run at once
        wall = max(sum(hours) / min(at_once, len(hours)), max(hours))
        print(f"{where}: {min(at_once, len(hours))} runs at once, about {wall:,.2f} hours of wall clock "
              f"(the longest run: {max(hours):.2f} h)")


def cell_labels(entries: list[dict]) -> dict[str, str]:
    out: dict[str, list[str]] = {}
    for e in entries:
        text = ", ".join(f"{k}={v}" for k, v in e["labels"].items()) + f", seed={e['seed']}"
        out.setdefault(e["config"].run_id, []).append(text)
    return {k: " | ".join(v) for k, v in out.items()}


def resources(args) -> Resources:
    return Resources(workers=args.workers, cpus_per_run=args.cpus_per_run, gpus_per_run=args.gpus_per_run,
                     tasks_per_run=args.tasks_per_run,
                     mem_gb=args.mem_gb, time_min=args.time, partition=args.partition, account=args.account,
                     qos=args.qos, nodes=args.nodes, parallelism=args.array_parallelism,
                     max_requeues=args.max_requeues, max_failures=args.max_failures,
                     ray_address=args.ray_address, wait=args.wait, logs=args.slurm_logs,
                     extra={"ray_storage": args.ray_storage, "cpus_per_node": args.cpus_per_node,
                            "gpus_per_node": args.gpus_per_node})


def parallel_runs(args, runs: int) -> tuple[int, str]:
    """How many runs the chosen launcher and resources run at once, and a description."""
    if args.launcher == "local":
        return args.workers, f"locally with --workers {args.workers}"
    if args.launcher == "slurm":
        cap = args.array_parallelism or runs
        return cap, f"SLURM array (--array-parallelism {args.array_parallelism or 'none'})"
    cpus = (args.cpus_per_node or cores()) * (args.nodes if args.launcher == "ray-slurm" else 1)
    return max(1, cpus // args.cpus_per_run), f"Ray with {cpus} CPUs at --cpus-per-run {args.cpus_per_run}"


# names that go into a batch script or a command line: no spaces, quotes, newlines or shell syntax
SCHEDULER_NAME = re.compile(r"[A-Za-z0-9_.,:+-]*")
RAY_ADDRESS = re.compile(r"(auto|local|(ray://)?[A-Za-z0-9_.-]+:[0-9]+)?")


def check_args(args) -> list[str]:
    """Problems with the launcher flags, all at once."""
    e = []
    for flag in ("workers", "cpus_per_run", "time", "nodes"):
        if getattr(args, flag) < 1:
            e.append(f"--{flag.replace('_', '-')} {getattr(args, flag)}: must be >= 1")
    for flag in ("gpus_per_run", "tasks_per_run", "max_failures", "mem_gb", "array_parallelism", "max_requeues",
                 "cpus_per_node", "gpus_per_node"):
        if getattr(args, flag) < 0:
            e.append(f"--{flag.replace('_', '-')} {getattr(args, flag)}: must be >= 0")
    for flag in ("partition", "account", "qos"):
        if not SCHEDULER_NAME.fullmatch(getattr(args, flag)):
            e.append(f"--{flag} {getattr(args, flag)!r}: a SLURM name has only letters, digits and _.,:+- "
                     "(it is written into a batch script)")
    for store in args.reuse:
        if not any(Path(store).glob("*/config.json")):
            e.append(f"--reuse {store}: no run folders there (<store>/<run id>/config.json); pass a result "
                     "store itself, e.g. results/seed_noise/cpu")
    if not RAY_ADDRESS.fullmatch(args.ray_address):
        e.append(f"--ray-address {args.ray_address!r}: expected auto, host:port or ray://host:port")
    return e


def preflight(configs, results: str, world_size: int = 1) -> None:
    """What can fail before the first run, checked once for the whole study: the store takes files,
    the data sets exist, the run lengths fit the data and the processes of a run, outside weights fit
    their encoder. Raises with the fix."""
    from simclr import data
    from simclr.checks import check_against_data, check_environment
    from simclr.export import check_weights

    for cfg in configs:
        validate(cfg, world_size=world_size)
        check_environment(cfg)
    for cfg in {c.encoder: c for c in configs if c.encoder.weights}.values():  # each outside encoder fits
        check_weights(cfg)
    check_writable(results)
    seen, sizes = set(), {}
    for cfg in configs:
        d = cfg.data
        key = (d.name, d.root, d.cache_dir, d.download, d.labels)
        if key not in seen:
            seen.add(key)
            data.check_available(d.name, d.root, d.cache_dir, d.download, d.labels)
            if d.name == "folder":
                sizes[key] = data.count_images(d.root, d.labels)
        for spec in cfg.eval.transfer + ((cfg.eval.data,) if cfg.eval.data else ()):
            if (spec, d.cache_dir, d.download) not in seen:
                seen.add((spec, d.cache_dir, d.download))
                data.check_transfer(spec, d)
        num_train = d.num_train if d.name == "synthetic" else sizes.get(key)
        if num_train:
            check_against_data(cfg, num_train)


def emulated_bf16(configs) -> bool:
    """Whether a run of the study would train in bf16 on this machine's CPU that only emulates it."""
    import torch

    from simclr.device import cpu_emulates_bf16
    if any(c.train.device not in ("auto", "cpu") for c in configs) or torch.cuda.is_available():
        return False
    return any(cpu_emulates_bf16(c.train.precision) for c in configs)


def check_engine(results: str) -> None:
    """A store holding runs of an earlier engine is never continued: its results differ from this
    engine's, so new runs beside them would be judged together with them."""
    earlier = earlier_engine_runs(results)
    if earlier:
        runs = f"{len(earlier)} run{'s' * (len(earlier) != 1)}"
        raise ValueError(f"{results} holds {runs} {EARLIER}; a store never mixes them with this "
                         f"engine's runs. To re-run the study, move the store away (git rm -r {results}, or mv) "
                         "and run again; to keep it, pass --results DIR for the new runs")


def check_data_root(configs, results: str) -> None:
    """A store trained from another --data-root shares no run id with this one (data.root is part of
    a run id: another folder may hold other data): say so instead of training the whole study again."""
    stored = [p.parent for p in Path(results).glob("*/metrics.json")]
    if not stored or {c.run_id for c in configs} & {p.name for p in stored}:
        return
    roots = {(read_json(p / "config.json").get("data") or {}).get("root", "") for p in stored
             if (p / "config.json").exists()}
    if roots and configs[0].data.root not in roots:
        raise ValueError(f"{results} holds {len(stored)} finished runs, none with this call's run ids: they read "
                         f"--data-root {', '.join(sorted(roots))}, this call {configs[0].data.root or '(none)'}, "
                         "and the data root is part of a run id. To continue the store, pass its --data-root "
                         "(a symlink to your copy of the data works); to start a new one, pass --results DIR")


def print_status(configs, results: str) -> int:
    """What the store and the scheduler say about every run of the study."""
    from studies.launchers.common import read_submissions, status

    jobs = [s["job_id"] for s in read_submissions(results).values() if s.get("launcher") in ("slurm", "ray-slurm")]
    states = {}
    if jobs:
        from studies.launchers.slurm import scheduler_states
        states = scheduler_states(jobs)
    groups = status(configs, results, states)
    print(" | ".join(f"{k} {len(v)}" for k, v in groups.items()) + f"  ({len(configs)} runs, {results})")
    for name in ("running", "queued", "failed"):
        for line in groups.get(name, []):
            print(f"  {name:8s} {line}")
    for problem in verify(results) if Path(results).exists() else []:  # anything that would make it lie
        print(f"  store    {problem}")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python studies/run.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("study", nargs="?")
    ap.add_argument("--list", action="store_true", help="list the studies")
    ap.add_argument("--preset", default="tiny", help="tiny | cpu | cifar10 | imagenet")
    ap.add_argument("--data-root", default="", help="data set folder (cpu, imagenet presets)")
    ap.add_argument("--results", default="", help="result store (default results/<study>/<preset>)")
    ap.add_argument("--seeds", type=int, default=None, help="repeat every run with this many seeds (default 1; "
                    "seed_noise: 5)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override every run")
    ap.add_argument("--launcher", default="local", choices=LAUNCHERS,
                    help="local | ray (Ray Tune) | slurm (submitit job array) | ray-slurm (Ray inside a "
                         "SLURM allocation)")
    ap.add_argument("--status", action="store_true", help="done / running / queued / failed runs, from "
                    "the store and the scheduler; runs nothing")
    ap.add_argument("--workers", type=int, default=1, help="local: runs at once (threads split evenly)")
    cluster = ap.add_argument_group("ray and slurm launchers")
    cluster.add_argument("--cpus-per-run", type=int, default=1, help="CPUs (and torch threads) of one run")
    cluster.add_argument("--gpus-per-run", type=int, default=0, help="GPUs of one run (slurm: one task each)")
    cluster.add_argument("--tasks-per-run", type=int, default=0, help="slurm: processes of one run, "
                         "one torch.distributed group (default: one per GPU)")
    cluster.add_argument("--max-failures", type=int, default=2, help="ray: retries of a crashed trial")
    cluster.add_argument("--ray-address", default="", help="ray: join this cluster (host:port or auto) "
                         "instead of starting a local Ray")
    cluster.add_argument("--ray-storage", default="", help="ray: Tune's experiment folder (~/ray_results)")
    cluster.add_argument("--partition", default="", help="slurm: partition")
    cluster.add_argument("--account", default="", help="slurm: account")
    cluster.add_argument("--qos", default="", help="slurm: quality of service")
    cluster.add_argument("--time", type=int, default=60, help="slurm: minutes a job may run (a run past "
                         "it is requeued and resumes from its checkpoint)")
    cluster.add_argument("--mem-gb", type=float, default=0, help="slurm: memory of one run (0: default)")
    cluster.add_argument("--nodes", type=int, default=1, help="slurm: nodes of one run (its tasks spread "
                         "over them); ray-slurm: nodes of the Ray cluster")
    cluster.add_argument("--gpus-per-node", type=int, default=0, help="ray-slurm: GPUs Ray gets on each "
                         "node (default: --gpus-per-run)")
    cluster.add_argument("--cpus-per-node", type=int, default=0, help="ray-slurm: CPUs Ray gets on "
                         "each node (default: --cpus-per-run)")
    cluster.add_argument("--array-parallelism", type=int, default=0, help="slurm: runs at once (0: no cap)")
    cluster.add_argument("--max-requeues", type=int, default=3, help="slurm: time-outs and preemptions "
                         "one run survives")
    cluster.add_argument("--slurm-logs", default="", help="slurm: submitit folder (<results>/.slurm)")
    cluster.add_argument("--wait", action="store_true", help="slurm: block until every job has ended")
    ap.add_argument("--operators", default="", help="augmentation_grid: comma-separated sub-grid")
    ap.add_argument("--symmetric", action="store_true", help="augmentation_grid: ops on both branches")
    ap.add_argument("--grid", default="", help="loss_functions: small | full tuning grid (default by preset)")
    ap.add_argument("--weights", action="append", default=[], metavar="NAME=PATH[,arch=A,...]",
                    help="checkpoints: an outside encoder to evaluate beside the baseline (repeatable)")
    ap.add_argument("--reuse", action="append", default=[], metavar="STORE",
                    help="copy the runs another store finished (the same run id: the same config) instead of "
                         "training them again, e.g. --reuse results/seed_noise/cpu (repeatable)")
    ap.add_argument("--dry-run", action="store_true", help="print the runs and their compute, run nothing")
    ap.add_argument("--throughput", type=float, default=None,
                    help="--dry-run: images/s of one run of the preset's baseline (as --set changes it) on the "
                         "resources it gets "
                         "(default 980 for the tiny and cpu presets: a 2-core CPU, measured; none for the GPU "
                         "presets; benchmarks/throughput.py measures yours); other encoders are scaled by "
                         "their FLOPs")
    args = ap.parse_args(argv)
    problems = check_args(args)
    if problems:
        print("error: " + "\n  ".join(problems), file=sys.stderr)
        return 2
    argv_used = list(sys.argv[1:] if argv is None else argv)
    if args.list or not args.study:
        for name in STUDIES:
            print(f"{name:20s} {load_study(name).TITLE}")
        return 0
    study = load_study(args.study)
    try:
        seeds = args.seeds if args.seeds is not None else getattr(study, "SEEDS", 1)
        entries = common.expand(study, args.preset, args.data_root, seeds, args.set,
                                **study_options(study, args))
        for entry in entries:  # every arm's values, also before --status and --dry-run
            validate(entry["config"])
    except (ConfigError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    configs = common.runs([(e["labels"], e["config"]) for e in entries])
    results = args.results or f"results/{args.study}/{args.preset}"
    if args.launcher == "local" and not args.status and emulated_bf16(configs):
        from simclr.device import EMULATED_BF16
        hours = "; the --dry-run hours assume a CPU that computes bf16" if args.dry_run else ""
        print(f"warning: {EMULATED_BF16}{hours}", file=sys.stderr)
    try:
        if not args.dry_run:  # a plan reads no store
            if not args.status:  # reading an old store's state is fine
                check_engine(results)
            check_data_root(configs, results)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.status:
        return print_status(configs, results)
    if args.dry_run:
        dry_run(configs, TRAIN_SIZES.get(configs[0].data.name),
                args.throughput or MEASURED_THROUGHPUT.get(args.preset), cell_labels(entries),
                # a given --throughput is the baseline's as --set changes it (another encoder: other
                # FLOPs); the measured defaults are the plain baseline's
                replace(baseline(args.preset, args.data_root),
                        **common.parse_sets(args.set if args.throughput else [])),
                *parallel_runs(args, len(configs)))
        return 0
    try:  # nothing runs until the store, the data and every config have passed
        preflight(configs, results, world_size=(args.tasks_per_run or args.gpus_per_run or 1)
                  if args.launcher == "slurm" else 1)
        for old, new in migrate(results):  # runs stored under an earlier run_id version are found, not redone
            print(f"run {old} is now {new} (run_id version {HASH_VERSION})", file=sys.stderr)
        common.write_manifest(results, common.manifest(args.study, args.preset, entries, argv_used))
        todo = len(unfinished(configs, results))
        copied = reuse(configs, results, args.reuse)
        for run_id, source in copied:
            print(f"run {run_id} copied from {source} (the same run id: nothing to train)", file=sys.stderr)
        if args.reuse:  # a different --data-root or --set changes every run id: say when nothing matched
            print(f"--reuse: {len(copied)} of {todo} unfinished runs copied, the rest train here (a run is "
                  "copied where its run id matches: data.root and every --set included)", file=sys.stderr)
    except (OSError, RuntimeError, ValueError) as err:  # ConfigError, StoreError, missing data
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        outcomes = launch(args.launcher, args.study, configs, results, resources(args), cell_labels(entries))
    except (StoreError, RuntimeError, ValueError) as err:  # a full disk mid-study (finished runs are kept),
        # no SLURM controller (nothing was submitted), ...
        print(f"error: {err}", file=sys.stderr)
        return 2
    if any(o.get("status") == "submitted" for o in outcomes):
        print(f"the study runs on the cluster; see `python studies/run.py {args.study} --status "
              f"{' '.join(argv_used[1:])}`, then run the analysis: python analysis/{args.study}.py "
              f"--results {results}", file=sys.stderr)
        return 0
    failed = [o for o in outcomes if o.get("status") == "failed"]
    for o in failed:
        print(f"run {o['run_id']} failed: {o['error']}", file=sys.stderr)
    pending = [o for o in outcomes if o.get("status") in ("incomplete", "running elsewhere")]
    if pending:
        print(f"{len(pending)} runs were interrupted or are trained by another process; rerun the same "
              "command to resume or collect them", file=sys.stderr)
    print(f"{len(outcomes) - len(failed) - len(pending)}/{len(outcomes)} runs finished in {results}",
          file=sys.stderr)
    try:
        paths = importlib.import_module(f"analysis.{args.study}").make(results)
        paths.append(importlib.import_module("analysis.report").write([Path(results)], results,
                                                                       Path(results) / "report.html"))
    except Exception:  # the runs are stored; the analysis can be rerun on its own once fixed
        traceback.print_exc()
        print(f"error: the analysis failed; the runs are kept in {results}: "
              f"python analysis/{args.study}.py --results {results}", file=sys.stderr)
        return 1
    for path in paths:
        print(f"wrote {path}", file=sys.stderr)
        if path.suffix == ".md":
            print(path.read_text())
    return 1 if failed or pending else 0


if __name__ == "__main__":
    sys.exit(main())

"""python -m simclr [config.yaml] [key=value ...] [--results DIR]: one run, its metrics printed as JSON."""
from __future__ import annotations

import argparse
import json
import os
import sys

from simclr import faults
from simclr.checks import validate
from simclr.config import ConfigError, load
from simclr.data import DataError
from simclr.engine import run
from simclr.store import StoreError
from simclr.train import OutOfMemory


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simclr", description=__doc__)
    parser.add_argument("items", nargs="*", help="an optional config file (.yaml/.json), then key=value overrides")
    parser.add_argument("--results", default="results/runs", help="result store directory")
    parser.add_argument("--print-config", action="store_true", help="print the resolved config and run_id, then exit")
    args = parser.parse_args(argv)
    path = args.items[0] if args.items and "=" not in args.items[0] else None
    overrides = args.items[1:] if path else args.items
    try:
        cfg = validate(load(path, overrides))
    except (ConfigError, FileNotFoundError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.print_config:
        from simclr.config import to_dict
        print(json.dumps({"run_id": cfg.run_id, "config": to_dict(cfg)}, indent=2))
        return 0
    print(f"run {cfg.run_id}: {cfg.encoder.arch} on {cfg.data.name}, method {cfg.train.method}, "
          f"log in {args.results}/{cfg.run_id}/log.jsonl", file=sys.stderr)
    try:
        metrics = run(cfg, args.results, on_step=faults.from_env())
    except (ConfigError, StoreError, DataError, FileNotFoundError, OutOfMemory) as err:  # explained failures
        print(f"error: {err}", file=sys.stderr)
        return 2
    if os.environ.get("RANK", "0") != "0":  # torchrun: process 0 reports for the run
        return 0 if metrics.get("status") == "completed" else 1
    print(json.dumps(metrics, indent=2, sort_keys=True))
    accs = ", ".join(f"{k.removesuffix('_acc')} {v:.1f}%" for k, v in metrics.items()
                     if k.endswith("_acc") and not k.startswith("train_"))
    print(f"run {cfg.run_id} {metrics.get('status')} after {metrics.get('step')} steps "
          f"in {metrics.get('seconds', 0):.0f} s: {accs}  ({args.results}/{cfg.run_id})", file=sys.stderr)
    return 0 if metrics.get("status") == "completed" else 1


if __name__ == "__main__":
    sys.exit(main())

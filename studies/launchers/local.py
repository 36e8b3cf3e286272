"""The local launcher: this machine, one run after another or in N worker processes."""
from __future__ import annotations

import sys
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context
from pathlib import Path

from simclr.store import StoreError, read_json
from studies.launchers.common import Resources, describe, execute, threads_for


def launch(study: str, configs, results: str, res: Resources = Resources(), labels: dict | None = None) -> list[dict]:
    """Runs one after another, or in `res.workers` processes sharing the CPU threads evenly."""
    if res.workers <= 1:
        out = []
        for i, cfg in enumerate(configs):
            print(f"[{i + 1}/{len(configs)}] {cfg.run_id} {describe(cfg, labels)}", file=sys.stderr, flush=True)
            out.append(execute(cfg, results))
        return out
    out = []
    with ProcessPoolExecutor(res.workers, mp_context=get_context("spawn")) as pool:
        futures = {pool.submit(execute, cfg, results, threads_for(cfg, res.workers)): cfg for cfg in configs}
        for f in as_completed(futures):
            try:
                out.append(f.result())
                cfg = futures[f]
                print(f"[{len(out)}/{len(configs)} done] {cfg.run_id} {describe(cfg, labels)}: "
                      f"{out[-1].get('status', 'failed')}", file=sys.stderr, flush=True)
            except StoreError:  # the disk is full or read-only: start nothing more
                pool.shutdown(wait=True, cancel_futures=True)
                raise
            except BrokenProcessPool:  # a worker was killed (OOM killer, kill -9): its run and the
                cfg = futures[f]       # ones still queued resume on the next invocation
                done = Path(results) / cfg.run_id / "metrics.json"
                out.append(read_json(done) if done.exists() else {
                    "run_id": cfg.run_id, "status": "incomplete",
                    "error": "a worker process died (killed, or out of memory); rerun the study to resume"})
    return out

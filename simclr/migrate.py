"""Stored runs named by an earlier version of run_id, renamed to the current one (simclr.config's
HASH_VERSION): a store written by an older checkout keeps being found and is never trained again.
Runs of an engine whose results differ (a version before RESULTS_SINCE) are left as they are."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from simclr.checks import validate
from simclr.config import RESULTS_SINCE, ConfigError, earlier_engine, from_dict, to_dict
from simclr.store import read_json, write_json


def migrate(results_dir: str | Path, quiet_for: float = 300.0) -> list[tuple[str, str]]:
    """Rename run directories named by an earlier version of run_id to their config's current id,
    updating config.json (fields added since, at their defaults), metrics.json / error.json and the
    study manifests, so stored runs stay found and are never trained again. A directory written to in
    the last `quiet_for` seconds is left alone (a run may be writing it). Returns (old, new) pairs."""
    renames, stale = {}, []
    for cfg_path in sorted(Path(results_dir).glob("**/config.json")):
        run_dir = cfg_path.parent
        try:
            cfg = validate(from_dict(read_json(cfg_path)))
        except (ConfigError, ValueError) as err:
            env = run_dir / "env.json"
            commit = (read_json(env).get("git") or {}).get("commit") if env.exists() else None
            raise ConfigError(
                f"{results_dir} holds run {run_dir.name}, whose config this version cannot read: "
                f"{' '.join(str(err).split())[:300]}. It was written by an incompatible version"
                f"{f' (commit {commit[:12]})' if commit else ''}; pass another --results directory, or run "
                "that version to continue it") from err
        new = cfg.run_id
        if run_dir.name == new:
            continue
        if earlier_engine(run_dir.name, cfg):
            stale.append(run_dir)  # another engine's result: the current one trains its own
            continue
        target = run_dir.parent / new
        newest = max(p.stat().st_mtime for p in run_dir.iterdir())
        if target.exists() or time.time() - newest < quiet_for:
            print(f"warning: {run_dir} has run_id {new} under the current version; not renamed "
                  f"({'the new name exists' if target.exists() else 'written to recently'})", file=sys.stderr)
            continue
        write_json(cfg_path, to_dict(cfg))
        for name in ("metrics.json", "error.json"):
            if (run_dir / name).exists():
                write_json(run_dir / name, {**read_json(run_dir / name), "run_id": new})
        run_dir.rename(target)
        renames[run_dir.name] = new
    if stale:
        print(f"note: {len(stale)} run(s) under {results_dir} were trained by an earlier engine whose results "
              f"differ (run_id version < {RESULTS_SINCE}, e.g. {stale[0]}): left as they are and never reused; "
              "delete them or keep that store apart", file=sys.stderr)
    for path in Path(results_dir).glob("**/study.json"):
        manifest = read_json(path)
        arms = [{**a, "run_id": renames.get(a["run_id"], a["run_id"])} for a in manifest.get("arms", [])]
        if arms != manifest.get("arms"):
            write_json(path, {**manifest, "arms": arms})
    return list(renames.items())

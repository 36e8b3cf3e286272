"""The preset's seed noise from stored results: mean, standard deviation, minimum and maximum over seeds
of the baseline's metrics. The analysis of every other study reads this store directly (common.seed_noise)
to judge its single-seed claims; noise.json records the same numbers for reading.

python analysis/seed_noise.py [--results results/seed_noise/tiny]
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd
from scipy import stats

from analysis import common
from simclr.store import write_json
from studies.common import read_manifest

STUDY = "seed_noise"
# (metric, scale, unit): top-1 of the two probes, and the pretext statistics the temperature claims use
METRICS = (("linear_acc", 1.0, "%"), ("knn_acc", 1.0, "%"), ("train_contrastive_acc", 100.0, "%"),
           ("train_entropy", 1.0, "nats"))


def std_interval(std: float, n: int, level: float = 0.95) -> tuple[float, float]:
    """The confidence interval of sigma from a sample standard deviation over n normal draws:
    (n - 1) s^2 / sigma^2 follows chi-square with n - 1 degrees of freedom. Over 5 seeds it spans
    0.6 s to 2.9 s: a measured spread says little about a target close to it."""
    if n < 2 or pd.isna(std):
        return float("nan"), float("nan")
    tail = (1 - level) / 2
    return (std * (n - 1) ** 0.5 / stats.chi2.ppf(1 - tail, n - 1) ** 0.5,
            std * (n - 1) ** 0.5 / stats.chi2.ppf(tail, n - 1) ** 0.5)


def spread(df: pd.DataFrame) -> list[dict]:
    """Per measured metric: its values' mean, std (with its 95 % interval), min and max over completed
    seeds (in its unit)."""
    done = df[df["status"] == common.DONE]
    rows = []
    for metric, scale, unit in METRICS:
        v = pd.to_numeric(done[metric], errors="coerce").dropna() * scale if metric in done else pd.Series()
        if len(v):
            low, high = std_interval(float(v.std()), len(v))
            rows.append({"metric": metric, "unit": unit, "seeds": len(v), "mean": float(v.mean()),
                         "std": float(v.std()), "std_low": low, "std_high": high, "min": float(v.min()),
                         "max": float(v.max())})
    return rows


def make(results_dir: str | Path) -> list[Path]:
    df, notes = common.load(results_dir, STUDY, report=True)
    if df.empty:
        return []
    out = Path(results_dir)
    preset = (read_manifest(out) or {}).get("preset")
    rows = spread(df)
    if len(df[df["status"] == common.DONE]) < common.NOISE_SEEDS:
        notes.append(f"fewer than {common.NOISE_SEEDS} completed seeds: single-seed claims stay undecided "
                     f"until python studies/run.py seed_noise --preset {preset} completes them")
    show = lambda v: "-" if pd.isna(v) else f"{v:.2f}"  # noqa: E731
    sigma = "std 95 % interval"
    tab = pd.DataFrame([{"metric": r["metric"], "unit": r["unit"], "seeds": str(r["seeds"]),
                         **{k: show(r[k]) for k in ("mean", "std")},
                         sigma: "-" if pd.isna(r["std_low"]) else f"[{show(r['std_low'])}, {show(r['std_high'])}]",
                         **{k: show(r[k]) for k in ("min", "max")}} for r in rows],
                       columns=["metric", "unit", "seeds", "mean", "std", sigma, "min", "max"])
    paths = common.write_table(tab, out, "seed_noise", f"Seed noise of preset {preset}: its baseline over seeds "
                               "(std: sample standard deviation, the sigma a single-seed claim is judged by; "
                               "its 95 % interval: chi-square over the seeds, normal draws assumed)")
    s = {m: common.summary(df, ["seed"], m) for m, _, _ in METRICS[:2]}
    runs = pd.DataFrame([{"seed": str(seed), **{m: common.cell(common.lookup(s[m], seed=seed)) for m in s}}
                         for seed in sorted(df["seed"].unique())], columns=["seed", *s])
    paths += common.write_table(runs, out, "seed_noise_runs", f"Seed noise of preset {preset}: each seed's run")
    paths.append(out / "noise.json")
    write_json(paths[-1], {"study": STUDY, "preset": preset,
                           "seeds": int((df["status"] == common.DONE).sum()),
                           "std": {r["metric"]: None if pd.isna(r["std"]) else float(r["std"]) for r in rows},
                           "stats": rows, "notes": notes})
    return paths


if __name__ == "__main__":
    common.cli(STUDY, make)

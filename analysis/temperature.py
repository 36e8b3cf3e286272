"""Table 5 from stored results: l2 normalization and temperature, with the pretext task's entropy and
contrastive accuracy at the end of pretraining, beside the paper's numbers.

python analysis/temperature.py [--results results/temperature/tiny]
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd  # noqa: E402

from analysis import common  # noqa: E402
from analysis.paper import TABLE5  # noqa: E402
from studies.temperature import CELLS  # noqa: E402

STUDY = "temperature"
PRETEXT = ("train_entropy", "train_contrastive_acc")


def table(df: pd.DataFrame, metric: str) -> tuple[pd.DataFrame, dict]:
    by = ["l2", "t"]
    s = {m: common.summary(df, by, m) for m in (metric, *PRETEXT)}
    # the pretext task's statistics over the seeds that did not collapse (see claims)
    trained = {m: common.summary(df[~df["collapsed"]], by, m) for m in PRETEXT}
    rows, cells = [], {}
    for l2, t in CELLS:
        r = {m: common.lookup(s[m], l2=l2, t=t) for m in s}
        p = TABLE5[(l2, t)]
        cells[(l2, t)] = {k: common.mean(v) for k, v in r.items()}
        cells[(l2, t)].update({f"trained_{m}": common.mean(common.lookup(trained[m], l2=l2, t=t)) for m in PRETEXT})
        cells[(l2, t)]["collapsed_seeds"] = r["train_entropy"].get("collapsed") or 0
        rows.append({"l2 norm": "yes" if l2 else "no", "t": f"{t:g}",
                     "entropy": common.cell(r["train_entropy"]), "paper entropy": p["entropy"],
                     "contrastive acc.": common.cell(r["train_contrastive_acc"], 100.0),
                     "paper contrastive acc.": p["contrastive_acc"],
                     "top-1": common.cell(r[metric]), "paper top-1": p["top1"]})
    return pd.DataFrame(rows), cells


def left_out(claim: common.Claim, cells: dict, keys: list) -> common.Claim:
    gone = [f"t={k[1]:g}" + (f" ({c} seeds)" if (c := cells[k]["collapsed_seeds"]) > 1 else "")
            for k in keys if cells[k]["collapsed_seeds"]]
    if gone:
        claim.detail += f" (collapsed seeds left out: {', '.join(gone)})"
    return claim


def claims(cells: dict, metric: str) -> list[common.Claim]:
    """Top-1 claims count every run (a collapse is that setting's outcome); the claims on entropy and
    contrastive accuracy describe the similarity structure a trained model learned, which a collapsed
    run does not have, so they average over the seeds that did not collapse and name those left out."""
    acc = lambda k: cells[k][metric]
    ctr = lambda k: cells[k]["trained_train_contrastive_acc"] * 100
    l2 = [k for k in CELLS if k[0]]
    raw = [k for k in CELLS if not k[0]]
    mean = lambda xs: pd.Series(xs, dtype=float).mean()  # a cell whose every seed collapsed is NaN: skipped
    best_raw = pd.Series([acc(k) for k in raw], dtype=float).max()
    best_l2 = pd.Series([acc(k) for k in l2], dtype=float).max()
    out = [left_out(common.greater(mean([ctr(k) for k in raw]), mean([ctr(k) for k in l2]),
                                   "contrastive acc. without l2 norm (mean)", "with l2 norm (mean)"), cells, CELLS),
           common.greater(best_l2, best_raw, "best top-1 with l2 norm", "best top-1 without")]
    l2_acc = pd.Series({k[1]: acc(k) for k in l2}, dtype=float).dropna()
    if len(l2_acc) == len(l2):
        best_t = l2_acc.idxmax()
        out.append(common.Claim("an intermediate temperature is best (l2 norm: not 0.05, not 1)",
                                best_t not in (0.05, 1.0), f"best t = {best_t:g} ({l2_acc.max():.1f})"))
    else:
        out.append(common.Claim("an intermediate temperature is best (l2 norm: not 0.05, not 1)", None,
                                f"{len(l2_acc)} of {len(l2)} l2-norm cells measured"))
    rho, n = common.spearman([cells[k]["trained_train_entropy"] for k in l2], [k[1] for k in l2])
    out.append(left_out(common.Claim(
        "with l2 norm, entropy rises with temperature (Spearman > 0.8)", None if pd.isna(rho) else bool(rho > 0.8),
        f"Spearman {rho:+.2f} over {n} cells" if not pd.isna(rho) else f"{n} cells measured"), cells, l2))
    return out


def make(results_dir: str | Path) -> list[Path]:
    df, notes = common.load(results_dir, STUDY, report=True)
    if df.empty:
        return []
    out, metric = Path(results_dir), common.metric_for(df)
    tab, cells = table(df, metric)
    paths = common.write_table(tab, out, "table5", f"Table 5: l2 normalization and temperature ({metric}, %; "
                               "entropy in nats and contrastive accuracy in %, means over the last epoch)")
    corr = common.spearman([cells[k][metric] for k in CELLS], [TABLE5[k]["top1"] for k in CELLS])
    return paths + common.write_report(out, STUDY, "Table 5", metric, claims(cells, metric), corr, notes)


if __name__ == "__main__":
    common.cli(STUDY, make)

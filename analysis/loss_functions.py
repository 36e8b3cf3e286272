"""Table 4 from stored results: each loss at its best tuning cell, beside the paper's numbers, and the
full tuning grid (appendix B.10). The best cell is chosen on the test set, as the paper's table does.

python analysis/loss_functions.py [--results results/loss_functions/tiny]
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd  # noqa: E402

from analysis import common  # noqa: E402
from analysis.paper import TABLE4  # noqa: E402
from studies.loss_functions import COLUMNS  # noqa: E402

STUDY = "loss_functions"
PARAM = {"NT-Xent": "t", "NT-Logi.": "t", "Margin": "margin"}


def table(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, dict, str]:
    """(Table 4: best cell per loss, the whole grid, {loss: best mean}, metric)."""
    metric = common.metric_for(df)
    s = common.summary(df, ["loss", "lr", "param"], metric)
    grid = s.assign(**{metric: [common.cell(r) for r in s.to_dict("records")]})
    grid = grid.rename(columns={"param": "t or margin"})[["loss", "lr", "t or margin", metric]]
    rows, best = [], {}
    for col in COLUMNS:
        sub = s[s["loss"] == col]
        measured = sub.dropna(subset=["mean"])
        top = measured.loc[measured["mean"].idxmax()].to_dict() if len(measured) else {}
        best[col] = common.mean(top)
        name = PARAM[col.replace(" (sh)", "")]
        where = f"lr {top['lr']:.3g}, {name} {top['param']:g}" if top else "-"
        rows.append({"loss": col, "ours (best cell)": common.cell(top) if top else
                     (sub["state"].iloc[0] if len(sub) else "-"), "best cell": where,
                     "cells measured": f"{len(measured)}/{len(sub)}", "paper": TABLE4[col]})
    return pd.DataFrame(rows), grid, best, metric


def unbracketed(df: pd.DataFrame, metric: str) -> list[str]:
    """The losses whose best cell sits at the grid's lowest or highest learning rate."""
    s = common.summary(df, ["loss", "lr", "param"], metric).dropna(subset=["mean"])
    lrs = sorted(s["lr"].unique())
    out = []
    for loss, sub in s.groupby("loss", sort=False):
        if len(lrs) > 1 and sub.loc[sub["mean"].idxmax(), "lr"] in (lrs[0], lrs[-1]):
            out.append(str(loss))
    return out


def claims(best: dict) -> list[common.Claim]:
    others = {k: v for k, v in best.items() if k != "NT-Xent"}
    top_other = max(others, key=lambda k: -1e9 if pd.isna(others[k]) else others[k])
    return [common.greater(best["NT-Xent"], others[top_other], "NT-Xent", f"every other loss (best: {top_other})"),
            common.greater(best["NT-Logi. (sh)"], best["NT-Logi."], "NT-Logistic with semi-hard mining", "without"),
            common.greater(best["Margin (sh)"], best["Margin"], "margin loss with semi-hard mining", "without")]


def make(results_dir: str | Path) -> list[Path]:
    df, notes = common.load(results_dir, STUDY, report=True)
    if df.empty:
        return []
    out = Path(results_dir)
    tab, grid, best, metric = table(df)
    edge = unbracketed(df, metric)
    if edge:
        notes.append(f"best learning rate at the edge of the tuning grid for {', '.join(edge)}: the optimum is not "
                     "bracketed, so these losses may be under-tuned; widen the grid (--grid full)")
    paths = common.write_table(tab, out, "table4", f"Table 4: loss functions at their best tuning cell "
                               f"({metric}, %; chosen on the test set, as the paper: a loss with more cells "
                               "gets more chances, and NT-Xent has one parameter fewer to tune)")
    paths += common.write_table(grid, out, "table4_grid", f"Table 4's tuning grid ({metric}, %)")
    corr = common.spearman([best[c] for c in COLUMNS], [TABLE4[c] for c in COLUMNS])
    return paths + common.write_report(out, STUDY, "Table 4", metric, claims(best), corr, notes)


if __name__ == "__main__":
    common.cli(STUDY, make)

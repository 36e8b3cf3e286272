"""Table 4 from stored results: each loss at its best tuning cell, beside the paper's numbers, and the
full tuning grid (appendix B.10). The best cell is chosen on the test set, as the paper's table does.

python analysis/loss_functions.py [--results results/loss_functions/tiny]
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis import common
from analysis.paper import TABLE4
from studies.loss_functions import COLUMNS, GRIDS

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


def unbracketed(df: pd.DataFrame, metric: str) -> tuple[list[str], list[str]]:
    """(losses whose best cell sits at the grid's lowest or highest learning rate, losses whose best
    cell sits at the edge of their measured rates while a rate beyond it is not measured yet)."""
    lrs = sorted(df["lr"].unique())  # the grid's rates, measured or not
    s = common.summary(df, ["loss", "lr", "param"], metric).dropna(subset=["mean"])
    edge, pending = [], []
    for loss, sub in s.groupby("loss", sort=False):
        best, measured = sub.loc[sub["mean"].idxmax(), "lr"], sorted(sub["lr"].unique())
        if len(lrs) > 1 and best in (lrs[0], lrs[-1]):
            edge.append(str(loss))
        elif len(measured) < len(lrs) and best in (measured[0], measured[-1]):
            pending.append(str(loss))
    return edge, pending


def claims(per_seed: dict, noise: common.Noise | None) -> list[common.Claim]:
    """per_seed: {(loss, lr, param): Cell}. Each loss's best cell is picked within each seed, as the
    table picks it on the test set. Margins, per seed: NT-Xent's best - the best other loss's best;
    semi-hard mining's best - without (NT-Logistic, margin loss)."""
    grid = {loss: [k for k in per_seed if k[0] == loss] for loss in COLUMNS}
    needs = {k: c for k, c in per_seed.items() if k[0] in COLUMNS}
    best = lambda x, loss: common.group_max(x, grid[loss]) if grid[loss] else float("nan")  # noqa: E731
    means = {k: c.values.mean() for k, c in needs.items()}
    others = [c for c in COLUMNS if c != "NT-Xent"]
    top_other = max(others, key=lambda c: -1e9 if pd.isna(best(means, c)) else best(means, c))

    def compare(a: str, b) -> tuple:
        b = b if isinstance(b, list) else [b]
        keys = [k for k in needs if k[0] in (a, *b)]
        margin = lambda x: best(x, a) - max(best(x, o) for o in b)  # noqa: E731
        shown = lambda m: common.versus({"a": best(m, a), "b": max(best(m, o) for o in b)})  # noqa: E731
        # the paper gives each loss's best cell only: every cell of a loss reads as that best
        return {k: needs[k] for k in keys}, margin, noise, shown, {k: TABLE4[k[0]] for k in keys}

    return [common.judge(f"NT-Xent > every other loss (best: {top_other})", *compare("NT-Xent", others)),
            common.judge("NT-Logistic with semi-hard mining > without", *compare("NT-Logi. (sh)", "NT-Logi.")),
            common.judge("margin loss with semi-hard mining > without", *compare("Margin (sh)", "Margin"))]


def make(results_dir: str | Path) -> list[Path]:
    df, notes = common.load(results_dir, STUDY, report=True)
    if df.empty:
        return []
    out = Path(results_dir)
    tab, grid, best, metric = table(df)
    edge, pending = unbracketed(df, metric)
    if edge:
        wider = " (--grid full)" if len(df["lr"].unique()) < len(GRIDS["full"]["lr"]) else " (--set optim.lr=...)"
        notes.append(f"best learning rate at the edge of the tuning grid for {', '.join(edge)}: the optimum is not "
                     f"bracketed, so these losses may be under-tuned; widen the grid{wider}")
    if pending:
        notes.append(f"best learning rate at the edge of the rates measured so far for {', '.join(pending)}: "
                     "rerun the study to fill the grid's other rates")
    paths = common.write_table(tab, out, "table4", f"Table 4: loss functions at their best tuning cell "
                               f"({metric}, %; chosen on the test set, as the paper: a loss with more cells "
                               "gets more chances, and NT-Xent has one parameter fewer to tune)")
    paths += common.write_table(grid, out, "table4_grid", f"Table 4's tuning grid ({metric}, %)")
    corr = common.spearman([best[c] for c in COLUMNS], [TABLE4[c] for c in COLUMNS])
    decided = claims(common.cells(df, ["loss", "lr", "param"], metric), common.seed_noise(out))
    return paths + common.write_report(out, STUDY, "Table 4", metric, decided, corr, notes)


if __name__ == "__main__":
    common.cli(STUDY, make)

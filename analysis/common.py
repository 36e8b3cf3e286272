"""What every table and figure shares: reading a study's result store, mean +- std over seeds, writing
Markdown / LaTeX / CSV tables and PNG / PDF figures, and the agreement report against the paper.

Analysis reads only the store: <results>/study.json (which run fills which cell, written by
studies/run.py) and each run's config.json / metrics.json. Never checkpoints.
"""
from __future__ import annotations

import math
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd

from simclr.store import load_results, write_json
from studies.common import read_manifest

DONE = "completed"


@dataclass
class Claim:
    """One claim of the paper checked on our results: passed is None when the results cannot decide."""
    text: str
    passed: bool | None
    detail: str


def load(results_dir: str | Path, study: str, report: bool = False) -> tuple[pd.DataFrame, list[str]]:
    """One row per (arm, seed): the arm's labels, run_id, status and metrics; and notes on what is
    missing (printed to stderr with report=True). Status: completed, diverged, failed, incomplete
    (started, not finished), missing (not run)."""
    df, notes = _load(Path(results_dir), study)
    if report:
        for n in notes:
            print(n, file=sys.stderr)
    return df, notes


def _load(results_dir: Path, study: str) -> tuple[pd.DataFrame, list[str]]:
    man = read_manifest(results_dir)
    if man is None:
        return pd.DataFrame(), [f"no {results_dir}/study.json: run python studies/run.py {study} "
                                f"--results {results_dir} (it records which run fills which cell)"]
    if man.get("study") != study:
        return pd.DataFrame(), [f"{results_dir} holds study {man.get('study')!r}, not {study!r}"]
    arms = pd.DataFrame([{**a["labels"], "seed": a["seed"], "run_id": a["run_id"]} for a in man["arms"]])
    stored = load_results(results_dir)
    # a label names the cell; a stored column of the same name (metrics.json's "epochs") must not shadow it
    stored = stored.drop(columns=[c for c in arms.columns if c in stored.columns and c != "run_id"])
    df = arms.merge(stored, on="run_id", how="left") if not stored.empty else arms.assign(status=None)
    df["status"] = df["status"].fillna("missing")
    df["collapsed"] = collapsed(df)
    notes = []
    labels = [c for c in arms.columns if c not in ("seed", "run_id")]
    for status, hint in (("missing", "not run yet: rerun the study"),
                         ("incomplete", "started, not finished: rerun the study to resume it"),
                         ("failed", "failed: see error.json in its run directory"),
                         ("diverged", "diverged (non-finite loss): reported as such, not as a number")):
        sub = df[df["status"] == status].drop_duplicates("run_id")
        if len(sub):
            notes.append(f"{len(sub)} run(s) {hint}: {_cells(sub, labels)}")
    sub = df[df["collapsed"]].drop_duplicates("run_id")
    if len(sub):
        notes.append(f"{len(sub)} run(s) collapsed (contrastive accuracy at chance: every view looks alike "
                     f"to the loss; their numbers stand in the tables, marked): {_cells(sub, labels)}")
    return df, notes


def _cells(sub: pd.DataFrame, labels: list[str]) -> str:
    more = f" and {len(sub) - 8} more" if len(sub) > 8 else ""
    return "; ".join(describe(r, labels) for _, r in sub.head(8).iterrows()) + more


def collapsed(df: pd.DataFrame) -> pd.Series:
    """Completed SimCLR runs whose contrastive accuracy ended at chance (at most twice chance: 1 over
    the 2N - 1 candidates, or N with negatives from the other view only, N the batch): the
    representation collapsed, whatever its probe reads (chance, usually)."""
    if "train_contrastive_acc" not in df or "config.train.batch_size" not in df:
        return pd.Series(False, index=df.index)
    n = pd.to_numeric(df["config.train.batch_size"], errors="coerce")
    other_view = df.get("config.loss.negatives", pd.Series(None, index=df.index)) == "other_view"
    chance = 1.0 / n.where(other_view, 2 * n - 1)
    return (df["status"] == DONE) & (pd.to_numeric(df["train_contrastive_acc"], errors="coerce") <= 2 * chance)


def describe(row, labels) -> str:
    show = lambda v: f"{v:g}" if isinstance(v, float) else v  # labels padded with NaN read back as floats
    return ", ".join(f"{k}={show(row[k])}" for k in labels if k in row and not _isna(row[k])) + f" (seed {row['seed']})"


def _isna(v) -> bool:
    return v is None or (isinstance(v, float) and math.isnan(v))


def metric_for(df: pd.DataFrame) -> str:
    """linear evaluation where every completed run has it, else kNN (configs with eval.linear=false)."""
    done = df[df["status"] == DONE]
    if done.empty:
        return "linear_acc"
    return "linear_acc" if "linear_acc" in done and done["linear_acc"].notna().all() else "knn_acc"


def summary(df: pd.DataFrame, by: list[str], metric: str) -> pd.DataFrame:
    """Per cell: mean, std and n of metric over completed seeds, and `state`: "" when n > 0, else why
    there is no number (missing, incomplete, failed, diverged). dropna=False keeps None labels."""
    rows = []
    for key, g in df.groupby(by, dropna=False, sort=False):
        key = key if isinstance(key, tuple) else (key,)
        done = g[g["status"] == DONE]
        values = done[metric].dropna() if metric in done else pd.Series(dtype=float)
        state = "" if len(values) else ("diverged" if (g["status"] == "diverged").any()
                                        else g["status"].mode().iloc[0] if len(done) == 0 else "not measured")
        rows.append({**dict(zip(by, key)), "mean": values.mean() if len(values) else float("nan"),
                     "std": values.std() if len(values) > 1 else float("nan"), "n": len(values), "state": state,
                     # among the seeds counted in n: a cell is "collapsed" when all of them are
                     "collapsed": int(done.loc[values.index, "collapsed"].sum()) if "collapsed" in done else 0})
    return pd.DataFrame(rows, columns=by + ["mean", "std", "n", "state", "collapsed"])


def lookup(s: pd.DataFrame, **labels) -> dict:
    """The summary row of one cell ({} when the study has no such cell)."""
    m = pd.Series(True, index=s.index)
    for k, v in labels.items():
        m &= s[k].isna() if _isna(v) else s[k] == v
    return s[m].iloc[0].to_dict() if m.any() else {}


def cell(row: dict, scale: float = 1.0) -> str:
    """'59.6' for one seed, '59.6 ± 1.2' over several, else why there is no number."""
    if not row or _isna(row.get("mean")):
        return (row or {}).get("state") or "-"
    mean, std = row["mean"] * scale, row.get("std", float("nan")) * scale
    text = f"{mean:.1f}" if row.get("n", 1) <= 1 or _isna(std) else f"{mean:.1f} ± {std:.1f}"
    k = row.get("collapsed") or 0
    return text + (" (collapsed)" if k and k == row.get("n") else f" ({k} of {row['n']} seeds collapsed)" if k else "")


class Mean(float):
    """A cell's mean over seeds that remembers its std and n, so a claim can weigh the seeds' spread."""

    def __new__(cls, value: float, std: float = float("nan"), n: int = 1):
        self = super().__new__(cls, value)
        self.std, self.n = std, n
        return self


def mean(row: dict) -> float:
    if not row:
        return float("nan")
    return Mean(row.get("mean", float("nan")), row.get("std", float("nan")), int(row.get("n", 1) or 0))


def spearman(ours, paper) -> tuple[float, int]:
    """Spearman rank correlation of paired cells (Pearson on average ranks) and the number of pairs."""
    pair = pd.DataFrame({"ours": list(ours), "paper": list(paper)}).dropna()
    if len(pair) < 3 or pair["ours"].nunique() < 2 or pair["paper"].nunique() < 2:
        return float("nan"), len(pair)
    return float(pair["ours"].rank().corr(pair["paper"].rank())), len(pair)


# Two cells closer than this (accuracy points) are not told apart: one seed of a small run moves by
# about that much (the tiny preset's kNN: 1-2 points between seeds). Run --seeds 3 to decide them.
NOISE = 1.0


def _tolerance(a: float, b: float) -> tuple[float, str]:
    """How close to its threshold a difference of two cells stays undecided: NOISE, or where both
    cells have several seeds and they spread more, two standard errors of the difference (unpaired,
    so cautious where the seed moves all cells together). Only cells read through mean() carry their
    seeds; derived numbers (means over cells, maxima, gaps) are held to NOISE."""
    sa, sb = getattr(a, "std", float("nan")), getattr(b, "std", float("nan"))
    na, nb = getattr(a, "n", 1), getattr(b, "n", 1)
    if na < 2 or nb < 2 or _isna(sa) or _isna(sb):
        return NOISE, f"{NOISE:g} point"
    two_se = 2 * math.sqrt(sa ** 2 / na + sb ** 2 / nb)
    return (two_se, f"two standard errors ({two_se:.1f}) over seeds") if two_se > NOISE else (NOISE, f"{NOISE:g} point")


def _decide(diff: float, a: float, b: float, text: str) -> Claim:
    """diff = how far the claim clears its threshold; undecided within the tolerance of it."""
    numbers = f"{a:.1f} vs {b:.1f} ({a - b:+.1f})"
    tol, what = _tolerance(a, b)
    if abs(diff) < tol:
        return Claim(text, None, f"{numbers}: within {what} of the threshold, not told apart")
    return Claim(text, bool(diff > 0), numbers)


def greater(a: float, b: float, what_a: str, what_b: str, margin: float = 0.0) -> Claim:
    """Claim 'a > b (+ margin)', undecided when either is missing or the difference is within NOISE."""
    text = f"{what_a} > {what_b}" + (f" by more than {margin:g} points" if margin else "")
    if _isna(a) or _isna(b):
        return Claim(text, None, f"{what_a}: {num(a)}, {what_b}: {num(b)}: not both measured")
    return _decide(a - b - margin, a, b, text)


def at_least(a: float, b: float, text: str, margin: float = 0.0) -> Claim:
    """Claim 'a >= b - margin', undecided when either is missing or the difference is within NOISE."""
    if _isna(a) or _isna(b):
        return Claim(text, None, "not both measured")
    return _decide(a - b + margin, a, b, text)


def exceeds(x: float, y: float, text: str, detail: str) -> Claim:
    """Claim 'x > y' for derived quantities (gaps, gains) with its own wording; undecided when either is
    missing or within NOISE."""
    if _isna(x) or _isna(y):
        return Claim(text, None, "not every cell measured")
    if abs(x - y) < NOISE:
        return Claim(text, None, f"{detail}: within {NOISE:g} point, not told apart")
    return Claim(text, bool(x > y), detail)


def num(v) -> str:
    return "-" if _isna(v) else f"{v:.1f}"


def write_table(table: pd.DataFrame, out: Path, name: str, caption: str) -> list[Path]:
    """table as name.md (with its caption), name.tex and name.csv."""
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.md", out / f"{name}.tex", out / f"{name}.csv"]
    # disable_numparse: cells are text as written ("86.0", "61.0 ± 1.2", "missing"), not re-read as numbers
    paths[0].write_text(f"{caption}\n\n{table.to_markdown(index=False, disable_numparse=True)}\n")
    paths[1].write_text(table.to_latex(index=False, caption=caption, label=f"tab:{name}", escape=True))
    table.to_csv(paths[2], index=False)
    return paths


def figure(nrows: int = 1, ncols: int = 1, size=(6.0, 4.0)):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(nrows, ncols, figsize=(size[0] * ncols, size[1] * nrows), squeeze=False)
    return fig, axes


def save_figure(fig, out: Path, name: str) -> list[Path]:
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    paths = [out / f"{name}.png", out / f"{name}.pdf"]
    fig.tight_layout()
    fig.savefig(paths[0], dpi=150)
    fig.savefig(paths[1], metadata={"CreationDate": None})  # byte-identical when nothing changed
    plt.close(fig)
    return paths


def write_report(out: Path, study: str, paper_ref: str, metric: str, claims: list[Claim],
                 correlation: tuple[float, int] | None, notes: list[str], extra: str = "",
                 correlated: str = "cells", unit: str = "cells") -> list[Path]:
    """agreement.md and agreement.json: each claim pass / fail / undecided with its numbers, and the
    Spearman correlation of our cells (or of what `correlated` names) with the paper's where the paper
    gives numbers."""
    mark = {True: "pass", False: "FAIL", None: "undecided"}
    lines = [f"# Agreement with the paper: {study} ({paper_ref})", "",
             f"Our metric: {metric} (final model, mean over seeds). The paper's numbers are ImageNet results "
             "(ResNet-50 unless the table says otherwise): compare rankings and directions, not absolute "
             "numbers.", ""]
    lines += ["| claim | result | numbers |", "|---|---|---|"]
    lines += [f"| {c.text} | {mark[c.passed]} | {c.detail} |" for c in claims]
    if correlation is not None:
        rho, n = correlation
        lines += ["", f"Spearman rank correlation with the paper's {correlated}: "
                      f"{'n/a' if _isna(rho) else f'{rho:+.2f}'} over {n} {unit}."]
    if extra:
        lines += ["", extra]
    if notes:
        lines += ["", "## What is missing or unusual", ""] + [f"- {n}" for n in notes]
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "agreement.md", out / "agreement.json"]
    paths[0].write_text("\n".join(lines) + "\n")
    write_json(paths[1], {"study": study, "paper": paper_ref, "metric": metric,
                          "claims": [asdict(c) for c in claims],
                          "spearman": None if correlation is None or _isna(correlation[0]) else correlation[0],
                          "spearman_cells": None if correlation is None else correlation[1],
                          "spearman_of": correlated, "spearman_unit": unit, "notes": notes})
    return paths


def cli(study: str, make) -> None:
    """`python analysis/<study>.py [--results DIR]`: regenerate one study's outputs, print their paths."""
    import argparse

    ap = argparse.ArgumentParser(description=f"Tables, figures and agreement report of the {study} study")
    ap.add_argument("--results", default=f"results/{study}/tiny")
    for p in make(ap.parse_args().results):
        print(p)

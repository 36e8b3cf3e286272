"""What every table and figure shares: reading a study's result store, mean +- std over seeds, writing
Markdown / LaTeX / CSV tables and PNG / PDF figures, and the agreement report against the paper.

Analysis reads only the store: <results>/study.json (which run fills which cell, written by
studies/run.py) and each run's config.json / metrics.json; a claim over one seed also reads the seed
noise store of the same preset (<results root>/seed_noise/<preset>/). Never checkpoints.
"""
from __future__ import annotations

import math
import sys
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import pandas as pd
from scipy import stats

from simclr.store import EARLIER, load_results, write_json
from simclr.store import earlier_engine_runs as store_earlier_runs
from studies.common import read_manifest

DONE = "completed"


@dataclass
class Claim:
    """One claim of the paper checked on our results: passed is None when the results cannot decide.
    margin: the mean over paired seeds of how far ours clear the claim's threshold the paper's way; low
    and high: its 95 % interval; method: how that interval was had (see judge); paper: the same
    comparison on the paper's numbers, where the paper gives them."""
    text: str
    passed: bool | None
    detail: str
    margin: float | None = None
    low: float | None = None
    high: float | None = None
    n_seeds: int = 0
    method: str = ""
    paper: str = ""


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


def interval_cell(row: dict) -> str:
    """'52.1 [37.0, 67.2]': the mean over seeds and its 95 % interval (Student's t over the seeds); one
    seed: its value alone; else why there is no number."""
    if not row or _isna(row.get("mean")) or row.get("n", 1) <= 1 or _isna(row.get("std")):
        return cell(row)
    low, high = stats.t.interval(0.95, row["n"] - 1, loc=row["mean"], scale=row["std"] / math.sqrt(row["n"]))
    return f"{row['mean']:.1f} [{low:.1f}, {high:.1f}]"


def mean(row: dict) -> float:
    """A summary row's mean (NaN for no row)."""
    return float(row.get("mean", float("nan"))) if row else float("nan")


class Correlation(tuple):
    """(rho, n) of paired cells, carrying the 95 % interval of rho as low / high (NaN below 4 pairs)."""

    def __new__(cls, rho: float, n: int, low: float = float("nan"), high: float = float("nan")):
        self = super().__new__(cls, (rho, n))
        self.low, self.high = low, high
        return self


def spearman(ours, paper) -> Correlation:
    """Spearman rank correlation of paired cells (Pearson on average ranks) and the number of pairs, with
    its 95 % interval: Fisher z of the Pearson correlation of the ranks (scipy.stats.pearsonr), which needs
    4 pairs or more."""
    pair = pd.DataFrame({"ours": list(ours), "paper": list(paper)}).dropna()
    if len(pair) < 3 or pair["ours"].nunique() < 2 or pair["paper"].nunique() < 2:
        return Correlation(float("nan"), len(pair))
    ranks = pair.rank()
    rho = float(ranks["ours"].corr(ranks["paper"]))
    if len(pair) < 4:
        return Correlation(rho, len(pair))
    ci = stats.pearsonr(ranks["ours"], ranks["paper"]).confidence_interval(0.95)
    return Correlation(rho, len(pair), float(ci.low), float(ci.high))


# ---------------------------------------------------------------------------------------------------
# Deciding a claim. Arms with the same seed share their initialisation and data order, so a claim's
# quantity is computed seed by seed over the seeds every cell it needs has completed, as a margin:
# positive where our results go the paper's way (a - b for "a > b", 3 - range for "range < 3"). The
# claim passes when the 95 % interval of the mean margin lies above 0, fails when it lies below, and is
# undecided otherwise. Over two paired seeds or more the interval is Student's t over the per-seed
# margins. One seed cannot measure its own spread: the interval is margin +- 1.96 sigma_d, sigma_d
# propagated from the preset's seed noise, the baseline's spread over seeds measured by the seed_noise
# study (<results root>/seed_noise/<preset>/).

Q = float(stats.norm.ppf(0.975))
NOISE_SEEDS = 5  # a standard deviation over fewer seeds is itself too uncertain to judge by
RULE = ("How a claim is decided: its margin (positive where ours go the paper's way: a - b for \"a > b\", "
        "3 - range for \"range < 3\") is computed seed by seed over the seeds every cell it needs has completed "
        "(same seed: same initialisation and data order). pass: the 95 % interval of the mean margin lies above "
        "0; FAIL: below 0; undecided: it holds 0. Two seeds or more: Student's t interval over the paired "
        "seeds. One seed: the margin +- 1.96 sigma_d, with sigma_d propagated from the preset's measured seed "
        "noise (python studies/run.py seed_noise): each cell moved by 1.96 sigma alone, the margin's changes "
        "added in quadrature (exact for differences and means of cells: sqrt(2) sigma for a - b; at least "
        "as wide for maxima, ranges and ranks).")


@dataclass
class Cell:
    """One cell's metric seed by seed: values is indexed by the seeds whose run completed (NaN: a value
    left out, e.g. a collapsed run's pretext statistics); metric and scale say which seed noise is its."""
    values: pd.Series
    metric: str
    scale: float = 1.0

    @classmethod
    def empty(cls, metric: str = "") -> "Cell":
        return cls(pd.Series(dtype=float), metric)


def _label(v):
    """A label as a plain Python value, NaN as None, so that cell keys compare and hash reliably."""
    v = v.item() if hasattr(v, "item") else v
    return None if _isna(v) else v


def cells(df: pd.DataFrame, by: list[str], metric: str, scale: float = 1.0,
          leave_out: pd.Series | None = None) -> dict:
    """{cell key: Cell} of metric (times scale) over each cell's completed seeds; keys are tuples of the
    `by` labels (the label itself for one), None for a NaN label. Rows where leave_out is true keep
    their seed with a NaN value."""
    out = {}
    for key, g in df.groupby(by, dropna=False, sort=False):
        key = tuple(_label(k) for k in (key if isinstance(key, tuple) else (key,)))
        done = g[g["status"] == DONE]
        v = (pd.to_numeric(done[metric], errors="coerce") * scale if metric in done
             else pd.Series(float("nan"), index=done.index))
        if leave_out is not None:
            v = v.where(~leave_out.loc[done.index].astype(bool))
        per_seed = pd.Series(v.to_numpy(dtype=float), index=done["seed"].to_numpy()).groupby(level=0).mean()
        out[key if len(by) > 1 else key[0]] = Cell(per_seed, metric, scale)
    return out


@dataclass
class Noise:
    """A preset's seed noise: each metric's standard deviation over the seeds of its baseline (the
    seed_noise study). `problem` says why there is none to judge by."""
    preset: str | None
    std: dict
    reference: str = "linear_acc"  # the baseline's top-1, standing in for metrics it does not record
    n: int = 0
    problem: str = ""

    def sigma(self, metric: str, scale: float = 1.0) -> tuple[float, str]:
        """(sigma of metric in its cells' units, what it is)."""
        if metric in self.std:
            return self.std[metric] * scale, metric
        return self.std[self.reference], f"{self.reference}, standing in for {metric}"


def seed_noise(results_dir: str | Path) -> Noise:
    """The seed noise of the preset a store ran at (its study.json), read from the seed_noise store of
    that preset beside it: <results root>/seed_noise/<preset>/, the results root being the parent of the
    study's folder (results/temperature/tiny -> results), or the store's parent for a store one level
    down (results/quickstart -> results) where only that one exists."""
    results_dir = Path(results_dir)
    manifest = read_manifest(results_dir) or {}
    preset = manifest.get("preset")
    if not preset:
        return Noise(None, {}, problem=f"{results_dir}/study.json records no preset, so no seed noise applies")
    # the root two levels up only where the store sits in its study's folder: a store elsewhere never
    # reads a folder outside its own parent
    where = results_dir.parent / "seed_noise" / preset
    if results_dir.parent.name == manifest.get("study") and not where.exists():
        where = results_dir.parent.parent / "seed_noise" / preset
    from studies.presets import NEEDS_ROOT

    cmd = (f"python studies/run.py seed_noise --preset {preset}"
           + (" --data-root DIR" if preset in NEEDS_ROOT else "")
           + ("" if where == Path("results") / "seed_noise" / preset else f" --results {where}"))
    df, _ = load(where, "seed_noise")
    done = df[df["status"] == DONE] if len(df) else df
    if len(done) < NOISE_SEEDS:
        seeds = f"measured over {len(done)} of {NOISE_SEEDS} seeds" if len(done) else "not measured"
        return Noise(preset, {}, n=len(done), problem=f"seed noise of preset {preset} {seeds}: run {cmd}")
    std = {}
    for c in done.columns:
        if c.startswith("config.") or c in ("seed", "collapsed"):
            continue
        v = pd.to_numeric(done[c], errors="coerce").dropna()
        if len(v) >= NOISE_SEEDS:
            std[c] = float(v.std())
    reference = metric_for(done)
    if reference not in std:
        return Noise(preset, std, n=len(done), problem=f"seed noise of preset {preset}: {where} has no {reference}")
    return Noise(preset, std, reference, len(done))


def judge(text: str, needs: dict, margin, noise: Noise | None, show=None, paper: dict | None = None) -> Claim:
    """Decide a claim from its cells (`needs`: {name: Cell}) and its margin, a function of one seed's
    {name: value} that is positive where the claim holds. show, a function of the cells' means over the
    paired seeds, writes the numbers the claim compares; `paper` ({name: the paper's number}) is shown
    through it beside ours."""
    claim = _judge(text, needs, margin, noise, show)
    claim.paper = on_paper(paper, margin, show)
    return claim


def on_paper(paper: dict | None, margin, show=None) -> str:
    """The claim's comparison on the paper's numbers: what `show` writes of them (else the margin)."""
    if not paper or any(_isna(v) for v in paper.values()):
        return ""
    return show(paper) if show else f"margin {margin(paper):+.1f}"


def _judge(text: str, needs: dict, margin, noise: Noise | None, show=None) -> Claim:
    paired = sorted(set.intersection(*(set(c.values.index) for c in needs.values()))) if needs else []
    d = pd.Series({s: margin({k: c.values[s] for k, c in needs.items()}) for s in paired}, dtype=float).dropna()
    means = {k: float(c.values.reindex(d.index).mean() if len(d) else c.values.mean()) for k, c in needs.items()}
    shown = show(means) if show else ""
    n = len(d)
    if n == 0:
        return Claim(text, None, f"{shown}: not every cell measured at a common seed".lstrip(": "))
    m = float(d.mean())
    if n >= 2:
        with warnings.catch_warnings():  # equal margins on every seed: scipy warns, the interval is the point
            warnings.simplefilter("ignore", RuntimeWarning)
            ci = stats.ttest_1samp(d.to_numpy(), 0.0).confidence_interval(0.95)
        low, high, method = float(ci.low), float(ci.high), "t over paired seeds"
    else:
        if noise is None or noise.problem:
            why = noise.problem if noise is not None else "no seed noise given"
            return Claim(text, None, f"{shown}; one seed; {why}".lstrip("; "), m, n_seeds=1)
        x = {k: c.values[d.index[0]] for k, c in needs.items()}
        moves, what = [], {}
        for k, c in needs.items():
            sigma, of = noise.sigma(c.metric, c.scale)
            what[of] = sigma
            if _isna(x[k]):
                continue
            # the margin's change when this cell alone moves by 1.96 sigma either way
            moved = [margin({**x, k: x[k] + sign * Q * sigma}) - m for sign in (1, -1)]
            moves.append(max((abs(v) for v in moved if not _isna(v)), default=0.0))
        half = math.sqrt(sum(v * v for v in moves))
        low, high = m - half, m + half
        method = f"preset {noise.preset}'s seed noise: " + ", ".join(f"sigma {s:.2g} of {of}" for of, s in what.items())
    passed = True if low > 0 else False if high < 0 else None
    return Claim(text, passed, shown, m, low, high, n, method)


def greater(a: Cell, b: Cell, what_a: str, what_b: str, noise: Noise | None, margin: float = 0.0,
            paper: tuple[float, float] | None = None) -> Claim:
    """Claim 'a > b (+ margin)': margin a_s - b_s - margin; paper: the paper's (a, b)."""
    text = f"{what_a} > {what_b}" + (f" by more than {margin:g} points" if margin else "")
    return judge(text, {"a": a, "b": b}, lambda x: x["a"] - x["b"] - margin, noise, versus,
                 paper and dict(zip("ab", paper)))


def at_least(a: Cell, b: Cell, text: str, noise: Noise | None, margin: float = 0.0,
             paper: tuple[float, float] | None = None) -> Claim:
    """Claim 'a >= b - margin': margin a_s - b_s + margin; paper: the paper's (a, b)."""
    return judge(text, {"a": a, "b": b}, lambda x: x["a"] - x["b"] + margin, noise, versus,
                 paper and dict(zip("ab", paper)))


def versus(m: dict) -> str:
    """'59.6 vs 57.1 (+2.5)' of the cells a and b."""
    a, b = m["a"], m["b"]
    return f"{num(a)} vs {num(b)}" + ("" if _isna(a) or _isna(b) else f" ({a - b:+.1f})")


def group_mean(x: dict, keys) -> float:
    """Mean of x over keys, skipping NaN (left-out) values; NaN when none is left."""
    return pd.Series([x[k] for k in keys], dtype=float).mean()


def group_max(x: dict, keys) -> float:
    return pd.Series([x[k] for k in keys], dtype=float).max()


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


MARK = {True: "pass", False: "FAIL", None: "undecided"}
CLAIM_COLUMNS = "| result | ours | the paper | margin [95 % interval] | seeds (interval from) |"


def claim_row(c: dict) -> str:
    """The cells of a claim's row after its text: result, our numbers, the paper's, margin and interval, seeds."""
    # accuracy points to one decimal; correlations and other small margins to two
    sign = lambda v: "-" if v is None or _isna(v) else f"{v:+.1f}" if abs(v) >= 1 else f"{v:+.2f}"  # noqa: E731
    interval = "" if c.get("low") is None else f" [{sign(c['low'])}, {sign(c['high'])}]"
    seeds = f"{c.get('n_seeds', 0)}" + (f" ({c['method']})" if c.get("method") else "")
    return (f"| {MARK[c['passed']]} | {c['detail'] or '-'} | {c.get('paper') or '-'} "
            f"| {sign(c.get('margin'))}{interval} | {seeds} |")


def correlation_text(rho, n, low, high, unit: str) -> str:
    """'+0.60 over 6 cells (95 % interval [-0.31, +0.95], Fisher z)'; low None: a correlation given
    without its interval (a weighted mean of several, which name theirs)."""
    if rho is None or _isna(rho):
        return f"n/a over {n} {unit}"
    if low is None:
        return f"{rho:+.2f} over {n} {unit}"
    ci = (f"95 % interval n/a: Fisher z needs 4 {unit} or more" if _isna(low)
          else f"95 % interval [{low:+.2f}, {high:+.2f}], Fisher z")
    return f"{rho:+.2f} over {n} {unit} ({ci})"


def earlier_engine_runs(store: str | Path) -> int:
    """How many of the runs a store's study.json names were trained by an earlier engine: their verdicts
    are kept apart from the current engine's and never counted with them."""
    arms = (read_manifest(Path(store)) or {}).get("arms", [])
    return len(store_earlier_runs(store, [arm["run_id"] for arm in arms]))


def write_report(out: Path, study: str, paper_ref: str, metric: str, claims: list[Claim],
                 correlation: tuple[float, int] | None, notes: list[str], extra: str = "",
                 correlated: str = "cells", unit: str = "cells", variant: str = "") -> list[Path]:
    """agreement.md and agreement.json: each claim pass / fail / undecided with its numbers, margin, 95 %
    interval and seeds, and the Spearman correlation of our cells (or of what `correlated` names) with
    the paper's where the paper gives numbers. variant names a protocol other than the paper's: it stands
    in the title, and the combined report keeps its claims apart, as it keeps those of a store trained
    by an earlier engine."""
    earlier = earlier_engine_runs(out)
    lines = [f"# Agreement with the paper: {study} ({paper_ref}{', ' + variant if variant else ''})", "",
             f"Our metric: {metric} (final model, mean over seeds). The paper's numbers are ImageNet results "
             "(ResNet-50 unless the table says otherwise): compare rankings and directions, not absolute "
             "numbers.", "", RULE, ""]
    if earlier:
        lines += [f"**Not counted**: {earlier} of this store's runs were {EARLIER}. Its verdicts stand apart "
                  "from the current engine's until the study is re-run.", ""]
    lines += ["| claim " + CLAIM_COLUMNS, "|---|---|---|---|---|---|"]
    lines += [f"| {c.text} {claim_row(asdict(c))}" for c in claims]
    rho, n = correlation if correlation is not None else (None, None)
    low, high = getattr(correlation, "low", None), getattr(correlation, "high", None)
    if correlation is not None:
        lines += ["", f"Spearman rank correlation with the paper's {correlated}: "
                      f"{correlation_text(rho, n, low, high, unit)}."]
    if extra:
        lines += ["", extra]
    if notes:
        lines += ["", "## What is missing or unusual", ""] + [f"- {n}" for n in notes]
    out.mkdir(parents=True, exist_ok=True)
    paths = [out / "agreement.md", out / "agreement.json"]
    paths[0].write_text("\n".join(lines) + "\n")
    finite = lambda v: None if v is None or _isna(v) else float(v)  # noqa: E731
    write_json(paths[1], {"study": study, "paper": paper_ref, "variant": variant or None, "earlier_engine": earlier,
                          "metric": metric,
                          "claims": [asdict(c) for c in claims],
                          "spearman": finite(rho), "spearman_low": finite(low), "spearman_high": finite(high),
                          "spearman_interval": "Fisher z of the rank correlation (scipy.stats.pearsonr on ranks)"
                          if low is not None else None,
                          "spearman_cells": n, "spearman_of": correlated, "spearman_unit": unit,
                          "extra": extra or None, "notes": notes})
    return paths


def cli(study: str, make) -> None:
    """`python analysis/<study>.py [--results DIR]`: regenerate one study's outputs, print their paths."""
    import argparse

    ap = argparse.ArgumentParser(description=f"Tables, figures and agreement report of the {study} study")
    ap.add_argument("--results", default=f"results/{study}/tiny")
    for p in make(ap.parse_args().results):
        print(p)

"""Figure 5 from stored results: heatmap of accuracy per (first, second) operator with the row means,
and the agreement report on the paper's claims (the paper gives this figure as a picture only).

python analysis/augmentation_grid.py [--results results/augmentation_grid/tiny]

Writes figure5.{png,pdf} and figure5.{md,tex,csv} beside the results.
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd  # noqa: E402

from analysis import common  # noqa: E402
from studies.augmentation_grid import OPERATORS  # noqa: E402

STUDY = "augmentation_grid"


def protocol(df: pd.DataFrame) -> pd.Series:
    """Each row's protocol: its label (symmetric arms carry one), else its stored config (view2 empty:
    one branch), else the study's default, one-branch."""
    label = df["protocol"] if "protocol" in df else pd.Series(None, index=df.index, dtype=object)
    # an arm recorded before the label existed takes the label of the same run recorded since
    label = label.where(label.notna(), df["run_id"].map(label.groupby(df["run_id"]).first()))
    view2 = df.get("config.augment.view2", pd.Series(None, index=df.index, dtype=object))
    stored = view2.map(lambda v: None if common._isna(v) else "one-branch" if v == "[]" else "symmetric")
    return label.where(label.notna(), stored).fillna("one-branch")


def table(results_dir: str | Path) -> tuple[pd.DataFrame, str, list[str], pd.DataFrame]:
    """(grid of mean accuracy with a row-mean column, metric name, notes on what is missing, the runs).
    A store holding both protocols shows the one-branch cells and says so."""
    df, notes = common.load(results_dir, STUDY)
    if df.empty:
        return pd.DataFrame(), "", notes, df
    # an arm recorded before and after symmetric arms got their label is one run, not two seeds
    df = df.assign(protocol=protocol(df)).drop_duplicates(["first", "second", "protocol", "seed", "run_id"])
    if df["protocol"].nunique() > 1:
        other = df[df["protocol"] != "one-branch"]
        notes.append(f"{len(other)} symmetric run(s) left out of this one-branch grid: run the symmetric "
                     "variant into its own --results directory to see it")
        df = df[df["protocol"] == "one-branch"]
    metric = common.metric_for(df)
    s = common.summary(df, ["first", "second"], metric)
    grid = s.pivot(index="first", columns="second", values="mean")
    rows = [o for o in OPERATORS if o in grid.index]
    cols = [o for o in OPERATORS if o in grid.columns]
    grid = grid.loc[rows, cols].astype(float)
    grid["row mean"] = grid[cols].mean(axis=1, skipna=False)  # a mean over part of a row is no row mean
    return grid, metric, notes, df


def claims(grid: pd.DataFrame, s: pd.DataFrame | None = None) -> list[common.Claim]:
    """The summary s (per-cell mean, std, n), where given, lets a comparison of two cells weigh the
    seeds' spread."""
    ops = [c for c in grid.columns if c != "row mean"]
    if grid.empty or len(ops) < 2:
        return [common.Claim("no single operator suffices; composition helps", None, "fewer than 2 operators")]
    cells = pd.Series({(a, b): grid.loc[a, b] for a in ops for b in ops})

    def best(keys) -> tuple[float, tuple | None]:
        """The best measured cell among keys: its value (with its seeds' spread) and its key."""
        sub = cells[keys].dropna()
        if sub.empty:
            return float("nan"), None
        key = sub.idxmax()
        return (common.mean(common.lookup(s, first=key[0], second=key[1])) if s is not None else sub[key]), key

    diag = [k for k in cells.index if k[0] == k[1]]
    off = [k for k in cells.index if k[0] != k[1]]
    (a, ka), (b, kb) = best(off), best(diag)
    out = [common.greater(a, b, f"best composition ({' then '.join(ka) if ka else '-'})",
                          f"best single operator ({kb[0] if kb else '-'})"),
           common.greater(cells[off].mean(), cells[diag].mean(), "mean over compositions", "mean over single operators")]
    if {"crop", "color"} <= set(ops):
        pair = [("crop", "color"), ("color", "crop")]
        out.append(common.greater(best(pair)[0], best([k for k in cells.index if k not in pair])[0],
                                  "crop + colour (either order)", "every other cell"))
    return out


def make(results_dir: str | Path) -> list[Path]:
    out = Path(results_dir)
    grid, metric, notes, df = table(results_dir)
    for note in notes:
        print(note, file=sys.stderr)
    if grid.empty:
        return []
    fig, axes = common.figure(size=(1.1 * grid.shape[1] + 2, 0.9 * grid.shape[0] + 1.5))
    ax = axes[0, 0]
    import seaborn as sns

    sns.heatmap(grid, annot=True, fmt=".1f", cmap="Greens", cbar_kws={"label": f"{metric} (%)"}, ax=ax)
    ax.axvline(len(grid.columns) - 1, color="white", lw=6)  # sets the row-mean column apart
    ax.set_xlabel("2nd transformation")
    ax.set_ylabel("1st transformation")
    ax.set_title("Figure 5 (symmetric: both branches transformed)" if (df["protocol"] == "symmetric").all()
                 else "Figure 5: one branch transformed, the other identity")
    paths = common.save_figure(fig, out, "figure5")
    # mean ± std over seeds; missing or diverged cells say so (the heatmap leaves them blank)
    s = common.summary(df, ["first", "second"], metric)
    shown = grid.round(1).astype(object)
    for a in shown.index:
        for b in shown.columns.drop("row mean"):
            shown.loc[a, b] = common.cell(common.lookup(s, first=a, second=b))
        measured = grid.loc[a].drop("row mean").dropna()
        if measured.empty:
            shown.loc[a, "row mean"] = "-"
        elif len(measured) < len(grid.columns) - 1:  # partial row: say over what
            shown.loc[a, "row mean"] = f"{measured.mean():.1f} ({len(measured)} of {len(grid.columns) - 1})"
    shown = shown.reset_index().rename(columns={"first": "1st \\ 2nd"})
    paths += common.write_table(shown, out, "figure5", f"Figure 5, {metric} (%), mean ± std over seeds")
    return paths + common.write_report(out, STUDY, "Figure 5", metric, claims(grid, s), None, notes)


if __name__ == "__main__":
    common.cli(STUDY, make)

"""Figure 5 from stored results: heatmap of accuracy per (first, second) operator with the row means,
and the agreement report on the paper's claims (the paper gives this figure as a picture only).

python analysis/augmentation_grid.py [--results results/augmentation_grid/tiny]

Writes figure5.{png,pdf} and figure5.{md,tex,csv} beside the results. A store of the symmetric variant
(both branches transformed, the quickstart's) is named so in every title and report.
"""
from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

from analysis import common
from studies.augmentation_grid import OPERATORS

STUDY = "augmentation_grid"
# the quickstart's protocol: named in every title and kept apart from the one-branch claims
VARIANT = "symmetric variant, not the paper's one-branch protocol"


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


def claims(per_seed: dict, noise: common.Noise | None) -> list[common.Claim]:
    """per_seed: {(first, second): Cell}. Margins, per seed: best composition - best single operator;
    mean over compositions - mean over single operators; best crop + colour cell - best other cell."""
    ops = [o for o in OPERATORS if any(k[0] == o for k in per_seed)]
    if len(ops) < 2:
        return [common.Claim("no single operator suffices; composition helps", None, "fewer than 2 operators")]
    keys = [(a, b) for a in ops for b in ops]
    needs = {k: per_seed.get(k, common.Cell.empty()) for k in keys}
    diag = [k for k in keys if k[0] == k[1]]
    off = [k for k in keys if k[0] != k[1]]
    mean = pd.Series({k: c.values.mean() for k, c in needs.items()}, dtype=float)

    def best(group) -> str:
        sub = mean[group].dropna()
        return "-" if sub.empty else sub.idxmax()

    def apart(a: float, b: float) -> str:
        return common.versus({"a": a, "b": b})

    ka, kb = best(off), best(diag)
    out = [common.judge(f"best composition ({' then '.join(ka) if ka != '-' else '-'}) > best single operator "
                        f"({kb[0] if kb != '-' else '-'})", needs,
                        lambda x: common.group_max(x, off) - common.group_max(x, diag), noise,
                        lambda m: apart(common.group_max(m, off), common.group_max(m, diag))),
           common.judge("mean over compositions > mean over single operators", needs,
                        lambda x: common.group_mean(x, off) - common.group_mean(x, diag), noise,
                        lambda m: apart(common.group_mean(m, off), common.group_mean(m, diag)))]
    if {"crop", "color"} <= set(ops):
        pair = [("crop", "color"), ("color", "crop")]
        rest = [k for k in keys if k not in pair]
        out.append(common.judge("crop + colour (either order) > every other cell", needs,
                                lambda x: common.group_max(x, pair) - common.group_max(x, rest), noise,
                                lambda m: apart(common.group_max(m, pair), common.group_max(m, rest))))
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
    variant = VARIANT if (df["protocol"] == "symmetric").all() else ""
    ax.set_title("Figure 5, " + VARIANT.replace(", ", ",\n", 1) if variant
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
    paths += common.write_table(shown, out, "figure5", f"Figure 5{', ' + variant if variant else ''}, {metric} (%), "
                                "mean ± std over seeds")
    if (s["n"] > 1).any():  # over seeds: each cell's mean with its 95 % interval
        cols = grid.columns.drop("row mean")
        ci = pd.DataFrame([[common.interval_cell(common.lookup(s, first=a, second=b)) for b in cols]
                           for a in grid.index], index=grid.index, columns=cols)
        paths += common.write_table(ci.reset_index().rename(columns={"first": "1st \\ 2nd"}), out, "figure5_interval",
                                    f"Figure 5{', ' + variant if variant else ''}, {metric} (%), mean over seeds "
                                    "[95 % interval of the mean, Student's t]")
    decided = claims(common.cells(df, ["first", "second"], metric), common.seed_noise(out))
    return paths + common.write_report(out, STUDY, "Figure 5", metric, decided, None, notes, variant=variant)


if __name__ == "__main__":
    common.cli(STUDY, make)

"""Figure 5 from stored results: heatmap of accuracy per (first, second) operator, with the row means.

python analysis/augmentation_grid.py [--results results/augmentation_grid/tiny]

Reads only the result store (load_results). Writes figure5.{png,pdf} and figure5.{md,csv} beside the
results. Cells show linear-probe top-1 when the runs have it, kNN otherwise; missing cells are listed.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd  # noqa: E402

from simclr import load_results  # noqa: E402
from studies.augmentation_grid import OPERATORS, cell_of  # noqa: E402


def table(results_dir: str | Path) -> tuple[pd.DataFrame, str, list[str]]:
    """(grid of mean accuracy, metric name, notes on what is missing)."""
    df = load_results(results_dir)
    notes = []
    if df.empty:
        return pd.DataFrame(), "", [f"no runs under {results_dir}: run python studies/run.py augmentation_grid"]
    done = df[df["status"] == "completed"].copy()
    for _, r in df[df["status"] != "completed"].iterrows():
        notes.append(f"run {r['run_id']} is {r['status']}: rerun the study to finish it")
    if done.empty:
        return pd.DataFrame(), "", notes + ["no completed runs yet"]
    metric = "linear_acc" if "linear_acc" in done and done["linear_acc"].notna().all() else "knn_acc"
    done[["first", "second"]] = [cell_of(r) for _, r in done.iterrows()]
    grid = done.groupby(["first", "second"])[metric].mean().unstack("second")
    rows = [o for o in OPERATORS if o in grid.index]
    cols = [o for o in OPERATORS if o in grid.columns]
    grid = grid.loc[rows, cols]
    missing = [f"{a} then {b}" for a in rows for b in cols if pd.isna(grid.loc[a, b])]
    if missing:
        notes.append(f"missing cells: {', '.join(missing)}")
    grid["row mean"] = grid[cols].mean(axis=1)
    return grid, metric, notes


def make(results_dir: str | Path) -> list[Path]:
    """Write the heatmap and the table; return their paths."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    out = Path(results_dir)
    grid, metric, notes = table(results_dir)
    for note in notes:
        print(note, file=sys.stderr)
    if grid.empty:
        return []
    fig, ax = plt.subplots(figsize=(1.1 * grid.shape[1] + 2, 0.9 * grid.shape[0] + 1.5))
    sns.heatmap(grid, annot=True, fmt=".1f", cmap="Greens", cbar_kws={"label": f"{metric} (%)"}, ax=ax)
    ax.axvline(len(grid.columns) - 1, color="white", lw=6)  # sets the row-mean column apart
    ax.set_xlabel("2nd transformation")
    ax.set_ylabel("1st transformation")
    df = load_results(results_dir)
    both = (df.get("config.augment.view2", pd.Series(dtype=str)) != "[]").any()
    ax.set_title("Figure 5 (symmetric: both branches transformed)" if both
                 else "Figure 5: one branch transformed, the other identity")
    fig.tight_layout()
    paths = [out / "figure5.png", out / "figure5.pdf", out / "figure5.md", out / "figure5.csv"]
    fig.savefig(paths[0], dpi=150)
    fig.savefig(paths[1])
    plt.close(fig)
    paths[2].write_text(f"Figure 5, {metric} (%), mean over seeds\n\n" + grid.round(1).to_markdown() + "\n")
    grid.to_csv(paths[3])
    return paths


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", default="results/augmentation_grid/tiny")
    for p in make(ap.parse_args().results):
        print(p)

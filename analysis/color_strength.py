"""Table 1 from stored results: colour distortion strength, SimCLR linear evaluation and the supervised
baseline trained with the same augmentation, beside the paper's numbers.

python analysis/color_strength.py [--results results/color_strength/tiny]
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import pandas as pd  # noqa: E402

from analysis import common  # noqa: E402
from analysis.paper import TABLE1  # noqa: E402
from studies.color_strength import COLUMNS  # noqa: E402

STUDY = "color_strength"
ROWS = {"simclr": "SimCLR", "supervised": "Supervised"}


def table(df: pd.DataFrame) -> tuple[pd.DataFrame, dict, str]:
    """(Table 1 with our rows and the paper's, {method: {column: mean}}, SimCLR's metric)."""
    metric = common.metric_for(df[df["method"] == "simclr"])
    rows, means = [], {}
    for method, name in ROWS.items():
        s = common.summary(df[df["method"] == method], ["color"], metric if method == "simclr" else "supervised_acc")
        cells = {c: common.lookup(s, color=c) for c in COLUMNS}
        means[method] = {c: common.mean(r) for c, r in cells.items()}
        rows.append({"": f"{name} (ours)", **{c: common.cell(r) for c, r in cells.items()}})
        rows.append({"": f"{name} (paper)", **TABLE1[method]})
    return pd.DataFrame(rows), means, metric


def claims(means: dict) -> list[common.Claim]:
    sim, sup = means["simclr"], means["supervised"]
    strengths = ["1/8", "1/4", "1/2", "1"]
    rho, n = common.spearman([sim[c] for c in strengths], [0.125, 0.25, 0.5, 1.0])
    out = [common.greater(sim["1"], sim["1/8"], "SimCLR at strength 1", "SimCLR at 1/8"),
           common.Claim("SimCLR accuracy rises with colour strength (Spearman > 0.5 over 1/8..1)",
                        None if pd.isna(rho) else bool(rho > 0.5),
                        f"Spearman {rho:+.2f} over {n} strengths" if not pd.isna(rho) else f"{n} strengths measured"),
           common.greater(sim["1"] - sim["1/8"], sup["1"] - sup["1/8"], "SimCLR's gain from 1/8 to 1",
                          "the supervised baseline's gain"),
           common.greater(sim["1 (+Blur)"], sim["1"], "SimCLR with blur at strength 1", "without blur")]
    return out


def plot(means: dict, metric: str, out: Path) -> list[Path]:
    fig, axes = common.figure(1, 2, size=(5.0, 3.6))
    for ax, (title, data) in zip(axes[0], (("ours", means), ("paper (ImageNet)", TABLE1))):
        for method, name in ROWS.items():
            ax.plot(range(len(COLUMNS)), [data[method][c] for c in COLUMNS], marker="o", label=name)
        ax.set_xticks(range(len(COLUMNS)), COLUMNS, rotation=20)
        ax.set_xlabel("colour distortion strength")
        ax.set_ylabel(f"{metric} / supervised top-1 (%)" if title == "ours" else "top-1 (%)")
        ax.set_title(f"Table 1, {title}")
        ax.legend()
    return common.save_figure(fig, out, "table1")


def make(results_dir: str | Path) -> list[Path]:
    df, notes = common.load(results_dir, STUDY, report=True)
    if df.empty:
        return []
    out = Path(results_dir)
    tab, means, metric = table(df)
    paths = common.write_table(tab, out, "table1", f"Table 1: colour distortion strength (SimCLR: {metric}; "
                               "supervised: its own classifier's top-1; %)")
    paths += plot(means, metric, out)
    corr = common.spearman([means["simclr"][c] for c in COLUMNS], [TABLE1["simclr"][c] for c in COLUMNS])
    rho_sup, n_sup = common.spearman([means["supervised"][c] for c in COLUMNS],
                                     [TABLE1["supervised"][c] for c in COLUMNS])
    extra = ("The correlation above is SimCLR's row; the supervised row's: "
             f"{'n/a' if pd.isna(rho_sup) else f'{rho_sup:+.2f}'} over {n_sup} cells.")
    return paths + common.write_report(out, STUDY, "Table 1", metric, claims(means), corr, notes, extra)


if __name__ == "__main__":
    common.cli(STUDY, make)

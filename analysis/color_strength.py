"""Table 1 from stored results: colour distortion strength, SimCLR linear evaluation and the supervised
baseline trained with the same augmentation, beside the paper's numbers.

python analysis/color_strength.py [--results results/color_strength/tiny]
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis import common
from analysis.paper import TABLE1
from studies.color_strength import COLUMNS

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


def seeds(df: pd.DataFrame, metric: str) -> dict:
    """{method: {column: Cell}}: SimCLR's metric and the supervised baseline's own top-1, seed by seed."""
    return {"simclr": common.cells(df[df["method"] == "simclr"], ["color"], metric),
            "supervised": common.cells(df[df["method"] == "supervised"], ["color"], "supervised_acc")}


def claims(per_seed: dict, noise: common.Noise | None) -> list[common.Claim]:
    """Margins, per seed: SimCLR at 1 - at 1/8; Spearman of SimCLR over 1/8..1 with the strength - 0.5;
    SimCLR's gain from 1/8 to 1 - the supervised baseline's; SimCLR with blur - without."""
    sim = {c: per_seed["simclr"].get(c, common.Cell.empty()) for c in COLUMNS}
    sup = {c: per_seed["supervised"].get(c, common.Cell.empty()) for c in COLUMNS}
    strengths = {"1/8": 0.125, "1/4": 0.25, "1/2": 0.5, "1": 1.0}

    def rho(x: dict) -> tuple[float, int]:
        return common.spearman([x[c] for c in strengths], list(strengths.values()))

    def shown(m: dict) -> str:
        r, n = rho(m)
        return f"Spearman {r:+.2f} over {n} strengths" if not pd.isna(r) else f"{n} strengths measured"

    gains = lambda s, u: {"sim 1": s["1"], "sim 1/8": s["1/8"], "sup 1": u["1"], "sup 1/8": u["1/8"]}  # noqa: E731
    gain = lambda x, m: x[f"{m} 1"] - x[f"{m} 1/8"]  # noqa: E731
    ps, pu = TABLE1["simclr"], TABLE1["supervised"]  # the paper's Table 1, the same cells as ours
    return [common.greater(sim["1"], sim["1/8"], "SimCLR at strength 1", "SimCLR at 1/8", noise,
                           paper=(ps["1"], ps["1/8"])),
            common.judge("SimCLR accuracy rises with colour strength (Spearman > 0.5 over 1/8..1)",
                         {c: sim[c] for c in strengths}, lambda x: rho(x)[0] - 0.5, noise, shown,
                         {c: ps[c] for c in strengths}),
            common.judge("SimCLR's gain from 1/8 to 1 > the supervised baseline's gain", gains(sim, sup),
                         lambda x: gain(x, "sim") - gain(x, "sup"), noise,
                         lambda m: common.versus({"a": gain(m, "sim"), "b": gain(m, "sup")}), gains(ps, pu)),
            common.greater(sim["1 (+Blur)"], sim["1"], "SimCLR with blur at strength 1", "without blur", noise,
                           paper=(ps["1 (+Blur)"], ps["1"]))]


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
    decided = claims(seeds(df, metric), common.seed_noise(out))
    return paths + common.write_report(out, STUDY, "Table 1", metric, decided, corr, notes, extra)


if __name__ == "__main__":
    common.cli(STUDY, make)

"""Table 3 from stored results: accuracy of an MLP predicting the transformation applied to an image
from h and from g(h), beside random guess and the paper's numbers.

python analysis/h_vs_gh.py [--results results/h_vs_gh/tiny]
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis import common
from analysis.paper import TABLE3

STUDY = "h_vs_gh"
DEFAULT, EXTRA = "default", "with rotation, noise, Sobel"
NAMES = {"color_vs_grayscale": "color vs grayscale", "rotation": "rotation", "noise": "noise", "sobel": "Sobel"}
# The paper probes colour on the standard recipe and the other three after adding them to pretraining.
SOURCE = {"color_vs_grayscale": DEFAULT, "rotation": EXTRA, "noise": EXTRA, "sobel": EXTRA}
REPS = ("chance", "h", "gh")


def table(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """(Table 3, every task from both runs, {(pretraining, task): {rep: mean}})."""
    s = {(task, rep): common.summary(df, ["pretraining"], f"probe_{task}_{rep}") for task in TABLE3 for rep in REPS}
    rows, every, cells = [], [], {}
    for run in (DEFAULT, EXTRA):
        for task in TABLE3:
            r = {rep: common.lookup(s[(task, rep)], pretraining=run) for rep in REPS}
            cells[(run, task)] = {rep: common.mean(v) for rep, v in r.items()}
            every.append({"pretraining": run, "task": NAMES[task], "random guess": common.cell(r["chance"]),
                          "from h": common.cell(r["h"]), "from g(h)": common.cell(r["gh"])})
    for task, p in TABLE3.items():
        e = next(x for x in every if x["pretraining"] == SOURCE[task] and x["task"] == NAMES[task])
        rows.append({**e, "paper random guess": p["random"], "paper h": p["h"], "paper g(h)": p["gh"]})
    return pd.DataFrame(rows), pd.DataFrame(every), cells


def seeds(df: pd.DataFrame) -> dict:
    """{(task, rep): Cell} from the run each task is read from (SOURCE)."""
    return {(task, rep): common.cells(df, ["pretraining"], f"probe_{task}_{rep}").get(SOURCE[task], common.Cell.empty())
            for task in TABLE3 for rep in REPS}


def claims(per_seed: dict, noise: common.Noise | None) -> list[common.Claim]:
    """Margins, per seed: h - g(h) for every task; 10 - |g(h) - random guess| for rotation, noise, Sobel.
    The probes of one run share a seed; seed noise of the baseline's top-1 stands in for theirs."""
    out = [common.greater(per_seed[(task, "h")], per_seed[(task, "gh")], f"{NAMES[task]}: from h", "from g(h)",
                          noise, paper=(TABLE3[task]["h"], TABLE3[task]["gh"])) for task in TABLE3]
    for task in ("rotation", "noise", "sobel"):
        text = (f"{NAMES[task]}: g(h) within 10 points of random guess (the paper's pattern: "
                f"{TABLE3[task]['gh']:.1f} vs {TABLE3[task]['random']:.1f})")
        out.append(common.judge(text, {"a": per_seed[(task, "gh")], "b": per_seed[(task, "chance")]},
                                lambda x: 10.0 - abs(x["a"] - x["b"]), noise, common.versus,
                                {"a": TABLE3[task]["gh"], "b": TABLE3[task]["random"]}))
    return out


def top1(df: pd.DataFrame, metric: str) -> str:
    """Each pretraining run's own top-1: adding rotation, noise and Sobel changes what the encoder learns."""
    s = common.summary(df, ["pretraining"], metric)
    return f"{metric} of the pretraining runs: " + "; ".join(
        f"{run}: {common.cell(common.lookup(s, pretraining=run))}" for run in (DEFAULT, EXTRA)) + "."


def make(results_dir: str | Path) -> list[Path]:
    df, notes = common.load(results_dir, STUDY, report=True)
    if df.empty:
        return []
    out = Path(results_dir)
    tab, every, cells = table(df)
    paths = common.write_table(tab, out, "table3", "Table 3: accuracy (%) of an MLP predicting the transformation "
                               f"from h and from g(h). Colour vs grayscale from the {DEFAULT!r} run; rotation, "
                               f"noise and Sobel from the {EXTRA!r} run (the paper adds them during pretraining "
                               "for those rows). Random guess: the majority class share of our probe's test set")
    paths += common.write_table(every, out, "table3_all", "Transformation probe accuracy (%) for every task "
                                "from both pretraining runs")
    # the tasks' chance levels differ (2 to 4 classes), so pooling their cells would rank tasks, not h vs
    # g(h): correlate what g(h) loses per task instead
    gap = lambda c: c["h"] - c["gh"]  # noqa: E731
    corr = common.spearman([gap(cells[(SOURCE[t], t)]) for t in TABLE3], [gap(TABLE3[t]) for t in TABLE3])
    return paths + common.write_report(out, STUDY, "Table 3", "transformation-probe accuracy (probe_<task>_h / _gh)",
                                       claims(seeds(df), common.seed_noise(out)), corr, notes,
                                       top1(df, common.metric_for(df)),
                                       correlated="per-task h - g(h) gaps", unit="tasks")


if __name__ == "__main__":
    common.cli(STUDY, make)

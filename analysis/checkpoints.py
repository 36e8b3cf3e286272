"""Outside checkpoints from stored results: every encoder's numbers under one protocol, and ours against
each outside one over paired seeds (the same evaluation seeds), with the interval of the difference.

python analysis/checkpoints.py [--results results/checkpoints/tiny]
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis import common
from studies.checkpoints import OURS, PAPER

STUDY = "checkpoints"
VARIANT = "outside checkpoints"


def metrics(df: pd.DataFrame) -> list[str]:
    """The evaluation accuracies the runs measured: kNN, linear, fine-tuning, transfer (not pretraining's)."""
    done = df[df["status"] == common.DONE]
    return [c for c in df.columns if c.endswith("_acc") and not c.startswith(("train_", "online"))
            and c in done and done[c].notna().any()]


def table(df: pd.DataFrame, measured: list[str]) -> pd.DataFrame:
    s = {m: common.summary(df, ["encoder"], m) for m in measured}
    first = df.drop_duplicates("encoder").set_index("encoder")
    rows = []
    for name in first.index:
        weights = first.loc[name].get("config.encoder.weights") if "config.encoder.weights" in first else None
        rows.append({"encoder": name, "weights": Path(weights).name if isinstance(weights, str) and weights else "-",
                     **{m: common.cell(common.lookup(s[m], encoder=name)) for m in measured}})
    return pd.DataFrame(rows, columns=["encoder", "weights", *measured])


def claims(df: pd.DataFrame, measured: list[str], noise: common.Noise | None) -> list[common.Claim]:
    out = []
    for m in measured:
        c = common.cells(df, ["encoder"], m)
        out += [common.greater(c[OURS], c[name], f"{m}: {OURS}", name, noise)
                for name in c if name != OURS]
    return out


def make(results_dir: str | Path) -> list[Path]:
    out = Path(results_dir)
    df, notes = common.load(out, STUDY, report=True)
    if df.empty:
        return []
    measured = metrics(df) or ["linear_acc"]
    paths = common.write_table(table(df, measured), out, "checkpoints",
                               "Outside checkpoints beside the preset's SimCLR baseline, one evaluation protocol: "
                               "accuracy (%) per encoder, mean ± std over seeds")
    noise = common.seed_noise(out)
    paths += common.write_report(out, STUDY, PAPER, ", ".join(measured), claims(df, measured, noise), None, notes,
                                 variant=VARIANT)
    return paths


if __name__ == "__main__":
    common.cli(STUDY, make)

"""Figure 5's colour operator from stored results: crop then colour at jitter strength 1 and 0.5 beside
crop then Sobel, each comparison decided over the paired seeds, and the strength the grid should use.

python analysis/color_operator.py [--results results/color_operator/cpu]

These are checks of the grid's own protocol, not claims of the paper: agreement.md keeps them in a
section of their own and out of the paper's tally.
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis import common

STUDY = "color_operator"
VARIANT = "a check of the grid's colour operator, not a claim of the paper"
ARMS = {("color", 1.0): "crop then colour, s = 1", ("color", 0.5): "crop then colour, s = 0.5",
        ("sobel", None): "crop then Sobel"}


def key(second, strength) -> tuple:
    return second, None if common._isna(strength) else float(strength)


def per_arm(df: pd.DataFrame, metric: str) -> dict:
    """{arm name: Cell} of metric over each arm's completed seeds."""
    got = {key(*k): c for k, c in common.cells(df, ["second", "strength"], metric).items()}
    return {name: got.get(k, common.Cell.empty(metric)) for k, name in ARMS.items()}


def claims(cells: dict, noise: common.Noise | None) -> list[common.Claim]:
    """Margins, per seed: s 0.5 - s 1 (crop then colour); Sobel - crop then colour at each strength."""
    c1, c05, sobel = (cells[ARMS[k]] for k in ARMS)
    return [common.greater(c05, c1, ARMS[("color", 0.5)], "at s = 1", noise),
            common.greater(sobel, c1, ARMS[("sobel", None)], ARMS[("color", 1.0)], noise),
            common.greater(sobel, c05, ARMS[("sobel", None)], ARMS[("color", 0.5)], noise)]


def choice(found: list[common.Claim]) -> str:
    """The strength the grid's colour operator should take, and what became of Sobel's lead."""
    if any(c.n_seeds == 0 for c in found):
        return "Choice: not made yet: every cell needs a completed seed in common (rerun the study)."
    strength, sobel1, sobel05 = (c.passed for c in found)
    pick = ("s = 0.5 (the paper's CIFAR-10 recipe) scores higher over the paired seeds: the grid's colour "
            "operator should use it at this preset" if strength is True else
            "s = 1 scores higher over the paired seeds: the grid keeps the paper's ImageNet operator"
            if strength is False else
            "no strength is shown better over the paired seeds: the grid keeps the paper's operator (s = 1)")
    lead = {(True, True): "Sobel's lead over crop then colour holds at both strengths",
            (False, False): "crop then colour beats Sobel at both strengths: its lead does not survive"}
    return f"Choice: {pick}. " + lead.get((sobel1, sobel05), "Sobel's lead over crop then colour: "
                                          f"at s = 1 {common.MARK[sobel1]}, at s = 0.5 {common.MARK[sobel05]}") + "."


def make(results_dir: str | Path) -> list[Path]:
    df, notes = common.load(results_dir, STUDY, report=True)
    if df.empty:
        return []
    out = Path(results_dir)
    metric = common.metric_for(df)
    cells = per_arm(df, metric)
    s = common.summary(df, ["second", "strength"], metric)
    rows = [common.lookup(s, second=second, strength=strength) for second, strength in ARMS]
    arm = pd.Series([key(a, b) for a, b in zip(df["second"], df["strength"])], index=df.index)
    # seeds of the arm not completed (missing, running, failed): named beside the ones counted
    short = (df["status"] != common.DONE).groupby(arm).sum()

    def seeds(k, r) -> str:
        n = int(short.get(k, 0))
        return str(r.get("n", 0)) + (f" ({n} missing)" if n else "")

    tab = pd.DataFrame([{"cell": name, metric: common.cell(r), "seeds": seeds(k, r)}
                        for (k, name), r in zip(ARMS.items(), rows)], columns=["cell", metric, "seeds"])
    paths = common.write_table(tab, out, "color_operator", "Figure 5's colour operator (one-branch protocol): "
                               f"{metric} (%), mean ± std over seeds")
    found = claims(cells, common.seed_noise(out))
    return paths + common.write_report(out, STUDY, "Figure 5", metric, found, None, notes, choice(found),
                                       variant=VARIANT)


if __name__ == "__main__":
    common.cli(STUDY, make)

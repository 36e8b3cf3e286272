"""Table 8 from stored results: transfer of SimCLR and supervised encoders to other data sets, by a linear
probe of frozen h and by fine-tuning, beside the paper's linear numbers (ResNet-50, Table B.8).

python analysis/transfer.py [--results results/transfer/tiny]
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from analysis import common
from analysis.paper import TABLE8_ALIASES, TABLE8_LINEAR
from studies.common import read_manifest
from studies.transfer import TARGETS

STUDY = "transfer"
METHODS = ("simclr", "supervised")
KINDS = ("linear", "finetune")
PATTERN = re.compile(r"transfer_(.+)_(linear|finetune)_acc$")


def targets(df: pd.DataFrame, results_dir: Path) -> list[str]:
    """Targets in the metric columns, plus the preset's own so that unrun ones still get a row."""
    man = read_manifest(results_dir) or {}
    found = [m.group(1) for c in df.columns if (m := PATTERN.match(c))]
    return list(dict.fromkeys([*TARGETS.get(man.get("preset"), ()), *found]))


def paper_name(target: str) -> str | None:
    """The Table 8 set a target is: "cifar100" itself, a folder target by its folder's name
    ("folder_Food-101" -> "food"); None for sets outside Table 8 (STL-10, the built-in set)."""
    key = re.sub(r"[^a-z0-9]", "", target.lower().removeprefix("folder_"))
    key = TABLE8_ALIASES.get(key, key)
    return key if key in TABLE8_LINEAR and key != "voc2007" else None


def table(df: pd.DataFrame, names: list[str]) -> tuple[pd.DataFrame, dict]:
    rows, cells = [], {}
    for name in names:
        r = {(m, k): common.lookup(common.summary(df, ["method"], f"transfer_{name}_{k}_acc"), method=m)
             for m in METHODS for k in KINDS}
        cells[name] = {key: common.mean(v) for key, v in r.items()}
        paper = TABLE8_LINEAR.get(paper_name(name), ("-", "-"))
        rows.append({"target": name, "SimCLR linear": common.cell(r[("simclr", "linear")]),
                     "supervised linear": common.cell(r[("supervised", "linear")]),
                     "SimCLR fine-tuned": common.cell(r[("simclr", "finetune")]),
                     "supervised fine-tuned": common.cell(r[("supervised", "finetune")]),
                     "paper SimCLR linear": paper[0], "paper supervised linear": paper[1]})
    return pd.DataFrame(rows), cells


def seeds(df: pd.DataFrame, names: list[str]) -> dict:
    """{target: {(method, kind): Cell}} seed by seed."""
    per = {(n, k): common.cells(df, ["method"], f"transfer_{n}_{k}_acc") for n in names for k in KINDS}
    return {n: {(m, k): per[(n, k)].get(m, common.Cell.empty()) for m in METHODS for k in KINDS} for n in names}


def claims(per_seed: dict, noise: common.Noise | None) -> list[common.Claim]:
    """Margins, per seed: supervised - SimCLR linear on each target; over targets, the (T//2 + 1)-th
    largest of those differences (>= 0 exactly when supervised wins more than half of the T targets);
    SimCLR - supervised fine-tuned + 2 on each target. The paper's numbers: linear only (None for targets
    outside Table 8)."""
    paper = lambda n, m: dict(zip(METHODS, TABLE8_LINEAR.get(paper_name(n), (None, None))))[m]  # noqa: E731
    linear = [common.at_least(c[("supervised", "linear")], c[("simclr", "linear")],
                              f"{name}: supervised linear >= SimCLR linear", noise,
                              paper=(paper(name, "supervised"), paper(name, "simclr"))) for name, c in per_seed.items()]
    names = list(per_seed)
    needs = {(n, m): per_seed[n][(m, "linear")] for n in names for m in METHODS}
    diffs = lambda x: sorted((x[(n, "supervised")] - x[(n, "simclr")] for n in names), reverse=True)  # noqa: E731
    text = "supervised >= SimCLR on linear transfer for most targets (the paper's finding)"
    most = (common.judge(text, needs, lambda x: diffs(x)[len(names) // 2], noise,
                         lambda m: f"supervised >= SimCLR on {sum(d >= 0 for d in diffs(m))} of {len(names)}",
                         {k: paper(*k) for k in needs})
            if names else common.Claim(text, None, "no targets"))
    tuned = [common.at_least(c[("simclr", "finetune")], c[("supervised", "finetune")],
                             f"{name}: SimCLR fine-tuned within 2 points of or above supervised fine-tuned", noise, 2.0)
             for name, c in per_seed.items()]
    return linear + [most] + tuned


def make(results_dir: str | Path) -> list[Path]:
    df, notes = common.load(results_dir, STUDY, report=True)
    if df.empty:
        return []
    out = Path(results_dir)
    names = targets(df, out)
    tab, cells = table(df, names)
    paths = common.write_table(tab, out, "table8", "Table 8: transfer top-1 (%): linear probe of frozen h and "
                               "fine-tuning on all labels of each target, SimCLR vs supervised pretraining on "
                               "the same data. The paper's numbers: ResNet-50 pretrained on ImageNet, L-BFGS "
                               "logistic regression (Table B.8), top-1 but for Aircraft, Pets, Caltech-101 and "
                               "Flowers: mean per-class accuracy")
    # Too few paired cells make a rank correlation meaningless.
    pairs = [(cells[n][(m, "linear")], TABLE8_LINEAR[paper_name(n)][i]) for n in names if paper_name(n)
             for i, m in enumerate(METHODS)]
    pairs = [(a, b) for a, b in pairs if not pd.isna(a)]
    corr = common.spearman(*zip(*pairs)) if len(pairs) >= 3 else None
    return paths + common.write_report(out, STUDY, "Table 8", "transfer_<target>_linear_acc / _finetune_acc",
                                       claims(seeds(df, names), common.seed_noise(out)), corr, notes)


if __name__ == "__main__":
    common.cli(STUDY, make)

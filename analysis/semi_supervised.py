"""Table 7 from stored results: the whole encoder fine-tuned on 1 % and 10 % of the labels, from SimCLR
pretraining vs from random init, top-1 and top-5 beside the paper's.

python analysis/semi_supervised.py [--results results/semi_supervised/tiny]
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis import common
from analysis.paper import TABLE7, TABLE7_TOP5

STUDY = "semi_supervised"
FRACTIONS = (0.01, 0.1)
SIMCLR = "simclr"
SIMCLR_V2 = "simclr, 3-layer head"  # fine-tuned from h and from the head's first layer (SimCLRv2)
PAPER_SIMCLR = {1.0: "SimCLR (R50)", 2.0: "SimCLR (R50 2x)", 4.0: "SimCLR (R50 4x)"}


def paper_row(init: str, width: float, top5: bool = False) -> dict:
    """The paper's row for one of ours ({} when it has none); random init is its supervised baseline."""
    row = {SIMCLR: PAPER_SIMCLR.get(width, ""), SIMCLR_V2: ""}.get(init, "supervised (R50)")
    return (TABLE7_TOP5 if top5 else TABLE7).get(row, {})


def key(f: float, top5: bool = False, head: int = 0) -> str:
    return f"finetune_{f:g}_{f'head{head}_' if head else ''}{'top5_' if top5 else ''}acc"


def table(df: pd.DataFrame, metric: str) -> tuple[pd.DataFrame, dict]:
    keys = list(dict.fromkeys(zip(df["init"], df["width"])))
    v2 = SIMCLR_V2 in set(df["init"])  # its columns: fine-tuned from the head's first layer
    metrics = [key(f, t5) for f in FRACTIONS for t5 in (False, True)] + [metric]
    metrics += [key(f, head=1) for f in FRACTIONS] if v2 else []
    s = {m: common.summary(df, ["init", "width"], m) for m in metrics}
    rows, cells = [], {}
    for init, w in keys:
        r = {m: common.lookup(v, init=init, width=w) for m, v in s.items()}
        cells[(init, w)] = {m: common.mean(v) for m, v in r.items()}
        row = {"init": {SIMCLR: "SimCLR", SIMCLR_V2: "SimCLR, 3-layer head"}.get(init, init), "width": f"{w:g}x"}
        for t5 in (False, True):
            for f in FRACTIONS:
                p = paper_row(init, w, t5).get(f)
                row[f"{f:.0%} labels{' top-5' if t5 else ''}"] = common.cell(r[key(f, t5)])
                row[f"paper {f:.0%}{' top-5' if t5 else ''}"] = "-" if p is None else f"{p:.1f}"
        for f in FRACTIONS if v2 else ():
            row[f"{f:.0%}, from head layer 1"] = common.cell(r[key(f, head=1)]) if init == SIMCLR_V2 else "-"
        rows.append({**row, f"frozen encoder ({metric})": common.cell(r[metric])})
    return pd.DataFrame(rows), cells


def seeds(df: pd.DataFrame) -> dict:
    """{(init, width): {metric: Cell}} of the fine-tuning metrics, seed by seed."""
    metrics = [key(f) for f in FRACTIONS] + [key(f, head=1) for f in FRACTIONS]
    per = {m: common.cells(df, ["init", "width"], m) for m in metrics}
    return {k: {m: per[m][k] for m in metrics} for k in per[metrics[0]]}


def claims(per_seed: dict, noise: common.Noise | None) -> list[common.Claim]:
    """Margins, per seed: SimCLR fine-tuned - from scratch (each label fraction); the gain on 1 % - the
    gain on 10 %; SimCLRv2 fine-tuned from the head's first layer - from h. The fine-tuning accuracies'
    seed noise: the baseline's top-1 stands in."""
    # the from-scratch row shares the pretrained row's width, so the two differ only in pretraining
    scratch = next((k for k in per_seed if k[0] not in (SIMCLR, SIMCLR_V2)), None)
    out = v2_claims(per_seed, noise)
    if scratch is None or (SIMCLR, scratch[1]) not in per_seed:
        return [common.Claim("Table 7's claims", None, "no SimCLR / from-scratch pair of the same width")] + out
    ours, base = per_seed[(SIMCLR, scratch[1])], per_seed[scratch]
    # the paper's top-1 of ours and of the baseline, paired as the table pairs them (None where it has none)
    paper = {(who, f): paper_row(*k).get(f) for who, k in (("ours", (SIMCLR, scratch[1])), ("base", scratch))
             for f in FRACTIONS}
    out = [common.greater(ours[key(f)], base[key(f)], f"SimCLR fine-tuned on {f:.0%} labels", "from scratch", noise,
                          paper=(paper[("ours", f)], paper[("base", f)])) for f in FRACTIONS] + out
    lo, hi = FRACTIONS
    needs = {(who, f): c[key(f)] for who, c in (("ours", ours), ("base", base)) for f in FRACTIONS}
    gain = lambda x, f: x[("ours", f)] - x[("base", f)]  # noqa: E731
    out.append(common.judge(f"pretraining helps more with fewer labels: the gain on {lo:.0%} > on {hi:.0%}", needs,
                            lambda x: gain(x, lo) - gain(x, hi), noise,
                            lambda m: f"{gain(m, lo):+.1f} on {lo:.0%} vs {gain(m, hi):+.1f} on {hi:.0%}",
                            paper))
    return out


def v2_claims(per_seed: dict, noise: common.Noise | None) -> list[common.Claim]:
    """SimCLRv2's finding: with a 3-layer head, fine-tuning from its first layer beats fine-tuning from h
    (the same pretrained weights, so the two differ only in where fine-tuning starts)."""
    v2 = [c for k, c in per_seed.items() if k[0] == SIMCLR_V2]
    return [common.greater(v2[0][key(f, head=1)], v2[0][key(f)],
                           f"SimCLRv2, 3-layer head, {f:.0%} labels: fine-tuned from the head's first layer",
                           "from h", noise) for f in FRACTIONS] if v2 else []


def make(results_dir: str | Path) -> list[Path]:
    df, notes = common.load(results_dir, STUDY, report=True)
    if df.empty:
        return []
    out, metric = Path(results_dir), common.metric_for(df)
    tab, cells = table(df, metric)
    paths = common.write_table(tab, out, "table7", "Table 7: top-1 and top-5 (%) after fine-tuning the whole "
                               f"encoder on 1% / 10% of the labels, and the frozen encoder's {metric} (%)")
    # top-1 only, and within each label fraction: pooling fractions (10 % beats 1 % in both) or top-5
    # cells would correlate trivially. With two arms a fraction (the tiny and cpu presets) it is n/a.
    per = [common.spearman([c[key(f)] for k, c in cells.items() if f in paper_row(*k)],
                           [paper_row(*k)[f] for k in cells if f in paper_row(*k)]) for f in FRACTIONS]
    valid = [c for c in per if not common._isna(c[0])]
    # one fraction measured: its own correlation and interval; both: their mean weighted by cells
    corr = ((sum(r * n for r, n in valid) / sum(n for _, n in valid), sum(n for _, n in valid)) if len(valid) > 1
            else valid[0] if valid else common.Correlation(float("nan"), sum(n for _, n in per)))
    extra = ("The paper's baseline is a supervised ResNet-50 trained on the labelled subset; ours fine-tunes "
             "a random-init encoder with the same recipe as the SimCLR rows. Top-5 by chance is 5 / classes: "
             "50 % on a 10-class set (the tiny and cpu presets), 0.5 % on ImageNet; with 5 classes or fewer "
             "top-5 is not recorded. The correlation per label fraction: " + "; ".join(
                 f"{f:.0%}: {common.correlation_text(c[0], c[1], c.low, c.high, 'cells')}"
                 for f, c in zip(FRACTIONS, per)) + ".")
    return paths + common.write_report(out, STUDY, "Table 7",
                                       f"finetune_*_acc; top-5 in the table only (frozen encoder: {metric})",
                                       claims(seeds(df), common.seed_noise(out)), corr, notes, extra,
                                       correlated="cells, within each label fraction (their weighted mean)")


if __name__ == "__main__":
    common.cli(STUDY, make)

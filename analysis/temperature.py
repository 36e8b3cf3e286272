"""Table 5 from stored results: l2 normalization and temperature, with the pretext task's entropy and
contrastive accuracy at the end of pretraining, beside the paper's numbers.

python analysis/temperature.py [--results results/temperature/tiny]
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis import common
from analysis.paper import TABLE5
from studies.temperature import CELLS

STUDY = "temperature"
PRETEXT = ("train_entropy", "train_contrastive_acc")


def table(df: pd.DataFrame, metric: str) -> tuple[pd.DataFrame, dict]:
    by = ["l2", "t"]
    s = {m: common.summary(df, by, m) for m in (metric, *PRETEXT)}
    rows, cells = [], {}
    for l2, t in CELLS:
        r = {m: common.lookup(s[m], l2=l2, t=t) for m in s}
        p = TABLE5[(l2, t)]
        cells[(l2, t)] = {k: common.mean(v) for k, v in r.items()}
        cells[(l2, t)]["collapsed_seeds"] = r["train_entropy"].get("collapsed") or 0
        rows.append({"l2 norm": "yes" if l2 else "no", "t": f"{t:g}",
                     "entropy": common.cell(r["train_entropy"]), "paper entropy": p["entropy"],
                     "contrastive acc.": common.cell(r["train_contrastive_acc"], 100.0),
                     "paper contrastive acc.": p["contrastive_acc"],
                     "top-1": common.cell(r[metric]), "paper top-1": p["top1"]})
    return pd.DataFrame(rows), cells


def seeds(df: pd.DataFrame, metric: str) -> dict:
    """Per-seed cells: top-1 of every run; the pretext task's statistics with collapsed runs left out."""
    by = ["l2", "t"]
    return {"acc": common.cells(df, by, metric),
            "ctr": common.cells(df, by, "train_contrastive_acc", 100.0, leave_out=df["collapsed"]),
            "ent": common.cells(df, by, "train_entropy", leave_out=df["collapsed"])}


def left_out(claim: common.Claim, cells: dict, keys: list) -> common.Claim:
    gone = [f"t={k[1]:g}" + (f" ({c} seeds)" if (c := cells[k]["collapsed_seeds"]) > 1 else "")
            for k in keys if cells[k]["collapsed_seeds"]]
    if gone:
        claim.detail += f" (collapsed seeds left out: {', '.join(gone)})"
    return claim


def claims(per_seed: dict, cells: dict, noise: common.Noise | None) -> list[common.Claim]:
    """Top-1 claims count every run (a collapse is that setting's outcome); the claims on entropy and
    contrastive accuracy describe the similarity structure a trained model learned, which a collapsed
    run does not have, so they leave those runs out (a cell mean over the seeds that did not collapse)
    and name them. Margins, per seed: mean contrastive accuracy without l2 norm - with; best top-1 with
    l2 norm - best without; best intermediate temperature - best endpoint (l2 norm); Spearman of
    entropy with t (l2 norm) - 0.8."""
    get = lambda name, keys: {k: per_seed[name].get(k, common.Cell.empty()) for k in keys}  # noqa: E731
    paper = lambda name, keys: {k: TABLE5[k][name] for k in keys}  # noqa: E731
    l2 = [k for k in CELLS if k[0]]
    raw = [k for k in CELLS if not k[0]]
    ts = sorted(k[1] for k in l2)
    middle, ends = [k for k in l2 if ts[0] < k[1] < ts[-1]], [k for k in l2 if k[1] in (ts[0], ts[-1])]

    def apart(a: float, b: float) -> str:
        return common.versus({"a": a, "b": b})

    out = [left_out(common.judge(
        "contrastive acc. without l2 norm (mean) > with l2 norm (mean)", get("ctr", CELLS),
        lambda x: common.group_mean(x, raw) - common.group_mean(x, l2), noise,
        lambda m: apart(common.group_mean(m, raw), common.group_mean(m, l2)), paper("contrastive_acc", CELLS)),
        cells, CELLS),
        common.judge("best top-1 with l2 norm > best top-1 without", get("acc", CELLS),
                     lambda x: common.group_max(x, l2) - common.group_max(x, raw), noise,
                     lambda m: apart(common.group_max(m, l2), common.group_max(m, raw)), paper("top1", CELLS))]

    def best_t(m: dict) -> str:
        acc = pd.Series({k[1]: m[k] for k in l2}, dtype=float)
        if acc.isna().any():
            return f"{acc.notna().sum()} of {len(l2)} l2-norm cells measured"
        return (f"best t = {acc.idxmax():g} ({acc.max():.1f}); best intermediate vs best endpoint: "
                + apart(common.group_max(m, middle), common.group_max(m, ends)))

    out.append(common.judge("an intermediate temperature is best (l2 norm: not 0.05, not 1)", get("acc", l2),
                            lambda x: common.group_max(x, middle) - common.group_max(x, ends), noise, best_t,
                            paper("top1", l2)))

    def rho(x: dict) -> tuple[float, int]:
        return common.spearman([x[k] for k in l2], [k[1] for k in l2])

    def shown(m: dict) -> str:
        r, n = rho(m)
        return f"Spearman {r:+.2f} over {n} cells" if not pd.isna(r) else f"{n} cells measured"

    out.append(left_out(common.judge("with l2 norm, entropy rises with temperature (Spearman > 0.8)",
                                     get("ent", l2), lambda x: rho(x)[0] - 0.8, noise, shown, paper("entropy", l2)),
                              cells, l2))
    return out


def make(results_dir: str | Path) -> list[Path]:
    df, notes = common.load(results_dir, STUDY, report=True)
    if df.empty:
        return []
    out, metric = Path(results_dir), common.metric_for(df)
    tab, cells = table(df, metric)
    decided = claims(seeds(df, metric), cells, common.seed_noise(out))
    paths = common.write_table(tab, out, "table5", f"Table 5: l2 normalization and temperature ({metric}, %; "
                               "entropy in nats and contrastive accuracy in %, means over the last epoch)")
    corr = common.spearman([cells[k][metric] for k in CELLS], [TABLE5[k]["top1"] for k in CELLS])
    return paths + common.write_report(out, STUDY, "Table 5", metric, decided, corr, notes)


if __name__ == "__main__":
    common.cli(STUDY, make)

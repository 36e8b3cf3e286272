"""Figure 7 from stored results: accuracy against encoder parameters for each depth x width, SimCLR at
each training length and the supervised baseline.

python analysis/model_size.py [--results results/model_size/tiny]
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis import common
from analysis.paper import FIGURE7_ENDPOINTS, SUPERVISED_R50

STUDY = "model_size"


def grid(df: pd.DataFrame) -> tuple[list, list]:
    """(models as (depth, width) in study order, SimCLR lengths ascending)."""
    models = list(dict.fromkeys(zip(df["depth"], df["width"])))
    lengths = sorted(df.loc[df["method"] == "simclr", "length"].unique())
    return models, lengths


def table(df: pd.DataFrame, metric: str) -> tuple[pd.DataFrame, dict]:
    models, lengths = grid(df)
    by = ["method", "length", "depth", "width"]
    s = {"simclr": common.summary(df[df["method"] == "simclr"], by, metric),
         "supervised": common.summary(df[df["method"] == "supervised"], by, "supervised_acc")}
    params = common.summary(df, ["depth", "width"], "encoder_params")
    rows, cells = [], {}
    for d, w in models:
        p = common.lookup(params, depth=d, width=w)
        r = {L: common.lookup(s["simclr"], method="simclr", length=L, depth=d, width=w) for L in lengths}
        sup = common.lookup(s["supervised"], method="supervised", depth=d, width=w)
        cells[(d, w)] = {"params": common.mean(p), "supervised": common.mean(sup),
                         **{L: common.mean(v) for L, v in r.items()}}
        rows.append({"depth": d, "width": f"{w:g}x",
                     "encoder params (M)": f"{p['mean'] / 1e6:.2f}" if p and p["n"] else common.cell(p),
                     **{f"SimCLR length x{L:g}": common.cell(v) for L, v in r.items()},
                     "supervised": common.cell(sup),
                     # the paper's numbers exist for ResNet-50 only (SimCLR at 1000 epochs)
                     "paper SimCLR": f"{FIGURE7_ENDPOINTS[w]:g}" if d == "resnet50" and w in FIGURE7_ENDPOINTS else "-",
                     "paper supervised": f"{SUPERVISED_R50:g}" if (d, w) == ("resnet50", 1.0) else "-"})
    return pd.DataFrame(rows), cells


def seeds(df: pd.DataFrame, metric: str) -> dict:
    """{(depth, width): {length: Cell, "supervised": Cell}} seed by seed."""
    models, lengths = grid(df)
    by = ["length", "depth", "width"]
    sim = common.cells(df[df["method"] == "simclr"], by, metric)
    sup = common.cells(df[df["method"] == "supervised"], ["depth", "width"], "supervised_acc")
    return {m: {"supervised": sup.get(m, common.Cell.empty()),
                **{L: sim.get((L, *m), common.Cell.empty()) for L in lengths}} for m in models}


def claims(per_seed: dict, lengths: list, noise: common.Noise | None) -> list[common.Claim]:
    """Margins, per seed: the largest model - the smallest (longest training); the smallest model's
    supervised - SimCLR gap - the largest's; SimCLR's longest - shortest length, mean over the models."""
    # params grow with both depth and width, so the grid's corners are the smallest and largest models
    # even when a corner has no run to count its parameters
    small, big = next(iter(per_seed)), list(per_seed)[-1]
    name = lambda m: f"{m[0]}/{m[1]:g}x"  # noqa: E731
    if not lengths:
        return [common.Claim("Figure 7's claims", None, "no SimCLR runs in the store")]
    lo, hi = lengths[0], lengths[-1]
    out = [common.greater(per_seed[big][hi], per_seed[small][hi], f"SimCLR {name(big)} (length x{hi:g})",
                          f"{name(small)} (length x{hi:g})", noise)]
    needs = {(m, k): per_seed[m][k] for m in (small, big) for k in ("supervised", hi)}
    gap = lambda x, m: x[(m, "supervised")] - x[(m, hi)]  # noqa: E731
    out.append(common.judge(f"bigger models help SimCLR more: supervised - SimCLR (x{hi:g}) is smaller for "
                            f"{name(big)}", needs, lambda x: gap(x, small) - gap(x, big), noise,
                            lambda m: f"gap {gap(m, big):+.1f} ({name(big)}) vs {gap(m, small):+.1f} ({name(small)})"))
    models = list(per_seed)
    needs = {(m, L): per_seed[m][L] for m in models for L in (lo, hi)}
    mean = lambda x, L: common.group_mean(x, [(m, L) for m in models])  # noqa: E731
    out.append(common.judge(f"SimCLR length x{hi:g} (mean over {len(models)} models) > length x{lo:g}", needs,
                            lambda x: mean(x, hi) - mean(x, lo), noise,
                            lambda m: common.versus({"a": mean(m, hi), "b": mean(m, lo)})))
    return out


def plot(cells: dict, lengths: list, metric: str, out: Path) -> list[Path]:
    fig, axes = common.figure(size=(7.0, 4.5))
    ax = axes[0][0]
    series = [(f"SimCLR length x{L:g} ({metric})", L, "o-") for L in lengths]
    named = set()  # one label per model keeps a large grid legible
    for label, key, style in series + [("supervised", "supervised", "s--")]:
        pts = sorted((c["params"], c[key], m) for m, c in cells.items()
                     if not pd.isna(c["params"]) and not pd.isna(c[key]))
        if not pts:
            continue
        line, = ax.plot([p[0] for p in pts], [p[1] for p in pts], style, label=label)
        for x, y, (d, w) in [p for p in pts if p[2] not in named]:
            named.add((d, w))
            ax.annotate(f"{d.replace('resnet', 'R')} {w:g}x", (x, y), textcoords="offset points",
                        xytext=(4, 4), fontsize=7, color=line.get_color())
    paper = [(c["params"], FIGURE7_ENDPOINTS[w]) for (d, w), c in cells.items()
             if d == "resnet50" and w in FIGURE7_ENDPOINTS and not pd.isna(c["params"])]
    if paper:  # at the ResNet-50 widths the study has, where the parameters are known
        ax.plot(*zip(*sorted(paper)), "k*", ms=10, label="paper: SimCLR R50 (1000 epochs)")
    ax.set_xscale("log")
    ax.margins(x=0.12)
    ax.set_xlabel("encoder parameters")
    ax.set_ylabel("top-1 (%)")
    ax.set_title("Figure 7: accuracy vs encoder size")
    if ax.lines:
        ax.legend(fontsize=8)
    return common.save_figure(fig, out, "figure7")


def make(results_dir: str | Path) -> list[Path]:
    df, notes = common.load(results_dir, STUDY, report=True)
    if df.empty:
        return []
    out = Path(results_dir)
    # supervised runs report supervised_acc; the SimCLR metric is chosen from SimCLR runs alone
    metric = common.metric_for(df[df["method"] == "simclr"])
    models, lengths = grid(df)
    tab, cells = table(df, metric)
    paths = common.write_table(tab, out, "figure7", f"Figure 7: encoder depth x width, SimCLR ({metric}, %) "
                               "at each training length (x the preset's length) and supervised top-1 (%); the "
                               "paper: SimCLR ResNet-50 1x / 2x / 4x " + " / ".join(f"{v:g}" for v in
                               FIGURE7_ENDPOINTS.values()) + f" (1000 epochs), supervised ResNet-50 {SUPERVISED_R50:g}")
    paths += plot(cells, lengths, metric, out)
    # the paper gives numbers only for ResNet-50 at 1x / 2x / 4x, 1000 epochs
    ends = [w for w in FIGURE7_ENDPOINTS if ("resnet50", w) in cells]
    corr = common.spearman([cells[("resnet50", w)][lengths[-1]] for w in ends],
                           [FIGURE7_ENDPOINTS[w] for w in ends]) if ends and lengths else None
    extra = ("The paper gives numbers only for SimCLR ResNet-50 at 1x / 2x / 4x (1000 epochs); the rest of "
             "Figure 7 is checked through its claims.")
    decided = claims(seeds(df, metric), lengths, common.seed_noise(out))
    return paths + common.write_report(out, STUDY, "Figure 7", metric, decided, corr, notes, extra)


if __name__ == "__main__":
    common.cli(STUDY, make)

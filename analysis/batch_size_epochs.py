"""Figure 9 and Table B.1 from stored results: batch size x training epochs, with linear and square-root
learning-rate scaling, beside the paper's Table B.1 where the grid has the paper's cells.

python analysis/batch_size_epochs.py [--results results/batch_size_epochs/tiny]
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis import common
from analysis.paper import TABLE_B1

STUDY = "batch_size_epochs"
SCALINGS = ("linear", "sqrt")


def table(df: pd.DataFrame, metric: str) -> tuple[pd.DataFrame, dict, list, list]:
    batches, epochs = sorted(df["batch"].unique()), sorted(df["epochs"].unique())
    s = common.summary(df, ["scaling", "batch", "epochs"], metric)
    # the small presets' grids miss the paper's batches and epochs: no paper columns then
    in_paper = any((b, e) in TABLE_B1 for b in batches for e in epochs)
    rows, cells = [], {}
    for b in batches:
        row = {"batch": int(b)}
        for e in epochs:
            r = {sc: common.lookup(s, scaling=sc, batch=b, epochs=e) for sc in SCALINGS}
            cells.update({(sc, b, e): common.mean(r[sc]) for sc in SCALINGS})
            row[f"{e:g} ep"] = " / ".join(common.cell(r[sc]) for sc in SCALINGS)
            if in_paper:
                p = TABLE_B1.get((b, e))
                row[f"paper {e:g} ep"] = f"{p[0]:.1f} / {p[1]:.1f}" if p else "-"
        rows.append(row)
    return pd.DataFrame(rows), cells, batches, epochs


def claims(per_seed: dict, batches: list, epochs: list, noise: common.Noise | None,
           pairs: dict | None = None) -> list[common.Claim]:
    """per_seed: {(scaling, batch, epochs): Cell}; pairs: {(batch, epochs): the paper's cell it stands for}
    (paper_cells). Margins, per seed: batch hi - batch lo (linear scaling, fewest epochs); the gap batch
    hi - batch lo at the fewest epochs - at the most; sqrt - linear scaling (smallest batch, fewest epochs)."""
    lo_b, hi_b, lo_e, hi_e = batches[0], batches[-1], epochs[0], epochs[-1]
    c = lambda sc, b, e: per_seed.get((sc, b, e), common.Cell.empty())  # noqa: E731
    # the paper's Table B.1 cell our cell stands for; None (no paper column) where none pairs
    p = lambda sc, b, e: (TABLE_B1.get((pairs or {}).get((b, e))) or (None, None))[SCALINGS.index(sc)]  # noqa: E731
    out = [common.greater(c("linear", hi_b, lo_e), c("linear", lo_b, lo_e),
                          f"linear scaling, {lo_e:g} epochs: batch {hi_b}", f"batch {lo_b}", noise,
                          paper=(p("linear", hi_b, lo_e), p("linear", lo_b, lo_e)))]
    text = (f"longer training closes the gap (linear scaling): batch {hi_b} - batch {lo_b} is smaller at "
            f"{hi_e:g} epochs than at {lo_e:g}")
    if hi_e == lo_e:
        out.append(common.Claim(text, None, "one training length only"))
    else:
        needs = {(b, e): c("linear", b, e) for b in (lo_b, hi_b) for e in (lo_e, hi_e)}
        gap = lambda x, e: x[(hi_b, e)] - x[(lo_b, e)]  # noqa: E731
        out.append(common.judge(text, needs, lambda x: gap(x, lo_e) - gap(x, hi_e), noise,
                                lambda m: f"gap {gap(m, hi_e):+.1f} at {hi_e:g} epochs vs {gap(m, lo_e):+.1f} at "
                                          f"{lo_e:g}", {k: p("linear", *k) for k in needs}))
    out.append(common.greater(c("sqrt", lo_b, lo_e), c("linear", lo_b, lo_e),
                              f"batch {lo_b}, {lo_e:g} epochs: sqrt scaling", "linear scaling", noise,
                              paper=(p("sqrt", lo_b, lo_e), p("linear", lo_b, lo_e))))
    return out


def plot(df: pd.DataFrame, metric: str, batches: list, epochs: list, out: Path) -> list[Path]:
    import seaborn as sns

    fig, axes = common.figure(1, 2, size=(6.0, 4.2))
    done = df[(df["status"] == common.DONE) & df.get(metric, pd.Series(index=df.index)).notna()].copy()
    # categories, not numbers: one bar group per length, one colour per batch
    done["epochs"], done["batch"] = done["epochs"].map(lambda e: f"{e:g}"), done["batch"].map(str)
    handles = None
    for ax, sc in zip(axes[0], SCALINGS):
        sub = done[done["scaling"] == sc]
        if sub.empty:
            ax.text(0.5, 0.5, "no completed runs", ha="center", va="center", transform=ax.transAxes)
            ax.set_xticks([])
        else:
            sns.barplot(data=sub, x="epochs", y=metric, hue="batch", order=[f"{e:g}" for e in epochs],
                        hue_order=[str(b) for b in batches], errorbar="sd", palette="viridis", ax=ax)
            ax.get_legend().remove()
            handles = ax.get_legend_handles_labels()
        ax.set_title(f"{sc} lr scaling")
        ax.set_xlabel("training epochs")
        ax.set_ylabel(f"{metric} (%)")
    if len(done):  # bars from 0 would hide differences of a few points
        lo, hi = done[metric].min(), done[metric].max()
        for ax in axes[0]:
            ax.set_ylim(max(0.0, lo - 5), min(100.0, hi + 5))
    if handles:
        axes[0][-1].legend(*handles, title="batch", fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.suptitle("Figure 9: batch size x epochs")
    return common.save_figure(fig, out, "figure9")


def make(results_dir: str | Path) -> list[Path]:
    df, notes = common.load(results_dir, STUDY, report=True)
    if df.empty:
        return []
    out, metric = Path(results_dir), common.metric_for(df)
    tab, cells, batches, epochs = table(df, metric)
    paths = common.write_table(tab, out, "figure9", f"Figure 9 / Table B.1: {metric} (%) per batch size and "
                               "training epochs, linear / sqrt lr scaling")
    paths += plot(df, metric, batches, epochs, out)
    if "paper" not in " ".join(tab.columns):  # a scaled-down grid: the paper's own table stands beside it
        pb, pe = sorted({b for b, _ in TABLE_B1}), sorted({e for _, e in TABLE_B1})
        paper = pd.DataFrame([{"batch": b, **{f"{e} ep": " / ".join(f"{v:.1f}" for v in TABLE_B1[b, e]) for e in pe}}
                              for b in pb])
        paths += common.write_table(paper, out, "figure9_paper", "The paper's Table B.1 (ImageNet, ResNet-50, "
                                    "linear / sqrt lr scaling), beside this store's scaled-down grid")
    pairs, correlated = paper_cells(batches, epochs)
    keys = [(sc, b, e) for sc in SCALINGS for (b, e) in pairs]
    corr = common.spearman([cells[k] for k in keys], [TABLE_B1[pairs[k[1:]]][SCALINGS.index(k[0])]
                                                      for k in keys]) if keys else None
    return paths + common.write_report(out, STUDY, "Figure 9 / Table B.1", metric,
                                       claims(common.cells(df, ["scaling", "batch", "epochs"], metric), batches,
                                              epochs, common.seed_noise(out), pairs), corr, notes,
                                       correlated=correlated)


def _doubling(xs: list) -> bool:
    return len(xs) > 1 and all(abs(b / a - 2.0) < 1e-9 for a, b in zip(xs, xs[1:]))


def paper_cells(batches: list, epochs: list) -> tuple[dict, str]:
    """Which of the paper's Table B.1 cells each of our (batch, epochs) cells stands for.

    At paper scale a cell pairs with the same cell. A scaled-down grid that keeps the paper's steps
    (batch and epochs each doubling) pairs by position from the smallest: the tiny grid's batch 64 / 10
    epochs stands for the paper's 256 / 100, its 512 / 20 for 2048 / 200. Otherwise nothing pairs."""
    direct = {(b, e): (b, e) for b in batches for e in epochs if (b, e) in TABLE_B1}
    if direct:
        return direct, "cells"
    pb, pe = sorted({b for b, _ in TABLE_B1}), sorted({e for _, e in TABLE_B1})
    if not (_doubling(batches) and _doubling(epochs) and len(batches) <= len(pb) and len(epochs) <= len(pe)):
        return {}, "cells"
    pairs = {(b, e): (pb[i], pe[j]) for i, b in enumerate(batches) for j, e in enumerate(epochs)}
    return pairs, (f"cells, paired by position (batch {batches[0]}-{batches[-1]} as {pb[0]}-{pb[len(batches) - 1]}, "
                   f"{epochs[0]:g}-{epochs[-1]:g} epochs as {pe[0]:g}-{pe[len(epochs) - 1]:g}: the scaled grid "
                   "keeps the paper's doubling steps)")


if __name__ == "__main__":
    common.cli(STUDY, make)

"""Figure 8 from stored results: projection head (none / linear / nonlinear) x output dimension of z,
linear evaluation on h (bars) and on z = g(h), with the agreement report (the paper: figure only).

python analysis/projection_head.py [--results results/projection_head/tiny]
"""
from __future__ import annotations

from pathlib import Path

import pandas as pd

from analysis import common

STUDY = "projection_head"


def layers(head: str) -> int:
    """The head's depth from its label: none 0, linear 1, nonlinear 2, "nonlinear (k layers)" k."""
    named = {"none": 0, "linear": 1, "nonlinear": 2}
    return named[head] if head in named else int(head.split("(")[1].split()[0])


def depth(nums: pd.DataFrame) -> pd.DataFrame:
    """Head depth 0-4 at the output dim of the deeper heads (SimCLRv2's axis): layers, h, z."""
    deep = nums[nums["head"].str.contains("layers")]
    if deep.empty:
        return pd.DataFrame(columns=["layers", "h", "z"])
    dim = deep["out_dim"].iloc[0]
    at = nums[(nums["head"] == "none") | (nums["out_dim"] == dim)]
    return at.assign(layers=at["head"].map(layers)).sort_values("layers")[["layers", "h", "z"]]


def table(df: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """(printable table, numeric table of means on h and z, metric on h)."""
    metric = common.metric_for(df)
    z_metric = metric.replace("_acc", "_z_acc")
    by = ["head", "out_dim"]
    s_h, s_z = common.summary(df, by, metric), common.summary(df, by, z_metric)
    keys = df[by].drop_duplicates()
    rows, nums = [], []
    for _, k in keys.iterrows():
        h = common.lookup(s_h, head=k["head"], out_dim=k["out_dim"])
        z = common.lookup(s_z, head=k["head"], out_dim=k["out_dim"])
        dim = "= dim(h)" if pd.isna(k["out_dim"]) else int(k["out_dim"])
        rows.append({"head": k["head"], "dim(z)": dim, "on h": common.cell(h), "on z = g(h)": common.cell(z)})
        nums.append({"head": k["head"], "out_dim": k["out_dim"], "h": common.mean(h), "z": common.mean(z)})
    return pd.DataFrame(rows), pd.DataFrame(nums), metric


def seeds(df: pd.DataFrame, metric: str) -> dict:
    """{"h": {(head, out_dim): Cell}, "z": ...}: accuracy on h and on z seed by seed (out_dim None: no head)."""
    return {"h": common.cells(df, ["head", "out_dim"], metric),
            "z": common.cells(df, ["head", "out_dim"], metric.replace("_acc", "_z_acc"))}


def claims(per_seed: dict, noise: common.Noise | None) -> list[common.Claim]:
    """Margins, per seed (best: over output dims): nonlinear's best - linear's best; nonlinear's best -
    no head - 10; linear's best - no head; 3 - the nonlinear head's range over dims; the nonlinear
    head's mean on h - its mean on z - 10."""
    h, z = per_seed["h"], per_seed["z"]
    of = lambda head: [k for k in h if k[0] == head]  # noqa: E731
    nl, lin, none = of("nonlinear"), of("linear"), of("none")
    best = lambda x, keys: common.group_max(x, keys) if keys else float("nan")  # noqa: E731

    def compare(a: list, b: list, what_a: str, what_b: str, margin: float = 0.0) -> common.Claim:
        text = f"{what_a} > {what_b}" + (f" by more than {margin:g} points" if margin else "")
        needs = {k: h[k] for k in a + b}
        return common.judge(text, needs, lambda x: best(x, a) - best(x, b) - margin, noise,
                            lambda m: common.versus({"a": best(m, a), "b": best(m, b)}))

    # the paper (section 4.2): nonlinear beats linear (+3 %) and beats no head by over 10 %; Figure 8
    # puts linear above none too
    out = [compare(nl, lin, "nonlinear head (best dim), on h", "linear head (best dim)"),
           compare(nl, none, "nonlinear head (best dim)", "no head", margin=10.0),
           compare(lin, none, "linear head (best dim)", "no head")]
    spread = lambda x: common.group_max(x, nl) - pd.Series([x[k] for k in nl], dtype=float).min()  # noqa: E731
    text = "output dimension matters little: nonlinear head's range over dims < 3 points"
    out.append(common.judge(text, {k: h[k] for k in nl}, lambda x: 3.0 - spread(x), noise,
                            lambda m: f"range {spread(m):.1f} over {len(nl)} dims") if len(nl) >= 2
               else common.Claim(text, None, f"{len(nl)} dims measured"))
    needs = {("h", k): h[k] for k in nl} | {("z", k): z.get(k, common.Cell.empty()) for k in nl}
    mean = lambda x, rep: common.group_mean(x, [(rep, k) for k in nl])  # noqa: E731
    out.append(common.judge("nonlinear head: mean accuracy on h > on z = g(h) by more than 10 points", needs,
                            lambda x: mean(x, "h") - mean(x, "z") - 10.0, noise,
                            lambda m: common.versus({"a": mean(m, "h"), "b": mean(m, "z")})))
    return out


def plot(nums: pd.DataFrame, metric: str, out: Path) -> list[Path]:
    import seaborn as sns

    fig, axes = common.figure(1, 3, size=(5.5, 3.8))
    sized = nums[nums["head"].isin(["linear", "nonlinear"])].copy()
    sized["dim(z)"] = sized["out_dim"].astype(int)
    for ax, rep in zip(axes[0], ("h", "z")):
        sns.barplot(sized, x="dim(z)", y=rep, hue="head", ax=ax)
        none = nums[nums["head"] == "none"][rep]
        if len(none) and none.notna().all():
            ax.axhline(none.iloc[0], color="grey", ls="--", label="no head")
        ax.set_ylabel(f"{metric} on {'h' if rep == 'h' else 'z = g(h)'} (%)")
        ax.set_title(f"Figure 8: evaluated on {'h' if rep == 'h' else 'z = g(h)'}")
        ax.legend()
    ax, d = axes[0][2], depth(nums)
    for rep, style in (("h", "o-"), ("z", "s--")):
        ax.plot(d["layers"], d[rep], style, label=f"on {'h' if rep == 'h' else 'z = g(h)'}")
    ax.set_xlabel("head layers (0: none)")
    ax.set_ylabel(f"{metric} (%)")
    ax.set_title("Head depth (SimCLRv2: 3 layers)")
    ax.set_xticks(range(5))
    ax.legend()
    return common.save_figure(fig, out, "figure8")


def make(results_dir: str | Path) -> list[Path]:
    df, notes = common.load(results_dir, STUDY, report=True)
    if df.empty:
        return []
    out = Path(results_dir)
    tab, nums, metric = table(df)
    paths = common.write_table(tab, out, "figure8", f"Figure 8: projection heads, {metric} (%) on h and on z")
    d = depth(nums)
    shown = tab.loc[d.index, ["on h", "on z = g(h)"]].assign(**{"head layers": d["layers"].astype(int)})  # same rows
    shown = shown[["head layers", "on h", "on z = g(h)"]]
    paths += common.write_table(shown, out, "figure8_depth", f"Head depth at one output dim, {metric} (%): 0 is no "
                                "head, 2 the paper's, 3 SimCLRv2's (which gives no number for this setting)")
    if nums[["h", "z"]].notna().any().any():
        paths += plot(nums, metric, out)
    decided = claims(seeds(df, metric), common.seed_noise(out))
    return paths + common.write_report(out, STUDY, "Figure 8", metric, decided, None, notes,
                                       "The paper: nonlinear > linear by about 3 points, nonlinear > none by "
                                       "over 10 points, h over 10 points better than g(h).")


if __name__ == "__main__":
    common.cli(STUDY, make)

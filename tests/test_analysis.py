"""Every study's analysis regenerates its tables, figures and agreement report from a result store alone,
and says what is missing on an empty or partial store instead of crashing."""
import importlib
import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis import common
from analysis.make_all import make_all
from studies import STUDIES
from tests.fake_store import fake_noise, fake_store

PRESET = {"h_vs_gh": "cifar10", "semi_supervised": "cifar10", "augmentation_grid": "tiny"}
HINT = "one seed; seed noise of preset tiny not measured: run python studies/run.py seed_noise --preset tiny"


def report_of(store, study: str) -> dict:
    """The store's report: the agreement with the paper, or the seed noise study's own record."""
    return json.loads((store / ("noise.json" if study == "seed_noise" else "agreement.json")).read_text())


@pytest.mark.parametrize("study", STUDIES)
def test_full_store_gives_tables_figures_and_report(tmp_path, study):
    preset = PRESET.get(study, "imagenet")
    store = tmp_path / study / preset
    fake_store(store, study, preset, seeds=None if study == "seed_noise" else 1)
    if study != "seed_noise":
        fake_noise(tmp_path, preset, sigma=2.0)
    paths = importlib.import_module(f"analysis.{study}").make(store)
    suffixes = {p.suffix for p in paths}
    assert {".md", ".tex", ".csv", ".json"} <= suffixes and all(p.exists() for p in paths)
    report = report_of(store, study)
    # nothing missing (made-up numbers may put a loss's best cell at the tuning grid's edge, which is said)
    assert all("not bracketed" in n for n in report["notes"])
    if study == "seed_noise":
        assert report["seeds"] == 5 and report["std"]["linear_acc"] > 0
    else:  # every cell measured on its one seed: each claim's interval comes from the preset's seed noise
        assert report["study"] == study and report["claims"]
        for c in report["claims"]:
            assert c["n_seeds"] == 1 and f"preset {preset}'s seed noise" in c["method"]
            assert c["low"] <= c["margin"] <= c["high"]
            assert c["passed"] == (True if c["low"] > 0 else False if c["high"] < 0 else None) \
                or "the paper makes no claim there" in c["detail"]
    for p in paths:
        if p.suffix == ".csv" and p.stem != "agreement":
            assert not pd.read_csv(p).empty
        if p.suffix == ".tex":
            assert "\\begin{table}" in p.read_text()


@pytest.mark.parametrize("study", STUDIES)
def test_partial_store_names_the_missing_runs(tmp_path, study):
    fake_store(tmp_path, study, "tiny" if study != "h_vs_gh" else "cpu", skip=1)
    paths = importlib.import_module(f"analysis.{study}").make(tmp_path)
    report = report_of(tmp_path, study)
    assert any("1 run(s) not run yet" in n for n in report["notes"])
    assert any(p.suffix == ".md" and "missing" in p.read_text() for p in paths if p.name != "agreement.md")


@pytest.mark.parametrize("study", STUDIES)
def test_empty_store_says_how_to_fill_it(tmp_path, study, capsys):
    assert importlib.import_module(f"analysis.{study}").make(tmp_path) == []
    assert f"python studies/run.py {study}" in capsys.readouterr().err


def test_nothing_run_yet_leaves_every_claim_undecided(tmp_path):
    from analysis import temperature

    fake_store(tmp_path, "temperature", skip=6)
    temperature.make(tmp_path)
    report = json.loads((tmp_path / "agreement.json").read_text())
    assert all(c["passed"] is None for c in report["claims"]) and report["spearman"] is None
    assert (tmp_path / "table5.md").read_text().count("missing") == 18


def test_seeds_give_mean_and_std(tmp_path):
    from analysis import temperature

    fake_store(tmp_path, "temperature", seeds=3)
    temperature.make(tmp_path)
    df, _ = common.load(tmp_path, "temperature")
    s = common.summary(df, ["l2", "t"], "linear_acc")
    row = common.lookup(s, l2=True, t=0.5)
    values = df[(df["l2"]) & (df["t"] == 0.5)]["linear_acc"]
    assert row["n"] == 3 and row["mean"] == pytest.approx(values.mean()) and row["std"] == pytest.approx(values.std())
    assert f"{values.mean():.1f} ± {values.std():.1f}" in (tmp_path / "table5.md").read_text()


def test_table7_compares_simclrv2_fine_tuning_from_the_heads_first_layer_with_from_h(tmp_path):
    from analysis import semi_supervised

    store, sigma = tmp_path / "semi_supervised" / "tiny", 1.5
    fake_store(store, "semi_supervised", "tiny")
    fake_noise(tmp_path, "tiny", sigma)
    semi_supervised.make(store)
    tab = pd.read_csv(store / "table7.csv").set_index("init")
    df, _ = common.load(store, "semi_supervised")
    v2 = df[df["init"] == semi_supervised.SIMCLR_V2].iloc[0]
    for f in ("1%", "10%"):
        assert tab.loc["SimCLR", f"{f}, from head layer 1"] == "-"
    assert tab.loc["SimCLR, 3-layer head", "1%, from head layer 1"] == f"{v2['finetune_0.01_head1_acc']:.1f}"
    claims = {c["text"]: c for c in json.loads((store / "agreement.json").read_text())["claims"]}
    c = claims["SimCLRv2, 3-layer head, 1% labels: fine-tuned from the head's first layer > from h"]
    gap = v2["finetune_0.01_head1_acc"] - v2["finetune_0.01_acc"]
    # one seed: a difference of two cells is told apart beyond 1.96 * sqrt(2) * the preset's sigma
    assert c["passed"] == (None if abs(gap) < 1.96 * math.sqrt(2) * sigma else gap > 0)
    assert c["margin"] == pytest.approx(gap)
    # the 3-layer arm is not taken for the from-scratch baseline
    scratch = claims["SimCLR fine-tuned on 1% labels > from scratch"]
    rows = df.set_index("init")
    assert f"{rows.loc['random (supervised from scratch)', 'finetune_0.01_acc']:.1f}" in scratch["detail"]


def test_table7_shows_top5_beside_the_paper_and_older_stores_lack_it(tmp_path):
    from analysis import semi_supervised

    fake_store(tmp_path, "semi_supervised", "cifar10")
    semi_supervised.make(tmp_path)
    tab = pd.read_csv(tmp_path / "table7.csv")
    assert {"1% labels top-5", "paper 1% top-5", "10% labels top-5", "paper 10% top-5"} <= set(tab.columns)
    scratch = tab[tab["init"].str.startswith("random")].iloc[0]
    assert (str(scratch["paper 1% top-5"]), str(scratch["paper 10% top-5"])) == ("48.4", "80.4")
    df, _ = common.load(tmp_path, "semi_supervised")
    row = df[df["init"] == "simclr"].iloc[0]
    assert f"{row['finetune_0.1_top5_acc']:.1f}" in tab[tab["init"] == "SimCLR"]["10% labels top-5"].astype(str).tolist()
    # a store written before top-5 was recorded: those cells say so, top-1 and the claims are intact
    for m in tmp_path.glob("*/metrics.json"):
        metrics = json.loads(m.read_text())
        m.write_text(json.dumps({k: v for k, v in metrics.items() if "top5" not in k}))
    semi_supervised.make(tmp_path)
    tab = pd.read_csv(tmp_path / "table7.csv")
    assert set(tab["1% labels top-5"]) == {"not measured"} and not tab["1% labels"].eq("not measured").any()
    report = json.loads((tmp_path / "agreement.json").read_text())
    assert all(c["n_seeds"] == 1 for c in report["claims"])  # every claim's cells measured


def test_figure5_table_gives_mean_and_std_over_seeds(tmp_path):
    from analysis import augmentation_grid

    fake_store(tmp_path, "augmentation_grid", seeds=2)
    augmentation_grid.make(tmp_path)
    df, _ = common.load(tmp_path, "augmentation_grid")
    values = df[(df["first"] == "crop") & (df["second"] == "color")]["linear_acc"]
    assert len(values) == 2
    assert f"{values.mean():.1f} ± {values.std():.1f}" in (tmp_path / "figure5.md").read_text()
    # and the mean's 95 % interval: Student's t with n - 1 degrees of freedom (scipy's own interval)
    low, high = stats.t.interval(0.95, 1, loc=values.mean(), scale=stats.sem(values))
    assert f"{values.mean():.1f} [{low:.1f}, {high:.1f}]" in (tmp_path / "figure5_interval.md").read_text()


def test_figure5_row_mean_waits_for_its_row_and_says_over_what_otherwise(tmp_path):
    from analysis import augmentation_grid

    fake_store(tmp_path, "augmentation_grid", skip=1)  # rotate then rotate not run
    grid, _, _, df = augmentation_grid.table(tmp_path)
    assert pd.isna(grid.loc["rotate", "row mean"]) and grid.loc["crop"].notna().all()
    augmentation_grid.make(tmp_path)
    rotate = df[(df["first"] == "rotate") & (df["second"] != "rotate")]["linear_acc"]
    assert f"{rotate.mean():.1f} (6 of 7)" in (tmp_path / "figure5.md").read_text()


def test_figure5_keeps_the_protocols_apart(tmp_path):
    from analysis import augmentation_grid

    ops = ("crop", "color")
    one = fake_store(tmp_path, "augmentation_grid", operators=ops)
    sym = fake_store(tmp_path, "augmentation_grid", operators=ops, symmetric=True)
    assert {e["config"].run_id for e in one}.isdisjoint(e["config"].run_id for e in sym)
    grid, _, notes, df = augmentation_grid.table(tmp_path)  # both in one store: the one-branch grid
    assert set(df["run_id"]) == {e["config"].run_id for e in one} and len(df) == 4
    assert any("4 symmetric run(s) left out" in n for n in notes)
    alone = tmp_path / "symmetric"
    fake_store(alone, "augmentation_grid", operators=ops, symmetric=True)
    _, _, notes, df = augmentation_grid.table(alone)
    assert set(df["protocol"]) == {"symmetric"} and not notes


def one_seed(values: dict, metric: str = "linear_acc") -> dict:
    """{key: Cell} of one seed's numbers."""
    return {k: common.Cell(pd.Series({0: v}, dtype=float), metric) for k, v in values.items()}


def noise(sigma: float) -> common.Noise:
    return common.Noise("tiny", {"linear_acc": sigma, "linear_z_acc": sigma}, "linear_acc", 5)


def test_figure5_crop_and_colour_must_beat_single_operators_too():
    from analysis import augmentation_grid

    grid = pd.DataFrame([[20.0, 40.0, 10.0], [41.0, 30.0, 12.0], [11.0, 13.0, 60.0]],
                        index=["crop", "color", "blur"], columns=["crop", "color", "blur"])
    cells = one_seed({(a, b): grid.loc[a, b] for a in grid.index for b in grid.columns})
    claim = augmentation_grid.claims(cells, noise(1.0))[-1]
    assert claim.text.startswith("crop + colour") and claim.passed is False and "41.0 vs 60.0" in claim.detail
    assert claim.margin == pytest.approx(-19.0) and claim.high < 0


def test_figure8_claims_keep_the_papers_margins():
    from analysis import projection_head

    nums = [("none", None, 60.0, 60.0), ("linear", 128, 63.0, 58.0), ("nonlinear", 128, 66.0, 59.0),
            ("nonlinear", 64, 65.5, 58.5)]
    cells = {"h": one_seed({(head, d): h for head, d, h, _ in nums}),
             "z": one_seed({(head, d): z for head, d, _, z in nums}, "linear_z_acc")}
    c = {x.text: x for x in projection_head.claims(cells, noise(0.5))}
    assert c["nonlinear head (best dim), on h > linear head (best dim)"].passed is True
    assert c["nonlinear head (best dim) > no head by more than 10 points"].passed is False  # +6 only
    assert c["linear head (best dim) > no head"].passed is True
    h_z = c["nonlinear head: mean accuracy on h > on z = g(h) by more than 10 points"]
    assert h_z.passed is False and "65.8 vs 58.8 (+7.0)" in h_z.detail


def test_a_collapsed_run_is_marked_and_named(tmp_path):
    from analysis import temperature

    entries = fake_store(tmp_path, "temperature")
    run = next(e["config"] for e in entries if e["config"].loss.temperature == 0.05)
    path = tmp_path / run.run_id / "metrics.json"
    m = json.loads(path.read_text())
    m["train_contrastive_acc"] = 1.0 / (2 * run.train.batch_size - 1)  # the positive found at chance
    m["linear_acc"] = 99.0  # whatever the probe reads, the top-1 claims count it
    path.write_text(json.dumps(m))
    temperature.make(tmp_path)
    table = (tmp_path / "table5.md").read_text()
    assert table.count("(collapsed)") == 3  # entropy, contrastive accuracy, top-1 of that one row
    report = json.loads((tmp_path / "agreement.json").read_text())
    assert any(n.startswith("1 run(s) collapsed") and "t=0.05" in n for n in report["notes"])
    # the claims on the pretext task's statistics leave the collapsed cell out (oracle: the other runs' files)
    metrics = {e["config"].loss.temperature: json.loads((tmp_path / e["config"].run_id / "metrics.json").read_text())
               for e in entries}
    with_l2 = [metrics[t] for t in (0.1, 0.5, 1.0)]
    without = [metrics[t] for t in (10.0, 100.0)]
    mean_acc = lambda ms: 100 * sum(m["train_contrastive_acc"] for m in ms) / len(ms)  # noqa: E731
    claims = {c["text"]: c for c in report["claims"]}
    ctr = claims["contrastive acc. without l2 norm (mean) > with l2 norm (mean)"]
    assert ctr["detail"].startswith(f"{mean_acc(without):.1f} vs {mean_acc(with_l2):.1f}")
    assert ctr["detail"].endswith("(collapsed seeds left out: t=0.05)")
    rho, n = common.spearman([m["train_entropy"] for m in with_l2], [0.1, 0.5, 1.0])
    ent = claims["with l2 norm, entropy rises with temperature (Spearman > 0.8)"]
    assert ent["detail"].startswith(f"Spearman {rho:+.2f} over 3 cells")
    assert ent["detail"].endswith("(collapsed seeds left out: t=0.05)")
    # one seed and no seed noise measured beside the store: undecided, saying how to measure it
    assert ent["passed"] is None and HINT in ent["detail"] and ent["margin"] == pytest.approx(rho - 0.8)
    assert claims["best top-1 with l2 norm > best top-1 without"]["detail"].startswith("99.0 vs ")
    assert claims["an intermediate temperature is best (l2 norm: not 0.05, not 1)"]["detail"].startswith(
        "best t = 0.05 (99.0)")


def test_a_partly_collapsed_cell_keeps_its_other_seeds_in_the_pretext_claims(tmp_path):
    from analysis import temperature

    entries = fake_store(tmp_path, "temperature", seeds=2)
    runs = {(e["config"].loss.temperature, e["seed"]): e["config"] for e in entries}
    metrics = {k: json.loads((tmp_path / c.run_id / "metrics.json").read_text()) for k, c in runs.items()}
    gone = runs[(0.5, 0)]
    metrics[(0.5, 0)]["train_contrastive_acc"] = 1.0 / (2 * gone.train.batch_size - 1)
    (tmp_path / gone.run_id / "metrics.json").write_text(json.dumps(metrics[(0.5, 0)]))
    temperature.make(tmp_path)
    cell = lambda t: [m["train_contrastive_acc"] for (tt, s), m in metrics.items() if tt == t and (tt, s) != (0.5, 0)]
    per_cell = lambda ts: [100 * sum(cell(t)) / len(cell(t)) for t in ts]  # noqa: E731
    with_l2, without = per_cell((0.05, 0.1, 0.5, 1.0)), per_cell((10.0, 100.0))
    claims = {c["text"]: c for c in json.loads((tmp_path / "agreement.json").read_text())["claims"]}
    detail = claims["contrastive acc. without l2 norm (mean) > with l2 norm (mean)"]["detail"]
    assert detail.startswith(f"{sum(without) / 2:.1f} vs {sum(with_l2) / 4:.1f}")
    assert detail.endswith("(collapsed seeds left out: t=0.5)")


def test_spearman_never_ranks_what_trivially_differs(tmp_path):
    """Table 3 correlates the tasks' h - g(h) gaps (the tasks' chance levels differ); Table 7 ranks cells
    within a label fraction (10 % beats 1 % everywhere), n/a with two arms a fraction."""
    from analysis import h_vs_gh, paper, semi_supervised

    fake_store(tmp_path / "h", "h_vs_gh", "cpu")
    h_vs_gh.make(tmp_path / "h")
    _, _, cells = h_vs_gh.table(common.load(tmp_path / "h", "h_vs_gh")[0])
    gaps = [cells[(h_vs_gh.SOURCE[t], t)]["h"] - cells[(h_vs_gh.SOURCE[t], t)]["gh"] for t in paper.TABLE3]
    rho, n = common.spearman(gaps, [paper.TABLE3[t]["h"] - paper.TABLE3[t]["gh"] for t in paper.TABLE3])
    report = json.loads((tmp_path / "h" / "agreement.json").read_text())
    assert (report["spearman"], report["spearman_cells"], report["spearman_of"]) == (rho, n, "per-task h - g(h) gaps")
    assert f"gaps: {rho:+.2f} over 4 tasks (95 % interval" in (tmp_path / "h" / "agreement.md").read_text()
    fake_store(tmp_path / "s", "semi_supervised", "tiny")
    semi_supervised.make(tmp_path / "s")
    report = json.loads((tmp_path / "s" / "agreement.json").read_text())
    assert report["spearman"] is None and report["spearman_cells"] == 4


def test_figure7_stands_beside_the_papers_resnet50_numbers(tmp_path):
    from analysis import model_size

    fake_store(tmp_path, "model_size", "imagenet")
    model_size.make(tmp_path)
    tab = pd.read_csv(tmp_path / "figure7.csv", dtype=str)
    r50 = tab[tab["depth"] == "resnet50"].set_index("width")
    assert (r50.loc["1x", "paper SimCLR"], r50.loc["4x", "paper SimCLR"], r50.loc["1x", "paper supervised"]) == \
        ("69.3", "76.5", "76.5")
    assert set(tab[tab["depth"] != "resnet50"]["paper SimCLR"]) == {"-"}


def test_figure8_head_depth_runs_from_no_head_to_four_layers(tmp_path):
    from analysis import projection_head

    fake_store(tmp_path, "projection_head")
    projection_head.make(tmp_path)
    d = pd.read_csv(tmp_path / "figure8_depth.csv", dtype={"on h": str})
    df, _ = common.load(tmp_path, "projection_head")
    three = df[df["head"] == "nonlinear (3 layers)"]["linear_acc"].iloc[0]
    assert list(d["head layers"]) == [0, 1, 2, 3, 4] and d.loc[3, "on h"] == f"{three:.1f}"


def test_table4_says_when_a_loss_is_best_at_the_grids_edge():
    from analysis import loss_functions

    rows = [("Margin", 1.0, 50.0), ("Margin", 2.0, 55.0), ("Margin", 4.0, 52.0),      # bracketed
            ("NT-Xent", 1.0, 50.0), ("NT-Xent", 2.0, 51.0), ("NT-Xent", 4.0, 53.0),   # best at the top rate
            ("NT-Logi.", 1.0, 49.0), ("NT-Logi.", 2.0, 51.0), ("NT-Logi.", 4.0, None)]  # top rate not run yet
    df = pd.DataFrame([{"loss": l, "lr": lr, "param": 0.5, "seed": 0, "run_id": f"{l}{lr}",
                        "status": "completed" if v is not None else "missing", "linear_acc": v} for l, lr, v in rows])
    assert loss_functions.unbracketed(df, "linear_acc") == (["NT-Xent"], ["NT-Logi."])


def test_figure_b8_claim_is_decided_only_past_300_epochs(tmp_path):
    from analysis import appendix

    acc = {(0.1, 512): 60.0, (0.5, 512): 64.0, (1.0, 512): 58.0}
    s = pd.DataFrame([{"t": t, "batch": b, "mean": v, "std": float("nan"), "n": 1, "state": "", "collapsed": 0}
                      for (t, b), v in acc.items()])
    _, long = appendix.temperature_batch(s, tmp_path, "linear_acc", 500.0, one_seed(acc), noise(0.5))
    _, short = appendix.temperature_batch(s, tmp_path, "linear_acc", 100.0, one_seed(acc), noise(0.5))
    assert long.passed is True and "best t = 0.5 (64.0)" in long.detail
    assert short.passed is None and "trained 100 epochs, not past 300" in short.detail


def test_collapse_is_judged_against_the_losss_own_chance():
    df = pd.DataFrame({"status": "completed", "config.train.batch_size": 256,
                       "config.loss.negatives": ["all", "all", "other_view", "other_view"],
                       "train_contrastive_acc": [1.5 / 511, 3 / 511, 1.5 / 256, 3 / 256]})
    assert list(common.collapsed(df)) == [True, False, True, False]


def test_figure9_at_a_scaled_grid_prints_the_papers_table_beside(tmp_path):
    from analysis import batch_size_epochs

    fake_store(tmp_path / "tiny", "batch_size_epochs", "tiny")
    assert "| 256     | 57.5 / 62.8 |" in next(p for p in batch_size_epochs.make(tmp_path / "tiny")
                                           if p.name == "figure9_paper.md").read_text()
    fake_store(tmp_path / "imagenet", "batch_size_epochs", "imagenet")  # paper columns in its own table
    assert not any(p.name.startswith("figure9_paper") for p in batch_size_epochs.make(tmp_path / "imagenet"))
    # the scaled grid keeps the paper's doubling steps: cells pair by position for the Spearman
    rep = json.loads((tmp_path / "tiny" / "agreement.json").read_text())
    assert "paired by position" in rep["spearman_of"] and rep["spearman_cells"] == 16
    pairs, _ = batch_size_epochs.paper_cells([64, 128, 256, 512], [10.0, 20.0])
    assert pairs[64, 10.0] == (256, 100) and pairs[512, 20.0] == (2048, 200) and len(pairs) == 8
    assert batch_size_epochs.paper_cells([256, 1024], [100.0, 200.0])[0] == {(256, 100.0): (256, 100),
                                                                        (256, 200.0): (256, 200),
                                                                        (1024, 100.0): (1024, 100),
                                                                        (1024, 200.0): (1024, 200)}
    assert batch_size_epochs.paper_cells([64, 100], [10.0, 20.0])[0] == {}  # no doubling: nothing pairs


def test_spearman_is_rank_correlation():
    assert common.spearman([1, 2, 3, 4], [10, 20, 30, 40]) == (1.0, 4)
    assert common.spearman([1, 2, 3, 4], [4, 3, 2, 1])[0] == pytest.approx(-1.0)
    assert common.spearman([1, 5, 2, 9], [1, 100, 2, 1000])[0] == pytest.approx(1.0)  # ranks, not values
    rho, n = common.spearman([1, float("nan"), 3], [1, 2, 3])
    assert n == 2 and pd.isna(rho)  # too few pairs to rank


def test_paired_seeds_decide_what_unpaired_means_cannot():
    """Each seed moves both cells together: a per-seed difference of about 1 point under a spread of 8
    points between seeds is told apart by pairing, while the unpaired means overlap."""
    a = np.array([50.0, 60.0, 70.0, 55.0, 65.0])
    b = a - np.array([1.0, 1.2, 0.8, 1.1, 0.9])
    assert stats.ttest_ind(a, b).pvalue > 0.5  # unpaired: nowhere near told apart
    seeds = lambda v: common.Cell(pd.Series(v, index=range(len(v))), "linear_acc")  # noqa: E731
    c = common.greater(seeds(a), seeds(b), "a", "b", None)
    assert c.passed is True and c.n_seeds == 5 and c.method == "t over paired seeds" and c.low > 0.7
    assert c.margin == pytest.approx(1.0)
    # a seed missing from one cell is no pair: the other four decide
    short = common.greater(seeds(a), common.Cell(seeds(b).values.drop(2), "linear_acc"), "a", "b", None)
    assert short.n_seeds == 4 and short.margin == pytest.approx(np.mean([1.0, 1.2, 1.1, 0.9]))


def test_t_interval_is_scipys_over_the_per_seed_margins():
    seeds = lambda v: common.Cell(pd.Series(v, index=[3, 4, 5]), "linear_acc")  # noqa: E731
    c = common.greater(seeds([11.0, 12.0, 14.0]), seeds([10.0, 10.0, 10.0]), "a", "b", None)
    # margins 1, 2, 4: mean 7/3, standard error sqrt(7/3) / sqrt(3), t(0.975, 2 df) = 4.302653
    assert (c.low, c.high) == (pytest.approx(-1.4612497), pytest.approx(6.1279164))
    assert (c.low, c.high) == pytest.approx(stats.t.interval(0.95, 2, loc=7 / 3, scale=stats.sem([1, 2, 4])))
    assert c.passed is None  # the interval holds 0
    below = common.greater(seeds([8.0, 8.2, 7.9]), seeds([10.0, 10.0, 10.0]), "a", "b", None)
    assert below.passed is False and below.high < 0
    mixed = common.greater(seeds([12.0, 9.0, 11.5]), seeds([10.0, 10.0, 10.0]), "a", "b", None)
    assert mixed.passed is None and mixed.low < 0 < mixed.high


def test_one_seed_is_judged_by_the_presets_seed_noise():
    sigma = 2.0
    edge = common.Q * math.sqrt(2) * sigma  # a difference of two cells: sqrt(2) sigma
    one = lambda v: common.Cell(pd.Series({0: v}), "linear_acc")  # noqa: E731
    n = noise(sigma)
    big, small = (common.greater(one(50.0 + d), one(50.0), "a", "b", n) for d in (1.05 * edge, 0.95 * edge))
    assert big.passed is True and small.passed is None and big.n_seeds == 1
    assert (big.low, big.high) == (pytest.approx(0.05 * edge), pytest.approx(2.05 * edge))
    assert "seed noise: sigma 2 of linear_acc" in big.method
    assert common.greater(one(50.0 - 1.05 * edge), one(50.0), "a", "b", n).passed is False
    # the paper's margin shifts the threshold: a >= b - 2 holds for a = b - 1 once told apart from -2
    assert common.at_least(one(49.0), one(50.0), "a >= b - 2", noise(0.1), 2.0).passed is True
    # a metric the baseline does not record is judged by the baseline's top-1
    assert "linear_acc, standing in for probe_x" in common.greater(
        common.Cell(pd.Series({0: 60.0}), "probe_x"), one(50.0), "a", "b", n).method
    assert common.greater(one(float("nan")), one(50.0), "a", "b", n).passed is None


def test_one_seed_without_measured_noise_is_undecided_and_says_how_to_measure_it(tmp_path):
    from analysis import temperature

    store = tmp_path / "temperature" / "tiny"
    fake_store(store, "temperature")
    temperature.make(store)
    claims = json.loads((store / "agreement.json").read_text())["claims"]
    assert all(c["passed"] is None and HINT in c["detail"] and c["n_seeds"] == 1 for c in claims)
    fake_noise(tmp_path, "tiny", sigma=1.0, seeds=4)  # too few seeds to judge by
    temperature.make(store)
    claims = json.loads((store / "agreement.json").read_text())["claims"]
    assert all("seed noise of preset tiny measured over 4 of 5 seeds" in c["detail"] for c in claims)
    fake_noise(tmp_path, "tiny", sigma=1.0)  # the fifth seed: now measured
    measured = common.seed_noise(store)
    assert measured.preset == "tiny" and not measured.problem and measured.std["linear_acc"] == pytest.approx(1.0)
    assert measured.std["train_entropy"] == pytest.approx(1.0)
    temperature.make(store)
    claims = json.loads((store / "agreement.json").read_text())["claims"]
    assert all(c["low"] is not None and "preset tiny's seed noise" in c["method"] for c in claims)
    fake_store(tmp_path / "quickstart", "temperature")  # a store one level down finds it too
    assert common.seed_noise(tmp_path / "quickstart").std == measured.std


def test_table5_intermediate_temperature_a_fifth_of_a_point_behind_is_undecided():
    """62.0 at t = 0.1 against 62.2 at t = 0.05 on one seed: not a FAIL while the seeds spread by points."""
    from analysis import temperature

    acc = {(True, 0.05): 62.2, (True, 0.1): 62.0, (True, 0.5): 61.0, (True, 1.0): 58.0,
           (False, 10.0): 57.0, (False, 100.0): 56.0}
    cells = {k: {"collapsed_seeds": 0} for k in acc}
    per_seed = {"acc": one_seed(acc), "ctr": one_seed(acc, "train_contrastive_acc"),
                "ent": one_seed({k: t for k, t in zip(acc, (1.0, 2.0, 3.0, 4.0, 0.5, 0.5))}, "train_entropy")}
    for n in (noise(1.0), None):
        c = {x.text: x for x in temperature.claims(per_seed, cells, n)}
        mid = c["an intermediate temperature is best (l2 norm: not 0.05, not 1)"]
        assert mid.passed is None and mid.margin == pytest.approx(-0.2) and mid.detail.startswith("best t = 0.05")
    assert mid.low is None and "one seed; no seed noise given" in mid.detail


def test_seed_noise_study_asks_for_five_seeds_and_tabulates_their_spread(tmp_path, capsys):
    from analysis import seed_noise
    from studies.run import main

    assert main(["seed_noise", "--dry-run"]) == 0 and "\n5 runs," in capsys.readouterr().out
    assert main(["seed_noise", "--dry-run", "--seeds", "3"]) == 0 and "\n3 runs," in capsys.readouterr().out
    fake_store(tmp_path, "seed_noise")
    seed_noise.make(tmp_path)
    df, _ = common.load(tmp_path, "seed_noise")
    assert sorted(df["seed"]) == [0, 1, 2, 3, 4]
    tab = pd.read_csv(tmp_path / "seed_noise.csv", dtype=str).set_index("metric")
    for m in ("linear_acc", "knn_acc"):
        v = df[m].to_numpy()
        assert tab.loc[m, "std"] == f"{np.std(v, ddof=1):.2f}" and tab.loc[m, "min"] == f"{v.min():.2f}"
        assert tab.loc[m, "mean"] == f"{v.mean():.2f}" and tab.loc[m, "max"] == f"{v.max():.2f}"
    assert json.loads((tmp_path / "noise.json").read_text())["std"]["linear_acc"] == pytest.approx(np.std(
        df["linear_acc"], ddof=1))


def test_seed_noise_std_interval_covers_sigma_as_often_as_it_claims(tmp_path):
    from analysis import seed_noise

    # oracle: the coverage itself, over many 5-seed samples of a known sigma
    rng, sigma = np.random.default_rng(0), 1.3
    draws = rng.normal(59.5, sigma, size=(4000, 5))
    bounds = [seed_noise.std_interval(float(s), 5) for s in draws.std(axis=1, ddof=1)]
    covered = np.mean([low <= sigma <= high for low, high in bounds])
    assert 0.935 < covered < 0.965
    low, high = seed_noise.std_interval(1.0, 5)
    assert 0.55 < low < 0.65 and 2.8 < high < 2.95  # the interval over 5 seeds is wide
    assert all(math.isnan(b) for b in seed_noise.std_interval(1.0, 1))
    fake_store(tmp_path, "seed_noise")
    seed_noise.make(tmp_path)
    row = pd.read_csv(tmp_path / "seed_noise.csv", dtype=str).set_index("metric").loc["linear_acc"]
    stat = next(r for r in json.loads((tmp_path / "noise.json").read_text())["stats"] if r["metric"] == "linear_acc")
    assert row["std 95 % interval"] == f"[{stat['std_low']:.2f}, {stat['std_high']:.2f}]"
    assert stat["std_low"] < stat["std"] < stat["std_high"]


def test_spearman_interval_is_fisher_z():
    ours, paper = [1.0, 3.0, 2.0, 5.0, 4.0, 7.0, 6.0], [1, 2, 3, 4, 5, 6, 7]
    c = common.spearman(ours, paper)
    rho, n = c
    z, se = math.atanh(rho), 1 / math.sqrt(n - 3)
    assert (c.low, c.high) == (pytest.approx(math.tanh(z - 1.959964 * se)), pytest.approx(math.tanh(z + 1.959964 * se)))
    assert math.isnan(common.spearman([1, 2, 3], [1, 3, 2]).low)  # 3 pairs: no interval


def test_make_all_regenerates_every_store_and_one_summary(tmp_path):
    fake_store(tmp_path / "temperature" / "tiny", "temperature")
    fake_store(tmp_path / "color_strength" / "tiny", "color_strength", skip=2)
    paths = make_all(tmp_path)
    summary = (tmp_path / "agreement.md").read_text()
    assert (tmp_path / "temperature" / "tiny" / "table5.md") in paths
    assert (tmp_path / "color_strength" / "tiny" / "table1.png") in paths
    assert "| temperature | temperature/tiny |" in summary and "| color_strength | color_strength/tiny |" in summary
    rep = json.loads((tmp_path / "temperature" / "tiny" / "agreement.json").read_text())
    rho, low, high = rep["spearman"], rep["spearman_low"], rep["spearman_high"]
    assert (f"| temperature | temperature/tiny | Spearman rank correlation with the paper's cells | - | {rho:+.2f} over "
            f"6 cells (95 % interval [{low:+.2f}, {high:+.2f}], Fisher z) | - | - |") in summary
    assert "## Studies with no stored results" in summary and "- projection_head: `python studies/run.py projection_head" in summary
    assert "- temperature:" not in summary and "- seed_noise: `python studies/run.py seed_noise" in summary
    assert make_all(tmp_path / "nothing") == []
    fake_noise(tmp_path, "tiny", sigma=1.0)  # the seed noise: its own section, and the claims' intervals
    make_all(tmp_path)
    summary = (tmp_path / "agreement.md").read_text()
    assert "| tiny | seed_noise/tiny | 5 | 1.00 | 1.00 |" in summary and "- seed_noise:" not in summary
    assert "| 1 (preset tiny's seed noise: sigma 1 of linear_acc) |" in summary


def test_the_symmetric_variant_is_named_and_kept_apart(tmp_path):
    ops = ("crop", "color")
    sym = tmp_path / "augmentation_grid" / "quickstart-3-seeds"
    fake_store(sym, "augmentation_grid", operators=ops, symmetric=True, seeds=3)
    fake_store(tmp_path / "augmentation_grid" / "tiny", "augmentation_grid", operators=ops)
    # a store recorded before symmetric arms carried their label: its configs say which protocol it ran
    man = json.loads((sym / "study.json").read_text())
    man["arms"] = [{**a, "labels": {k: v for k, v in a["labels"].items() if k != "protocol"}} for a in man["arms"]]
    (sym / "study.json").write_text(json.dumps(man))
    make_all(tmp_path)
    title = "symmetric variant, not the paper's one-branch protocol"
    assert title in (sym / "agreement.md").read_text().splitlines()[0]
    assert title in (sym / "figure5.md").read_text().splitlines()[0]
    assert json.loads((sym / "agreement.json").read_text())["variant"] == title
    one = tmp_path / "augmentation_grid" / "tiny"
    assert "symmetric variant" not in (one / "agreement.md").read_text() + (one / "figure5.md").read_text()
    summary = (tmp_path / "agreement.md").read_text()
    head, section = summary.split(f"## Figure 5, {title}")
    assert "| augmentation_grid/tiny |" in head and "augmentation_grid/quickstart-3-seeds" not in head
    assert "| augmentation_grid/quickstart-3-seeds |" in section and "| augmentation_grid/tiny |" not in section
    claims = json.loads((sym / "agreement.json").read_text())["claims"]
    assert all(c["n_seeds"] == 3 and c["method"] == "t over paired seeds" for c in claims)


def test_color_operator_picks_the_strength_its_paired_seeds_show_and_stands_apart(tmp_path):
    from analysis import color_operator

    store = tmp_path / "color_operator" / "tiny"
    entries = fake_store(store, "color_operator")  # 3 seeds by default
    # per seed: s = 0.5 two points above s = 1, Sobel one point above s = 1 and one below s = 0.5
    base = {("color", 1.0): 50.0, ("color", 0.5): 52.0, ("sobel", None): 51.0}
    for e in entries:
        path = store / e["config"].run_id / "metrics.json"
        m = json.loads(path.read_text())
        m["linear_acc"] = base[(e["labels"]["second"], e["labels"]["strength"])] + 3.0 * e["seed"]
        path.write_text(json.dumps(m))
    fake_store(tmp_path / "temperature" / "tiny", "temperature")
    make_all(tmp_path)
    found = json.loads((store / "agreement.json").read_text())
    assert found["variant"] == color_operator.VARIANT
    assert [(c["passed"], c["n_seeds"], round(c["margin"], 6)) for c in found["claims"]] == [
        (True, 3, 2.0), (True, 3, 1.0), (False, 3, -1.0)]
    text = (store / "agreement.md").read_text()
    assert "the grid's colour operator should use it" in text and "at s = 1 pass, at s = 0.5 FAIL" in text
    head, section = (tmp_path / "agreement.md").read_text().split(f"## Figure 5, {color_operator.VARIANT}")
    assert "| color_operator/tiny |" in section and "| color_operator |" not in head  # out of the paper's tally
    assert "| temperature/tiny |" in head
    page = (tmp_path / "report.html").read_text()  # the choice stands in the report too
    unmeasured = [common.Claim("c", None, "", n_seeds=0)] * 3  # no seed in common: no choice made
    assert color_operator.choice(unmeasured).startswith("Choice: not made yet")
    assert "Sobel&#39;s lead over crop then colour: at s = 1 pass, at s = 0.5 FAIL" in page


def test_figure6_colour_histograms_identify_the_image_until_colour_is_distorted(tmp_path):
    import torch

    from analysis import figure6
    from simclr.config import load

    x = torch.rand(5, 3, 8, 8)
    h = figure6.histograms(x, bins=4).view(5, 3, 4)
    ref = torch.stack([torch.stack([torch.histc(x[i, c], bins=4, min=0, max=1) for c in range(3)]) for i in range(5)])
    assert torch.allclose(h, ref / 64)  # torch's own histogram on the same bins
    cfg = load("configs/tiny.yaml", ["data.num_train=300", "data.num_test=50"])
    paths = figure6.make(cfg, tmp_path, n=300)
    table = (tmp_path / "figure6.md").read_text()
    crop_only, distorted = [float(r.split("|")[2]) for r in table.splitlines() if r.startswith("| crop")]
    assert crop_only > 90 and distorted < 30 and (tmp_path / "figure6.png") in paths


def test_table8_folder_targets_stand_beside_the_papers_numbers(tmp_path):
    from analysis import paper, transfer

    assert [transfer.paper_name(n) for n in ("cifar100", "folder_Food-101", "folder_oxford_pets", "folder_DTD",
                                             "folder_fgvc-aircraft-2013b", "stl10", "synthetic", "folder_my_photos",
                                             "folder_VOC2007", "folder_caltech256")] == \
        ["cifar100", "food", "pets", "dtd", "aircraft", None, None, None, None, None]
    sets = ["eval.transfer=[cifar100, stl10, folder:/data/Food-101, folder:/data/oxford_pets]"]
    entries = fake_store(tmp_path, "transfer", "cpu", sets=sets)
    transfer.make(tmp_path)
    rows = {r["target"]: r for _, r in pd.read_csv(tmp_path / "table8.csv").iterrows()}
    assert set(rows) == {"cifar100", "stl10", "folder_Food-101", "folder_oxford_pets"}
    assert (rows["folder_Food-101"]["paper SimCLR linear"], rows["folder_Food-101"]["paper supervised linear"]) \
        == ("68.4", "72.3")
    assert rows["stl10"]["paper SimCLR linear"] == "-"
    # Spearman over the Table 8 sets' linear cells, SimCLR and supervised (oracle: the metric files)
    run = {e["labels"]["method"]: json.loads((tmp_path / e["config"].run_id / "metrics.json").read_text())
           for e in entries}
    ours, theirs = [], []
    for name, key in (("cifar100", "cifar100"), ("folder_Food-101", "food"), ("folder_oxford_pets", "pets")):
        for i, method in enumerate(("simclr", "supervised")):
            ours.append(run[method][f"transfer_{name}_linear_acc"])
            theirs.append(paper.TABLE8_LINEAR[key][i])
    rho, n = common.spearman(ours, theirs)
    report = json.loads((tmp_path / "agreement.json").read_text())
    assert (report["spearman"], report["spearman_cells"]) == (pytest.approx(rho), 6)

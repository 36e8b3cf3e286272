"""Regenerate every table, figure and agreement report from the stored results.

python analysis/make_all.py [--results results]

Walks <results>/<study>/<preset>/ (and any other folder holding a study.json under <results>), runs the
study's analysis on each, writes <results>/report.html (every claim, table, figure, run and its
provenance on one self-contained page: analysis/report.py) and <results>/agreement.md: one line per
claim of every study found with its verdict, the paper's numbers, margin, 95 % interval and seeds, its
Spearman correlation with the paper's cells where the paper gives numbers, the seed noise measured per
preset, and the studies with no store. Claims checked
under another protocol than the paper's (Figure 5's symmetric variant) get a section of their own, as do
the claims of stores trained by an earlier engine (kept until re-run, never counted with the current ones).
(Figure 6 needs the data, not a store: analysis/figure6.py makes it.)
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

from analysis.common import CLAIM_COLUMNS, EARLIER, RULE, claim_row, correlation_text
from analysis.report import write as write_page
from studies.common import MANIFEST, read_manifest
from studies import STUDIES

HEADER = ["| study | store | claim " + CLAIM_COLUMNS, "|---|---|---|---|---|---|---|---|"]


def rows(name: str, where: str, rep: dict) -> list[str]:
    """The summary's lines of one store's agreement.json."""
    out = [f"| {name} | {where} | {c['text']} {claim_row(c)}" for c in rep["claims"]]
    if rep.get("spearman_cells") is not None:
        of, unit = rep.get("spearman_of", "cells"), rep.get("spearman_unit", "cells")
        low, high = rep.get("spearman_low"), rep.get("spearman_high")
        if rep.get("spearman_interval"):  # an interval was sought: None there means too few cells
            low, high = (float("nan"), float("nan")) if low is None else (low, high)
        text = correlation_text(rep["spearman"], rep["spearman_cells"], low, high, unit)
        out.append(f"| {name} | {where} | Spearman rank correlation with the paper's {of} | - | {text} "
                   "| - | - | - |")
    return out


def make_all(results: str | Path) -> list[Path]:
    results = Path(results)  # read only: runs under an earlier run_id version are renamed by studies/run.py
    stores = sorted(p.parent for p in results.glob(f"**/{MANIFEST}"))
    if not stores:
        print(f"no study results under {results}: run python studies/run.py <study> first", file=sys.stderr)
        return []
    written, summary = [], ["# Agreement with the paper, every stored study", "", RULE, ""] + HEADER
    variants: dict[str, list[str]] = {}  # another protocol than the paper's: its own section
    earlier: list[str] = []  # stores of an earlier engine: apart, whatever their protocol
    noise, failed = [], {}
    for store in stores:
        name = read_manifest(store)["study"]
        if name not in STUDIES:
            print(f"{store}: unknown study {name!r}, skipped", file=sys.stderr)
            continue
        print(f"== {name}: {store}", file=sys.stderr)
        where = str(store.relative_to(results))
        try:
            paths = importlib.import_module(f"analysis.{name}").make(store)
        except Exception as err:  # one broken store must not hide the others
            print(f"{store}: analysis failed: {type(err).__name__}: {err}", file=sys.stderr)
            failed[store] = f"{type(err).__name__}: {err}"
            summary.append(f"| {name} | {where} | analysis failed | - | {err} | - | - | - |")
            continue
        written += paths
        if store / "noise.json" in paths:
            rep = json.loads((store / "noise.json").read_text())
            noise.append(f"| {rep['preset']} | {where} | {rep['seeds']} | " + " | ".join(
                "-" if rep["std"].get(m) is None else f"{rep['std'][m]:.2f}" for m in ("linear_acc", "knn_acc"))
                + " |")
        report = store / "agreement.json"
        if report in paths:
            rep = json.loads(report.read_text())
            if rep.get("earlier_engine"):
                earlier.extend(rows(name, where, rep))
            elif rep.get("variant"):
                variants.setdefault(f"{rep['paper']}, {rep['variant']}", []).extend(rows(name, where, rep))
            else:
                summary += rows(name, where, rep)
    for title, lines in variants.items():
        summary += ["", f"## {title}", "", "Not the paper's protocol: these claims stand apart from the paper's.",
                    ""] + HEADER + lines
    if earlier:
        summary += ["", "## Stores trained by an earlier engine, not counted", "",
                    f"Their runs were {EARLIER}: a bug fixed since may flip these verdicts. Kept until each "
                    "study is re-run with the current engine.", ""] + HEADER + earlier
    if noise:
        summary += ["", "## Seed noise per preset (standard deviation over seeds of the baseline)", "",
                    "| preset | store | seeds | linear_acc | knn_acc |", "|---|---|---|---|---|"] + noise
    found = {read_manifest(s)["study"] for s in stores}
    absent = [n for n in STUDIES if n not in found]
    if absent:
        summary += ["", "## Studies with no stored results", ""]
        summary += [f"- {n}: `python studies/run.py {n} --preset <preset> --results {results}/{n}/<preset>`"
                    for n in absent]
    out = results / "agreement.md"
    out.write_text("\n".join(summary) + "\n")
    known = [s for s in stores if read_manifest(s)["study"] in STUDIES]
    return written + [out, write_page(known, results, results / "report.html", failed)]


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", default="results")
    for p in make_all(ap.parse_args().results):
        print(p)

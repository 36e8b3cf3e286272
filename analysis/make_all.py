"""Regenerate every table, figure and agreement report from the stored results.

python analysis/make_all.py [--results results]

Walks <results>/<study>/<preset>/ (and any other folder holding a study.json under <results>), runs the
study's analysis on each, and writes <results>/agreement.md: one line per claim of every study found,
its Spearman correlation with the paper's cells where the paper gives numbers, and the studies with
no store. (Figure 6 needs the data, not a store: analysis/figure6.py makes it.)
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from simclr.store import migrate  # noqa: E402
from studies.common import MANIFEST, read_manifest  # noqa: E402
from studies.run import STUDIES  # noqa: E402

MARK = {True: "pass", False: "FAIL", None: "undecided"}


def make_all(results: str | Path) -> list[Path]:
    results = Path(results)
    for old, new in migrate(results):  # stores written under an earlier run_id version
        print(f"run {old} is now {new}", file=sys.stderr)
    stores = sorted(p.parent for p in results.glob(f"**/{MANIFEST}"))
    if not stores:
        print(f"no study results under {results}: run python studies/run.py <study> first", file=sys.stderr)
        return []
    written, summary = [], ["# Agreement with the paper, every stored study", "",
                            "| study | store | claim | result | numbers |", "|---|---|---|---|---|"]
    for store in stores:
        name = read_manifest(store)["study"]
        if name not in STUDIES:
            print(f"{store}: unknown study {name!r}, skipped", file=sys.stderr)
            continue
        print(f"== {name}: {store}", file=sys.stderr)
        try:
            paths = importlib.import_module(f"analysis.{name}").make(store)
        except Exception as err:  # one broken store must not hide the others
            print(f"{store}: analysis failed: {type(err).__name__}: {err}", file=sys.stderr)
            summary.append(f"| {name} | {store.relative_to(results)} | analysis failed | - | {err} |")
            continue
        written += paths
        report = store / "agreement.json"
        if report in paths:
            rep = json.loads(report.read_text())
            for c in rep["claims"]:
                summary.append(f"| {name} | {store.relative_to(results)} | {c['text']} | {MARK[c['passed']]} "
                               f"| {c['detail']} |")
            if rep.get("spearman_cells") is not None:
                rho = "n/a" if rep["spearman"] is None else f"{rep['spearman']:+.2f}"
                of, unit = rep.get("spearman_of", "cells"), rep.get("spearman_unit", "cells")
                summary.append(f"| {name} | {store.relative_to(results)} | Spearman rank correlation with the "
                               f"paper's {of} | - | {rho} over {rep['spearman_cells']} {unit} |")
    found = {read_manifest(s)["study"] for s in stores}
    absent = [n for n in STUDIES if n not in found]
    if absent:
        summary += ["", "## Studies with no stored results", ""]
        summary += [f"- {n}: `python studies/run.py {n} --preset <preset> --results {results}/{n}/<preset>`"
                    for n in absent]
    out = results / "agreement.md"
    out.write_text("\n".join(summary) + "\n")
    return written + [out]


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", default="results")
    for p in make_all(ap.parse_args().results):
        print(p)

"""One self-contained HTML page of every stored study: the claims with their verdicts first, then per
study its protocol, findings (the store's README.md), tables beside the paper's numbers, figures, runs and
compute, then provenance.

python analysis/report.py [--results results] [--out results/report.html]

Read from the stores alone (study.json, the analysis outputs, each run's config, metrics and env), after
the analysis has written its tables (analysis/make_all.py and studies/run.py call `write`). Figures are
inlined as data URIs and styles sit in the page: it makes no request of any kind, so it opens offline,
from a mail attachment or a cluster's file browser. The page's layout is the template report.html.j2.
"""
from __future__ import annotations

import base64
import importlib
import re
from collections import Counter
from pathlib import Path

import jinja2
import pandas as pd

from analysis import common
from simclr.store import read_json
from studies.common import read_manifest

TEMPLATE = Path(__file__).with_name("report.html.j2")
# the settings a reader needs to place a store's numbers; a key the study varies reads "varies"
PROTOCOL = (("data", "config.data.name"), ("images", "config.data.image_size"), ("encoder", "config.encoder.arch"),
            ("method", "config.train.method"), ("batch", "config.train.batch_size"), ("epochs", "config.train.epochs"),
            ("steps", "config.train.steps"), ("optimizer", "config.optim.name"), ("lr (x B/256)", "config.optim.lr"),
            ("temperature", "config.loss.temperature"), ("precision", "config.train.precision"),
            ("linear probe epochs", "config.eval.linear_epochs"))
STATES = ("completed", "collapsed", "diverged", "failed", "incomplete", "missing", "corrupt")


def anchor(store: Path, root: Path) -> str:
    return "s-" + "-".join(store.relative_to(root).parts or (store.name,))


def _first_paragraph(text: str | None) -> str:
    return " ".join((text or "").strip().split("\n\n")[0].split())


def tables(store: Path) -> list[dict]:
    """Every table the analysis wrote (name.csv with its caption in name.md), by name: the same order
    on every checkout (table5 before table5_all)."""
    out = []
    for csv in sorted(store.glob("*.csv")):
        if csv.stem == "agreement" or not csv.with_suffix(".md").exists():
            continue
        df = pd.read_csv(csv, dtype=str, keep_default_na=False)
        out.append({"caption": _first_paragraph(csv.with_suffix(".md").read_text()),
                    "html": df.to_html(index=False, escape=True, border=0, classes="data")})
    return out


def figures(store: Path) -> list[dict]:
    return [{"name": png.stem, "uri": "data:image/png;base64," + base64.b64encode(png.read_bytes()).decode()}
            for png in sorted(store.glob("*.png"))]


def findings(store: Path) -> list[str]:
    """The store's README.md as paragraphs of text: its title, tables and images left out, since the
    section shows the store's own tables and figures beside them."""
    path = store / "README.md"
    if not path.exists():
        return []
    text = re.sub(r"\A# [^\n]*\n", "", path.read_text().lstrip())
    paragraphs = ("\n".join(line for line in block.splitlines() if not line.lstrip().startswith(("|", "![")))
                  for block in re.split(r"\n\s*\n", text))
    return [" ".join(p.split()) for p in paragraphs if p.strip()]


def runs(df: pd.DataFrame, labels: list[str]) -> tuple[list[dict], Counter]:
    """One row per run of the manifest: its cell, seed, state and why (an error, a collapse)."""
    rows, count = [], Counter()
    for _, r in df.drop_duplicates("run_id").iterrows():
        state = "collapsed" if r.get("collapsed") else r["status"]
        count[state] += 1
        why = {"failed": str(r.get("error") or "see error.json").splitlines()[0][:200],
               "diverged": "non-finite loss", "collapsed": "contrastive accuracy at chance",
               "incomplete": "started, not finished: rerun the study to resume", "missing": "not run yet"}
        rows.append({"cell": common.describe(r, labels).rsplit(" (seed", 1)[0], "seed": r["seed"],
                     "run_id": r["run_id"],
                     "state": state, "why": why.get(state, ""),
                     "hours": _hours(r.get("seconds"))})
    return rows, count


def _hours(seconds) -> str:
    return "" if seconds is None or pd.isna(seconds) else f"{float(seconds) / 3600:.2f}"


def protocol(df: pd.DataFrame) -> list[tuple[str, str]]:
    out = []
    for name, col in PROTOCOL:
        if col in df:
            values = df[col].dropna().map(_plain).unique()
            out.append((name, values[0] if len(values) == 1 else "varies" if len(values) else "-"))
    return out


def _plain(v) -> str:
    """A config value as written (a column with missing runs reads back as floats: 256.0 -> 256)."""
    return str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)


def _env(run_dir) -> dict:
    """A run's env.json ({} where there is none)."""
    path = Path(run_dir) / "env.json" if isinstance(run_dir, str) else None
    return read_json(path) if path and path.exists() else {}


def provenance(df: pd.DataFrame) -> dict:
    """What produced the runs: commits, packages and hardware over every run's env.json, with counts."""
    seen = {"commit": Counter(), "packages": Counter(), "hardware": Counter(), "copied from": Counter()}
    for run_dir in df.get("run_dir", pd.Series(dtype=str)).dropna().unique():
        env = _env(run_dir)
        if not env:
            continue
        if env.get("copied_from"):  # trained in another store (studies/run.py --reuse)
            seen["copied from"][str(Path(env["copied_from"]).parent)] += 1
        git = env.get("git") or {}
        seen["commit"][(git.get("commit") or "unknown")[:10] + (" (dirty)" if git.get("dirty") else "")] += 1
        seen["packages"][", ".join(f"{k} {v}" for k, v in sorted((env.get("packages") or {}).items()))] += 1
        hw = env.get("hardware") or {}
        seen["hardware"][f"{hw.get('gpu') or hw.get('cpu', '?')}, {hw.get('device', '?')}, "
                         f"{hw.get('torch_threads', '?')} threads, {env.get('world_size', 1)} process(es)"] += 1
    return {k: [f"{v} ({n} run{'s' * (n > 1)})" for v, n in c.most_common()] for k, c in seen.items()}


def section(store: Path, root: Path, problem: str = "") -> dict:
    """What the page shows of one store."""
    man = read_manifest(store) or {}
    name = man.get("study", "?")
    study = importlib.import_module(f"studies.{name}")
    df, notes = common.load(store, name)
    report = read_json(store / "agreement.json") if (store / "agreement.json").exists() else {}
    labels = list(dict.fromkeys(k for a in man.get("arms", []) for k in a["labels"]))
    rows, count = runs(df, labels) if len(df) else ([], Counter())
    seconds = pd.to_numeric(df.get("seconds", pd.Series(dtype=float)), errors="coerce")
    copied = (df["run_dir"].map(lambda d: bool(_env(d).get("copied_from"))) if "run_dir" in df
              else pd.Series(False, index=df.index)).astype(bool)
    return {"anchor": anchor(store, root), "study": name, "title": study.TITLE, "paper": study.PAPER,
            "preset": man.get("preset", "?"), "store": str(store.relative_to(root) if store != root else store),
            "argv": " ".join(man.get("argv", [])),
            "about": _first_paragraph(study.__doc__), "variant": report.get("variant"), "problem": problem,
            "earlier": common.earlier_engine_runs(store),  # not agreement.json: a failed analysis leaves it stale
            "protocol": protocol(df) if len(df) else [], "findings": findings(store), "tables": tables(store),
            "figures": figures(store), "runs": rows, "count": [(s, count[s]) for s in STATES if count[s]],
            "hours": seconds[~copied].sum() / 3600, "copied": (int(copied.sum()), seconds[copied].sum() / 3600),
            "claims": report.get("claims", []), "spearman": _spearman(report),
            "extra": report.get("extra"), "notes": notes,
            "provenance": provenance(df) if len(df) else {}}


def _spearman(report: dict) -> str:
    if report.get("spearman_cells") is None:
        return ""
    low, high = report.get("spearman_low"), report.get("spearman_high")
    if report.get("spearman_interval") and low is None:
        low, high = float("nan"), float("nan")
    return (f"Spearman rank correlation with the paper's {report.get('spearman_of', 'cells')}: " +
            common.correlation_text(report["spearman"], report["spearman_cells"], low, high,
                                    report.get("spearman_unit", "cells")))


def claim_rows(sections: list[dict]) -> list[dict]:
    """Every claim of the stores in `sections`, each linked to its study's section."""
    sign = lambda v: "-" if v is None else f"{v:+.1f}" if abs(v) >= 1 else f"{v:+.2f}"  # noqa: E731
    out = []
    for s in sections:
        for c in s["claims"]:
            interval = "" if c.get("low") is None else f" [{sign(c['low'])}, {sign(c['high'])}]"
            out.append({"anchor": s["anchor"], "study": s["study"], "paper_ref": s["paper"], "preset": s["preset"],
                        "paper": c.get("paper") or "-",
                        "variant": s["variant"], "text": c["text"], "verdict": common.MARK[c["passed"]],
                        "ours": c.get("detail") or "-", "margin": sign(c.get("margin")) + interval,
                        "seeds": c.get("n_seeds", 0), "method": c.get("method", "")})
    return out


def noise_rows(sections: list[dict], root: Path) -> list[dict]:
    out = []
    for s in sections:
        path = root / s["store"] / "noise.json"
        if s["study"] == "seed_noise" and path.exists():
            rep = read_json(path)
            show = lambda m: "-" if rep["std"].get(m) is None else f"{rep['std'][m]:.2f}"  # noqa: E731
            out.append({"preset": rep["preset"], "anchor": s["anchor"], "seeds": rep["seeds"],
                        "linear": show("linear_acc"), "knn": show("knn_acc")})
    return out


def write(stores: list[Path], root: str | Path, out: str | Path, problems: dict | None = None) -> Path:
    """Render the page of `stores` (folders holding a study.json under root) to `out`."""
    root, out = Path(root), Path(out)
    problems = problems or {}
    sections = [section(s, root, problems.get(s, "")) for s in stores]
    # claims checked under another protocol (Figure 5's symmetric variant, outside checkpoints) or by an
    # earlier engine stand apart and are not counted with the paper's
    current = [s for s in sections if not s["earlier"]]
    claims = claim_rows([s for s in current if not s["variant"]])
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATE.parent), autoescape=True,
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    html = env.get_template(TEMPLATE.name).render(
        sections=sections, claims=claims, variant_claims=claim_rows([s for s in current if s["variant"]]),
        earlier_claims=claim_rows([s for s in sections if s["earlier"]]), earlier=common.EARLIER,
        tally=Counter(c["verdict"] for c in claims), noise=noise_rows(sections, root),
        rule=common.RULE, root=str(root))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(html)
    return out


if __name__ == "__main__":
    import argparse

    from studies.common import MANIFEST

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--results", default="results")
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    found = sorted(p.parent for p in Path(args.results).glob(f"**/{MANIFEST}"))
    print(write(found, args.results, args.out or Path(args.results) / "report.html"))

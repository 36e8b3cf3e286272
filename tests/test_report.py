"""The HTML report: regenerated from the stores alone, self-contained, and checked in a real headless
Chromium with networking off (every stored study has its section, every figure decodes, no request left
the page, a partial store shows its missing cells); a full-page screenshot lands in the test's folder."""
import base64
import json
import re
import shutil

import pytest

from analysis.make_all import make_all
from analysis.paper import TABLE5
from simclr.config import to_dict
from tests.fake_store import fake_noise, fake_store

CHROMIUM, CHROMEDRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    """results/ with a full Figure 5 store (a figure), a Table 5 store missing 2 of its 6 runs and with one
    failed and with its findings (README.md), and the tiny preset's seed noise; make_all writes report.html."""
    root = tmp_path_factory.mktemp("results")
    fake_store(root / "augmentation_grid" / "tiny", "augmentation_grid", "tiny")
    entries = fake_store(root / "temperature" / "tiny", "temperature", "tiny", skip=3)
    failed = root / "temperature" / "tiny" / entries[-1]["config"].run_id  # one of the 3 failed, 2 not run
    failed.mkdir()
    (failed / "config.json").write_text(json.dumps(to_dict(entries[-1]["config"])))
    (failed / "error.json").write_text(json.dumps({"error": "RuntimeError: out of memory <script>"}))
    fake_noise(root, "tiny", sigma=1.5)
    (root / "temperature" / "tiny" / "README.md").write_text(
        "# Table 5 at the tiny preset\n\nt = 0.1 is <b>x</b>\nbest.\n\n| t | top-1 |\n|---|---|\n| 0.1 | 61.2 |\n")
    paths = make_all(root)
    assert root / "report.html" in paths
    return root


def test_the_page_is_self_contained(report):
    html = (report / "report.html").read_text()
    # nothing to fetch: no external URL in any src/href, no script, styles inline
    assert not re.search(r"""(src|href)\s*=\s*["'](?!data:|#)""", html)
    assert "<script" not in html.lower() and "<link" not in html.lower()
    assert "&lt;script&gt;" in html  # a run's error text is escaped, not markup
    for name in ("augmentation_grid", "temperature", "seed_noise"):
        assert f'id="s-{name}-tiny"' in html
    figure = (report / "augmentation_grid" / "tiny" / "figure5.png").read_bytes()
    assert base64.b64encode(figure).decode() in html  # the store's own figure, inline
    # the store's README.md under Findings in its own section: text escaped, its title and table left out
    section = html[html.index('id="s-temperature-tiny"'):]
    findings = section[section.index("<h3>Findings</h3>"):section.index("<h3>Runs</h3>")]
    assert "<p>t = 0.1 is &lt;b&gt;x&lt;/b&gt; best.</p>" in findings and "<b>x</b>" not in html
    assert "| 0.1 | 61.2 |" not in html and "Table 5 at the tiny preset" not in html


def test_every_claim_stands_at_the_top_with_its_verdict_interval_and_seeds(report):
    html = (report / "report.html").read_text()
    top = html[html.index('<section id="claims">'):html.index('<section id="noise">')]
    for store in ("augmentation_grid/tiny", "temperature/tiny"):
        rep = json.loads((report / store / "agreement.json").read_text())
        for c in rep["claims"]:
            assert c["text"].replace(">", "&gt;") in top or c["text"].replace(">", "&gt;").replace("'", "&#39;") in top
    # the paper's side of a claim, from Table 5: best top-1 with l2 norm (t = 0.1) vs without (t = 10)
    best = lambda l2: max(v["top1"] for k, v in TABLE5.items() if k[0] == l2)  # noqa: E731
    best_l2, best_raw = best(True), best(False)
    assert f"<td>{best_l2:.1f} vs {best_raw:.1f} ({best_l2 - best_raw:+.1f})</td>" in top
    assert top.count('<td class="pass">') + top.count('<td class="FAIL">') + top.count('<td class="undecided">') \
        == sum(len(json.loads((report / s / "agreement.json").read_text())["claims"])
               for s in ("augmentation_grid/tiny", "temperature/tiny"))


@pytest.mark.skipif(not (CHROMIUM and CHROMEDRIVER), reason="no headless Chromium: Debian's chromium and "
                    "chromium-driver are installed by scripts/browser-install.sh (make test, as root with apt-get)")
def test_the_page_renders_offline_in_chromium(report, tmp_path):
    webdriver = pytest.importorskip("selenium.webdriver",
                                    reason="selenium is in the test extra: pip install -e '.[test]'")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 # networking off: every host resolves nowhere and any proxy use goes to a closed port
                 "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9", "--window-size=1280,900",
                 f"--user-data-dir={tmp_path / 'profile'}"):
        opts.add_argument(flag)
    opts.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    driver = webdriver.Chrome(options=opts, service=webdriver.ChromeService(executable_path=CHROMEDRIVER))
    try:
        driver.execute_cdp_cmd("Network.enable", {})
        driver.execute_cdp_cmd("Network.emulateNetworkConditions", {"offline": True, "latency": 0,
                                                                     "downloadThroughput": -1, "uploadThroughput": -1})
        page = (report / "report.html").as_uri()
        driver.get(page)
        dom = driver.execute_script("""
            const imgs = [...document.images];
            return {sections: [...document.querySelectorAll('section.study')].map(s => s.id),
                    images: imgs.length, decoded: imgs.filter(i => i.complete && i.naturalWidth > 0).length,
                    links: [...document.querySelectorAll('a[href^="#"]')].map(a => a.getAttribute('href').slice(1)),
                    ids: [...document.querySelectorAll('[id]')].map(e => e.id),
                    temperature: document.getElementById('s-temperature-tiny').innerText,
                    height: document.documentElement.scrollHeight};""")
        requests = [json.loads(e["message"])["message"] for e in driver.get_log("performance")]
        sent = [m["params"] for m in requests if m["method"] == "Network.requestWillBeSent"]
        urls = [p["request"]["url"] for p in sent if p.get("documentURL") == page]  # the page and what it loads
        assert set(dom["sections"]) == {"s-augmentation_grid-tiny", "s-temperature-tiny", "s-seed_noise-tiny"}
        assert dom["images"] >= 1 and dom["decoded"] == dom["images"]  # every figure decodes
        assert set(dom["links"]) <= set(dom["ids"])                      # every link has its target
        assert page in urls and all(u.startswith(("file:", "data:")) for u in urls), urls  # nothing left the page
        assert not [p["request"]["url"] for p in sent if p["request"]["url"].startswith(("http", "ws"))]
        # the partial store: its two runs not run yet, its table's missing cells, the failed run's reason
        assert "missing: 2" in dom["temperature"] and "missing" in dom["temperature"].split("Runs")[0]
        assert "failed: 1" in dom["temperature"]
        # a full-page screenshot, kept beside the test's files
        width = driver.execute_script("return document.documentElement.scrollWidth")
        driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", {"width": width, "height": dom["height"],
                                                                       "deviceScaleFactor": 1, "mobile": False})
        shot = driver.execute_cdp_cmd("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True})
        png = base64.b64decode(shot["data"])
        (tmp_path / "report.png").write_bytes(png)
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and int.from_bytes(png[20:24], "big") == dom["height"]
    finally:
        driver.quit()


def test_the_analysis_reads_the_stores_and_never_writes_a_run(tmp_path):
    """make_all writes tables, reports and the page; the runs and the manifests stay byte for byte as
    they were, a run under another name than its config's run_id included (the store's migration, which
    renames such runs, belongs to studies/run.py)."""
    import os

    entries = fake_store(tmp_path / "temperature" / "tiny", "temperature", "tiny")
    store = tmp_path / "temperature" / "tiny"
    moved = store / "0123456789ab"
    (store / entries[0]["config"].run_id).rename(moved)
    for p in [moved, *moved.iterdir()]:  # written an hour ago: a migration would rename it
        os.utime(p, (p.stat().st_atime - 3600, p.stat().st_mtime - 3600))
    before = {p: p.read_bytes() for p in tmp_path.glob("**/*") if p.is_file()}
    make_all(tmp_path)
    after = {p: p.read_bytes() for p in tmp_path.glob("**/*") if p.is_file()}
    runs = {p for p in before if p.parent.name != "tiny"} | {store / "study.json"}
    assert moved / "config.json" in runs and {p: after.get(p) for p in runs} == {p: before[p] for p in runs}


def test_runs_copied_from_another_store_count_where_they_trained(tmp_path):
    from analysis import report

    store = tmp_path / "temperature" / "tiny"
    entries = fake_store(store, "temperature", "tiny")
    other = tmp_path / "seed_noise" / "tiny" / entries[0]["config"].run_id
    (store / entries[0]["config"].run_id / "env.json").write_text(json.dumps({"copied_from": str(other)}))
    s = report.section(store, tmp_path)
    assert s["hours"] * 3600 == pytest.approx(5 * 2.0) and s["copied"] == (1, pytest.approx(2.0 / 3600))
    assert s["provenance"]["copied from"] == [f"{other.parent} (1 run)"]
    html = report.write([store], tmp_path, tmp_path / "report.html").read_text()
    assert "(not counted: 0.00 hours in 1 run copied from other stores, counted where they trained)" in html
    assert str(other.parent) in html


def test_stores_of_an_earlier_engine_stand_apart_and_are_not_counted(tmp_path):
    """A store whose runs carry ids of a run_id version before RESULTS_SINCE was trained by an engine
    whose results differ: its claims leave the tally (agreement.md and the page) for a section of their
    own, and its own report says so; a current store beside it is counted as before."""
    from analysis import report
    from simclr.config import RESULTS_SINCE, run_id

    fake_store(tmp_path / "temperature" / "tiny", "temperature", "tiny")
    old = tmp_path / "loss_functions" / "tiny"
    entries = fake_store(old, "loss_functions", "tiny")
    man = json.loads((old / "study.json").read_text())
    renamed = {}
    for e in entries:
        cfg = e["config"]
        renamed[cfg.run_id] = run_id(cfg, RESULTS_SINCE - 1)
        if (old / cfg.run_id).exists():
            (old / cfg.run_id).rename(old / renamed[cfg.run_id])
    man["arms"] = [{**a, "run_id": renamed[a["run_id"]]} for a in man["arms"]]
    (old / "study.json").write_text(json.dumps(man))
    make_all(tmp_path)
    current = json.loads((tmp_path / "temperature" / "tiny" / "agreement.json").read_text())
    earlier = json.loads((old / "agreement.json").read_text())
    assert current["earlier_engine"] == 0 and earlier["earlier_engine"] == len(set(renamed)) > 0
    assert "**Not counted**" in (old / "agreement.md").read_text()
    assert "Not counted" not in (tmp_path / "temperature" / "tiny" / "agreement.md").read_text()
    head, apart = (tmp_path / "agreement.md").read_text().split("## Stores trained by an earlier engine, not counted")
    assert "| temperature/tiny |" in head and "loss_functions/tiny" not in head
    assert "| loss_functions/tiny |" in apart and "temperature/tiny" not in apart
    html = (tmp_path / "report.html").read_text()
    assert f"over {len(current['claims'])} claims" in html and "Stores trained by an earlier engine" in html
    assert report.section(old, tmp_path)["earlier"] == earlier["earlier_engine"]

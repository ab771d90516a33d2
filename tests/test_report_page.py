"""``noisybox report DIR --format html``: one self-contained page, checked in a real headless
browser (Debian's chromium, driven by playwright): it loads offline with no console error,
shows the tables, and draws every figure at a visible size. The screenshot is kept in
``build/test-artifacts/`` (or ``$NOISYBOX_ARTIFACTS``) for a person to look at."""

import os
import shutil
from pathlib import Path

import pytest
from noisybox.cli import main

ROOT = Path(__file__).resolve().parents[1]
STUDY = ROOT / "benchmarks" / "studies" / "shapes-quick"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


def test_the_page_is_self_contained(tmp_path):
    folder = tmp_path / "bench"
    shutil.copytree(STUDY / "results", folder / "results")
    page = tmp_path / "report.html"
    assert main(["report", str(folder), "-f", "html", "-o", str(page)]) == 0
    text = page.read_text()
    assert text.startswith("<!DOCTYPE html>") and "<script" not in text
    # nothing to fetch (the SVGs' xmlns URLs are names, not requests)
    assert 'src="' not in text and 'href="http' not in text and "url(http" not in text
    for figure in ("ap_vs_iou", "vs_eta", "alpha_sweep", "regime"):
        assert f'<figure id="{figure}"><svg' in text
    assert "sha256:" in text and "Intel" in text  # the data's checksum, the machine
    assert text.count('<a href="runs/') == 36


@pytest.mark.skipif(CHROMIUM is None, reason="needs chromium (.ci/run installs it)")
def test_the_page_renders_in_a_headless_browser(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright ([dev])")
    folder = tmp_path / "bench"
    shutil.copytree(STUDY / "results", folder / "results")
    page_file = tmp_path / "report.html"
    assert main(["report", str(folder), "-f", "html", "-o", str(page_file)]) == 0
    artifacts = Path(os.environ.get("NOISYBOX_ARTIFACTS", ROOT / "build" / "test-artifacts"))
    artifacts.mkdir(parents=True, exist_ok=True)
    problems: list[str] = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda error: problems.append(str(error)))
        page.on("request", lambda r: None if r.url.startswith("file:") else problems.append(r.url))
        page.goto(page_file.as_uri())
        page.wait_for_load_state("load")
        rows = page.eval_on_selector_all("#robustness tbody tr", "rows => rows.length")
        runs = page.eval_on_selector_all("#runs tbody tr", "rows => rows.length")
        sizes = page.eval_on_selector_all(
            "figure svg",
            "svgs => svgs.map(s => [s.getBoundingClientRect().width, "
            "s.getBoundingClientRect().height])",
        )
        page.screenshot(path=str(artifacts / "report.png"), full_page=True)
        browser.close()
    assert not problems, problems
    assert rows == 4 * 5 and runs == 36  # 4 noise rates x (3 losses + 2 improvements)
    assert len(sizes) == 4 and all(w > 300 and h > 200 for w, h in sizes), sizes
    assert (artifacts / "report.png").stat().st_size > 50_000

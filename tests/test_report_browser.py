"""The report as people see it: rendered by a real headless Chromium (Debian's `chromium`, driven by
Playwright over the DevTools protocol) at desktop and phone width, from the lake of `reels run` on the
bundled sample. The page is measured from inside: nothing may stick out sideways, and every viral reel's
thumbnail must have loaded (inline, with the network cut off)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from reels.storage.delta import DeltaStore
from reels.storage.tables import MEDIA, REELS

sync_api = pytest.importorskip("playwright.sync_api", reason="needs playwright (the [test] extra)")

WIDTHS = (1400, 400)
# As the machine's probe starts it: no sandbox as root, and no background connections to Google's hosts.
ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]  # fmt: skip

# Everything wider than the viewport, outside the containers that scroll on their own (wide tables).
OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const out = [];
  for (const el of document.querySelectorAll("body *")) {
    if (el.closest(".scroll") || el.closest("[hidden]") || el.closest("details:not([open])")) continue;
    const box = el.getBoundingClientRect();
    if (box.width && (box.right > width + 1 || box.left < -1)) {
      const at = `${Math.round(box.left)}..${Math.round(box.right)}`;
      out.push(`${el.tagName.toLowerCase()}.${el.className} ${at}`);
    }
  }
  const scrolls = Array.from(document.querySelectorAll(".scroll"))
    .filter(el => el.scrollWidth > el.clientWidth + 1).map(el => el.firstElementChild.tagName);
  return {scroll: document.documentElement.scrollWidth, width, out: out.slice(0, 10), scrolls};
}"""
THUMBS = """() => Array.from(document.querySelectorAll("#gallery .reel")).map(card => {
  const img = card.querySelector("img");
  return {post: card.dataset.post, loaded: !!img && img.complete && img.naturalWidth > 0};
})"""


def chromium() -> str | None:
    """The browser: $CHROMIUM, else the first on PATH (.ci/run installs Debian's when there is none)."""
    return os.environ.get("CHROMIUM") or next(
        (p for name in ("chromium", "chromium-browser", "google-chrome") if (p := shutil.which(name))), None
    )


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    path = chromium()
    if path is None:
        pytest.skip("needs a Chromium (apt-get install -y chromium), as .ci/run installs")
    with sync_api.sync_playwright() as p:
        launched = p.chromium.launch(executable_path=path, args=ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def report(two_runs: dict[str, Any]) -> Path:
    return Path(two_runs["workdir"]) / "reels_report.html"


def page_at(browser: Any, report: Path, width: int) -> Any:
    context = browser.new_context(viewport={"width": width, "height": 900}, offline=True)
    page = context.new_page()
    page.goto(report.as_uri())
    page.wait_for_load_state("load")
    return page


@pytest.mark.parametrize("width", WIDTHS)
def test_nothing_sticks_out_sideways_and_a_screenshot_is_taken(
    browser: Any, report: Path, width: int, tmp_path: Path
) -> None:
    page = page_at(browser, report, width)
    shot = tmp_path / f"report-{width}.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    measured = page.evaluate(OVERFLOW)
    assert measured["scroll"] <= measured["width"], measured
    assert measured["out"] == [], measured
    assert measured["scrolls"] == [], measured  # not even a table needs sideways scrolling


@pytest.mark.parametrize("width", WIDTHS)
def test_every_viral_reel_shows_its_thumbnail(browser: Any, report: Path, width: int, two_runs: Any) -> None:
    store = DeltaStore(Path(two_runs["workdir"]) / "lakehouse")
    viral = {
        r["post_id"]
        for r in store.read(REELS, ("post_id", "virality_label")).to_pylist()
        if r["virality_label"] == "viral"
    }
    stored = {
        m["post_id"] for m in store.read(MEDIA, ("post_id", "status")).to_pylist() if m["status"] == "ok"
    }
    cards = page_at(browser, report, width).evaluate(THUMBS)
    assert len(cards) == len(viral) > 0
    shown = {c["post"]: c["loaded"] for c in cards}
    assert set(shown) == viral
    assert {p for p, loaded in shown.items() if loaded} == viral & stored


def test_the_gallery_filters_by_account_and_sorts_in_the_page(browser: Any, report: Path) -> None:
    page = page_at(browser, report, 1400)
    assert page.is_visible("#filters")  # shown by the page's own script
    accounts = page.eval_on_selector_all("#f-account option", "os => os.map(o => o.value).filter(Boolean)")
    page.select_option("#f-account", accounts[0])
    visible = page.eval_on_selector_all(
        "#gallery .reel:not([hidden])", "cs => cs.map(c => c.dataset.account)"
    )
    assert visible and set(visible) == {accounts[0]}
    assert page.inner_text("#f-count") == str(len(visible))
    page.select_option("#f-account", "")
    page.select_option("#f-sort", "views")
    views = page.eval_on_selector_all("#gallery .reel", "cs => cs.map(c => parseFloat(c.dataset.views))")
    assert views == sorted(views, reverse=True)


def test_the_first_screen_is_the_week_and_the_playbook(browser: Any, report: Path) -> None:
    page = page_at(browser, report, 400)
    first = page.inner_text("#week")
    assert "In the 7 days to" in first and "went viral" in first
    assert page.locator("#playbook").bounding_box()["y"] < 2 * 900  # within two phone screens
    plays = page.inner_text("#playbook")
    assert "Make more" in plays and "q =" not in plays and "CI" not in plays

"""Take docs/demo.png, docs/explain.png, docs/evaluation.png and their 400 px versions of the app in Debian's chromium
(Playwright).

Usage: python scripts/screenshots.py --serve (starts the app on the bundled model; `make screenshots`),
or, with the app already running: python scripts/screenshots.py http://127.0.0.1:7860/
"""

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench.browser import CHROMIUM, CHROMIUM_ARGS
from bench.load import free_port, start_app
from ui.demo import example_reviews
from ui.views import readable

SERVE = "--serve" in sys.argv
PORT = free_port() if SERVE else None
server = start_app(PORT, {"LONGBERT_MODEL": None, "LONGBERT_RESULTS": None}) if SERVE else None
URL = f"http://127.0.0.1:{PORT}/" if SERVE else (sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:7860/")
DOCS = Path(__file__).resolve().parents[1] / "docs"

with sync_playwright() as p:
    browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.goto(URL)
    review = readable(example_reviews()[1])  # head truncation wrong, chunking right
    page.get_by_label("Review", exact=True).fill(review)
    page.get_by_label("Compare with a second setting (B)").check()
    page.get_by_text("chunk_size B (tokens)").wait_for(timeout=10_000)
    page.get_by_label("head", exact=True).last.check()  # B: head truncation
    stride = page.get_by_label("number input for stride (<= chunk_size)")
    stride.fill("255")
    stride.press("Enter")  # the page applies a typed value on Enter, as on leaving the box
    page.wait_for_function("document.querySelectorAll('h3').length >= 2", timeout=90_000)
    page.wait_for_timeout(2500)
    page.screenshot(path=str(DOCS / "demo.png"), full_page=True)
    page.get_by_role("button", name="Explain: which sentences drove it").click()
    page.locator("#evidence-b .longbert-evidence").wait_for(timeout=90_000)
    page.locator("#evidence .longbert-evidence").wait_for(timeout=90_000)
    page.wait_for_timeout(1500)
    page.locator("#evidence").scroll_into_view_if_needed()
    page.screenshot(path=str(DOCS / "explain.png"), full_page=True)
    page.get_by_role("tab", name="Evaluation").click()
    page.get_by_text("A minus B, by length").first.wait_for(timeout=60_000)
    page.wait_for_timeout(2500)
    page.screenshot(path=str(DOCS / "evaluation.png"), full_page=True)
    narrow = browser.new_page(viewport={"width": 400, "height": 900})
    narrow.goto(URL)
    narrow.get_by_text(review[:40]).first.click()  # the example: it classifies when picked
    narrow.get_by_text("Head truncation").wait_for(timeout=60_000)
    narrow.wait_for_timeout(2500)
    narrow.screenshot(path=str(DOCS / "demo-400px.png"), full_page=True)
    narrow.get_by_role("button", name="Explain: which sentences drove it").click()
    narrow.locator("#evidence .longbert-evidence").wait_for(timeout=90_000)
    narrow.wait_for_timeout(1500)
    narrow.screenshot(path=str(DOCS / "explain-400px.png"), full_page=True)
    narrow.get_by_role("tab", name="Evaluation").click()
    narrow.get_by_text("A minus B, by length").first.wait_for(timeout=60_000)
    narrow.wait_for_timeout(2500)
    narrow.screenshot(path=str(DOCS / "evaluation-400px.png"), full_page=True)
    browser.close()
if server is not None:
    server.terminate()
SHOTS = ("demo.png", "demo-400px.png", "explain.png", "explain-400px.png", "evaluation.png", "evaluation-400px.png")
print(f"wrote {', '.join(str(DOCS / name) for name in SHOTS)}")

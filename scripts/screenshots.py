"""Take docs/demo.png and docs/evaluation.png of the running app in Debian's chromium (Playwright).

Usage: LONGBERT_MODEL=... python app.py &  then  python scripts/screenshots.py http://127.0.0.1:7860/
"""

import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from app import example_reviews

URL = sys.argv[1] if len(sys.argv) > 1 else "http://127.0.0.1:7860/"
DOCS = Path(__file__).resolve().parents[1] / "docs"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]  # fmt: skip

with sync_playwright() as p:
    browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
    page = browser.new_page(viewport={"width": 1400, "height": 1100})
    page.goto(URL)
    page.get_by_label("Review").fill(example_reviews()[1])  # head truncation wrong, chunking right
    page.get_by_label("number input for stride (<= chunk_size)").fill("255")
    page.get_by_label("number input for stride (<= chunk_size)").press("Enter")
    page.get_by_text("Head truncation").wait_for(timeout=60_000)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(DOCS / "demo.png"), full_page=True)
    page.get_by_role("tab", name="Evaluation").click()
    page.get_by_text("head 510").first.wait_for(timeout=30_000)
    page.wait_for_timeout(1500)
    page.screenshot(path=str(DOCS / "evaluation.png"), full_page=True)
    browser.close()
print(f"wrote {DOCS / 'demo.png'} and {DOCS / 'evaluation.png'}")

"""Debian's chromium as the browser tests and the screenshots drive it (Playwright): its path and launch flags."""

CHROMIUM = "/usr/bin/chromium"
# No sandbox (root in CI), no GPU, and none of the background traffic a fresh profile starts (updates, sync, QUIC).
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]  # fmt: skip

#!/usr/bin/env bash
# Install headless Chromium and its WebDriver from Debian (for tests/serve/test_serve_browser.py).
# Idempotent: does nothing when both are already there. Needs root (CI runs as root).
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
    exit 0
fi
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver
chromium --headless=new --no-sandbox --disable-gpu --dump-dom about:blank >/dev/null

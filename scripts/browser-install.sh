#!/usr/bin/env bash
# Debian's headless Chromium and its ChromeDriver for the report's browser test (tests/test_report.py).
# Installs nothing when both are there; where it cannot install (not root, no apt-get) it says why and
# the test skips with the same reason.
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
  exit 0
fi
if [[ $EUID -ne 0 ]] || ! command -v apt-get >/dev/null; then
  echo "[browser-install] no chromium + chromedriver and no root apt-get to install them: the report's browser test will skip" >&2
  exit 0
fi
echo "[browser-install] installing Debian's chromium and chromium-driver" >&2
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null

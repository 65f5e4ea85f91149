#!/usr/bin/env bash
# The browser test drives JupyterLab in headless Chromium through Playwright,
# which must use this machine's browser and never download its own.
# Install Debian's chromium package (and a font for readable screenshots)
# when chromium is missing.
set -euo pipefail

if command -v chromium >/dev/null; then
    exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
    echo "chromium is missing: install Debian's chromium package (sudo apt-get" \
         "install -y --no-install-recommends chromium fonts-dejavu-core)," \
         "then run the tests again" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -q
apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core

#!/usr/bin/env bash
# Re-make docs/demo-report.png, the README's picture: the HTML report of `dockpatrol demo`,
# screenshotted by headless Chromium (Debian package, installed here if missing; needs root).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v chromium >/dev/null 2>&1 && fc-list | grep -qi wqy || { apt-get update -qq >/dev/null; apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null; }
report=${1:-.dockpatrol/reports/demo-patrol.html}
[ -f "$report" ] || .venv/bin/dockpatrol demo
profile=$(mktemp -d)
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run --disable-background-networking \
  --disable-component-update --disable-sync --user-data-dir="$profile" --hide-scrollbars \
  --window-size=1400,1000 --screenshot=docs/demo-report.png "file://$(realpath "$report")" 2>/dev/null
rm -rf "$profile"
echo "wrote docs/demo-report.png"

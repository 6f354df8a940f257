#!/usr/bin/env bash
# Debian's chromium, for the Lake view's browser tests (tests/airflow/test_lake_view_browser.py),
# installed by `make test` when it is missing. Quiet when it is there; when it cannot be installed
# (not root, no apt-get, no network) it says so and exits 0: those tests then skip, saying why.
set -u
CHROMIUM=/usr/bin/chromium
[ -x "$CHROMIUM" ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "note: $CHROMIUM is missing and cannot be installed here (needs root and apt-get); the browser tests will skip" >&2
    exit 0
fi
echo "installing Debian's chromium for the browser tests (apt-get)..." >&2
log=$(mktemp)
if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; } >"$log" 2>&1; then
    echo "note: apt-get could not install chromium; the browser tests will skip. Its last lines:" >&2
    tail -5 "$log" >&2
fi
rm -f "$log"
exit 0

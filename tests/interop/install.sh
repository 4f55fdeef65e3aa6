#!/usr/bin/env bash
# Installs the third-party WebSocket servers of tests/interop.rs, at the
# versions pinned beside this file: Python websockets (requirements.txt) into
# the virtual environment target/interop/venv, node ws (package-lock.json)
# into tests/interop/node_modules. Idempotent and quiet: a server already at
# its pinned version is left alone. Never fails: a server that cannot be
# installed (no python3, npm or network) is reported on stderr and its tests
# print SKIPPED. Prints the names of the installed servers on stdout, for
# TETHER_INTEROP_REQUIRE (their tests then fail rather than skip).
set -uo pipefail
cd "$(dirname "$0")/../.."

installed=()
venv=target/interop/venv
websockets_pin=$(sed -n 's/^websockets==//p' tests/interop/requirements.txt)
have_websockets() {
    "$venv/bin/python" -c "import sys, websockets; sys.exit(websockets.__version__ != '$websockets_pin')" 2>/dev/null
}
if have_websockets; then
    installed+=(websockets)
elif command -v python3 >/dev/null 2>&1 \
    && { [ -x "$venv/bin/python" ] || python3 -m venv "$venv" >&2; } \
    && "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        --timeout 30 --retries 2 -r tests/interop/requirements.txt >&2 \
    && have_websockets; then
    installed+=(websockets)
else
    echo "interop: could not install websockets==$websockets_pin into $venv; its tests will skip" >&2
fi

ws_pin=$(sed -n 's/^ *"ws": "\(.*\)".*/\1/p' tests/interop/package.json)
have_ws() {
    [ "$(node -p "require('./tests/interop/node_modules/ws/package.json').version" 2>/dev/null)" = "$ws_pin" ]
}
if have_ws; then
    installed+=(ws)
elif command -v npm >/dev/null 2>&1 \
    && npm ci --prefix tests/interop --silent --no-audit --no-fund \
        --fetch-retries 2 --fetch-timeout 30000 --fetch-retry-mintimeout 2000 \
        --fetch-retry-maxtimeout 10000 >&2 \
    && have_ws; then
    installed+=(ws)
else
    echo "interop: could not install ws@$ws_pin into tests/interop/node_modules; its tests will skip" >&2
fi

echo "${installed[*]}"
exit 0

#!/usr/bin/env bash
# make clients: generate a Python and a TypeScript client from the app's OpenAPI document with pinned tools,
# drive a short journey through the Python one against a live server (SQLite), type-check the same journey
# in TypeScript, and lint the document with Spectral's OpenAPI rules. Nothing generated is committed.
set -euo pipefail
cd "$(dirname "$0")/.."

UV=.tools/bin/uv
TOOLS=clients/.venv
BUILD=clients/build
NODE_BIN=clients/node_modules/.bin

echo "== clients: pinned tools"
# openapi-python-client lives in a venv of its own: its dependencies stay out of the app's lock.
[ -x "$TOOLS/bin/python" ] || "$UV" venv --quiet --python 3.11 "$TOOLS"
"$UV" pip sync --quiet --python "$TOOLS/bin/python" clients/requirements.txt
npm ci --prefix clients --no-audit --no-fund --silent

echo "== clients: the document"
rm -rf "$BUILD"
mkdir -p "$BUILD"
.venv/bin/python clients/dump_openapi.py "$BUILD/openapi.json"

echo "== clients: generate"
# The generator formats its output with the ruff of its own venv.
PATH="$PWD/$TOOLS/bin:$PATH" "$TOOLS/bin/openapi-python-client" generate \
    --path "$BUILD/openapi.json" --output-path "$BUILD/python"
# A field with a default is optional in a request; answers already list every field they always carry as required.
"$NODE_BIN/openapi-typescript" "$BUILD/openapi.json" -o "$BUILD/api.d.ts" --default-non-nullable false

echo "== clients: Python journey against a live server"
workdir=$(mktemp -d)
port=$(.venv/bin/python -c 'from tests.servers import free_port; print(free_port())')
DATABASE_URL="sqlite+aiosqlite:///$workdir/clients.db" SECRET_KEY="clients-journey-secret-key-long-enough" \
    LOG_JSON=false .venv/bin/rejection-tracker serve --port "$port" >"$workdir/serve.log" 2>&1 &
server=$!
stop_server() {
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
    rm -rf "$workdir"
}
trap stop_server EXIT
base_url="http://127.0.0.1:$port"
for _ in $(seq 120); do
    .venv/bin/python -c 'import sys, httpx; httpx.get(sys.argv[1] + "/ready").raise_for_status()' "$base_url" \
        2>/dev/null && break
    kill -0 "$server" 2>/dev/null || { cat "$workdir/serve.log" >&2; exit 1; }
    sleep 0.25
done
PYTHONPATH="$BUILD/python" "$TOOLS/bin/python" clients/journey.py "$base_url"

echo "== clients: TypeScript journey (tsc --strict)"
"$NODE_BIN/tsc" -p clients/tsconfig.json --strict --noEmit

echo "== clients: spectral lint (spectral:oas)"
"$NODE_BIN/spectral" lint --ruleset clients/.spectral.yaml --fail-severity error "$BUILD/openapi.json"

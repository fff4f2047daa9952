#!/usr/bin/env bash
# Liveness part of `make eval`: builds the development evaluation from the
# shared data (generated clips go to the user cache, never the repository)
# and runs it. Prints the report; the JSON report is written to
# ${OUT:-var/eval}/liveness.json. See docs/EVALUATION.md, "Liveness".
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin/everify}
OUT=${OUT:-var/eval}
CACHE=${CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/everify/liveness-dev}
mkdir -p "$OUT"
"$BIN" eval liveness --build-dev "$OUT/liveness-dev.csv" --cache "$CACHE"
"$BIN" eval liveness --manifest "$OUT/liveness-dev.csv" --quiet --out "$OUT/liveness.json"

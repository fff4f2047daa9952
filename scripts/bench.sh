#!/usr/bin/env bash
# `make bench`: Go benchmarks and load tests. The numbers belong in
# docs/BENCHMARKS.md with the machine, the command and the date. Outputs go
# to ${OUT:-var/bench}.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin/everify}
OUT=${OUT:-var/bench}
GO=${GO:-go}
mkdir -p "$OUT"
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), load average $(cut -d' ' -f1-3 /proc/loadavg)" | tee "$OUT/machine.txt"

# --- Models (docs/MODELS.md, "Benchmarks") ----------------------------------
echo "== models: ONNX Runtime p50/p99 (1 thread), throughput (all cores), TF.js wasm in the same run"
$GO test -run '^$' -bench Models -benchtime 30x -timeout 30m ./internal/vision/onnx | tee "$OUT/models.txt"
echo "== vision: detection + landmarks + embedding of one 640x480 image, one thread"
$GO test -run '^$' -bench 'FaceToEmbedding' -benchtime 50x -timeout 30m ./internal/vision | tee "$OUT/vision.txt"

# --- Liveness (docs/EVALUATION.md, "Speed") ---------------------------------
echo "== liveness: one analysis of a 4 s, 15 fps, 640x480 capture (BenchmarkAnalyze4s)"
$GO test -run '^$' -bench 'Analyze4s|FramingCheck' -benchtime 20x -timeout 30m ./internal/liveness | tee "$OUT/liveness.txt"

# --- Face match -------------------------------------------------------------
echo "== face match: one match of two in-memory 640x480 JPEGs (BenchmarkMatch)"
$GO test -run '^$' -bench 'Match' -benchtime 200x -timeout 30m ./internal/facematch | tee "$OUT/facematch-go.txt"

echo "== face match: POST /v1/biometrics/face-match with inline images, 4 clients"
tmp=$(mktemp -d)
server=
cleanup() {
	if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; fi
	rm -rf "$tmp"
}
trap cleanup EXIT
key=$("$BIN" keys create --data-dir "$tmp" --tenant bench --json | sed -n 's/.*"key": *"\([^"]*\)".*/\1/p')
"$BIN" serve --data-dir "$tmp" --addr 127.0.0.1:0 --rate-limit 0 --log-level warn >"$tmp/serve.out" 2>"$tmp/serve.log" &
server=$!
url=
for _ in $(seq 1 120); do
	url=$(sed -n 's/^everify listening on \(http:[^ ]*\).*/\1/p' "$tmp/serve.out")
	[ -n "$url" ] && break
	sleep 0.5
done
[ -n "$url" ] || { cat "$tmp/serve.log"; echo "serve did not start" >&2; exit 1; }
"$BIN" bench facematch --url "$url" --key "$key" --concurrency 4 --duration 30s --server-pid "$server" | tee "$OUT/facematch-http.txt"

#!/usr/bin/env bash
# `make loadtest`: a mixed workload (liveness sessions — start, frame
# batches, complete, results polling — and face matches with inline
# images) driven by `everify bench mixed` against (a) one replica on
# SQLite and (b) two replicas on a fresh PostgreSQL database, on loopback
# only. For each configuration the session rate steps through $RATES
# (face matches at the same rate) until a step is not sustained (a failed
# request, a lost session, or completion times that keep growing) or the
# configuration's time budget is spent. The numbers belong in
# docs/BENCHMARKS.md ("Mixed load"). Outputs go to ${OUT:-var/loadtest}.
#
# Environment: BIN (bin/everify), OUT, CONFIGS ("sqlite postgres"),
# RATES ("0.5 1 2 3 4 6" sessions/s),
# STEP (30s per step), DRAIN (45s at most after each step; both in
# seconds with an "s"), BUDGET (270 s
# per configuration: no step starts that could end past it),
# EVERIFY_TEST_DATABASE_URL (the PostgreSQL server; default the local one).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin/everify}
OUT=${OUT:-var/loadtest}
CONFIGS=${CONFIGS:-sqlite postgres}
RATES=${RATES:-0.5 1 2 3 4 6}
STEP=${STEP:-30s}
DRAIN=${DRAIN:-45s}
BUDGET=${BUDGET:-270}
PG_SERVER=${EVERIFY_TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable}

mkdir -p "$OUT"
rm -f "$OUT"/*.json "$OUT"/*.txt "$OUT"/*.log
echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ //'), load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%Y-%m-%dT%H:%MZ)" | tee "$OUT/machine.txt"

tmp=$(mktemp -d)
pids=()
db=
stop_servers() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	pids=()
}
cleanup() {
	stop_servers
	if [ -n "$db" ]; then psql -q "$PG_SERVER" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null || true; fi
	rm -rf "$tmp"
}
trap cleanup EXIT

# start_server NAME ARGS…: starts `everify serve` on a free loopback port
# with its log in $OUT/NAME.log; appends its pid to pids and its URL to urls.
urls=()
start_server() {
	local name=$1
	shift
	: >"$tmp/$name.out"
	"$BIN" serve --addr 127.0.0.1:0 --rate-limit 0 --log-level warn "$@" >"$tmp/$name.out" 2>"$OUT/$name.log" &
	pids+=($!)
	local url=
	for _ in $(seq 1 240); do
		url=$(sed -n 's/^everify listening on \(http:[^ ]*\).*/\1/p' "$tmp/$name.out")
		[ -n "$url" ] && break
		kill -0 "${pids[-1]}" 2>/dev/null || break
		sleep 0.5
	done
	[ -n "$url" ] || { cat "$OUT/$name.log" >&2; echo "loadtest: $name did not start" >&2; exit 1; }
	urls+=("$url")
}

# step_up CONFIG KEY: runs the steps against the started servers and
# prints the highest sustained rate.
step_up() {
	local config=$1 key=$2 best=none t0=$SECONDS rate rc
	local step_s=${STEP%s} drain_s=${DRAIN%s}
	local url_list pid_list
	url_list=$(IFS=,; echo "${urls[*]}")
	pid_list=$(IFS=,; echo "${pids[*]}")
	for rate in $RATES; do
		if (( SECONDS - t0 + step_s + drain_s + 5 > BUDGET )); then
			echo "== $config: time budget spent before rate $rate" | tee -a "$OUT/summary.txt"
			break
		fi
		echo "== $config: $rate sessions/s and $rate face matches/s for $STEP"
		rc=0
		"$BIN" bench mixed --url "$url_list" --key "$key" --duration "$STEP" --drain "$DRAIN" \
			--rate "$rate" --server-pid "$pid_list" --report "$OUT/$config-rate$rate.json" |
			tee "$OUT/$config-rate$rate.txt" || rc=$?
		if [ "$rc" -ne 0 ] || ! grep -q '"sustained": true' "$OUT/$config-rate$rate.json" 2>/dev/null; then
			echo "== $config: rate $rate not sustained (exit $rc)" | tee -a "$OUT/summary.txt"
			break
		fi
		best=$rate
	done
	echo "== $config: highest sustained rate $best sessions/s (with as many face matches/s)" | tee -a "$OUT/summary.txt"
}

# --- (a) one replica on SQLite ---------------------------------------------
if [[ " $CONFIGS " == *" sqlite "* ]]; then
	data="$tmp/sqlite"
	key=$("$BIN" keys create --data-dir "$data" --tenant loadtest --json | sed -n 's/.*"key": *"\([^"]*\)".*/\1/p')
	start_server sqlite --data-dir "$data"
	step_up sqlite "$key"
	stop_servers
	urls=()
fi

# --- (b) two replicas on PostgreSQL ----------------------------------------
if [[ " $CONFIGS " == *" postgres "* ]]; then
	command -v psql >/dev/null || { echo "loadtest: psql is needed to create the database (apt-get install postgresql-client)" >&2; exit 1; }
	db="everify_loadtest_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')"
	psql -q "$PG_SERVER" -c "CREATE DATABASE $db" >/dev/null
	base=${PG_SERVER%%\?*}
	query=${PG_SERVER#"$base"}
	export DATABASE_URL="${base%/*}/$db$query"
	"$BIN" keys new-master >"$tmp/master.key" 2>/dev/null
	chmod 600 "$tmp/master.key"
	export EVERIFY_MASTER_KEY_FILE="$tmp/master.key"
	"$BIN" migrate >/dev/null
	key=$("$BIN" keys create --tenant loadtest --json | sed -n 's/.*"key": *"\([^"]*\)".*/\1/p')
	start_server postgres-a
	start_server postgres-b
	step_up postgres-2 "$key"
	stop_servers
fi
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/machine.txt"

#!/usr/bin/env bash
# `make fuzz`: runs every Go fuzz target for FUZZTIME each (default 60s) and
# prints one line per target: executions, new corpus entries, outcome. The
# seed corpora alone run in `make test`. A crash leaves its input under the
# package's testdata/fuzz/FuzzX/ — add it to the commit with the fix.
set -euo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-60s}
OUT=${OUT:-var/fuzz}
mkdir -p "$OUT"
status=0
for pkg in $($GO list ./... ); do
	dir=$($GO list -f '{{.Dir}}' "$pkg")
	for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //' | sort -u); do
		log="$OUT/$target.log"
		if $GO test -run '^$' -fuzz "^${target}\$" -fuzztime "$FUZZTIME" "$pkg" >"$log" 2>&1; then
			outcome=ok
		else
			outcome=FAILED
			status=1
		fi
		execs=$(grep -o 'execs: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
		interesting=$(grep -o 'new interesting: [0-9]*' "$log" | tail -1 | cut -d' ' -f3)
		printf '%-28s %-48s %12s execs %6s new  %s\n' "$target" "${pkg#github.com/everify/everify/}" "${execs:-?}" "${interesting:-?}" "$outcome"
	done
done
exit $status

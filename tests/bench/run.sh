#!/usr/bin/env bash
# make bench: runs every tests/bench/bench_*.sh in name order; each prints
# its own block of figures (ratios against a peer or the machine's limit,
# measured in the same run). Never asserts a time: exits non-zero only when
# a bench script fails to run.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT" || exit 1

model=$(awk -F': *' '/^model name/ { print $2; exit }' /proc/cpuinfo 2>/dev/null)
echo "# Signet benchmarks, $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
echo "# machine: $(nproc) cores, ${model:-unknown CPU}, $(uname -sr)"
echo "# commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
# figures from a loaded machine are low; the ratios hold better
echo "# load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"

failed=0
shopt -s nullglob
for b in tests/bench/bench_*.sh; do
	echo
	echo "## $(basename "$b" .sh)"
	start=$(date +%s)
	bash "$b"
	rc=$?
	if [ "$rc" -eq 0 ]; then
		echo "# $(basename "$b" .sh): done in $(($(date +%s) - start)) s"
	else
		echo "# $(basename "$b" .sh): FAILED to run (exit $rc)"
		failed=$((failed + 1))
	fi
done
echo
echo "# $failed bench script(s) failed"
[ "$failed" -eq 0 ]

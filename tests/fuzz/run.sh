#!/usr/bin/env bash
# tests/fuzz/run.sh [SECONDS]
#
# Runs every libFuzzer binary build/fuzz/fuzz_* (built by `make fuzz`; this
# script builds nothing) for SECONDS seconds each (default 30), seeded with
# the hostile CSR corpus of tests/data/make-bad-csrs.sh plus, when present,
# tests/fuzz/seeds/<target>/. Prints one TAP line per target and exits
# non-zero if any target crashed, leaked or hung. Crash inputs are kept in
# build/fuzz/artifacts/<target>/ to replay with `build/fuzz/<target> FILE`.
set -uo pipefail

secs=${1:-30}
case $secs in
'' | *[!0-9]*)
	echo "usage: $0 [SECONDS]" >&2
	exit 2
	;;
esac
cd "$(dirname "$0")/../.." || exit 2

shopt -s nullglob
targets=()
for bin in build/fuzz/fuzz_*; do
	[ -f "$bin" ] && [ -x "$bin" ] && targets+=("$bin")
done
if [ ${#targets[@]} -eq 0 ]; then
	echo "1..0 # SKIP no build/fuzz/fuzz_* binaries: run make fuzz"
	exit 1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
if ! bash tests/data/make-bad-csrs.sh "$work/seeds" >"$work/seeds.log" 2>&1; then
	echo "Bail out! tests/data/make-bad-csrs.sh failed"
	sed 's/^/# /' "$work/seeds.log"
	exit 1
fi
rm -f "$work/seeds/EXPECT"

echo "1..${#targets[@]}"
n=0
failed=0
for bin in "${targets[@]}"; do
	n=$((n + 1))
	name=$(basename "$bin")
	corpus="$work/corpus-$name"
	artifacts="build/fuzz/artifacts/$name"
	mkdir -p "$corpus" "$artifacts"
	cp "$work"/seeds/* "$corpus"/
	if [ -d "tests/fuzz/seeds/$name" ]; then
		cp -r "tests/fuzz/seeds/$name"/. "$corpus"/
	fi
	log="$work/$name.log"
	# libFuzzer writes new inputs into the first corpus directory.
	"$bin" -max_total_time="$secs" -max_len=70000 -timeout=20 \
		-rss_limit_mb=4096 -print_final_stats=1 \
		-artifact_prefix="$artifacts/" "$corpus" >"$log" 2>&1
	rc=$?
	if [ $rc -eq 0 ]; then
		execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
		echo "ok $n - $name ran ${secs}s without a crash (${execs:-?} inputs)"
	else
		failed=$((failed + 1))
		echo "not ok $n - $name crashed (exit $rc); inputs in $artifacts/"
		tail -n 40 "$log" | sed 's/^/# /'
	fi
done
[ $failed -eq 0 ]

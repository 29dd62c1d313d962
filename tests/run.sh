#!/usr/bin/env bash
# Runs every test suite that `make test` covers and ends with the line
# "N passed, N failed" (skipped tests are named, with why).
#
# Suites speak TAP: the cmocka unit tests (release and sanitizer builds), the
# brief fuzz runs, and the bats integration, interop and browser tests.
set -u
cd "$(dirname "$0")/.."
root=$PWD
logs=tests/artifacts/logs
mkdir -p "$logs"
passed=0 failed=0 skipped=0
failures=() skips=()

# run_tap NAME CMD...: runs CMD, echoes its TAP, counts the verdicts.
run_tap() {
	local name=$1; shift
	local log="$logs/${name//\//_}.log" rc f_before=$failed
	echo "# ---- $name"
	"$@" >"$log" 2>&1
	rc=$?
	while IFS= read -r line; do
		case $line in
		"not ok"*)
			failed=$((failed + 1)); failures+=("$name: ${line#not ok }")
			echo "$line";;
		"ok "*"# skip"*|"ok "*"# SKIP"*)
			skipped=$((skipped + 1)); skips+=("$name: ${line#ok }")
			echo "$line";;
		"ok "*)
			passed=$((passed + 1)); echo "$line";;
		esac
	done <"$log"
	# a crash or a non-zero exit that no "not ok" explains is a failure too
	if [ $rc -ne 0 ] && [ $failed -eq $f_before ]; then
		failed=$((failed + 1)); failures+=("$name: exited $rc (see $log)")
		echo "not ok - $name exited $rc (see $log)"
		tail -n 20 "$log"
	elif [ $failed -ne $f_before ]; then
		tail -n 40 "$log" | sed 's/^/#   /'
	fi
}

export CMOCKA_MESSAGE_OUTPUT=TAP
for t in build/rel/unit/test_*; do
	[ -x "$t" ] && run_tap "unit/$(basename "$t")" "$t"
done
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
for t in build/san/unit/test_*; do
	[ -x "$t" ] && run_tap "unit-san/$(basename "$t")" "$t"
done
unset ASAN_OPTIONS UBSAN_OPTIONS

if [ -x tests/fuzz/run.sh ] || [ -f tests/fuzz/run.sh ]; then
	run_tap fuzz bash tests/fuzz/run.sh "${FUZZ_SECONDS:-20}"
fi

for dir in tests/integration tests/interop tests/browser; do
	for f in "$dir"/*.bats; do
		[ -f "$f" ] && run_tap "${f#tests/}" bats --tap "$f"
	done
done

# The suites that drive signet-web (curl's and the browser's), again
# against its AddressSanitizer and UBSan build (make web-san): a sanitizer report in Kore's log fails the
# suite (signet-web.sh check, in each teardown). tests/san/ shows first
# that a fault in a worker is reported from inside its seccomp sandbox.
for f in tests/san/*.bats tests/integration/ocsp.bats \
    tests/integration/web_*.bats tests/browser/*.bats; do
	[ -f "$f" ] && run_tap "san/${f##*/}" env SIGNET_WEB_SAN=1 bats --tap "$f"
done

if [ ${#skips[@]} -gt 0 ]; then
	echo "# skipped:"
	printf '#   %s\n' "${skips[@]}"
fi
if [ ${#failures[@]} -gt 0 ]; then
	echo "# failed:"
	printf '#   %s\n' "${failures[@]}"
fi
if [ $skipped -gt 0 ]; then
	echo "$passed passed, $failed failed, $skipped skipped"
else
	echo "$passed passed, $failed failed"
fi
[ $failed -eq 0 ]

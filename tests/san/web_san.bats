#!/usr/bin/env bats
# The sanitizer pass of the web suites (tests/run.sh runs them again with
# SIGNET_WEB_SAN=1: signet-web's module built with AddressSanitizer and
# UBSan, `make web-san`) is only worth its time if a fault in the module
# is reported from inside a worker's seccomp sandbox and fails the suite.
# The sanitizer build has a probe for that (web/ocsp.c, san_probe).

load ../integration/lib

setup_file() {
	export H=$(new_home san)
	export W="$BATS_FILE_TMPDIR"
	sg "$H" setup --cn "Sanitizer Test CA" >/dev/null
	export SIGNET_DB=$(sg "$H" db conninfo)
	export SIGNET_LDAP_URI=ldap://127.0.0.1:9	# OCSP needs no directory
	export SIGNET_WEB_SAN=1
}

teardown_file() {
	bash "$ROOT/web/signet-web.sh" stop "$W/probe" || true
	bash "$ROOT/web/signet-web.sh" stop "$W/clean" || true
	stop_home "$H"
}

ocsp_post() {	# ocsp_post PORT: a garbage OCSP request; prints the status
	curl -s -o /dev/null -w '%{http_code}' --max-time 5 -X POST \
	    -H 'Content-Type: application/ocsp-request' --data-binary 'not DER' \
	    "http://127.0.0.1:$1/ocsp" || true
}

@test "a memory fault in a worker is reported in the log, and the check fails" {
	local port
	port=$(free_port)
	SIGNET_WEB_SAN_PROBE=1 bash "$ROOT/web/signet-web.sh" start "$W/probe" "$port"
	# the worker dies in the middle of the request: no answer
	[ "$(ocsp_post "$port")" = 000 ]
	sleep 0.5
	run bash "$ROOT/web/signet-web.sh" check "$W/probe"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"sanitizer reports"* ]]
	[[ "$output" == *"san_probe"* ]]
	[[ "$output" == *"heap-use-after-free"* ]]
}

@test "without the fault the same module answers, and the check passes" {
	local port
	port=$(free_port)
	bash "$ROOT/web/signet-web.sh" start "$W/clean" "$port"
	# a malformed request gets the OCSP error answer, not a crash
	[ "$(ocsp_post "$port")" = 200 ]
	run bash "$ROOT/web/signet-web.sh" check "$W/clean"
	echo "$output"
	[ "$status" -eq 0 ]
}

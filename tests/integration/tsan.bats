#!/usr/bin/env bats
# ThreadSanitizer builds (make: build/tsan/) of the threaded code under load:
# the RA's group commit (several submitting threads on one ra_queue) and
# ca-serve's issuing lanes beside its revocation thread. A data race or a
# lock-order inversion makes the sanitizer print a report and exit 66.

load lib

TSIGNET="$ROOT/build/tsan/signet"
TBENCH="$ROOT/build/tsan/bench_serve"

setup_file() {
	export H=$(new_home tsan)
	export W="$BATS_FILE_TMPDIR"
	export TSAN_OPTIONS="exitcode=66 halt_on_error=1 second_deadlock_stack=1"
	sg "$H" setup --cn "TSan Test CA" --key ecdsa-p256 >/dev/null
	# the sanitized binary lives in build/tsan/: name the module's file
	sed -i "s|^module = exchange\$|module = $ROOT/bin/policy/exchange.so|" "$H/signet.conf"
}

teardown_file() {
	[ -f "$W/serve.pid" ] && kill -9 "$(cat "$W/serve.pid")" 2>/dev/null
	stop_home "$H"
}

@test "tsan: six threads on one submission queue, one refused, one after a lost session" {
	run "$TBENCH" queue-check "$H"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" != *ThreadSanitizer* ]]
	[ "$(echo "$output" | grep -c '^ok ')" = 6 ]
}

@test "tsan: ca-serve's two lanes and revocation thread under 2,000 group-committed submissions" {
	SIGNET_SERVE_LANES=2 "$TSIGNET" --home "$H" ca-serve </dev/null >"$W/serve.log" 2>&1 3>&- &
	local pid=$! i
	echo "$pid" >"$W/serve.pid"
	for i in $(seq 100); do grep -q "active: policy" "$W/serve.log" && break; sleep 0.1; done
	run "$TBENCH" submit "$H" 2000 400 8
	[ "$status" -eq 0 ]
	for i in $(seq 200); do
		[ "$(psql_home "$H" "SELECT count(*) FROM requests WHERE state <> 'issued'")" = 0 ] && break
		sleep 0.1
	done
	kill -TERM "$pid"
	local rc=0
	wait "$pid" || rc=$?
	rm -f "$W/serve.pid"
	cat "$W/serve.log"
	[ "$rc" -eq 0 ]
	! grep -q ThreadSanitizer "$W/serve.log" || false
	[ "$(psql_home "$H" "SELECT count(*) FROM requests WHERE state = 'issued'")" = \
	  "$(psql_home "$H" "SELECT count(*) FROM requests")" ]
	run sg "$H" audit verify
	[ "$status" -eq 0 ]
}

@test "tsan: issue --batch's two lanes, one signing while the other commits, over 300 certificates" {
	local i
	mkdir -p "$W/batch/out"
	make_csr ecdsa-p256 "$W/batch/one.csr"
	# one request, three hundred names for it: the lanes are what is tested
	for i in $(seq 1 300); do
		ln -s one.csr "$W/batch/r$i.csr"
		printf 'r%d.csr tsan%d@example.com signing\n' "$i" "$i"
	done >"$W/batch/list.txt"
	run "$TSIGNET" --home "$H" issue --batch "$W/batch/list.txt" --out-dir "$W/batch/out"
	echo "$output" | grep -v '^issued ' || true
	[ "$status" -eq 0 ]
	[[ "$output" != *ThreadSanitizer* ]]
	[ "$(grep -c '^issued ' <<<"$output")" -eq 300 ]
	[ "$(ls "$W/batch/out" | wc -l)" -eq 300 ]
	[ "$(psql_home "$H" "SELECT count(*) FROM certificates WHERE email LIKE 'tsan%@example.com'")" -eq 300 ]
	# committed in list order: each set's transaction began after the one
	# before it committed (issued_at is the transaction's start)
	[ "$(psql_home "$H" "SELECT bool_and(ok) FROM (SELECT issued_at >= lag(issued_at, 1, '-infinity') OVER (ORDER BY substring(email FROM '[0-9]+')::int) AS ok FROM certificates WHERE email LIKE 'tsan%@example.com') t")" = t ]
	[ "$(psql_home "$H" "SELECT count(DISTINCT issued_at) FROM certificates WHERE email LIKE 'tsan%@example.com'")" -eq 5 ]
}

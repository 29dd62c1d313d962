#!/usr/bin/env bats
# ca-serve against a real private PostgreSQL: the request workflow with the
# daemon running, SIGTERM, crash safety under kill -9, standby takeover.

load lib

BENCH="$ROOT/build/rel/bench/bench_serve"

setup_file() {
	export H=$(new_home serve)
	export H2=$(new_home crash)
	export H3=$(new_home lanes)
	export W="$BATS_FILE_TMPDIR"
	sg "$H" setup --cn "Serve Test CA" --key ecdsa-p256 >/dev/null
	# [policy] is the file's last section: members of smime-auto issue at
	# once, everyone else pends for an officer
	echo "auto_issue_groups = smime-auto" >>"$H/signet.conf"
	( umask 077
	  echo "admin-password-1" >"$W/adm.pw"
	  echo "officer-password-1" >"$W/off.pw"
	  echo "auditor-password-1" >"$W/aud.pw" )
	sg "$H" operator add adm --role admin --password-file "$W/adm.pw" >/dev/null
	sg "$H" operator add off --role officer --password-file "$W/off.pw" >/dev/null
	sg "$H" operator add aud --role auditor --password-file "$W/aud.pw" >/dev/null
	"$SIGNET" --home "$H" ca-serve </dev/null >"$W/serve-a.log" 2>&1 3>&- &
	echo $! >"$W/serve-a.pid"
}

teardown_file() {
	local f
	for f in "$W"/serve-*.pid; do
		[ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null
	done
	stop_home "$H"
	stop_home "${H2:-}"
	stop_home "${H3:-}"
}

sql() { psql_home "$H" "$1"; }

# as_ra UID EMAIL CSR [GROUPS]: the enrolment site's submission, entered by
# the admin operator; prints the request id
as_ra() {
	sg "$H" request submit --operator adm --password-file "$W/adm.pw" \
		--csr "$3" --email "$2" --profile signing --via-ra \
		--requester "$1" --groups "${4:-staff}"
}

# wait_state ID STATE [TENTHS]: waits for a request to reach a state
wait_state() {
	local i
	for ((i = 0; i < ${3:-30}; i++)); do
		[ "$(sql "SELECT state FROM requests WHERE id = $1")" = "$2" ] && return 0
		sleep 0.1
	done
	echo "request $1 is $(sql "SELECT state FROM requests WHERE id = $1"), not $2" >&2
	return 1
}

cert_of() {
	sql "SELECT encode(c.der, 'base64') FROM certificates c JOIN requests r
	     ON r.serial = c.serial WHERE r.id = $1" | base64 -d >"$W/req$1.der"
	openssl x509 -inform DER -in "$W/req$1.der" -noout -subject -ext subjectAltName,extendedKeyUsage
}

@test "ca-serve is active and writes its pid file" {
	for i in $(seq 50); do grep -q "active: policy exchange" "$W/serve-a.log" && break; sleep 0.1; done
	grep -q "active: policy exchange" "$W/serve-a.log"
	[ "$(cat "$H/run/ca-serve.pid")" = "$(cat "$W/serve-a.pid")" ]
}

@test "an auto-issue group member's request through the RA is issued within a second" {
	make_csr ecdsa-p256 "$W/bob.csr" "/CN=someone else/O=Evil"
	id=$(as_ra bob bob@example.com "$W/bob.csr" smime-auto)
	wait_state "$id" issued 10
	run sg "$H" request show "$id" --operator aud --password-file "$W/aud.pw"
	[[ "$output" == *"decided by: policy:exchange"* ]]
	[[ "$output" == *"reason: issued automatically"* ]]
	[[ "$output" == *"serial: "* ]]
	run cert_of "$id"
	[[ "$output" == *"subject=CN = bob@example.com, emailAddress = bob@example.com"* ]]
	[[ "$output" == *"email:bob@example.com"* ]]
	[[ "$output" == *"E-mail Protection"* ]]
	[[ "$output" != *Evil* ]]
	openssl x509 -inform DER -in "$W/req$id.der" -out "$W/req$id.pem"
	run openssl verify -x509_strict -purpose smimesign -CAfile "$H/ca.pem" "$W/req$id.pem"
	[ "$output" = "$W/req$id.pem: OK" ]
}

@test "a requester outside the auto-issue groups pends with the policy's reason" {
	make_csr ecdsa-p256 "$W/carol.csr"
	id=$(as_ra carol carol@example.com "$W/carol.csr" staff)
	wait_state "$id" pending 10
	[ "$(sql "SELECT reason FROM requests WHERE id = $id")" = \
	  "carol is not in a group whose requests are issued automatically (smime-auto), so a PKI officer reviews it" ]
	[ "$(sql "SELECT count(*) FROM certificates WHERE request_id = $id")" = 0 ]
	echo "$id" >"$W/carol.id"
}

@test "an auditor cannot approve, and the request stays pending" {
	id=$(cat "$W/carol.id")
	run sg "$H" request approve "$id" --operator aud --password-file "$W/aud.pw"
	[ "$status" -eq 1 ]
	[ "$output" = "signet: operator aud (auditor) may not approve requests" ]
	sleep 0.3
	[ "$(sql "SELECT state FROM requests WHERE id = $id")" = pending ]
}

@test "an officer's approval makes ca-serve issue the pending request" {
	id=$(cat "$W/carol.id")
	run sg "$H" request approve "$id" --operator off --password-file "$W/off.pw"
	[ "$status" -eq 0 ]
	[ "$output" = "approved request $id" ]
	wait_state "$id" issued 10
	[ "$(sql "SELECT decided_by || ' ' || issued_by FROM requests r JOIN certificates c ON c.request_id = r.id WHERE r.id = $id")" = "operator:off operator:off" ]
	run cert_of "$id"
	[[ "$output" == *"email:carol@example.com"* ]]
	# a second approval changes nothing
	run sg "$H" request approve "$id" --operator off --password-file "$W/off.pw"
	[ "$status" -eq 1 ]
	[[ "$output" == *"is not pending; nothing changed"* ]]
}

@test "an officer's denial records the reason and issues nothing" {
	make_csr ecdsa-p256 "$W/dave.csr"
	id=$(as_ra dave dave@example.com "$W/dave.csr" staff)
	wait_state "$id" pending 10
	run sg "$H" request deny "$id" --reason "not an employee any more" --operator off --password-file "$W/off.pw"
	[ "$status" -eq 0 ]
	sleep 0.3
	run sg "$H" request show "$id" --operator aud --password-file "$W/aud.pw"
	[[ "$output" == *"state: denied"* ]]
	[[ "$output" == *"reason: not an employee any more"* ]]
	[[ "$output" == *"decided by: operator:off"* ]]
	[[ "$output" != *"serial:"* ]]
	[ "$(sql "SELECT count(*) FROM certificates WHERE request_id = $id")" = 0 ]
	[ "$(sql "SELECT count(*) FROM audit_log WHERE subject = 'request $id' AND action = 'request.deny' AND actor = 'operator:off'")" = 1 ]
}

@test "the policy denies a key that is already certified" {
	id=$(as_ra bob bob@example.com "$W/bob.csr" smime-auto)
	wait_state "$id" denied 10
	[ "$(sql "SELECT reason FROM requests WHERE id = $id")" = \
	  "this public key is already in a certificate; every certificate needs a new key" ]
}

@test "every transition is in the audit chain, which verifies" {
	[ "$(sql "SELECT count(*) FROM audit_log WHERE action LIKE 'request.%'")" -ge 10 ]
	run sg "$H" audit verify
	[ "$status" -eq 0 ]
	[[ "$output" == "audit chain whole: "* ]]
}

@test "a standby ca-serve takes over when the active one is killed" {
	"$SIGNET" --home "$H" ca-serve </dev/null >"$W/serve-b.log" 2>&1 3>&- &
	echo $! >"$W/serve-b.pid"
	for i in $(seq 50); do grep -q "standby: another ca-serve is active" "$W/serve-b.log" && break; sleep 0.1; done
	grep -q "standby: another ca-serve is active" "$W/serve-b.log"
	kill -9 "$(cat "$W/serve-a.pid")"
	make_csr ecdsa-p256 "$W/erin.csr"
	id=$(as_ra erin erin@example.com "$W/erin.csr" smime-auto)
	wait_state "$id" issued 50
	grep -q "active: policy exchange" "$W/serve-b.log"
}

@test "SIGTERM stops ca-serve cleanly and removes its pid file" {
	pid=$(cat "$W/serve-b.pid")
	pidfile=$(grep -l "^$pid\$" "$H"/run/ca-serve*.pid)
	kill -TERM "$pid"
	for i in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
	! kill -0 "$pid" 2>/dev/null || false
	[ ! -f "$pidfile" ]
	# and exits 0 (a child of this test, so its status can be read)
	"$SIGNET" --home "$H" ca-serve </dev/null >"$W/serve-c.log" 2>&1 3>&- &
	pid=$!
	echo "$pid" >"$W/serve-c.pid"
	for i in $(seq 50); do grep -q "active: policy" "$W/serve-c.log" && break; sleep 0.1; done
	kill -TERM "$pid"
	rc=0
	wait "$pid" || rc=$?
	[ "$rc" -eq 0 ]
	[ ! -f "$H/run/ca-serve.pid" ]
}

@test "kill -9 during 1,000 requests: every request ends issued with exactly one certificate" {
	sg "$H2" setup --cn "Crash Test CA" --key ecdsa-p256 >/dev/null
	"$BENCH" submit "$H2" 1000 >/dev/null
	local last=0 n pid
	for round in 1 2 3; do
		# small sets: many commits, both lanes mid-transaction when
		# the kill comes (a 64-request set drains the 1,000 before
		# this loop sees the count move)
		"$SIGNET" --home "$H2" ca-serve --batch 4 </dev/null >>"$W/crash.log" 2>&1 3>&- &
		pid=$!
		echo "$pid" >"$W/serve-crash.pid"
		# kill it while it works: after it issued some more
		for i in $(seq 200); do
			n=$(psql_home "$H2" "SELECT count(*) FROM requests WHERE state = 'issued'")
			[ "$n" -gt $((last + 20)) ] && break
			sleep 0.05
		done
		kill -9 "$pid"
		wait "$pid" 2>/dev/null || true
		last=$(psql_home "$H2" "SELECT count(*) FROM requests WHERE state = 'issued'")
		echo "round $round: $last issued" >&3
	done
	[ "$last" -lt 1000 ]
	run sg "$H2" ca-serve --once
	[ "$status" -eq 0 ]
	q() { psql_home "$H2" "$1"; }
	[ "$(q "SELECT count(*) FROM requests")" = 1000 ]
	[ "$(q "SELECT count(*) FROM requests WHERE state = 'issued'")" = 1000 ]
	# issued requests have exactly one certificate, and it is theirs
	[ "$(q "SELECT count(*) FROM requests r WHERE (SELECT count(*) FROM certificates c WHERE c.request_id = r.id) <> 1")" = 0 ]
	[ "$(q "SELECT count(*) FROM requests r JOIN certificates c ON c.request_id = r.id WHERE c.serial <> r.serial")" = 0 ]
	# no certificate lacks its issued request
	[ "$(q "SELECT count(*) FROM certificates c WHERE NOT EXISTS (SELECT 1 FROM requests r WHERE r.id = c.request_id AND r.state = 'issued')")" = 0 ]
	[ "$(q "SELECT count(*) FROM audit_log WHERE action = 'request.issue'")" = 1000 ]
	[ "$(q "SELECT count(*) FROM publish_jobs WHERE kind = 'cert.issue'")" = 1000 ]
	run sg "$H2" audit verify
	[ "$status" -eq 0 ]
	[ "$output" = "audit chain whole: $(q "SELECT count(*) FROM audit_log") records" ]
}

@test "two issuing lanes, one request per set: a mailbox's limit and a key's one certificate hold" {
	sg "$H3" setup --cn "Lanes Test CA" --key ecdsa-p256 >/dev/null
	printf 'auto_issue_groups = smime-auto\nmax_valid_per_mailbox = 2\nover_limit = deny\n' >>"$H3/signet.conf"
	( umask 077; echo "admin-password-1" >"$W/adm3.pw" )
	sg "$H3" operator add adm --role admin --password-file "$W/adm3.pw" >/dev/null
	local i
	make_csr ecdsa-p256 "$W/shared.csr"
	# twelve keys for one mailbox, whose limit is two, in a row: the lanes
	# claim neighbours
	for i in $(seq 1 12); do
		make_csr ecdsa-p256 "$W/dave$i.csr"
		sg "$H3" request submit --operator adm --password-file "$W/adm3.pw" \
			--csr "$W/dave$i.csr" --email dave@example.com --profile signing \
			--via-ra --requester dave --groups smime-auto >/dev/null
	done
	# one key for twelve mailboxes: certified once
	for i in $(seq 1 12); do
		sg "$H3" request submit --operator adm --password-file "$W/adm3.pw" \
			--csr "$W/shared.csr" --email "erin$i@example.com" --profile signing \
			--via-ra --requester "erin$i" --groups smime-auto >/dev/null
	done
	# one request per transaction, so that the lanes decide them side by
	# side: each must see the other's certificates before it counts
	SIGNET_SERVE_LANES=2 run sg "$H3" ca-serve --once --batch 1
	[ "$status" -eq 0 ]
	q() { psql_home "$H3" "$1"; }
	[ "$(q "SELECT count(*) FROM certificates WHERE email = 'dave@example.com'")" = 2 ]
	[ "$(q "SELECT count(*) FROM requests WHERE email = 'dave@example.com' AND state = 'denied'")" = 10 ]
	[ "$(q "SELECT count(DISTINCT spki_sha256) FROM certificates WHERE email LIKE 'erin%'")" = 1 ]
	[ "$(q "SELECT count(*) FROM certificates WHERE email LIKE 'erin%'")" = 1 ]
	[ "$(q "SELECT count(*) FROM requests WHERE email LIKE 'erin%' AND state = 'denied'")" = 11 ]
	# the knob is checked at start, not clamped silently
	for bad in 0 5 two; do
		SIGNET_SERVE_LANES=$bad run sg "$H3" ca-serve --once
		[ "$status" -ne 0 ]
		[[ "$output" == *"SIGNET_SERVE_LANES \"$bad\": not a number from 1 to 4"* ]]
	done
	run sg "$H3" audit verify
	[ "$status" -eq 0 ]
}

@test "the enrolment site's group commit: eight threads' submissions each stored once, with their records" {
	local before
	before=$(psql_home "$H3" "SELECT count(*) FROM requests")
	# 400 requests at 4,000/s from eight threads on two queues: most
	# commits carry several
	run "$BENCH" submit "$H3" 400 4000 8
	[ "$status" -eq 0 ]
	q() { psql_home "$H3" "$1"; }
	[ "$(q "SELECT count(*) FROM requests")" = $((before + 400)) ]
	[ "$(q "SELECT count(DISTINCT email) FROM requests WHERE email LIKE 'user%'")" = 400 ]
	[ "$(q "SELECT count(*) FROM audit_log WHERE action = 'request.submit' AND subject IN (SELECT 'request ' || id FROM requests WHERE email LIKE 'user%')")" = 400 ]
	# fewer transactions than requests: they were grouped
	[ "$(q "SELECT count(DISTINCT submitted_at) FROM requests WHERE email LIKE 'user%'")" -lt 400 ]
	run sg "$H3" audit verify
	[ "$status" -eq 0 ]
	[ "$output" = "audit chain whole: $(q "SELECT count(*) FROM audit_log") records" ]
}

@test "a request the database refuses in a group commit fails alone; a lost session is opened again" {
	local before
	before=$(psql_home "$H3" "SELECT count(*) FROM requests")
	run "$BENCH" queue-check "$H3"
	echo "$output"
	[ "$status" -eq 0 ]
	# six at once: the fourth refused, five stored
	[ "$(echo "$output" | sed -n 1,6p | grep -c '^ok ')" = 5 ]
	[ "$(echo "$output" | sed -n 4p)" = "error a group name contains a control character" ]
	# the seventh, after the queue's session was terminated: stored
	[[ "$(echo "$output" | sed -n 7p)" == "ok "* ]]
	[ "$(psql_home "$H3" "SELECT count(*) FROM requests")" = $((before + 6)) ]
	run sg "$H3" audit verify
	[ "$status" -eq 0 ]
}


# A set's statements travel in few round trips (a pipeline for the states
# and the audit chain's head, another for the records and the COMMIT): a
# refusal at either ends the set's transaction, and each request is then
# tried alone, so the others are still issued.
@test "a set the database refuses at the decision or at the COMMIT: the others are issued, the refused ones retried" {
	local who
	for who in grace1 grace2 stuck late; do
		make_csr ecdsa-p256 "$W/$who.csr"
		sg "$H3" request submit --operator adm --password-file "$W/adm3.pw" \
			--csr "$W/$who.csr" --email "$who@example.com" --profile signing \
			--via-ra --requester "$who" --groups smime-auto >/dev/null
	done
	q() { psql_home "$H3" "$1"; }
	q "CREATE FUNCTION t_refuse() RETURNS trigger LANGUAGE plpgsql AS
	   \$\$BEGIN RAISE EXCEPTION 'test refuses %', NEW.email; END\$\$;
	   CREATE TRIGGER t_stuck BEFORE UPDATE ON requests FOR EACH ROW
	     WHEN (NEW.email = 'stuck@example.com' AND NEW.state = 'issued')
	     EXECUTE FUNCTION t_refuse();
	   CREATE CONSTRAINT TRIGGER t_late AFTER INSERT ON certificates
	     DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
	     WHEN (NEW.email = 'late@example.com') EXECUTE FUNCTION t_refuse()" >/dev/null
	SIGNET_SERVE_LANES=1 run sg "$H3" ca-serve --once
	echo "$output"
	[ "$status" -eq 0 ]
	[ "$(q "SELECT string_agg(email || ' ' || state || ' ' || attempts, ', ' ORDER BY email)
	        FROM requests WHERE requester IN ('grace1', 'grace2', 'stuck', 'late')")" = \
	  "grace1@example.com issued 0, grace2@example.com issued 0, late@example.com submitted 1, stuck@example.com submitted 1" ]
	[ "$(q "SELECT last_error LIKE '%test refuses stuck@example.com%' FROM requests WHERE requester = 'stuck'")" = t ]
	[ "$(q "SELECT last_error LIKE '%test refuses late@example.com%' FROM requests WHERE requester = 'late'")" = t ]
	# nothing of the refused ones was kept: no certificate, job or record
	[ "$(q "SELECT count(*) FROM certificates WHERE email IN ('stuck@example.com', 'late@example.com')")" = 0 ]
	[ "$(q "SELECT count(*) FROM publish_jobs WHERE email IN ('stuck@example.com', 'late@example.com')")" = 0 ]
	[ "$(q "SELECT count(*) FROM audit_log WHERE action IN ('cert.issue', 'request.issue') AND (subject IN ('stuck@example.com', 'late@example.com') OR subject IN (SELECT 'request ' || id FROM requests WHERE requester IN ('stuck', 'late')))")" = 0 ]
	[ "$(q "SELECT count(*) FROM publish_jobs WHERE email IN ('grace1@example.com', 'grace2@example.com')")" = 2 ]
	run sg "$H3" audit verify
	[ "$status" -eq 0 ]
	# the fault gone, the next pass after the back-off issues them
	q "DROP TRIGGER t_stuck ON requests; DROP TRIGGER t_late ON certificates; DROP FUNCTION t_refuse()" >/dev/null
	sleep 5
	SIGNET_SERVE_LANES=1 run sg "$H3" ca-serve --once
	[ "$status" -eq 0 ]
	[ "$(q "SELECT count(*) FROM requests WHERE requester IN ('stuck', 'late') AND state = 'issued'")" = 2 ]
	[ "$(q "SELECT count(*) FROM certificates WHERE email IN ('stuck@example.com', 'late@example.com')")" = 2 ]
	run sg "$H3" audit verify
	[ "$status" -eq 0 ]
}

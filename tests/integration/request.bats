#!/usr/bin/env bats
# The officer CLI (request submit|list|show|approve|deny), operators,
# `signet policy check`, `ca-serve --once`, and a policy module with the
# wrong ABI -- with no ca-serve daemon running.

load lib

setup_file() {
	export H=$(new_home request)
	export W="$BATS_FILE_TMPDIR"
	sg "$H" setup --cn "Request Test CA" --key ecdsa-p256 >/dev/null
	( umask 077
	  echo "admin-password-1" >"$W/adm.pw"
	  echo "officer-password-1" >"$W/off.pw"
	  echo "auditor-password-1" >"$W/aud.pw" )
	sg "$H" operator add adm --role admin --password-file "$W/adm.pw" >/dev/null
	sg "$H" operator add off --role officer --password-file "$W/off.pw" >/dev/null
	sg "$H" operator add aud --role auditor --password-file "$W/aud.pw" >/dev/null
	make_csr ecdsa-p256 "$W/a.csr"
	make_csr rsa-2048 "$W/b.csr"
	bash "$ROOT/tests/data/make-bad-csrs.sh" "$W/bad" >/dev/null
}

teardown_file() {
	stop_home "$H"
}

sql() { psql_home "$H" "$1"; }
nreq() { sql "SELECT count(*) FROM requests"; }
as_off() { sg "$H" "$@" --operator off --password-file "$W/off.pw"; }

@test "operators are stored with argon2id hashes and listed with their roles" {
	[[ "$(sql "SELECT password_hash FROM operators WHERE name = 'off'")" == '$argon2id$'* ]]
	run sg "$H" operator list
	[[ "${lines[0]}" == "adm "*"admin"*"active"* ]]
	[[ "${lines[1]}" == "aud "*"auditor"*"active"* ]]
	[[ "${lines[2]}" == "off "*"officer"*"active"* ]]
	[ "$(sql "SELECT count(*) FROM audit_log WHERE action = 'operator.add'")" = 3 ]
}

@test "a password file others can read is refused, and a password is never an argument" {
	echo "readable-password-1" >"$W/open.pw"
	chmod 0644 "$W/open.pw"
	run sg "$H" operator add eve --role officer --password-file "$W/open.pw"
	[ "$status" -ne 0 ]
	[[ "$output" == *"$W/open.pw"* ]]
	[ "$(sql "SELECT count(*) FROM operators WHERE name = 'eve'")" = 0 ]
	run sg "$H" operator add eve --role officer --password "s3cret-in-argv"
	[ "$status" -eq 2 ]
	[[ "$output" == *"passwords are never command-line arguments"* ]]
	[[ "$output" != *s3cret* ]]
	run sg "$H" request list --operator off --pass "s3cret-in-argv"
	[ "$status" -eq 2 ]
	[[ "$output" != *s3cret* ]]
}

@test "a wrong password or an unknown operator is refused alike" {
	( umask 077; echo "wrong-password-99" >"$W/wrong.pw" )
	run sg "$H" request list --operator off --password-file "$W/wrong.pw"
	[ "$status" -eq 1 ]
	[ "$output" = "signet: operator off: unknown name or wrong password" ]
	run sg "$H" request list --operator nobody --password-file "$W/wrong.pw"
	[ "$output" = "signet: operator nobody: unknown name or wrong password" ]
}

@test "a bad CSR is refused with the intake's message and nothing is stored" {
	before=$(nreq); audit=$(sql "SELECT count(*) FROM audit_log")
	run as_off request submit --csr "$W/bad/sha1-signed.csr" --email alice@example.com --profile signing --on-behalf
	[ "$status" -eq 1 ]
	[[ "$output" == "signet: $W/bad/sha1-signed.csr: "*"SHA-1 signatures are not accepted"* ]]
	run as_off request submit --csr "$W/bad/rsa-1024.csr" --email alice@example.com --profile signing --on-behalf
	[ "$status" -eq 1 ]
	[[ "$output" == *"RSA key of 1024 bits is too small"* ]]
	run as_off request submit --csr "$W/bad/bad-signature-flipped-bit.der" --email alice@example.com --profile signing --on-behalf
	[ "$status" -eq 1 ]
	[ "$(nreq)" = "$before" ]
	[ "$(sql "SELECT count(*) FROM audit_log")" = "$audit" ]
}

@test "an auditor may list and show but not submit" {
	run sg "$H" request submit --csr "$W/a.csr" --email alice@example.com --profile signing --on-behalf --operator aud --password-file "$W/aud.pw"
	[ "$status" -eq 1 ]
	[ "$output" = "signet: operator aud (auditor) may not submit requests" ]
	run sg "$H" request list --operator aud --password-file "$W/aud.pw"
	[ "$status" -eq 0 ]
}

@test "only an admin may enter a request as the enrolment site" {
	run as_off request submit --csr "$W/a.csr" --email alice@example.com --profile signing --via-ra --requester alice
	[ "$status" -eq 1 ]
	[[ "$output" == *"only an admin may enter a request as the enrolment site"* ]]
}

@test "policy check prints the decision and reason and stores nothing" {
	before=$(nreq); audit=$(sql "SELECT count(*) FROM audit_log")
	run sg "$H" policy check --csr "$W/a.csr" --email alice@example.com --profile signing --requester alice --via-ra
	[ "$status" -eq 0 ]
	[ "${lines[0]}" = "ISSUE: issued automatically: authenticated directory user via the enrollment site" ]
	[[ "$output" == *"key: ecdsa-p256"* ]]
	[[ "$output" == *"days: 365"* ]]
	run sg "$H" policy check --csr "$W/a.csr" --email alice@example.com --profile signing --requester alice
	[ "${lines[0]}" = "PEND: the request did not come through the enrollment site, so a PKI officer reviews it" ]
	run sg "$H" policy check --csr "$W/a.csr" --email alice@example.com --profile signing --requester bob --requester-mail bob@example.com --via-ra
	[ "${lines[0]}" = "DENY: the mailbox alice@example.com is not bob's own directory mail (bob@example.com)" ]
	run sg "$H" policy check --csr "$W/a.csr" --email alice@evil.example --profile signing --requester alice --via-ra
	[[ "${lines[0]}" == "DENY: the mailbox alice@evil.example is outside the allowed mail domains"* ]]
	run sg "$H" policy check --csr "$W/a.csr" --email alice@example.com --profile signing --requester alice --via-ra --disabled
	[ "${lines[0]}" = "DENY: the directory account alice is disabled" ]
	[ "$(nreq)" = "$before" ]
	[ "$(sql "SELECT count(*) FROM audit_log")" = "$audit" ]
}

@test "an officer's submission on someone's behalf pends, then ca-serve --once issues it after approval" {
	id=$(as_off request submit --csr "$W/b.csr" --email carol@example.com --profile encryption --on-behalf --name "Carol Example")
	[[ "$id" =~ ^[0-9]+$ ]]
	run as_off request show "$id"
	[[ "$output" == *"state: submitted"* ]]
	run sg "$H" ca-serve --once
	[ "$status" -eq 0 ]
	run as_off request show "$id"
	[[ "$output" == *"state: pending"* ]]
	[[ "$output" == *"reason: the request did not come through the enrollment site, so a PKI officer reviews it"* ]]
	run as_off request list --state pending
	[[ "$output" == "$id "*"pending"*"encryption"*"carol@example.com"* ]]
	run as_off request approve "$id"
	[ "$status" -eq 0 ]
	run sg "$H" ca-serve --once
	[ "$status" -eq 0 ]
	run as_off request show "$id"
	[[ "$output" == *"state: issued"* ]]
	serial=$(sql "SELECT serial FROM requests WHERE id = $id")
	run sg "$H" export "$serial" --out "$W/carol.pem"
	run openssl x509 -in "$W/carol.pem" -noout -ext keyUsage,subjectAltName
	[[ "$output" == *"Key Encipherment"* ]]
	[[ "$output" != *"Digital Signature"* ]]
	[[ "$output" == *"email:carol@example.com"* ]]
}

@test "deny needs a reason" {
	run as_off request deny 1
	[ "$status" -eq 2 ]
}

@test "a policy module with the wrong ABI stops ca-serve at start, naming both versions" {
	cp "$H/signet.conf" "$W/signet.conf.orig"
	sed -i "s|^module = .*|module = $ROOT/build/rel/testmod/badabi.so|" "$H/signet.conf"
	run timeout 20 "$SIGNET" --home "$H" ca-serve
	cp "$W/signet.conf.orig" "$H/signet.conf"
	[ "$status" -eq 1 ]
	[[ "$output" == *"policy module $ROOT/build/rel/testmod/badabi.so has ABI version 99; this signet needs 1"* ]]
	[ ! -f "$H/run/ca-serve.pid" ]
}

@test "a policy module name that does not exist stops ca-serve with the loader's message" {
	cp "$H/signet.conf" "$W/signet.conf.orig"
	sed -i "s|^module = .*|module = nosuch|" "$H/signet.conf"
	run timeout 20 "$SIGNET" --home "$H" ca-serve --once
	cp "$W/signet.conf.orig" "$H/signet.conf"
	[ "$status" -eq 1 ]
	[[ "$output" == *"cannot load policy module $ROOT/bin/policy/nosuch.so"* ]]
}

@test "a disabled operator can no longer act" {
	run sg "$H" operator disable aud
	[ "$status" -eq 0 ]
	run sg "$H" request list --operator aud --password-file "$W/aud.pw"
	[ "$status" -eq 1 ]
	[ "$output" = "signet: operator aud is disabled" ]
	run sg "$H" audit verify
	[ "$status" -eq 0 ]
}

# index entries read from audit_log's primary key so far (the statistics
# of finished sessions)
pkey_reads() {
	sql "SELECT idx_tup_read FROM pg_stat_user_indexes
	     WHERE indexrelname = 'audit_log_pkey'"
}
on_chain() { sql "SELECT count(*) FROM audit_log WHERE chain = $1"; }

@test "a chain's head is found through its index, however far the other chains have run ahead" {
	make_csr ecdsa-p256 "$W/stale.csr"
	# fill CHAIN N: N records on that chain (signet.audit_chain names the
	# chain, as audit_chain() keeps it for a transaction)
	fill() {
		sql "BEGIN; SET LOCAL signet.audit_chain = '$1';
		     SELECT count(audit_append('test', 'test.fill', '', 'n=' || i))
		       FROM generate_series(1, $2) i; COMMIT" >/dev/null
	}
	# eight chains of about the same length, as backends spread their
	# records; chain 5's head is a request's record, and the seven others
	# then run 3,500 records ahead of it; the planner has the statistics
	# of such a log
	fill 5 500
	id=$(PGOPTIONS='-c signet.audit_chain=5' as_off request submit --csr "$W/stale.csr" \
	    --email dave@example.com --profile signing --on-behalf)
	[[ "$id" =~ ^[0-9]+$ ]]
	for c in 0 1 2 3 4 6 7; do fill "$c" 500; done
	sql "ANALYZE audit_log" >/dev/null
	n5=$(on_chain 5)
	before=$(pkey_reads)
	# chain 5 again: ca-serve's decision (the records written from C) and
	# the officer's approval (the database's audit_append)
	PGOPTIONS='-c signet.audit_chain=5' run sg "$H" ca-serve --once
	[ "$status" -eq 0 ]
	[ "$(sql "SELECT state FROM requests WHERE id = $id")" = pending ]
	PGOPTIONS='-c signet.audit_chain=5' as_off request approve "$id"
	after=$(pkey_reads)
	[ "$(on_chain 5)" -eq $((n5 + 2)) ]
	# reading back to chain 5's head through seq passes the others'
	# 3,500 entries, each of the two times
	echo "audit_log_pkey entries read: $((after - before))"
	[ $((after - before)) -lt 1000 ]
	run sg "$H" audit verify
	[ "$status" -eq 0 ]
}

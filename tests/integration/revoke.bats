#!/usr/bin/env bats
# Revocation and CRLs from the CLI: signet revoke, signet crl, checked by
# openssl (verify -crl_check, crl -CAfile) against a real instance.

load lib

setup_file() {
	export H=$(new_home revoke)
	export W="$BATS_FILE_TMPDIR"
	sg "$H" setup --cn "Revocation Test CA" >/dev/null
	make_csr ecdsa-p256 "$W/k.csr"
	for who in good bad gone; do
		sg "$H" issue --csr "$W/k.csr" --email "$who@example.com" \
		    --profile signing --out "$W/$who.pem" >/dev/null
		openssl x509 -in "$W/$who.pem" -noout -serial | cut -d= -f2 |
		    tr A-F a-f >"$W/$who.serial"
	done
}

teardown_file() {
	[ -f "$W/watch.pid" ] && kill "$(cat "$W/watch.pid")" 2>/dev/null
	stop_home "$H"
}

serial() { cat "$W/$1.serial"; }
crl_pem() { sg "$H" crl --out "$W/crl.der" >/dev/null &&
	openssl crl -inform DER -in "$W/crl.der" -out "$W/crl.pem"; }

@test "a revoked certificate fails openssl verify -crl_check with error 23, a good one passes" {
	run sg "$H" revoke "$(serial bad)" --reason keyCompromise
	[ "$status" -eq 0 ]
	[[ "$output" == "revoked $(serial bad) (keyCompromise)"* ]]
	crl_pem
	run openssl verify -crl_check -CAfile "$H/ca.pem" -CRLfile "$W/crl.pem" "$W/bad.pem"
	[ "$status" -ne 0 ]
	[[ "$output" == *"error 23 at 0 depth lookup: certificate revoked"* ]]
	run openssl verify -crl_check -CAfile "$H/ca.pem" -CRLfile "$W/crl.pem" "$W/good.pem"
	[ "$status" -eq 0 ]
	[ "$output" = "$W/good.pem: OK" ]
}

@test "the CRL verifies under the CA, names the reason and carries AKI and a CRL number" {
	crl_pem
	run openssl crl -in "$W/crl.pem" -CAfile "$H/ca.pem" -noout -text
	[ "$status" -eq 0 ]
	[[ "$output" == *"verify OK"* ]]
	[[ "$output" == *"Version 2"* ]]
	[[ "$output" == *"X509v3 Authority Key Identifier"* ]]
	[[ "$output" == *"X509v3 CRL Number"* ]]
	[[ "$output" == *"Key Compromise"* ]]
	[[ "$output" == *"Serial Number: $(serial bad | tr a-f A-F)"* ]]
	# RFC 5280 5.1.2.5, S/MIME BR 4.9.7: nextUpdate at most 10 days on
	lu=$(date -d "$(openssl crl -in "$W/crl.pem" -noout -lastupdate | cut -d= -f2)" +%s)
	nu=$(date -d "$(openssl crl -in "$W/crl.pem" -noout -nextupdate | cut -d= -f2)" +%s)
	[ $((nu - lu)) -eq $((7 * 86400)) ]
}

@test "the CRL number grows with every CRL and is never reused" {
	n1=$(sg "$H" crl | sed -n 's/^CRL \([0-9]*\):.*/\1/p')
	n2=$(sg "$H" crl | sed -n 's/^CRL \([0-9]*\):.*/\1/p')
	[ "$n2" -gt "$n1" ]
	crl_pem
	num=$(openssl crl -in "$W/crl.pem" -noout -crlnumber | cut -d= -f2)
	[ "$((num))" -eq $((n2 + 1)) ]
	[ "$(psql_home "$H" "SELECT count(DISTINCT number) = count(*) FROM crls")" = t ]
}

@test "revocation, its audit record and publish jobs land together; the CRL has its job" {
	run psql_home "$H" "SELECT count(*) FROM audit_log WHERE action = 'cert.revoke' AND detail LIKE '%$(serial bad)%keyCompromise%'"
	[ "$output" = 1 ]
	run psql_home "$H" "SELECT count(*) FROM publish_jobs WHERE kind = 'cert.revoke' AND ref = '$(serial bad)' AND email = 'bad@example.com'"
	[ "$output" = 1 ]
	n=$(psql_home "$H" "SELECT max(number) FROM crls")
	run psql_home "$H" "SELECT count(*) FROM publish_jobs WHERE kind = 'crl' AND ref = '$n'"
	[ "$output" = 1 ]
	run sg "$H" audit verify
	[ "$status" -eq 0 ]
}

@test "each reason name maps to its RFC 5280 code in the CRL" {
	sg "$H" revoke "$(serial gone)" --reason privilegeWithdrawn
	crl_pem
	run openssl crl -in "$W/crl.pem" -noout -text
	[[ "$output" == *"Privilege Withdrawn"* ]]
}

@test "certificateHold, cACompromise and unknown reasons are refused and change nothing" {
	before=$(psql_home "$H" "SELECT count(*) FROM audit_log")
	for r in certificateHold cACompromise aACompromise removeFromCRL bogus; do
		run sg "$H" revoke "$(serial good)" --reason "$r"
		[ "$status" -ne 0 ]
		[[ "$output" == *"S/MIME BR 4.9.1"* ]]
	done
	[ "$(psql_home "$H" "SELECT count(*) FROM audit_log")" = "$before" ]
	[ "$(psql_home "$H" "SELECT revoked_at IS NULL FROM certificates WHERE serial = '$(serial good)'")" = t ]
}

@test "revoking twice or an unknown serial is refused with a clear message" {
	run sg "$H" revoke "$(serial bad)" --reason superseded
	[ "$status" -ne 0 ]
	[[ "$output" == *"already revoked"* ]]
	run sg "$H" revoke 0123456789abcdef --reason superseded
	[ "$status" -ne 0 ]
	[[ "$output" == *"no such certificate"* ]]
	run sg "$H" revoke "NOT-HEX" --reason superseded
	[ "$status" -ne 0 ]
	[[ "$output" == *"not a serial number"* ]]
}

@test "a revoked certificate leaves the CRL once it has expired" {
	crl_pem
	openssl crl -in "$W/crl.pem" -noout -text | grep -q "$(serial gone | tr a-f A-F)"
	psql_home "$H" "UPDATE certificates SET not_after = now() - interval '1 day' WHERE serial = '$(serial gone)'"
	crl_pem
	run openssl crl -in "$W/crl.pem" -noout -text
	[[ "$output" != *"$(serial gone | tr a-f A-F)"* ]]
	[[ "$output" == *"$(serial bad | tr a-f A-F)"* ]]
}

@test "[revocation] settings shape the CRL and the OCSP responder's certificate; a bad one is refused with its line" {
	cp "$H/signet.conf" "$W/signet.conf.saved"
	cat >>"$H/signet.conf" <<CONF

[revocation]
crl_next_days = 3
ocsp_hours = 8
signer_hours = 16
signer_key_type = ecdsa-p384
CONF
	sg "$H" crl >/dev/null
	crl_pem
	lu=$(date -d "$(openssl crl -in "$W/crl.pem" -noout -lastupdate | cut -d= -f2)" +%s)
	nu=$(date -d "$(openssl crl -in "$W/crl.pem" -noout -nextupdate | cut -d= -f2)" +%s)
	[ $((nu - lu)) -eq $((3 * 86400)) ]
	sg "$H" ocsp-signer >/dev/null
	psql_home "$H" "SELECT encode(cert, 'base64') FROM ocsp_signers ORDER BY id DESC LIMIT 1" |
	    base64 -d | openssl x509 -inform DER -out "$W/signer.pem"
	nb=$(date -d "$(openssl x509 -in "$W/signer.pem" -noout -startdate | cut -d= -f2)" +%s)
	na=$(date -d "$(openssl x509 -in "$W/signer.pem" -noout -enddate | cut -d= -f2)" +%s)
	echo "responder certificate valid $((na - nb)) s" >&2
	# 16 hours, and the few minutes notBefore is set back for clocks
	[ $((na - nb)) -ge $((16 * 3600)) ]
	[ $((na - nb)) -le $((16 * 3600 + 900)) ]
	openssl x509 -in "$W/signer.pem" -noout -text | grep -q 'NIST CURVE: P-384'
	openssl x509 -in "$W/signer.pem" -noout -ext extendedKeyUsage | grep -q 'OCSP Signing'
	# refused, naming the line, and no CRL made: a value out of range,
	# and a setting that would be read by nobody
	before=$(psql_home "$H" "SELECT count(*) FROM crls")
	while IFS='|' read -r setting says; do
		{ cat "$W/signet.conf.saved"; printf '\n[revocation]\n%s\n' "$setting"; } >"$H/signet.conf"
		line=$(wc -l <"$H/signet.conf")
		run sg "$H" crl
		echo "$output"
		cp "$W/signet.conf.saved" "$H/signet.conf"
		[ "$status" -ne 0 ]
		[[ "$output" == *"line $line: [revocation] $says"* ]]
		[ "$(psql_home "$H" "SELECT count(*) FROM crls")" = "$before" ]
	done <<'CASES'
crl_next_days = 11|crl_next_days: must be 1 to 10 days (S/MIME BR 4.9.7)
nonce_rate = 5|nonce_rate: not a setting; signet-web's SIGNET_OCSP_QUEUE_RATE
CASES
}

@test "ocsp_signer = ca: pre-signed responses are signed by the CA key, carry no responder certificate, and verify against the CA alone" {
	# resp SERIAL: that certificate's pre-signed SHA-1 response, as text
	resp() {
		psql_home "$H" "SELECT encode(der, 'base64') FROM ocsp_responses WHERE serial = '$(serial "$1")' AND hash = 'sha1'" |
		    base64 -d >"$W/resp.der"
		openssl ocsp -respin "$W/resp.der" -issuer "$H/ca.pem" -cert "$W/$1.pem" \
		    -CAfile "$H/ca.pem" -resp_text 2>&1
	}
	# the default, for contrast: a delegated responder, its certificate included
	sg "$H" ocsp-refresh >/dev/null
	run resp good
	[[ "$output" == *"Response verify OK"* ]]
	[[ "$output" == *"OCSP Signing"* ]]
	[[ "$output" == *"Certificate:"* ]]
	cp "$H/signet.conf" "$W/signet.conf.saved"
	printf '\n[revocation]\nocsp_signer = ca\n' >>"$H/signet.conf"
	# responses are re-signed when due; here, at once
	psql_home "$H" "DELETE FROM ocsp_responses" >/dev/null
	sg "$H" ocsp-refresh >/dev/null
	cp "$W/signet.conf.saved" "$H/signet.conf"
	run resp good
	echo "$output"
	[[ "$output" == *"Response verify OK"* ]]
	[[ "$output" == *"$W/good.pem: good"* ]]
	[[ "$output" != *"Certificate:"* ]]
	[[ "$output" != *"OCSP Signing"* ]]
	run resp bad
	[[ "$output" == *"Response verify OK"* ]]
	[[ "$output" == *"$W/bad.pem: revoked"* ]]
	[[ "$output" == *"Reason: keyCompromise"* ]]
	# GnuTLS checks it with the CA as the signer (gnutls_ocsp_resp_verify_direct)
	run ocsptool -e --load-signer "$H/ca.pem" --infile "$W/resp.der"
	echo "$output"
	[[ "$output" == *"Verifying OCSP Response: Success."* ]]
}

@test "presign_interval_minutes: the watcher walks the certificates again after that interval, not before" {
	cp "$H/signet.conf" "$W/signet.conf.saved"
	printf '\n[revocation]\npresign_interval_minutes = 1\n' >>"$H/signet.conf"
	n() { psql_home "$H" "SELECT count(*) FROM ocsp_responses WHERE serial = '$(serial good)'"; }
	# the watcher's first walk pre-signs what is missing: seen happen
	psql_home "$H" "DELETE FROM ocsp_responses WHERE serial = '$(serial good)'" >/dev/null
	start=$(date +%s)
	"$SIGNET" --home "$H" ocsp-refresh --watch </dev/null >"$W/watch.log" 2>&1 3>&- &
	echo $! >"$W/watch.pid"
	for _ in $(seq 1 50); do [ "$(n)" -ge 1 ] && break; sleep 0.2; done
	[ "$(n)" -ge 1 ]
	# a response lost after that walk waits for the next one
	psql_home "$H" "DELETE FROM ocsp_responses WHERE serial = '$(serial good)'" >/dev/null
	sleep 10
	[ "$(n)" -eq 0 ]
	# the watcher ticks at least every 30 s: the walk a minute after the
	# first comes 60-90 s after the start
	for _ in $(seq 1 120); do [ "$(n)" -ge 1 ] && break; sleep 1; done
	back=$(date +%s)
	kill "$(cat "$W/watch.pid")"
	rm -f "$W/watch.pid"
	cp "$W/signet.conf.saved" "$H/signet.conf"
	echo "re-signed $((back - start)) s after the watcher started" >&2
	[ "$(n)" -ge 1 ]
	[ $((back - start)) -ge 55 ]
	[ $((back - start)) -le 120 ]
	! grep -q "ocsp-refresh:" "$W/watch.log" || { cat "$W/watch.log"; false; }
}

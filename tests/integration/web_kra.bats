#!/usr/bin/env bats
# Key recovery on the site (issue 7 items 1 and 4): with [kra] enabled the
# enrolment makes a signing and an escrowed encryption certificate from one
# request; the encryption key is picked up as PKCS#12; mail is encrypted to
# it; an officer opens a recovery in the console, two recovery agents
# approve there with their passphrases, and the owner downloads the
# recovered PKCS#12 once, which reads the old mail. A departed employee's
# key goes to the officer only with officer_fetch = yes.

load lib
load web_lib

# web_restart: signet-web again, reading signet.conf anew
web_restart() {
	local port
	port=$(sed -n 's/^[[:space:]]*bind 127.0.0.1 \([0-9]*\)$/\1/p' "$WEB_DIR/web/signet-web.conf")
	bash "$WEB_ROOT/web/signet-web.sh" stop "$WEB_DIR/web"
	bash "$WEB_ROOT/web/signet-web.sh" start "$WEB_DIR/web" "$port"
}

setup_file() {
	web_setup_full
	printf '\n[kra]\nenabled = yes\npwhash = interactive\n' >>"$WEB_HOME/signet.conf"
	for a in ann ben cat; do
		"$WEB_ROOT/bin/signet" --home "$WEB_HOME" operator add "$a" \
		    --role recovery-agent --password-file "$WEB_OP_PW" >/dev/null
		echo "$a kra passphrase" >"$WEB_DIR/$a.kra"
		chmod 600 "$WEB_DIR/$a.kra"
	done
	"$WEB_ROOT/bin/signet" --home "$WEB_HOME" kra init --agents 3 --threshold 2 \
	    --agent ann --passphrase-file "$WEB_DIR/ann.kra" \
	    --agent ben --passphrase-file "$WEB_DIR/ben.kra" \
	    --agent cat --passphrase-file "$WEB_DIR/cat.kra" >/dev/null
	web_restart
	export AJ=$(mktemp "$WEB_DIR/jar.XXXXXX") BJ=$(mktemp "$WEB_DIR/jar.XXXXXX")
	export OJ=$(mktemp "$WEB_DIR/jar.XXXXXX")
	web_employee_login "$AJ" alice alice-demo-pw >/dev/null
	web_employee_login "$BJ" bob bob-demo-pw >/dev/null
	web_operator_login "$OJ" olivia "$(cat "$WEB_OP_PW")" >/dev/null
}
teardown_file() { web_teardown_full; }

S() { echo "$WEB_DIR/state.$1"; }
csrf_of() { web_curl "$1" "$WEB_URL$2" | web_csrf_of; }
ku_of() { openssl x509 -in "$1" -noout -ext keyUsage; }

# agent_jar NAME: a console session of recovery agent NAME
agent_jar() {
	local j
	j=$(mktemp "$WEB_DIR/jar.XXXXXX")
	web_operator_login "$j" "$1" "$(cat "$WEB_OP_PW")" >/dev/null
	echo "$j"
}

# approve JAR ID PASSPHRASE: prints the HTTP status; page in $WEB_DIR/body
approve() {
	local csrf
	csrf=$(csrf_of "$1" /admin/recoveries)
	web_curl "$1" -o "$WEB_DIR/body" -w '%{http_code}' --data-urlencode "csrf=$csrf" \
	    --data-urlencode "passphrase=$3" "$WEB_URL/admin/recoveries/$2/approve"
}

# open_recovery SERIAL REASON: the officer opens one; prints its id
open_recovery() {
	local csrf
	csrf=$(csrf_of "$OJ" "/admin/certs/$1")
	web_curl "$OJ" -o /dev/null --data-urlencode "csrf=$csrf" --data-urlencode "reason=$2" \
	    "$WEB_URL/admin/certs/$1/recover"
	web_psql "SELECT max(id) FROM recoveries WHERE serial = '$1'"
}

@test "the enrolment page explains the two certificates; no server-made signing key" {
	run web_curl "$AJ" "$WEB_URL/enrol"
	[[ "$output" == *'id="two-certs"'* ]]
	[[ "$output" == *"One to sign"*"stays with you"* ]]
	[[ "$output" == *"One to encrypt"*"keeps a sealed copy"* ]]
	[[ "$output" == *'id="c-password"'* ]]
	[[ "$output" == *'data-kra="yes"'* ]]
	[[ "$output" != *'id="way-server"'* ]]
	csrf=$(web_csrf_of <<<"$output")
	run web_curl "$AJ" -o "$WEB_DIR/body" -w '%{http_code}' --data-urlencode "csrf=$csrf" \
	    --data-urlencode password=long-enough-pw --data-urlencode password2=long-enough-pw \
	    "$WEB_URL/enrol/server"
	[ "$output" = 409 ]
	grep -q 'your signing key is made by you' "$WEB_DIR/body"
}

@test "a CSR enrolment without the encryption key's password is refused and stores nothing" {
	make_csr ecdsa-p256 "$WEB_DIR/nopw.csr"
	before=$(web_psql "SELECT count(*) FROM requests")
	csrf=$(csrf_of "$AJ" /enrol)
	run web_curl "$AJ" -o "$WEB_DIR/body" -w '%{http_code}' --data-urlencode "csrf=$csrf" \
	    --data-urlencode "csr@$WEB_DIR/nopw.csr" "$WEB_URL/enrol/csr"
	[ "$output" = 400 ]
	grep -q 'The password of your encryption key' "$WEB_DIR/body"
	run web_curl "$AJ" -o "$WEB_DIR/body" -w '%{http_code}' --data-urlencode "csrf=$csrf" \
	    --data-urlencode "csr@$WEB_DIR/nopw.csr" --data-urlencode password=enc-key-pw-1 \
	    --data-urlencode password2=enc-key-pw-2 "$WEB_URL/enrol/csr"
	[ "$output" = 400 ]
	grep -q 'not the same' "$WEB_DIR/body"
	[ "$(web_psql "SELECT count(*) FROM requests")" = "$before" ]
}

# enrol_pair CSR: a dual enrolment from a CSR; prints the HTTP status,
# the page in $WEB_DIR/body
enrol_pair() {
	local csrf
	csrf=$(csrf_of "$AJ" /enrol)
	web_curl "$AJ" -o "$WEB_DIR/body" -w '%{http_code}' --data-urlencode "csrf=$csrf" \
	    --data-urlencode "csr@$1" --data-urlencode password=enc-key-pw-1 \
	    --data-urlencode password2=enc-key-pw-1 "$WEB_URL/enrol/csr"
}

@test "a weak key is the employee's error (400), a failed write the service's (503); neither stores anything" {
	before=$(web_psql "SELECT count(*) FROM requests")
	escrow=$(web_psql "SELECT count(*) FROM key_escrow")
	make_csr rsa-1024 "$WEB_DIR/weak.csr"
	run enrol_pair "$WEB_DIR/weak.csr"
	[ "$output" = 400 ]
	grep -q 'The request was not accepted: ' "$WEB_DIR/body"
	grep -q '1024' "$WEB_DIR/body"
	# the database refuses the write: the request is sound, so the
	# service says it is unavailable and asks to try again
	web_psql "CREATE FUNCTION t_refuse() RETURNS trigger LANGUAGE plpgsql
	    AS \$\$ BEGIN RAISE EXCEPTION 'refused by the test'; END \$\$;
	  CREATE TRIGGER t_refuse BEFORE INSERT ON requests
	    FOR EACH ROW EXECUTE FUNCTION t_refuse()" >/dev/null
	make_csr ecdsa-p256 "$WEB_DIR/sound.csr"
	run enrol_pair "$WEB_DIR/sound.csr"
	web_psql "DROP TRIGGER t_refuse ON requests; DROP FUNCTION t_refuse()" >/dev/null
	[ "$output" = 503 ]
	grep -q 'could not be stored right now' "$WEB_DIR/body"
	! grep -q 'refused by the test' "$WEB_DIR/body" || false
	[ "$(web_psql "SELECT count(*) FROM requests")" = "$before" ]
	[ "$(web_psql "SELECT count(*) FROM key_escrow")" = "$escrow" ]
}

@test "one CSR request makes the pair: a signing certificate and an escrowed encryption certificate" {
	make_csr ecdsa-p256 "$WEB_DIR/sig.csr"
	csrf=$(csrf_of "$AJ" /enrol)
	run web_curl "$AJ" -o /dev/null -D "$WEB_DIR/hdr" -w '%{http_code}' --data-urlencode "csrf=$csrf" \
	    --data-urlencode "csr@$WEB_DIR/sig.csr" --data-urlencode password=enc-key-pw-1 \
	    --data-urlencode password2=enc-key-pw-1 "$WEB_URL/enrol/csr"
	[ "$output" = 303 ]
	sig=$(sed -n 's|^location: /requests/\([0-9]*\).*|\1|Ip' "$WEB_DIR/hdr" | tr -d '\r')
	enc=$(web_psql "SELECT id FROM requests WHERE batch_id = $sig AND id <> $sig")
	[ -n "$enc" ]
	[ "$(web_psql "SELECT profile || ' ' || source || ' ' || requester FROM requests WHERE id IN ($sig, $enc) ORDER BY id")" = "signing csr alice
encryption server alice" ]
	web_wait_state "$AJ" "$sig" issued
	web_wait_state "$AJ" "$enc" issued
	ss=$(web_psql "SELECT serial FROM requests WHERE id = $sig")
	es=$(web_psql "SELECT serial FROM requests WHERE id = $enc")
	web_curl "$AJ" -o "$WEB_DIR/sig.pem" "$WEB_URL/certs/$ss.pem"
	web_curl "$AJ" -o "$WEB_DIR/enc.pem" "$WEB_URL/certs/$es.pem"
	openssl verify -CAfile "$WEB_SIGNET_CA" -purpose smimesign "$WEB_DIR/sig.pem"
	openssl verify -CAfile "$WEB_SIGNET_CA" -purpose smimeencrypt "$WEB_DIR/enc.pem"
	[[ "$(ku_of "$WEB_DIR/sig.pem")" == *"Digital Signature"* ]]
	[[ "$(ku_of "$WEB_DIR/sig.pem")" != *"Key Encipherment"* ]]
	[[ "$(ku_of "$WEB_DIR/enc.pem")" == *"Key Encipherment"* ]]
	[[ "$(ku_of "$WEB_DIR/enc.pem")" != *"Digital Signature"* ]]
	[[ "$(openssl x509 -in "$WEB_DIR/enc.pem" -noout -ext subjectAltName)" == *"email:alice@example.com"* ]]
	# only the encryption key is escrowed
	[ "$(web_psql "SELECT count(*) FROM key_escrow WHERE serial = '$es'")" = 1 ]
	[ "$(web_psql "SELECT count(*) FROM key_escrow WHERE serial = '$ss'")" = 0 ]
	# the signing request's page shows its encryption half with the pickup form
	run web_curl "$AJ" "$WEB_URL/requests/$sig"
	[[ "$output" == *"id=\"pair-$enc\""* ]]
	[[ "$output" == *"action=\"/requests/$enc/pickup\""* ]]
	echo "$sig" >"$(S sig)"; echo "$enc" >"$(S enc)"; echo "$es" >"$(S es)"; echo "$ss" >"$(S ss)"
}

@test "the encryption key comes as PKCS#12 once, and mail encrypted to it opens" {
	enc=$(cat "$(S enc)")
	csrf=$(csrf_of "$AJ" "/requests/$(cat "$(S sig)")")
	# bob cannot collect alice's key
	bcsrf=$(csrf_of "$BJ" /)
	run web_curl "$BJ" -o /dev/null -w '%{http_code}' --data-urlencode "csrf=$bcsrf" \
	    --data-urlencode password=enc-key-pw-1 "$WEB_URL/requests/$enc/pickup"
	[ "$output" = 404 ]
	run web_curl "$AJ" -o "$WEB_DIR/enc.p12" -w '%{http_code}' --data-urlencode "csrf=$csrf" \
	    --data-urlencode password=enc-key-pw-1 --data format=modern "$WEB_URL/requests/$enc/pickup"
	[ "$output" = 200 ]
	openssl pkcs12 -in "$WEB_DIR/enc.p12" -passin pass:enc-key-pw-1 -nokeys -clcerts -out "$WEB_DIR/p12cert.pem"
	[ "$(openssl x509 -in "$WEB_DIR/p12cert.pem" -noout -serial | cut -d= -f2 | tr A-F a-f)" = "$(cat "$(S es)")" ]
	run web_curl "$AJ" -o /dev/null -w '%{http_code}' --data-urlencode "csrf=$csrf" \
	    --data-urlencode password=enc-key-pw-1 "$WEB_URL/requests/$enc/pickup"
	[ "$output" = 410 ]
	# a colleague encrypts to the published certificate
	echo "the merger is on, tell no one" >"$WEB_DIR/msg.txt"
	openssl cms -encrypt -aes256 -in "$WEB_DIR/msg.txt" -out "$WEB_DIR/msg.p7m" "$WEB_DIR/enc.pem"
	openssl pkcs12 -in "$WEB_DIR/enc.p12" -passin pass:enc-key-pw-1 -nocerts -nodes -out "$WEB_DIR/k.pem"
	run sh -c "openssl cms -decrypt -in '$WEB_DIR/msg.p7m' -inkey '$WEB_DIR/k.pem' | tr -d '\r'"
	[ "$output" = "the merger is on, tell no one" ]
	# then the laptop dies
	rm -f "$WEB_DIR/enc.p12" "$WEB_DIR/k.pem"
}

@test "the browser way with key recovery on returns both requests" {
	make_csr ecdsa-p256 "$WEB_DIR/br.csr"
	csrf=$(csrf_of "$BJ" /enrol)
	run web_curl "$BJ" --data-urlencode "csrf=$csrf" --data-urlencode "csr@$WEB_DIR/br.csr" \
	    --data-urlencode password=bob-enc-pw-1 --data-urlencode password2=bob-enc-pw-1 \
	    "$WEB_URL/enrol/browser"
	[[ "$output" =~ ^\{\"id\":([0-9]+),\"url\":\"/requests/[0-9]+\",\"encryption_id\":([0-9]+)\}$ ]]
	sig=${BASH_REMATCH[1]} enc=${BASH_REMATCH[2]}
	[ "$(web_psql "SELECT batch_id || ' ' || profile || ' ' || (key_escrow IS NOT NULL) FROM requests WHERE id = $enc")" = "$sig encryption true" ]
	[ "$(web_psql "SELECT source || ' ' || profile || ' ' || (key_escrow IS NULL) FROM requests WHERE id = $sig")" = "browser signing true" ]
}

@test "the officer opens a recovery from the certificate page; a reason is needed; signing keys have none" {
	es=$(cat "$(S es)") ss=$(cat "$(S ss)")
	run web_curl "$OJ" "$WEB_URL/admin/certs/$ss"
	[[ "$output" == *'id="no-escrow"'* ]]
	[[ "$output" != *'id="recover-form"'* ]]
	run web_curl "$OJ" "$WEB_URL/admin/certs/$es"
	[[ "$output" == *'id="recover-form"'* ]]
	csrf=$(web_csrf_of <<<"$output")
	run web_curl "$OJ" -o "$WEB_DIR/body" -w '%{http_code}' --data-urlencode "csrf=$csrf" \
	    "$WEB_URL/admin/certs/$es/recover"
	[ "$output" = 400 ]
	run web_curl "$OJ" -o "$WEB_DIR/body" -w '%{http_code}' --data-urlencode "csrf=$csrf" \
	    --data-urlencode "reason=try" "$WEB_URL/admin/certs/$ss/recover"
	[ "$output" = 409 ]
	grep -q 'no escrowed key' "$WEB_DIR/body"
	# an auditor may not open one
	J=$(mktemp "$WEB_DIR/jar.XXXXXX")
	web_operator_login "$J" audrey "$(cat "$WEB_OP_PW")" >/dev/null
	run web_curl "$J" -o /dev/null -w '%{http_code}' --data-urlencode "csrf=$(csrf_of "$J" /admin)" \
	    --data-urlencode "reason=curious" "$WEB_URL/admin/certs/$es/recover"
	[ "$output" = 403 ]
	[ "$(web_psql "SELECT count(*) FROM recoveries")" = 0 ]
	id=$(open_recovery "$es" "laptop died, mail unreadable")
	[ "$(web_psql "SELECT state || ' ' || opened_by FROM recoveries WHERE id = $id")" = "open operator:olivia" ]
	run web_curl "$OJ" "$WEB_URL/admin/certs/$es"
	[[ "$output" == *'id="cert-recoveries"'*"laptop died, mail unreadable"* ]]
	echo "$id" >"$(S rec)"
}

@test "the owner sees the recovery on her home page; bob does not" {
	id=$(cat "$(S rec)")
	run web_curl "$AJ" "$WEB_URL/"
	[[ "$output" == *"id=\"rec-$id\""* ]]
	[[ "$output" == *"laptop died, mail unreadable"* ]]
	[[ "$output" == *"waiting for the recovery agents"*"0 of 2 approvals"* ]]
	[[ "$output" != *"id=\"rec-fetch-$id\""* ]]
	run web_curl "$BJ" "$WEB_URL/"
	[[ "$output" != *"id=\"rec-$id\""* ]]
}

@test "agents approve in the console: a wrong passphrase and a second approval are refused; officers cannot approve" {
	id=$(cat "$(S rec)")
	A=$(agent_jar ann)
	run web_curl "$A" "$WEB_URL/admin/recoveries"
	[[ "$output" == *"id=\"approve-$id\""* ]]
	[[ "$output" == *'name="passphrase" type="password"'* ]]
	run approve "$A" "$id" "not anns passphrase"
	[ "$output" = 403 ]
	grep -q 'wrong passphrase' "$WEB_DIR/body"
	[ "$(web_psql "SELECT approvals FROM recoveries WHERE id = $id")" = 0 ]
	run approve "$A" "$id" "ann kra passphrase"
	[ "$output" = 200 ]
	grep -q 'id="approval-recorded"' "$WEB_DIR/body"
	! grep -q 'id="otp"' "$WEB_DIR/body" || false
	run approve "$A" "$id" "ann kra passphrase"
	[ "$output" = 403 ]
	grep -q 'already approved' "$WEB_DIR/body"
	run approve "$OJ" "$id" "ann kra passphrase"
	[ "$output" = 403 ]
	grep -q 'Your role (officer) does not allow this' "$WEB_DIR/body"
	[ "$(web_psql "SELECT approvals || ' ' || state FROM recoveries WHERE id = $id")" = "1 open" ]
	[ "$(web_psql "SELECT count(*) FROM recovered")" = 0 ]
}

@test "the second approval shows the one-time password once; only the owner downloads, once, and the old mail opens" {
	id=$(cat "$(S rec)")
	B=$(agent_jar ben)
	run approve "$B" "$id" "ben kra passphrase"
	[ "$output" = 200 ]
	otp=$(sed -n 's/.*id="otp">\([a-z0-9]*\)<.*/\1/p' "$WEB_DIR/body")
	[ "${#otp}" = 26 ]
	[ "$(web_psql "SELECT state FROM recoveries WHERE id = $id")" = approved ]
	# the password is in no table
	[ "$(web_psql "SELECT count(*) FROM recovered WHERE otp_hash LIKE '%$otp%'")" = 0 ]
	run web_curl "$B" "$WEB_URL/admin/recoveries"
	[[ "$output" != *"$otp"* ]]
	# bob, with the right password, gets 404 and changes nothing
	run web_curl "$BJ" -o /dev/null -w '%{http_code}' --data-urlencode "csrf=$(csrf_of "$BJ" /)" \
	    --data-urlencode "otp=$otp" "$WEB_URL/recoveries/$id/fetch"
	[ "$output" = 404 ]
	# the officer may not take it: officer_fetch is off
	run web_curl "$OJ" -o "$WEB_DIR/body" -w '%{http_code}' --data-urlencode "csrf=$(csrf_of "$OJ" /admin)" \
	    --data-urlencode "otp=$otp" "$WEB_URL/admin/recoveries/$id/fetch"
	[ "$output" = 403 ]
	grep -q 'officer_fetch = no' "$WEB_DIR/body"
	[ "$(web_psql "SELECT count(*) FROM recovered WHERE recovery_id = $id")" = 1 ]
	# alice: a wrong password keeps it; the right one (typed in capitals,
	# in groups) downloads it
	run web_curl "$AJ" "$WEB_URL/"
	[[ "$output" == *"id=\"rec-fetch-$id\""* ]]
	csrf=$(web_csrf_of <<<"$output")
	run web_curl "$AJ" -o "$WEB_DIR/body" -w '%{http_code}' --data-urlencode "csrf=$csrf" \
	    --data-urlencode "otp=aaaaaaaaaaaaaaaaaaaaaaaaaa" "$WEB_URL/recoveries/$id/fetch"
	[ "$output" = 403 ]
	grep -q 'wrong one-time password' "$WEB_DIR/body"
	typed="$(tr a-z A-Z <<<"${otp:0:13}") ${otp:13}"
	run web_curl "$AJ" -o "$WEB_DIR/rec.p12" -D "$WEB_DIR/hdr" -w '%{http_code}' --data-urlencode "csrf=$csrf" \
	    --data-urlencode "otp=$typed" "$WEB_URL/recoveries/$id/fetch"
	[ "$output" = 200 ]
	grep -qi '^content-type: application/x-pkcs12' "$WEB_DIR/hdr"
	grep -qi '^cache-control: no-store' "$WEB_DIR/hdr"
	openssl pkcs12 -in "$WEB_DIR/rec.p12" -passin "pass:$otp" -nocerts -nodes -out "$WEB_DIR/k.pem"
	run sh -c "openssl cms -decrypt -in '$WEB_DIR/msg.p7m' -inkey '$WEB_DIR/k.pem' | tr -d '\r'"
	[ "$output" = "the merger is on, tell no one" ]
	rm -f "$WEB_DIR/k.pem"
	# once only
	run web_curl "$AJ" -o "$WEB_DIR/body" -w '%{http_code}' --data-urlencode "csrf=$csrf" \
	    --data-urlencode "otp=$otp" "$WEB_URL/recoveries/$id/fetch"
	[ "$output" = 409 ]
	grep -q 'downloaded' "$WEB_DIR/body"
	[ "$(web_psql "SELECT state || ' ' || fetched_by FROM recoveries WHERE id = $id")" = "fetched employee:alice" ]
	[ "$(web_psql "SELECT count(*) FROM recovered")" = 0 ]
	[ "$(web_psql "SELECT count(*) FROM audit_log WHERE action = 'kra.recovery.approve' AND actor IN ('operator:ann', 'operator:ben')")" = 2 ]
}

@test "a departed employee: with officer_fetch = yes the officer downloads the recovered key" {
	printf 'officer_fetch = yes\n' >>"$WEB_HOME/signet.conf"
	web_restart
	es=$(cat "$(S es)")
	id=$(open_recovery "$es" "alice has left; her team needs the archive")
	approve "$(agent_jar cat)" "$id" "cat kra passphrase" >/dev/null
	run approve "$(agent_jar ann)" "$id" "ann kra passphrase"
	[ "$output" = 200 ]
	otp=$(sed -n 's/.*id="otp">\([a-z0-9]*\)<.*/\1/p' "$WEB_DIR/body")
	[ -n "$otp" ]
	run web_curl "$OJ" "$WEB_URL/admin/recoveries"
	[[ "$output" == *"id=\"ofetch-$id\""* ]]
	csrf=$(web_csrf_of <<<"$output")
	run web_curl "$OJ" -o "$WEB_DIR/off.p12" -w '%{http_code}' --data-urlencode "csrf=$csrf" \
	    --data-urlencode "otp=$otp" "$WEB_URL/admin/recoveries/$id/fetch"
	[ "$output" = 200 ]
	openssl pkcs12 -in "$WEB_DIR/off.p12" -passin "pass:$otp" -nocerts -nodes -out "$WEB_DIR/k.pem"
	run sh -c "openssl cms -decrypt -in '$WEB_DIR/msg.p7m' -inkey '$WEB_DIR/k.pem' | tr -d '\r'"
	[ "$output" = "the merger is on, tell no one" ]
	rm -f "$WEB_DIR/k.pem"
	[ "$(web_psql "SELECT fetched_by FROM recoveries WHERE id = $id")" = "operator:olivia" ]
}

@test "the audit chain is whole after all of it" {
	run sg "$WEB_HOME" audit verify
	[ "$status" -eq 0 ]
	for a in kra.escrow key.pickup kra.recovery.open kra.recovery.approve \
	    kra.recovery.recover kra.recovery.fetch; do
		[ "$(web_psql "SELECT count(*) > 0 FROM audit_log WHERE action = '$a'")" = t ]
	done
}

#!/usr/bin/env bats
# An employee revokes their own certificate on the site (issue 6 item 1):
# a reason in plain words, a confirmation step, CSRF, the audit record
# with actor employee:<uid>, and never anyone else's certificate. The
# revocation is then seen by a relying party through the CRL.

load lib
load web_lib

setup_file() {
	web_setup_full
	export AJ=$(mktemp "$WEB_DIR/jar.XXXXXX") BJ=$(mktemp "$WEB_DIR/jar.XXXXXX")
	web_employee_login "$AJ" alice alice-demo-pw >/dev/null
	web_employee_login "$BJ" bob bob-demo-pw >/dev/null
}
teardown_file() { web_teardown_full; }

# issue JAR NAME: enrols a fresh P-256 CSR, waits for issue, prints the serial
issue() {
	local csrf id
	make_csr ecdsa-p256 "$WEB_DIR/$2.csr"
	csrf=$(web_curl "$1" "$WEB_URL/enrol" | web_csrf_of)
	web_curl "$1" -o /dev/null -D "$WEB_DIR/$2.hdr" --data-urlencode "csrf=$csrf" \
	    --data-urlencode "csr@$WEB_DIR/$2.csr" "$WEB_URL/enrol/csr"
	id=$(sed -n 's|^location: /requests/\([0-9]*\).*|\1|Ip' "$WEB_DIR/$2.hdr" | tr -d '\r')
	web_wait_state "$1" "$id" issued >&2
	web_curl "$1" "$WEB_URL/requests/$id/status" | sed -n 's/.*"serial":"\([0-9a-f]*\)".*/\1/p'
}

csrf_of() { web_curl "$1" "$WEB_URL/" | web_csrf_of; }
revoked_at() { web_psql "SELECT coalesce(revoked_at::text, 'valid') FROM certificates WHERE serial = '$1'"; }

# post JAR SERIAL FIELDS...: prints the HTTP status, body in $WEB_DIR/body
post() {
	local jar=$1 serial=$2; shift 2
	web_curl "$jar" -o "$WEB_DIR/body" -w '%{http_code}' "$@" "$WEB_URL/certs/$serial/revoke"
}

@test "alice revokes her certificate: reason, confirmation, audit, and openssl sees it revoked (error 23)" {
	serial=$(issue "$AJ" a1)
	run web_curl "$AJ" "$WEB_URL/"
	[[ "$output" == *"href=\"/certs/$serial/revoke\">Revoke this certificate"* ]]
	run web_curl "$AJ" "$WEB_URL/certs/$serial/revoke"
	[[ "$output" == *"My key was lost or stolen"* ]]
	[[ "$output" == *"I am leaving, or my address changed"* ]]
	[[ "$output" == *"It was replaced by a new certificate"* ]]
	[[ "$output" == *"I no longer need it"* ]]
	csrf=$(web_csrf_of <<<"$output")
	# choosing a reason only asks again
	[ "$(post "$AJ" "$serial" --data-urlencode "csrf=$csrf" --data reason=lost)" = 200 ]
	grep -q 'id="revoke-confirm-note"' "$WEB_DIR/body"
	grep -q 'This cannot be undone' "$WEB_DIR/body"
	grep -q 'name="confirm" value="yes"' "$WEB_DIR/body"
	[ "$(revoked_at "$serial")" = valid ]
	# confirmed: revoked with keyCompromise, by employee:alice
	[ "$(post "$AJ" "$serial" --data-urlencode "csrf=$csrf" --data reason=lost --data confirm=yes)" = 303 ]
	[ "$(web_psql "SELECT revocation_reason FROM certificates WHERE serial = '$serial'")" = 1 ]
	[ "$(web_psql "SELECT actor FROM audit_log WHERE action = 'cert.revoke' ORDER BY seq DESC LIMIT 1")" = "employee:alice" ]
	[ "$(web_psql "SELECT count(*) FROM publish_jobs WHERE kind = 'cert.revoke' AND ref = '$serial'")" = 1 ]
	run web_curl "$AJ" "$WEB_URL/"
	[[ "$(grep -A6 "id=\"cert-$serial\"" <<<"$output")" == *'class="badge revoked"'* ]]
	[[ "$output" != *"/certs/$serial/revoke"* ]]
	# a relying party: the CRL from the database says revoked
	web_curl "$AJ" -o "$WEB_DIR/a1.pem" "$WEB_URL/certs/$serial.pem"
	"$WEB_ROOT/bin/signet" --home "$WEB_HOME" crl --out "$WEB_DIR/crl.der" >/dev/null
	openssl crl -inform DER -in "$WEB_DIR/crl.der" -out "$WEB_DIR/crl.pem"
	run openssl verify -crl_check -CAfile "$WEB_SIGNET_CA" -CRLfile "$WEB_DIR/crl.pem" "$WEB_DIR/a1.pem"
	[ "$status" -ne 0 ]
	[[ "$output" == *"error 23"* ]]
	[[ "$output" == *"certificate revoked"* ]]
	run openssl crl -in "$WEB_DIR/crl.pem" -noout -text
	[[ "$output" == *"Key Compromise"* ]]
	run sg "$WEB_HOME" audit verify
	[ "$status" -eq 0 ]
}

@test "bob gets 404 for alice's certificate, GET and POST, and nothing changes" {
	serial=$(issue "$AJ" a2)
	run web_curl "$BJ" -o /dev/null -w '%{http_code}' "$WEB_URL/certs/$serial/revoke"
	[ "$output" = 404 ]
	csrf=$(csrf_of "$BJ")
	[ "$(post "$BJ" "$serial" --data-urlencode "csrf=$csrf" --data reason=lost --data confirm=yes)" = 404 ]
	[ "$(post "$BJ" "$serial" --data-urlencode "csrf=$csrf" --data reason=lost)" = 404 ]
	[ "$(revoked_at "$serial")" = valid ]
	[ "$(web_psql "SELECT count(*) FROM audit_log WHERE action = 'cert.revoke' AND actor = 'employee:bob'")" = 0 ]
	# and a serial that does not exist looks the same
	run web_curl "$BJ" -o /dev/null -w '%{http_code}' "$WEB_URL/certs/00deadbeef/revoke"
	[ "$output" = 404 ]
	# alice's own page still offers it
	run web_curl "$AJ" "$WEB_URL/"
	[[ "$output" == *"/certs/$serial/revoke"* ]]
}

@test "each plain reason is recorded as its RFC 5280 reason code" {
	for pair in leaving:3 superseded:4 unneeded:5; do
		serial=$(issue "$BJ" "b-${pair%%:*}")
		csrf=$(csrf_of "$BJ")
		[ "$(post "$BJ" "$serial" --data-urlencode "csrf=$csrf" --data "reason=${pair%%:*}" --data confirm=yes)" = 303 ]
		[ "$(web_psql "SELECT revocation_reason FROM certificates WHERE serial = '$serial'")" = "${pair#*:}" ]
	done
}

@test "CSRF is checked, the reason list is closed, and a revoked certificate is not revoked twice" {
	serial=$(issue "$AJ" a3)
	[ "$(post "$AJ" "$serial" --data-urlencode "csrf=$(printf 'a%.0s' $(seq 64))" --data reason=lost --data confirm=yes)" = 403 ]
	csrf=$(csrf_of "$AJ")
	[ "$(post "$AJ" "$serial" --data-urlencode "csrf=$csrf" --data reason=certificateHold --data confirm=yes)" = 400 ]
	grep -q 'reason' "$WEB_DIR/body"
	[ "$(post "$AJ" "$serial" --data-urlencode "csrf=$csrf" --data confirm=yes)" = 400 ]
	grep -q 'Choose why' "$WEB_DIR/body"
	[ "$(post "$AJ" "$serial" --data-urlencode "csrf=$csrf" --data reason=lost --data confirm=no)" = 400 ]
	[ "$(revoked_at "$serial")" = valid ]
	[ "$(post "$AJ" "$serial" --data-urlencode "csrf=$csrf" --data reason=unneeded --data confirm=yes)" = 303 ]
	[ "$(post "$AJ" "$serial" --data-urlencode "csrf=$csrf" --data reason=lost --data confirm=yes)" = 409 ]
	grep -q 'nothing to revoke' "$WEB_DIR/body"
	[ "$(web_psql "SELECT revocation_reason FROM certificates WHERE serial = '$serial'")" = 5 ]
}

@test "without a session the revoke page sends the visitor to sign in" {
	serial=$(web_psql "SELECT serial FROM certificates WHERE revoked_at IS NULL LIMIT 1")
	run curl -sS --cacert "$WEB_CA" -o /dev/null -w '%{http_code} %{redirect_url}' "$WEB_URL/certs/$serial/revoke"
	[ "$output" = "303 $WEB_URL/login" ]
}

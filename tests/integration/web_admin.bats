#!/usr/bin/env bats
# The operator console: operator sign-in, the pending queue, approve and
# deny, search, revoke, the audit log, and who may do what.

load lib
load web_lib

setup_file() {
	web_setup_full
	# carol's request pends (she is not in smime-auto)
	J=$(mktemp "$WEB_DIR/jar.XXXXXX")
	make_csr ecdsa-p256 "$WEB_DIR/carol1.csr"
	make_csr ecdsa-p256 "$WEB_DIR/carol2.csr"
	web_employee_login "$J" carol carol-demo-pw >/dev/null
	for f in carol1 carol2; do
		csrf=$(web_curl "$J" "$WEB_URL/enrol" | web_csrf_of)
		web_curl "$J" -o /dev/null --data-urlencode "csrf=$csrf" \
		    --data-urlencode "csr@$WEB_DIR/$f.csr" "$WEB_URL/enrol/csr"
	done
	export CAROL_JAR=$J
	export P1=$(web_psql "SELECT min(id) FROM requests WHERE requester = 'carol'")
	export P2=$(web_psql "SELECT max(id) FROM requests WHERE requester = 'carol'")
	web_wait_state "$J" "$P2" pending
}
teardown_file() { web_teardown_full; }

setup() {
	JAR=$(mktemp "$WEB_DIR/jar.XXXXXX")
	PW=$(cat "$WEB_OP_PW")
}

csrf_of_page() { web_curl "$JAR" "$WEB_URL$1" | web_csrf_of; }

@test "the console needs an operator sign-in" {
	run web_curl "$JAR" -o /dev/null -w '%{http_code} %{redirect_url}' "$WEB_URL/admin"
	[ "$output" = "303 $WEB_URL/admin/login" ]
}

@test "an employee session cannot reach /admin" {
	[ "$(web_employee_login "$JAR" alice alice-demo-pw)" = 303 ]
	run web_curl "$JAR" -o /dev/null -w '%{http_code} %{redirect_url}' "$WEB_URL/admin"
	[ "$output" = "303 $WEB_URL/admin/login" ]
	run web_curl "$JAR" -o /dev/null -w '%{http_code}' "$WEB_URL/admin/audit"
	[ "$output" = 303 ]
}

@test "a wrong operator password is refused; an unknown name gets the same message" {
	run web_operator_login "$JAR" olivia wrong-password
	[ "$output" = 401 ]
	run web_operator_login "$JAR" nosuchop wrong-password
	[ "$output" = 401 ]
	run web_curl "$JAR" "$WEB_URL/admin/login"
	[[ "$output" == *"Operator sign-in"* ]]
}

@test "the officer sees the pending queue with the policy's reason" {
	[ "$(web_operator_login "$JAR" olivia "$PW")" = 303 ]
	run web_curl "$JAR" "$WEB_URL/admin"
	[[ "$output" == *"/admin/requests/$P1"* ]]
	[[ "$output" == *"carol@example.com"* ]]
	[[ "$output" == *"not in a group whose requests are issued automatically"* ]]
	run web_curl "$JAR" "$WEB_URL/admin/requests/$P1"
	[[ "$output" == *'id="decide-form"'* ]]
	[[ "$output" == *"uid=carol"* || "$output" == *"carol (carol@example.com)"* ]]
}

@test "an auditor reads the queue but cannot approve" {
	[ "$(web_operator_login "$JAR" audrey "$PW")" = 303 ]
	run web_curl "$JAR" "$WEB_URL/admin/requests/$P1"
	[[ "$output" == *"carol@example.com"* ]]
	[[ "$output" != *'id="decide-form"'* ]]
	csrf=$(csrf_of_page /admin)
	run web_curl "$JAR" -o "$JAR.body" -w '%{http_code}' --data-urlencode "csrf=$csrf" \
	    --data-urlencode decision=approve "$WEB_URL/admin/requests/$P1/decide"
	[ "$output" = 403 ]
	grep -q 'Your role (auditor) does not allow this.' "$JAR.body"
	[ "$(web_psql "SELECT state FROM requests WHERE id = $P1")" = pending ]
}

@test "deny needs a reason; CSRF is checked; a bad decision value is a 400" {
	[ "$(web_operator_login "$JAR" olivia "$PW")" = 303 ]
	csrf=$(csrf_of_page /admin)
	run web_curl "$JAR" -o "$JAR.body" -w '%{http_code}' --data-urlencode "csrf=$csrf" \
	    --data-urlencode decision=deny "$WEB_URL/admin/requests/$P2/decide"
	[ "$output" = 400 ]
	grep -q 'A denial needs a reason' "$JAR.body"
	run web_curl "$JAR" -o /dev/null -w '%{http_code}' --data-urlencode "csrf=$(printf 'a%.0s' $(seq 64))" \
	    --data-urlencode decision=approve "$WEB_URL/admin/requests/$P2/decide"
	[ "$output" = 403 ]
	run web_curl "$JAR" -o "$JAR.body" -w '%{http_code}' --data-urlencode "csrf=$csrf" \
	    --data-urlencode decision=maybe "$WEB_URL/admin/requests/$P2/decide"
	[ "$output" = 400 ]
	grep -q 'decision' "$JAR.body"
	[ "$(web_psql "SELECT state FROM requests WHERE id = $P2")" = pending ]
}

@test "the officer approves; ca-serve issues; carol downloads; a second decision changes nothing" {
	[ "$(web_operator_login "$JAR" olivia "$PW")" = 303 ]
	csrf=$(csrf_of_page /admin)
	run web_curl "$JAR" -o /dev/null -w '%{http_code}' --data-urlencode "csrf=$csrf" \
	    --data-urlencode decision=approve --data-urlencode "reason=known to the help desk" \
	    "$WEB_URL/admin/requests/$P1/decide"
	[ "$output" = 303 ]
	web_wait_state "$CAROL_JAR" "$P1" issued
	serial=$(web_curl "$CAROL_JAR" "$WEB_URL/requests/$P1/status" | sed -n 's/.*"serial":"\([0-9a-f]*\)".*/\1/p')
	web_curl "$CAROL_JAR" -o "$WEB_DIR/carol.pem" "$WEB_URL/certs/$serial.pem"
	openssl verify -CAfile "$WEB_SIGNET_CA" -purpose smimesign "$WEB_DIR/carol.pem"
	run web_curl "$JAR" -o /dev/null -w '%{http_code}' --data-urlencode "csrf=$csrf" \
	    --data-urlencode decision=deny --data-urlencode "reason=too late" "$WEB_URL/admin/requests/$P1/decide"
	[ "$output" = 409 ]
	[ "$(web_psql "SELECT count(*) FROM audit_log WHERE action LIKE 'request.approve%' AND actor LIKE '%olivia%'")" -ge 1 ]
}

@test "the officer denies with a reason the employee then reads" {
	[ "$(web_operator_login "$JAR" olivia "$PW")" = 303 ]
	csrf=$(csrf_of_page /admin)
	run web_curl "$JAR" -o /dev/null -w '%{http_code}' --data-urlencode "csrf=$csrf" \
	    --data-urlencode decision=deny --data-urlencode "reason=use your team mailbox" \
	    "$WEB_URL/admin/requests/$P2/decide"
	[ "$output" = 303 ]
	run web_curl "$CAROL_JAR" "$WEB_URL/requests/$P2"
	[[ "$output" == *'id="denied-note"'*"use your team mailbox"* ]]
}

@test "certificate search by mail, serial and state" {
	[ "$(web_operator_login "$JAR" audrey "$PW")" = 303 ]
	serial=$(web_psql "SELECT serial FROM certificates WHERE email = 'carol@example.com' LIMIT 1")
	run web_curl "$JAR" "$WEB_URL/admin/certs?mail=carol@example.com"
	[[ "$output" == *"/admin/certs/$serial"* ]]
	run web_curl "$JAR" "$WEB_URL/admin/certs?serial=$serial&state=valid"
	[[ "$output" == *"/admin/certs/$serial"* ]]
	run web_curl "$JAR" "$WEB_URL/admin/certs?serial=$serial&state=revoked"
	[[ "$output" != *"/admin/certs/$serial"* ]]
	run web_curl "$JAR" -o /dev/null -w '%{http_code}' "$WEB_URL/admin/certs?serial=XYZ"
	[ "$output" = 200 ]
}

@test "an auditor cannot revoke; the officer revokes with a reason code" {
	serial=$(web_psql "SELECT serial FROM certificates WHERE email = 'carol@example.com' LIMIT 1")
	[ "$(web_operator_login "$JAR" audrey "$PW")" = 303 ]
	csrf=$(csrf_of_page /admin)
	run web_curl "$JAR" -o /dev/null -w '%{http_code}' --data-urlencode "csrf=$csrf" --data reason=1 \
	    "$WEB_URL/admin/certs/$serial/revoke"
	[ "$output" = 403 ]
	J2=$(mktemp "$WEB_DIR/jar.XXXXXX")
	[ "$(web_operator_login "$J2" olivia "$PW")" = 303 ]
	csrf=$(web_curl "$J2" "$WEB_URL/admin/certs/$serial" | web_csrf_of)
	run web_curl "$J2" -o /dev/null -w '%{http_code}' --data-urlencode "csrf=$csrf" --data reason=6 \
	    "$WEB_URL/admin/certs/$serial/revoke"
	[ "$output" = 400 ]
	run web_curl "$J2" -o /dev/null -w '%{http_code}' --data-urlencode "csrf=$csrf" --data reason=1 \
	    "$WEB_URL/admin/certs/$serial/revoke"
	[ "$output" = 303 ]
	[ "$(web_psql "SELECT revocation_reason FROM certificates WHERE serial = '$serial'")" = 1 ]
	run web_curl "$J2" "$WEB_URL/admin/certs/$serial"
	[[ "$output" == *'id="acert-revoked"'* ]]
	# revoked certificates leave the public lookup
	run curl -sS --cacert "$WEB_CA" "$WEB_URL/lookup?mail=carol@example.com"
	[[ "$output" != *"$serial"* ]]
}

@test "the audit log is shown newest first" {
	[ "$(web_operator_login "$JAR" audrey "$PW")" = 303 ]
	run web_curl "$JAR" "$WEB_URL/admin/audit"
	[[ "$output" == *'id="audit"'* ]]
	top=$(web_psql "SELECT max(seq) FROM audit_log")
	first=$(grep -o '<tr><td>[0-9]*</td>' <<<"$output" | head -1 | tr -dc 0-9)
	[ "$first" = "$top" ]
}

@test "a disabled operator's session stops working at once" {
	[ "$(web_operator_login "$JAR" audrey "$PW")" = 303 ]
	run web_curl "$JAR" -o /dev/null -w '%{http_code}' "$WEB_URL/admin"
	[ "$output" = 200 ]
	"$WEB_ROOT/bin/signet" --home "$WEB_HOME" operator disable audrey
	run web_curl "$JAR" -o /dev/null -w '%{http_code}' "$WEB_URL/admin"
	[ "$output" = 303 ]
}

@test "an operator with a registered client certificate needs it to sign in" {
	web_psql "UPDATE operators SET client_cert_sha256 = sha256('x') WHERE name = 'olivia'"
	run web_operator_login "$JAR" olivia "$PW"
	web_psql "UPDATE operators SET client_cert_sha256 = NULL WHERE name = 'olivia'"
	[ "$output" = 401 ]
}

# op_login_cert JAR NAME PASSWORD [curl TLS args...]: prints the HTTP status
op_login_cert() {
	local jar=$1 name=$2 pw=$3 csrf; shift 3
	csrf=$(web_curl "$jar" "$@" "$WEB_URL/admin/login" | web_csrf_of)
	web_curl "$jar" "$@" -o /dev/null -w '%{http_code}' --data-urlencode "name=$name" \
	    --data-urlencode "password=$pw" --data-urlencode "csrf=$csrf" "$WEB_URL/admin/login"
}

@test "an operator signs in with their client certificate through nginx; without it, or with another, refused" {
	d="$WEB_DIR/opca"; mkdir -p "$d"
	# an operator CA and two client certificates (RFC 5280: CA with
	# basicConstraints cA; clients with EKU clientAuth)
	openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$d/ca.key" -out "$d/ca.pem" -days 30 -subj "/CN=Signet operator CA" \
	    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign" 2>/dev/null
	printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n' >"$d/ext"
	for who in olivia other; do
		openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		    -keyout "$d/$who.key" -out "$d/$who.csr" -subj "/CN=$who" 2>/dev/null
		openssl x509 -req -in "$d/$who.csr" -CA "$d/ca.pem" -CAkey "$d/ca.key" \
		    -CAcreateserial -days 30 -extfile "$d/ext" -out "$d/$who.pem" 2>/dev/null
	done
	# nginx again, now asking for client certificates from that CA
	up=$(sed -n 's|.*proxy_pass http://127.0.0.1:\([0-9]*\);|\1|p' "$WEB_DIR/nginx/nginx.conf")
	https=$(sed -n 's|.*listen 127.0.0.1:\([0-9]*\) ssl;|\1|p' "$WEB_DIR/nginx/nginx.conf")
	bash "$WEB_ROOT/scripts/nginx.sh" stop "$WEB_DIR/nginx"
	SIGNET_OPERATOR_CA="$d/ca.pem" bash "$WEB_ROOT/scripts/nginx.sh" start "$WEB_DIR/nginx" "$up" "$https"
	grep -q "ssl_client_certificate $d/ca.pem" "$WEB_DIR/nginx/nginx.conf"
	sum=$(openssl x509 -in "$d/olivia.pem" -outform DER | sha256sum | cut -d' ' -f1)
	web_psql "UPDATE operators SET client_cert_sha256 = decode('$sum', 'hex') WHERE name = 'olivia'"
	run op_login_cert "$JAR" olivia "$PW" --cert "$d/olivia.pem" --key "$d/olivia.key"
	ok=$output
	J2=$(mktemp "$WEB_DIR/jar.XXXXXX")
	run op_login_cert "$J2" olivia "$PW"
	without=$output
	J3=$(mktemp "$WEB_DIR/jar.XXXXXX")
	run op_login_cert "$J3" olivia "$PW" --cert "$d/other.pem" --key "$d/other.key"
	other=$output
	web_psql "UPDATE operators SET client_cert_sha256 = NULL WHERE name = 'olivia'"
	[ "$ok" = 303 ]
	[ "$without" = 401 ]
	[ "$other" = 401 ]
	run web_curl "$JAR" -o /dev/null -w '%{http_code}' "$WEB_URL/admin"
	[ "$output" = 200 ]
	run web_curl "$J2" -o /dev/null -w '%{http_code}' "$WEB_URL/admin"
	[ "$output" = 303 ]
}

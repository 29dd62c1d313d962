#!/usr/bin/env bats
# Employee sign-in to signet-web through the TLS terminator, against the
# demo directory and a whole Signet instance (tests/integration/web_lib.bash).

load web_lib

setup_file() { web_setup_full; }
teardown_file() { web_teardown_full; }

setup() {
	JAR=$(mktemp "$WEB_DIR/jar.XXXXXX")
}

# Fetches the login form (setting the pre-login cookie) and prints its token.
login_csrf() {
	web_curl "$JAR" "$WEB_URL/login" | web_csrf_of
}

# Signs in: login password → prints "STATUS" and leaves headers in $JAR.hdr
sign_in() {
	local csrf
	csrf=$(login_csrf)
	web_curl "$JAR" -o "$JAR.body" -D "$JAR.hdr" -w '%{http_code}' \
	    --data-urlencode "login=$1" --data-urlencode "password=$2" \
	    --data-urlencode "csrf=$csrf" "$WEB_URL/login"
}

@test "login page renders over https with the security headers" {
	run curl -sS -D - --cacert "$WEB_CA" "$WEB_URL/login"
	[ "$status" -eq 0 ]
	[[ "$output" == *"HTTP/1.1 200"* ]]
	[[ "$output" == *'<h1 id="login-h">Sign in</h1>'* ]]
	[[ "$output" == *"content-security-policy: default-src 'self'; script-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"* ]]
	[[ "$output" == *"x-content-type-options: nosniff"* ]]
	[[ "$output" == *"referrer-policy: no-referrer"* ]]
	# HSTS from nginx, on https (header names are case-blind), once
	[[ "${output,,}" == *"strict-transport-security: max-age=31536000; includesubdomains"* ]]
	[ "$(grep -ci '^strict-transport-security:' <<<"$output")" = 1 ]
	# no inline script anywhere in the page
	[[ "$output" != *"<script"* ]]
}

@test "stylesheet is served by the module itself" {
	run curl -sS -D - --cacert "$WEB_CA" "$WEB_URL/static/signet.css"
	# nginx rewrites the case of Content-Type; header names are case-blind
	[[ "${output,,}" == *"content-type: text/css"* ]]
	[[ "$output" == *".card"* ]]
}

@test "wrong password is refused with a message and no session" {
	run sign_in alice not-the-password
	[ "$output" = 401 ]
	grep -q 'The mail address, user name or password is not correct.' "$JAR.body"
	! grep -qi '^set-cookie: signet_session=[0-9a-f]' "$JAR.hdr" || false
}

@test "empty password is refused before the directory is asked" {
	local before after
	before=$(grep -c 'BIND dn="uid=bob' "$WEB_DIR/ldap/slapd.log" || true)
	run sign_in bob ""
	[ "$output" = 400 ]
	grep -q 'Enter your password.' "$JAR.body"
	sleep 0.3
	after=$(grep -c 'BIND dn="uid=bob' "$WEB_DIR/ldap/slapd.log" || true)
	[ "$before" = "$after" ]
	# and no search for bob either
	! grep -q '(uid=bob)' "$WEB_DIR/ldap/slapd.log" || false
}

@test "good login sets a HttpOnly Secure SameSite=Strict cookie and shows the directory name" {
	run sign_in alice@example.com alice-demo-pw
	[ "$output" = 303 ]
	grep -qi '^set-cookie: signet_session=[0-9a-f]\{64\}; Path=/; Max-Age=[0-9]*; HttpOnly; Secure; SameSite=Strict' "$JAR.hdr"
	grep -qi '^location: /' "$JAR.hdr"
	run web_curl "$JAR" -D - "$WEB_URL/"
	[[ "$output" == *'<dd id="person-name">Alice Andersson</dd>'* ]]
	[[ "$output" == *'<dd id="person-mail">alice@example.com</dd>'* ]]
	[[ "$output" == *"cache-control: no-store"* ]]
	[[ "$output" == *"content-security-policy: "* ]]
}

@test "session token is stored only as its SHA-256" {
	sign_in alice alice-demo-pw
	local token hash
	token=$(sed -n 's/^set-cookie: signet_session=\([0-9a-f]\{64\}\);.*/\1/Ip' "$JAR.hdr" | tr -d '\r')
	[ -n "$token" ]
	hash=$(printf '%s' "$token" | xxd -r -p | sha256sum | cut -d' ' -f1)
	run web_psql "SELECT count(*) FROM web_sessions WHERE token_hash = '\\x$hash'::bytea"
	[ "$output" = 1 ]
	run web_psql "SELECT count(*) FROM web_sessions WHERE encode(token_hash, 'hex') = '$token'"
	[ "$output" = 0 ]
}

@test "display name from the directory is HTML-escaped" {
	run sign_in dave dave-demo-pw
	[ "$output" = 303 ]
	run web_curl "$JAR" "$WEB_URL/"
	[[ "$output" == *'<dd id="person-name">Dave O&#39;Brien &lt;R&amp;D&gt;</dd>'* ]]
	[[ "$output" != *"<R&D>"* ]]
}

@test "POST without the CSRF token is rejected with 403" {
	sign_in bob bob-demo-pw
	run web_curl "$JAR" -o /dev/null -w '%{http_code}' -X POST \
	    -H 'Content-Type: application/x-www-form-urlencoded' --data '' \
	    "$WEB_URL/logout"
	[ "$output" = 400 ] || [ "$output" = 403 ]
	run web_curl "$JAR" -o /dev/null -w '%{http_code}' \
	    --data "csrf=$(printf '0%.0s' {1..64})" "$WEB_URL/logout"
	[ "$output" = 403 ]
	# still signed in
	run web_curl "$JAR" "$WEB_URL/"
	[[ "$output" == *"Bob Brown"* ]]
}

@test "login form without its pre-login token is rejected with 403" {
	run curl -sS --cacert "$WEB_CA" -o /dev/null -w '%{http_code}' \
	    --data "login=alice&password=alice-demo-pw&csrf=$(printf 'a%.0s' {1..64})" \
	    "$WEB_URL/login"
	[ "$output" = 403 ]
}

@test "logout ends the session" {
	sign_in bob bob-demo-pw
	local csrf
	csrf=$(web_curl "$JAR" "$WEB_URL/" | web_csrf_of)
	[ -n "$csrf" ]
	run web_curl "$JAR" -D - --data "csrf=$csrf" "$WEB_URL/logout"
	[[ "$output" == *"You have signed out."* ]]
	[[ "$output" == *"set-cookie: signet_session=; Path=/; Max-Age=0"* ]]
	run web_curl "$JAR" -o /dev/null -w '%{http_code} %{redirect_url}' "$WEB_URL/"
	[[ "$output" == "303 "*"/login" ]]
}

@test "a replayed session cookie no longer works after logout" {
	sign_in alice alice-demo-pw
	cp "$JAR" "$JAR.copy"
	local csrf
	csrf=$(web_curl "$JAR" "$WEB_URL/" | web_csrf_of)
	web_curl "$JAR" -o /dev/null --data "csrf=$csrf" "$WEB_URL/logout"
	run curl -sS --cacert "$WEB_CA" -b "$JAR.copy" -o /dev/null -w '%{http_code}' "$WEB_URL/"
	[ "$output" = 303 ]
}

@test "six bad logins lock the account out with a clear message" {
	local i code
	for i in 1 2 3 4 5; do
		code=$(sign_in carol wrong-$i)
		[ "$code" = 401 ] || [ "$code" = 429 ]
	done
	run sign_in carol wrong-6
	[ "$output" = 429 ]
	grep -q 'Too many failed sign-ins. This account is locked for 15 minutes' "$JAR.body"
	# even the right password is refused while locked
	run sign_in carol carol-demo-pw
	[ "$output" = 429 ]
}

@test "a disabled person cannot sign in" {
	run sign_in erin erin-demo-pw
	[ "$output" = 403 ]
	grep -q 'This account is disabled in the directory.' "$JAR.body"
}

@test "unknown form field is answered with 400 naming it" {
	local csrf
	csrf=$(login_csrf)
	run web_curl "$JAR" -w '\n%{http_code}' \
	    --data "login=alice&password=x&csrf=$csrf&admin=1" "$WEB_URL/login"
	[[ "$output" == *"400" ]]
	[[ "$output" == *'does not accept (&quot;admin&quot;)'* ]]
}

@test "LDAP filter characters in the login are refused with 400" {
	local csrf
	csrf=$(login_csrf)
	run web_curl "$JAR" -w '\n%{http_code}' --data-urlencode 'login=*)(uid=*' \
	    --data-urlencode password=x --data "csrf=$csrf" "$WEB_URL/login"
	[[ "$output" == *"400" ]]
	[[ "$output" == *'The field &quot;login&quot; has a value this page does not accept.'* ]]
}

@test "missing required field is answered with 400 naming it" {
	local csrf
	csrf=$(login_csrf)
	run web_curl "$JAR" -w '\n%{http_code}' --data "login=alice&csrf=$csrf" "$WEB_URL/login"
	[[ "$output" == *"400" ]]
	[[ "$output" == *'The required field &quot;password&quot; is missing.'* ]]
}

@test "oversize body is refused with 413" {
	head -c 200000 /dev/zero | tr '\0' a > "$WEB_DIR/big"
	run web_curl "$JAR" -o /dev/null -w '%{http_code}' \
	    --data-binary "@$WEB_DIR/big" "$WEB_URL/login"
	[ "$output" = 413 ]
}

@test "unknown page gets a 404 page with the security headers" {
	run curl -sS -D - --cacert "$WEB_CA" "$WEB_URL/no/such/page"
	[[ "$output" == *"HTTP/1.1 404"* ]]
	[[ "$output" == *"There is no page at this address."* ]]
	[[ "$output" == *"x-content-type-options: nosniff"* ]]
}

@test "the terminator replaces client-sent client-certificate headers" {
	# An upstream that answers with the request headers it received.
	local up dir="$WEB_DIR/echo"
	up=$(free_port)
	python3 -c '
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = str(self.headers).encode()
        self.send_response(200); self.send_header("Content-Length", str(len(body)))
        self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
' "$up" &
	local echo_pid=$!
	cp -r "$WEB_DIR/nginx" "$dir"
	rm -f "$dir/nginx.pid" "$dir/nginx.conf"
	bash "$WEB_ROOT/scripts/nginx.sh" start "$dir" "$up" "$(free_port)"
	local port
	port=$(sed -n 's/.*listen 127.0.0.1:\([0-9]*\) ssl;.*/\1/p' "$dir/nginx.conf")
	sleep 0.3
	run curl -sS --cacert "$WEB_CA" -H 'X-Signet-Client-Verify: SUCCESS' \
	    -H 'X-Signet-Client-Cert: forged' -H 'X-Forwarded-Proto: http' \
	    "https://localhost:$port/"
	bash "$WEB_ROOT/scripts/nginx.sh" stop "$dir"
	kill "$echo_pid"
	[[ "$output" == *"X-Forwarded-Proto: https"* ]]
	[[ "$output" != *"forged"* ]]
	[[ "$output" != *"SUCCESS"* ]]
	[[ "$output" == *"X-Signet-Client-Verify: NONE"* ]]
}

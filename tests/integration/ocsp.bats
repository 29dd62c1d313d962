#!/usr/bin/env bats
# The OCSP responder in signet-web (RFC 6960, RFC 5019) against openssl
# ocsp, GnuTLS ocsptool and curl; the revocation service runs as
# `signet ocsp-refresh --watch` (what ca-serve does for revocation).

load lib

setup_file() {
	export H=$(new_home ocsp)
	export W="$BATS_FILE_TMPDIR"
	sg "$H" setup --cn "OCSP Test CA" >/dev/null
	# the certificates name this test's responder (AIA), for NSS
	export PORT=$(free_port)
	sed -i "s|^ocsp_url = .*|ocsp_url = http://127.0.0.1:$PORT/ocsp|" "$H/signet.conf"
	make_csr ecdsa-p256 "$W/k.csr"
	for who in good bad later; do
		sg "$H" issue --csr "$W/k.csr" --email "$who@example.com" \
		    --profile signing --out "$W/$who.pem" >/dev/null
		openssl x509 -in "$W/$who.pem" -noout -serial | cut -d= -f2 |
		    tr A-F a-f >"$W/$who.serial"
	done
	sg "$H" revoke "$(cat "$W/bad.serial")" --reason keyCompromise >/dev/null
	# a certificate under our CA that the database never recorded
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$W/u.key" -subj /CN=unknown -out "$W/u.csr" 2>/dev/null
	openssl x509 -req -in "$W/u.csr" -CA "$H/ca.pem" -CAkey "$H/ca.key" \
	    -passin "file:$H/ca.pass" -set_serial 0x5eed5eed5eed5eed \
	    -days 30 -out "$W/unknown.pem" 2>/dev/null
	# and one from another CA
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$W/o.key" -subj /CN=Other -days 30 -out "$W/other-ca.pem" 2>/dev/null
	sg "$H" ocsp-refresh >/dev/null
	sg "$H" crl >/dev/null
	"$SIGNET" --home "$H" ocsp-refresh --watch </dev/null >"$W/watch.log" 2>&1 3>&- &
	echo $! >"$W/watch.pid"
	export SIGNET_DB=$(sg "$H" db conninfo)
	export SIGNET_LDAP_URI=ldap://127.0.0.1:9	# OCSP needs no directory
	bash "$ROOT/web/signet-web.sh" start "$W/web" "$PORT"
	export URL="http://127.0.0.1:$PORT"
}

teardown_file() {
	local rc=0
	[ -n "${W:-}" ] && bash "$ROOT/web/signet-web.sh" stop "$W/web"
	# tests/run.sh's sanitizer pass: a report in the log fails the file
	if [ -n "${SIGNET_WEB_SAN:-}" ] && [ -n "${W:-}" ]; then
		bash "$ROOT/web/signet-web.sh" check "$W/web" || rc=1
	fi
	[ -f "${W:-/nonexistent}/watch.pid" ] && kill "$(cat "$W/watch.pid")" 2>/dev/null
	stop_home "$H"
	return $rc
}

ask() {	# ask CERT [openssl ocsp options...]
	local c=$1; shift
	openssl ocsp -url "$URL/ocsp" -issuer "$H/ca.pem" -cert "$W/$c.pem" \
	    -CAfile "$H/ca.pem" "$@" 2>&1
}

@test "openssl ocsp over POST: good without a nonce, from the pre-signed cache" {
	run ask good -no_nonce
	[[ "$output" == *"Response verify OK"* ]]
	[[ "$output" == *"$W/good.pem: good"* ]]
}

@test "openssl ocsp: revoked with its time and reason" {
	run ask bad -no_nonce
	[[ "$output" == *"Response verify OK"* ]]
	[[ "$output" == *"$W/bad.pem: revoked"* ]]
	[[ "$output" == *"Reason: keyCompromise"* ]]
	[[ "$output" == *"Revocation Time:"* ]]
}

@test "openssl ocsp with a nonce gets a fresh response echoing it, signed through the queue" {
	run ask good
	[[ "$output" == *"Response verify OK"* ]]
	[[ "$output" != *"WARNING: no nonce"* ]]
	[[ "$output" == *"$W/good.pem: good"* ]]
	run ask bad
	[[ "$output" == *"Response verify OK"* ]]
	[[ "$output" == *"$W/bad.pem: revoked"* ]]
}

@test "a serial the CA never issued is unknown" {
	run ask unknown -no_nonce
	[[ "$output" == *"Response verify OK"* ]]
	[[ "$output" == *"$W/unknown.pem: unknown"* ]]
}

@test "several certificates in one request, SHA-256 CertIDs" {
	run openssl ocsp -url "$URL/ocsp" -issuer "$H/ca.pem" -sha256 \
	    -cert "$W/good.pem" -cert "$W/bad.pem" -CAfile "$H/ca.pem" -no_nonce
	[[ "$output" == *"Response verify OK"* ]]
	[[ "$output" == *"$W/good.pem: good"* ]]
	[[ "$output" == *"$W/bad.pem: revoked"* ]]
	run openssl ocsp -url "$URL/ocsp" -issuer "$H/ca.pem" -sha256 \
	    -cert "$W/good.pem" -CAfile "$H/ca.pem" -no_nonce -resp_text
	[[ "$output" == *"Hash Algorithm: sha256"* ]]
	[[ "$output" == *"$W/good.pem: good"* ]]
}

@test "SHA-384 and SHA-512 CertIDs are answered afresh in their own algorithm and never kept as pre-signed; SHA-224 is malformedRequest" {
	local before h
	# openssl ocsp wants the digest before -cert
	ask_h() {	# ask_h HASH CERT [options...]
		local h=$1 c=$2; shift 2
		openssl ocsp -url "$URL/ocsp" -issuer "$H/ca.pem" -$h \
		    -cert "$W/$c.pem" -CAfile "$H/ca.pem" "$@" 2>&1
	}
	before=$(psql_home "$H" "SELECT count(*) FROM ocsp_responses")
	for h in sha384 sha512; do
		run ask_h $h good -no_nonce -resp_text
		[[ "$output" == *"Response verify OK"* ]]
		[[ "$output" == *"Hash Algorithm: $h"* ]]
		[[ "$output" == *"$W/good.pem: good"* ]]
		run ask_h $h bad -no_nonce
		[[ "$output" == *"Response verify OK"* ]]
		[[ "$output" == *"$W/bad.pem: revoked"* ]]
		[[ "$output" == *"Reason: keyCompromise"* ]]
		# several in one request, with a nonce
		run openssl ocsp -url "$URL/ocsp" -issuer "$H/ca.pem" -$h \
		    -cert "$W/good.pem" -cert "$W/unknown.pem" -CAfile "$H/ca.pem"
		[[ "$output" == *"Response verify OK"* ]]
		[[ "$output" == *"$W/good.pem: good"* ]]
		[[ "$output" == *"$W/unknown.pem: unknown"* ]]
	done
	[ "$(psql_home "$H" "SELECT count(*) FROM ocsp_responses")" -eq "$before" ]
	# another issuer, in SHA-384, is still not ours to answer
	openssl ocsp -issuer "$W/other-ca.pem" -sha384 -cert "$W/other-ca.pem" \
	    -no_nonce -reqout "$W/o384.der"
	curl -s -o "$W/o384r.der" -H 'content-type: application/ocsp-request' \
	    --data-binary @"$W/o384.der" "$URL/ocsp"
	run openssl ocsp -respin "$W/o384r.der" -resp_text
	[[ "$output" == *"unauthorized (6)"* ]]
	run ask_h sha224 good -no_nonce
	[[ "$output" == *"malformedrequest (1)"* ]]
}

@test "GET with the base64 request in the URL, plain and URL-encoded, with RFC 5019 headers" {
	openssl ocsp -issuer "$H/ca.pem" -cert "$W/good.pem" -no_nonce -reqout "$W/req.der"
	b64=$(base64 -w0 "$W/req.der")
	enc=$(python3 -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$b64")
	for path in "$b64" "$enc"; do
		curl -s -D "$W/h" -o "$W/resp.der" "$URL/ocsp/$path"
		grep -qi '^content-type: application/ocsp-response' "$W/h"
		grep -qi '^last-modified: ' "$W/h"
		grep -qi '^expires: ' "$W/h"
		grep -qi '^etag: "' "$W/h"
		grep -qi '^cache-control: max-age=[0-9]*, public, no-transform, must-revalidate' "$W/h"
		# plain http: no Strict-Transport-Security (RFC 6797 7.2)
		! grep -qi '^strict-transport-security' "$W/h" || false
		run openssl ocsp -respin "$W/resp.der" -issuer "$H/ca.pem" -cert "$W/good.pem" -CAfile "$H/ca.pem"
		[[ "$output" == *"Response verify OK"* ]]
		[[ "$output" == *"good.pem: good"* ]]
	done
}

@test "GnuTLS ocsptool verifies the responses against the CA" {
	run ocsptool --ask="$URL/ocsp" --load-issuer "$H/ca.pem" --load-cert "$W/good.pem" --load-trust "$H/ca.pem"
	[[ "$output" == *"Certificate Status: good"* ]]
	[[ "$output" == *"Verifying OCSP Response: Success."* ]]
	run ocsptool --ask="$URL/ocsp" --load-issuer "$H/ca.pem" --load-cert "$W/bad.pem" --load-trust "$H/ca.pem"
	[[ "$output" == *"Certificate Status: revoked"* ]]
	[[ "$output" == *"Verifying OCSP Response: Success."* ]]
}

@test "a certificate from another issuer is unauthorized" {
	openssl ocsp -issuer "$W/other-ca.pem" -cert "$W/other-ca.pem" -no_nonce -reqout "$W/oreq.der"
	curl -s -o "$W/o.der" -H 'content-type: application/ocsp-request' \
	    --data-binary @"$W/oreq.der" "$URL/ocsp"
	run openssl ocsp -respin "$W/o.der" -resp_text
	[[ "$output" == *"unauthorized (6)"* ]]
}

@test "garbage, truncated, wrong content type and 1 MiB bodies get clean answers; the server stays up" {
	printf 'garbage' | curl -s -o "$W/g.der" -H 'content-type: application/ocsp-request' --data-binary @- "$URL/ocsp"
	run openssl ocsp -respin "$W/g.der" -resp_text
	[[ "$output" == *"malformedrequest (1)"* ]]
	head -c 40 "$W/req.der" | curl -s -o "$W/t.der" -H 'content-type: application/ocsp-request' --data-binary @- "$URL/ocsp"
	run openssl ocsp -respin "$W/t.der" -resp_text
	[[ "$output" == *"malformedrequest (1)"* ]]
	run curl -s -o /dev/null -w '%{http_code}' -H 'content-type: text/plain' --data-binary @"$W/req.der" "$URL/ocsp"
	[ "$output" = 415 ]
	head -c 1048576 /dev/urandom >"$W/big"
	run curl -s -o /dev/null -w '%{http_code}' -H 'content-type: application/ocsp-request' --data-binary @"$W/big" "$URL/ocsp"
	[ "$output" = 413 ]
	curl -s -o "$W/b.der" "$URL/ocsp/AAAA"
	run openssl ocsp -respin "$W/b.der" -resp_text
	[[ "$output" == *"malformedrequest (1)"* ]]
	run ask good -no_nonce
	[[ "$output" == *"$W/good.pem: good"* ]]
}

@test "responses signed on demand are rate-limited: over SIGNET_OCSP_QUEUE_RATE, tryLater; pre-signed ones go on" {
	local port i t0 ok=0 later=0
	port=$(free_port)
	SIGNET_OCSP_QUEUE_RATE=1 bash "$ROOT/web/signet-web.sh" start "$W/web-rate" "$port"
	openssl ocsp -issuer "$H/ca.pem" -cert "$W/good.pem" -reqout "$W/nreq.der"
	openssl ocsp -issuer "$H/ca.pem" -cert "$W/good.pem" -no_nonce -reqout "$W/preq.der"
	post() {	# post REQUEST RESPONSE
		curl -s -o "$2" -H 'content-type: application/ocsp-request' \
		    --data-binary @"$1" "http://127.0.0.1:$port/ocsp"
	}
	t0=$(psql_home "$H" "SELECT clock_timestamp()")
	# one request with a nonce a second, counted over every worker: the
	# earlier tests' are more than a second old
	sleep 1.1
	for i in 1 2 3 4; do
		post "$W/nreq.der" "$W/rate$i.der"
	done
	post "$W/preq.der" "$W/rate-plain.der"
	sleep 1.1
	post "$W/nreq.der" "$W/rate-again.der"
	bash "$ROOT/web/signet-web.sh" stop "$W/web-rate"
	# (the sanitizer pass: that instance's log is clean too)
	bash "$ROOT/web/signet-web.sh" check "$W/web-rate"
	for i in 1 2 3 4; do
		run openssl ocsp -respin "$W/rate$i.der" -resp_text -noverify
		echo "request $i: $(grep -E 'Response Status|Responder Error' <<<"$output")"
		case $output in
		*"OCSP Response Status: successful"*) ok=$((ok + 1)) ;;
		*"Responder Error: trylater (3)"*) later=$((later + 1)) ;;
		esac
	done
	# the first was signed and echoes its nonce (-reqin alone: with -cert,
	# openssl would build a request of its own with another nonce); the
	# ones right after it were turned away without reaching the queue
	run openssl ocsp -respin "$W/rate1.der" -reqin "$W/nreq.der" \
	    -CAfile "$H/ca.pem" -resp_text
	echo "$output"
	[[ "$output" == *"Response verify OK"* ]]
	[[ "$output" != *"WARNING: no nonce"* ]]
	[[ "$output" == *"Cert Status: good"* ]]
	[ "$later" -ge 1 ]
	[ $((ok + later)) -eq 4 ]
	# the queue holds only what was signed: the first, and the one a
	# second later
	[ "$(psql_home "$H" "SELECT count(*) FROM ocsp_queue WHERE created_at >= '$t0'")" -eq $((ok + 1)) ]
	# the pre-signed answer is not limited
	run openssl ocsp -respin "$W/rate-plain.der" -issuer "$H/ca.pem" \
	    -cert "$W/good.pem" -CAfile "$H/ca.pem"
	[[ "$output" == *"Response verify OK"* ]]
	[[ "$output" == *"good.pem: good"* ]]
	# a limit per second, not a stop
	run openssl ocsp -respin "$W/rate-again.der" -reqin "$W/nreq.der" \
	    -CAfile "$H/ca.pem" -resp_text
	[[ "$output" == *"Response verify OK"* ]]
	[[ "$output" != *"WARNING: no nonce"* ]]
	[[ "$output" == *"Cert Status: good"* ]]
}

@test "signet-web refuses a bad OCSP setting at start, naming it" {
	local port
	port=$(free_port)
	SIGNET_OCSP_QUEUE_RATE=fast run bash "$ROOT/web/signet-web.sh" start "$W/web-bad1" "$port"
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *'SIGNET_OCSP_QUEUE_RATE: "fast" is not a number from 1 to 100000'* ]]
	SIGNET_OCSP_CACHE_ENTRIES=-1 run bash "$ROOT/web/signet-web.sh" start "$W/web-bad2" "$port"
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *'SIGNET_OCSP_CACHE_ENTRIES: "-1" is not a number from 0 to 10000000'* ]]
	# nothing left listening
	! curl -s -o /dev/null "http://127.0.0.1:$port/ocsp" || false
}

@test "a revocation reaches OCSP within seconds, without a nonce" {
	run ask later -no_nonce
	[[ "$output" == *"later.pem: good"* ]]
	sg "$H" revoke "$(cat "$W/later.serial")" --reason superseded
	for _ in $(seq 1 30); do
		out=$(ask later -no_nonce)
		[[ "$out" == *"later.pem: revoked"* ]] && break
		sleep 0.2
	done
	[[ "$out" == *"later.pem: revoked"* ]]
	[[ "$out" == *"Reason: superseded"* ]]
	[[ "$out" == *"Response verify OK"* ]]
}

@test "the CRL and the CA certificate are served at the CDP and caIssuers paths" {
	curl -s -D "$W/ch" -o "$W/web.crl" "$URL/crl/ca.crl"
	grep -qi '^content-type: application/pkix-crl' "$W/ch"
	! grep -qi '^strict-transport-security' "$W/ch" || false
	run openssl crl -inform DER -in "$W/web.crl" -CAfile "$H/ca.pem" -noout
	[[ "$output" == *"verify OK"* ]]
	curl -s -o "$W/ca.der" "$URL/ca.cer"
	[ "$(openssl x509 -inform DER -in "$W/ca.der" -noout -fingerprint -sha256)" = \
	  "$(openssl x509 -in "$H/ca.pem" -noout -fingerprint -sha256)" ]
	crl_url=$(openssl x509 -in "$W/good.pem" -noout -ext crlDistributionPoints | grep -o 'http://[^ ]*')
	[[ "$crl_url" == */crl/ca.crl ]]
	ocsp_url=$(openssl x509 -in "$W/good.pem" -noout -ocsp_uri)
	[[ "$ocsp_url" == */ocsp ]]
}

@test "NSS vfychain checks the certificate over OCSP" {
	command -v vfychain >/dev/null || skip "vfychain (libnss3-tools) not installed"
	# vfychain fetches the AIA OCSP URL from the certificate; the test
	# instance's certificates name the configured URL, not this port.
	url=$(openssl x509 -in "$W/good.pem" -noout -ocsp_uri)
	[[ "$url" == "$URL/ocsp" ]] || skip "certificates name $url, not this test's responder"
	mkdir -p "$W/nss"
	certutil -N -d "sql:$W/nss" --empty-password
	certutil -A -d "sql:$W/nss" -n ca -t "C,C,C" -i "$H/ca.pem"
	run vfychain -d "sql:$W/nss" -pp -g leaf -m ocsp -u 5 -a "$W/good.pem"
	[[ "$output" == *"Chain is good!"* ]]
}

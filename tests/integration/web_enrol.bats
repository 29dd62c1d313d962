#!/usr/bin/env bats
# Enrolment through signet-web against a whole Signet: ca-serve decides,
# the certificates that come back are checked with openssl.

load lib
load web_lib

setup_file() { web_setup_full; }
teardown_file() { web_teardown_full; }

setup() {
	JAR=$(mktemp "$WEB_DIR/jar.XXXXXX")
}

csrf_of_page() { web_curl "$JAR" "$WEB_URL$1" | web_csrf_of; }

# submit_csr FILE: prints "STATUS LOCATION"
submit_csr() {
	local csrf
	csrf=$(csrf_of_page /enrol)
	web_curl "$JAR" -o "$JAR.body" -D "$JAR.hdr" -w '%{http_code}' \
	    --data-urlencode "csrf=$csrf" --data-urlencode "csr@$1" "$WEB_URL/enrol/csr"
}

req_id_from_hdr() { sed -n 's|^location: /requests/\([0-9]*\).*|\1|Ip' "$JAR.hdr" | tr -d '\r'; }

serial_of() {
	web_curl "$JAR" "$WEB_URL/requests/$1/status" | sed -n 's/.*"serial":"\([0-9a-f]*\)".*/\1/p'
}

@test "pasted PEM CSR from alice is issued at once with her directory identity" {
	make_csr ecdsa-p256 "$WEB_DIR/a1.csr" "/CN=mallory@evil.example"
	[ "$(web_employee_login "$JAR" alice alice-demo-pw)" = 303 ]
	run submit_csr "$WEB_DIR/a1.csr"
	[ "$output" = 303 ]
	id=$(req_id_from_hdr)
	web_wait_state "$JAR" "$id" issued
	serial=$(serial_of "$id")
	web_curl "$JAR" -o "$WEB_DIR/a1.pem" "$WEB_URL/certs/$serial.pem"
	run openssl x509 -in "$WEB_DIR/a1.pem" -noout -subject -ext subjectAltName,extendedKeyUsage
	[[ "$output" == *"email:alice@example.com"* ]]
	[[ "$output" == *"E-mail Protection"* ]]
	[[ "$output" != *"mallory"* ]]
	openssl verify -CAfile "$WEB_SIGNET_CA" -purpose smimesign "$WEB_DIR/a1.pem"
	# the request page and home page show it
	run web_curl "$JAR" "$WEB_URL/"
	[[ "$output" == *"$serial"* ]]
	[[ "$output" == *'class="badge issued"'* ]]
}

@test "a certificate enrolled on the site reaches the directory (lag printed)" {
	make_csr ecdsa-p256 "$WEB_DIR/ldap1.csr"
	[ "$(web_employee_login "$JAR" bob bob-demo-pw)" = 303 ]
	run submit_csr "$WEB_DIR/ldap1.csr"
	[ "$output" = 303 ]
	id=$(req_id_from_hdr)
	web_wait_state "$JAR" "$id" issued
	issued=$(date +%s%N)
	serial=$(serial_of "$id")
	web_curl "$JAR" -o "$WEB_DIR/ldap1.der" "$WEB_URL/certs/$serial.der"
	# what Thunderbird asks: (mail=...) and userCertificate;binary. The
	# lag is printed, not asserted: bench_publish.sh measures it.
	found=
	for i in $(seq 1 200); do
		for v in $(ldapsearch -x -LLL -o ldif-wrap=no \
		    -H "ldap://127.0.0.1:$(cat "$WEB_DIR/ldap/port")" \
		    -b dc=example,dc=com '(mail=bob@example.com)' 'userCertificate;binary' |
		    sed -n 's/^userCertificate;binary:: //p'); do
			if echo "$v" | base64 -d | cmp -s - "$WEB_DIR/ldap1.der"; then
				found=$(date +%s%N)
			fi
		done
		[ -n "$found" ] && break
		sleep 0.05
	done
	[ -n "$found" ]
	echo "# visible in LDAP $(( (found - issued) / 1000000 )) ms after the site showed it issued" >&3
}

@test "uploaded DER CSR (base64 from the page's file reader) is accepted" {
	make_csr rsa-2048 "$WEB_DIR/b1.csr"
	openssl req -in "$WEB_DIR/b1.csr" -outform DER | base64 >"$WEB_DIR/b1.b64"
	[ "$(web_employee_login "$JAR" bob bob-demo-pw)" = 303 ]
	run submit_csr "$WEB_DIR/b1.b64"
	[ "$output" = 303 ]
	web_wait_state "$JAR" "$(req_id_from_hdr)" issued
}

@test "a broken CSR is refused with csr_parse's message and nothing is stored" {
	[ "$(web_employee_login "$JAR" alice alice-demo-pw)" = 303 ]
	before=$(web_psql "SELECT count(*) FROM requests")
	printf -- '-----BEGIN CERTIFICATE REQUEST-----\nMIIBnotacsr\n-----END CERTIFICATE REQUEST-----\n' >"$WEB_DIR/bad.csr"
	run submit_csr "$WEB_DIR/bad.csr"
	[ "$output" = 400 ]
	grep -q 'The request was not accepted: ' "$JAR.body"
	[ "$(web_psql "SELECT count(*) FROM requests")" = "$before" ]
}

@test "a CSR with a weak key is refused with the reason" {
	openssl req -new -newkey rsa:1024 -nodes -keyout /dev/null -subj /CN=x \
	    -out "$WEB_DIR/weak.csr" 2>/dev/null
	[ "$(web_employee_login "$JAR" alice alice-demo-pw)" = 303 ]
	run submit_csr "$WEB_DIR/weak.csr"
	[ "$output" = 400 ]
	grep -qi 'rsa' "$JAR.body"
}

@test "an empty CSR field is answered with 400 and a clear message" {
	[ "$(web_employee_login "$JAR" alice alice-demo-pw)" = 303 ]
	csrf=$(csrf_of_page /enrol)
	run web_curl "$JAR" -o "$JAR.body" -w '%{http_code}' --data "csrf=$csrf&csr=" "$WEB_URL/enrol/csr"
	[ "$output" = 400 ]
	grep -q 'Paste a certificate request' "$JAR.body"
}

@test "enrolment POST without the CSRF token is rejected with 403" {
	make_csr ecdsa-p256 "$WEB_DIR/c0.csr"
	[ "$(web_employee_login "$JAR" alice alice-demo-pw)" = 303 ]
	run web_curl "$JAR" -o "$JAR.body" -w '%{http_code}' \
	    --data-urlencode "csrf=$(printf '0%.0s' $(seq 64))" --data-urlencode "csr@$WEB_DIR/c0.csr" "$WEB_URL/enrol/csr"
	[ "$output" = 403 ]
}

@test "enrolment needs a signed-in employee" {
	run web_curl "$JAR" -o /dev/null -w '%{http_code} %{redirect_url}' "$WEB_URL/enrol"
	[[ "$output" == "303 $WEB_URL/login" ]]
	run web_curl "$JAR" -o /dev/null -w '%{http_code}' --data "csrf=x&csr=y" "$WEB_URL/enrol/csr"
	[ "$output" = 303 ]
}

@test "server-made key: wrong password keeps it, right one gives a PKCS#12 that signs, then it is gone" {
	[ "$(web_employee_login "$JAR" bob bob-demo-pw)" = 303 ]
	csrf=$(csrf_of_page /enrol)
	run web_curl "$JAR" -o /dev/null -D "$JAR.hdr" -w '%{http_code}' --data-urlencode "csrf=$csrf" \
	    --data-urlencode password=bobs-p12-password --data-urlencode password2=bobs-p12-password \
	    "$WEB_URL/enrol/server"
	[ "$output" = 303 ]
	id=$(req_id_from_hdr)
	web_wait_state "$JAR" "$id" issued
	# only encrypted PKCS#8 (PBES2) is stored
	web_psql "SELECT encode(key_pickup, 'base64') FROM requests WHERE id = $id" | base64 -d >"$WEB_DIR/p8.der"
	openssl asn1parse -inform DER -in "$WEB_DIR/p8.der" | grep -q 'PBES2'
	run web_curl "$JAR" -o "$JAR.body" -w '%{http_code}' --data-urlencode "csrf=$csrf" \
	    --data-urlencode password=not-the-password "$WEB_URL/requests/$id/pickup"
	[ "$output" = 403 ]
	[ -n "$(web_psql "SELECT 1 FROM requests WHERE id = $id AND key_pickup IS NOT NULL")" ]
	run web_curl "$JAR" -o "$WEB_DIR/bob.p12" -w '%{http_code}' --data-urlencode "csrf=$csrf" \
	    --data-urlencode password=bobs-p12-password --data-urlencode format=modern "$WEB_URL/requests/$id/pickup"
	[ "$output" = 200 ]
	openssl pkcs12 -in "$WEB_DIR/bob.p12" -passin pass:bobs-p12-password -nodes -out "$WEB_DIR/bob.pem"
	echo "hello from bob" >"$WEB_DIR/msg.txt"
	openssl cms -sign -in "$WEB_DIR/msg.txt" -signer "$WEB_DIR/bob.pem" -out "$WEB_DIR/msg.p7m"
	openssl cms -verify -in "$WEB_DIR/msg.p7m" -CAfile "$WEB_SIGNET_CA" -purpose smimesign -out /dev/null
	[ -z "$(web_psql "SELECT 1 FROM requests WHERE id = $id AND key_pickup IS NOT NULL")" ]
	run web_curl "$JAR" -o /dev/null -w '%{http_code}' --data-urlencode "csrf=$csrf" \
	    --data-urlencode password=bobs-p12-password "$WEB_URL/requests/$id/pickup"
	[ "$output" = 410 ]
}

@test "server-made key in the compatible format imports with openssl -legacy" {
	[ "$(web_employee_login "$JAR" alice alice-demo-pw)" = 303 ]
	csrf=$(csrf_of_page /enrol)
	web_curl "$JAR" -o /dev/null -D "$JAR.hdr" --data-urlencode "csrf=$csrf" \
	    --data-urlencode password=alice-p12-pass --data-urlencode password2=alice-p12-pass "$WEB_URL/enrol/server"
	id=$(req_id_from_hdr)
	web_wait_state "$JAR" "$id" issued
	web_curl "$JAR" -o "$WEB_DIR/alice-c.p12" --data-urlencode "csrf=$csrf" \
	    --data-urlencode password=alice-p12-pass --data-urlencode format=compatible "$WEB_URL/requests/$id/pickup"
	run openssl pkcs12 -info -in "$WEB_DIR/alice-c.p12" -passin pass:alice-p12-pass -nodes -legacy -noout
	[[ "$output" == *"pbeWithSHA1And3-KeyTripleDES-CBC"* ]]
}

@test "server way refuses a short or mismatched password" {
	[ "$(web_employee_login "$JAR" alice alice-demo-pw)" = 303 ]
	csrf=$(csrf_of_page /enrol)
	run web_curl "$JAR" -o "$JAR.body" -w '%{http_code}' --data-urlencode "csrf=$csrf" \
	    --data-urlencode password=short --data-urlencode password2=short "$WEB_URL/enrol/server"
	[ "$output" = 400 ]
	grep -q 'at least 10 characters' "$JAR.body"
	run web_curl "$JAR" -o "$JAR.body" -w '%{http_code}' --data-urlencode "csrf=$csrf" \
	    --data-urlencode password=long-enough-1 --data-urlencode password2=long-enough-2 "$WEB_URL/enrol/server"
	[ "$output" = 400 ]
	grep -q 'not the same' "$JAR.body"
}

@test "an employee cannot see another's request nor download another's PKCS#12" {
	[ "$(web_employee_login "$JAR" alice alice-demo-pw)" = 303 ]
	csrf=$(csrf_of_page /enrol)
	web_curl "$JAR" -o /dev/null -D "$JAR.hdr" --data-urlencode "csrf=$csrf" \
	    --data-urlencode password=alice-secret-1 --data-urlencode password2=alice-secret-1 "$WEB_URL/enrol/server"
	id=$(req_id_from_hdr)
	web_wait_state "$JAR" "$id" issued
	J2=$(mktemp "$WEB_DIR/jar.XXXXXX")
	[ "$(web_employee_login "$J2" bob bob-demo-pw)" = 303 ]
	run web_curl "$J2" -o /dev/null -w '%{http_code}' "$WEB_URL/requests/$id"
	[ "$output" = 404 ]
	run web_curl "$J2" -o /dev/null -w '%{http_code}' "$WEB_URL/requests/$id/status"
	[ "$output" = 404 ]
	csrf2=$(web_curl "$J2" "$WEB_URL/enrol" | web_csrf_of)
	run web_curl "$J2" -o "$WEB_DIR/stolen" -w '%{http_code}' --data-urlencode "csrf=$csrf2" \
	    --data-urlencode password=alice-secret-1 "$WEB_URL/requests/$id/pickup"
	[ "$output" = 404 ]
	! grep -q "$id" <(web_curl "$J2" "$WEB_URL/" | grep -o 'href="/requests/[0-9]*"') || false
	# the key is still there for alice
	[ -n "$(web_psql "SELECT 1 FROM requests WHERE id = $id AND key_pickup IS NOT NULL")" ]
}

@test "carol's request pends with the policy's reason and shows on her home page" {
	make_csr ecdsa-p256 "$WEB_DIR/carol.csr"
	[ "$(web_employee_login "$JAR" carol carol-demo-pw)" = 303 ]
	run submit_csr "$WEB_DIR/carol.csr"
	[ "$output" = 303 ]
	id=$(req_id_from_hdr)
	web_wait_state "$JAR" "$id" pending
	run web_curl "$JAR" "$WEB_URL/requests/$id"
	[[ "$output" == *'id="pending-note"'* ]]
	[[ "$output" == *"not in a group whose requests are issued automatically"* ]]
	run web_curl "$JAR" "$WEB_URL/"
	[[ "$output" == *"req-$id"* ]]
}

@test "the browser way's endpoint answers JSON: id on success, error on a bad CSR" {
	make_csr ecdsa-p256 "$WEB_DIR/br.csr"
	[ "$(web_employee_login "$JAR" alice alice-demo-pw)" = 303 ]
	csrf=$(csrf_of_page /enrol)
	run web_curl "$JAR" -D "$JAR.hdr" --data-urlencode "csrf=$csrf" --data-urlencode "csr@$WEB_DIR/br.csr" "$WEB_URL/enrol/browser"
	[[ "$output" =~ ^\{\"id\":[0-9]+,\"url\":\"/requests/[0-9]+\"\}$ ]]
	grep -qi '^content-type: application/json' "$JAR.hdr"
	id=$(echo "$output" | sed 's/{"id":\([0-9]*\).*/\1/')
	web_wait_state "$JAR" "$id" issued
	[ "$(web_psql "SELECT source || ' ' || via_ra || ' ' || authenticated || ' ' || array_to_string(groups, ',') FROM requests WHERE id = $id")" = "browser true true smime-auto" ]
	run web_curl "$JAR" --data-urlencode "csrf=$csrf" --data-urlencode "csr=bm90IGEgY3Ny" "$WEB_URL/enrol/browser"
	[[ "$output" == '{"error":"The request was not accepted: '* ]]
}

@test "certificate downloads: PEM, DER and a PKCS#7 chain with the CA" {
	serial=$(web_psql "SELECT serial FROM certificates ORDER BY issued_at LIMIT 1")
	run curl -sS --cacert "$WEB_CA" -D - -o "$WEB_DIR/c.der" "$WEB_URL/certs/$serial.der"
	[[ "${output,,}" == *"content-type: application/pkix-cert"* ]]
	openssl x509 -inform DER -in "$WEB_DIR/c.der" -noout
	curl -sS --cacert "$WEB_CA" -o "$WEB_DIR/c.p7c" "$WEB_URL/certs/$serial.p7c"
	run openssl pkcs7 -inform DER -in "$WEB_DIR/c.p7c" -print_certs -noout
	[[ "$output" == *"Signet Web Test CA"* ]]
	[ "$(grep -c '^subject=' <<<"$output")" = 2 ]
	run curl -sS --cacert "$WEB_CA" -o /dev/null -w '%{http_code}' "$WEB_URL/certs/00ff.pem"
	[ "$output" = 404 ]
}

@test "the CA page shows the real SHA-256 and SHA-1 fingerprints and mail client instructions" {
	sha256=$(openssl x509 -in "$WEB_SIGNET_CA" -noout -fingerprint -sha256 | cut -d= -f2)
	sha1=$(openssl x509 -in "$WEB_SIGNET_CA" -noout -fingerprint -sha1 | cut -d= -f2)
	run curl -sS --cacert "$WEB_CA" "$WEB_URL/ca"
	[[ "$output" == *"id=\"ca-sha256\">$sha256<"* ]]
	[[ "$output" == *"id=\"ca-sha1\">$sha1<"* ]]
	[[ "$output" == *"Outlook"* && "$output" == *"Thunderbird"* && "$output" == *"Apple Mail"* ]]
	curl -sS --cacert "$WEB_CA" -o "$WEB_DIR/ca.crt" "$WEB_URL/ca.crt"
	cmp <(openssl x509 -in "$WEB_SIGNET_CA" -outform DER) "$WEB_DIR/ca.crt"
}

@test "public lookup finds a colleague's valid certificate by mail, without signing in" {
	run curl -sS --cacert "$WEB_CA" "$WEB_URL/lookup?mail=Alice@Example.com"
	[[ "$output" == *'id="found"'* ]]
	serial=$(web_psql "SELECT serial FROM certificates WHERE email = 'alice@example.com' LIMIT 1")
	[[ "$output" == *"/certs/$serial.pem"* ]]
	run curl -sS --cacert "$WEB_CA" "$WEB_URL/lookup?mail=nobody@example.com"
	[[ "$output" == *'id="none-found"'* ]]
	run curl -sS --cacert "$WEB_CA" -o /dev/null -w '%{http_code}' "$WEB_URL/lookup?mail=not-a-mail"
	[ "$output" = 400 ]
}

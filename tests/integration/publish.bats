#!/usr/bin/env bats
# The publisher (signet publish) against a real slapd (scripts/slapd.sh)
# and a web directory tree: what Thunderbird and Outlook find in the
# directory, what a static web server serves, and that a directory outage
# neither blocks issuance nor loses a change.

load lib

BASE=dc=example,dc=com

setup_file() {
	export W="$BATS_FILE_TMPDIR"
	export LD="$W/ldap"
	bash "$ROOT/scripts/slapd.sh" start "$LD" >/dev/null
	export LPORT=$(cat "$LD/port")
	export URI="ldap://127.0.0.1:$LPORT"
	export H=$(new_home publish)
	sg "$H" setup --cn "Publish Test CA" >/dev/null
	cat >>"$H/signet.conf" <<EOF

[publish]
retry_base = 1
retry_max = 2
sweep = 1

[publish.ldap.demo]
uri = $URI
bind = simple
bind_dn = cn=admin,$BASE
password_file = $LD/admin.pw
base_dn = $BASE
ca_dn = cn=Signet CA,$BASE
create_ca_entry = yes
timeout = 3

[publish.web.site]
root = pub
EOF
	make_csr ecdsa-p256 "$W/k.csr"
	# A certificate from another CA, already on alice's entry (in both
	# attributes) before Signet publishes anything.
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$W/foreign-ca.key" -subj "/CN=Foreign CA" -days 30 \
	    -out "$W/foreign-ca.pem" 2>/dev/null
	openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	    -keyout "$W/foreign.key" -subj "/CN=alice@example.com" \
	    -out "$W/foreign.csr" 2>/dev/null
	openssl x509 -req -in "$W/foreign.csr" -CA "$W/foreign-ca.pem" \
	    -CAkey "$W/foreign-ca.key" -CAcreateserial -days 30 \
	    -outform DER -out "$W/foreign.der" 2>/dev/null
	openssl x509 -inform DER -in "$W/foreign.der" -out "$W/foreign.pem"
	openssl crl2pkcs7 -nocrl -certfile "$W/foreign.pem" -outform DER \
	    -out "$W/foreign.p7c"
	ldapmodify -x -H "$URI" -D "cn=admin,$BASE" -y "$LD/admin.pw" >/dev/null <<EOF
dn: uid=alice,ou=people,$BASE
changetype: modify
add: userCertificate;binary
userCertificate;binary:< file://$W/foreign.der
-
add: userSMIMECertificate
userSMIMECertificate:< file://$W/foreign.p7c
EOF
}

teardown_file() {
	[ -f "$W/daemon.pid" ] && kill "$(cat "$W/daemon.pid")" 2>/dev/null
	[ -f "$W/watch.pid" ] && kill "$(cat "$W/watch.pid")" 2>/dev/null
	[ -f "$W/h2" ] && stop_home "$(cat "$W/h2")"
	[ -f "$W/h3" ] && stop_home "$(cat "$W/h3")"
	[ -f "$W/h4" ] && stop_home "$(cat "$W/h4")"
	stop_home "$H"
	bash "$ROOT/scripts/slapd.sh" stop "$LD" >/dev/null 2>&1 || true
}

# vals MAIL ATTR: the attribute's values on the person's entry, base64,
# one per line (ldapsearch prints binary values as "attr:: base64").
vals() {
	ldapsearch -x -LLL -o ldif-wrap=no -H "$URI" -b "$BASE" "(mail=$1)" "$2" |
	    awk -v a="$2" 'tolower($1) == tolower(a) "::" { print $2 }'
}

# issue MAIL [PROFILE]: prints the new serial.
issue() {
	sg "$H" issue --csr "$W/k.csr" --email "$1" --profile "${2:-signing}" \
	    --out "$W/last.pem" | awk '{ print $2 }'
}

der_b64() { sg "$H" export "$1" --format der --out "$W/x.der" >/dev/null && base64 -w0 "$W/x.der"; }

# p7_fps B64: the SHA-256 fingerprints of the certificates in a base64
# PKCS#7, sorted; fps SERIAL...: the same for Signet certificates, plus
# the CA certificate.
p7_fps() {
	echo "$1" | base64 -d | openssl pkcs7 -inform DER -print_certs |
	    awk '/BEGIN CERT/ { c = "openssl x509 -noout -fingerprint -sha256" }
		c { print | c } /END CERT/ { close(c); c = "" }' | sort
}
fps() {
	{
		for s in "$@"; do
			sg "$H" export "$s" --format der --out "$W/f.der" >/dev/null
			openssl x509 -inform DER -in "$W/f.der" -noout -fingerprint -sha256
		done
		openssl x509 -in "$H/ca.pem" -noout -fingerprint -sha256
	} | sort
}

# start_daemon, stop_daemon: the publisher in the background, its log in
# $W/daemon.log (each start begins a new one).
start_daemon() {
	"$SIGNET" --home "$H" publish </dev/null >"$W/daemon.log" 2>&1 3>&- &
	echo $! >"$W/daemon.pid"
}
stop_daemon() {
	kill "$(cat "$W/daemon.pid")"
	for _ in $(seq 1 50); do kill -0 "$(cat "$W/daemon.pid")" 2>/dev/null || break; sleep 0.1; done
	if kill -0 "$(cat "$W/daemon.pid")" 2>/dev/null; then
		echo "the publisher did not stop on TERM" >&2
		return 1
	fi
	rm -f "$W/daemon.pid"
}

# job_state HOME SERIAL: the state of that certificate's cert.issue job.
job_state() {
	psql_home "$1" "SELECT state FROM publish_jobs WHERE kind = 'cert.issue' AND ref = '$2'"
}

# job_fails HOME SERIAL TEXT: one publisher pass leaves the job queued,
# its last error saying TEXT.
job_fails() {
	sg "$1" publish --once || true
	[ "$(job_state "$1" "$2")" = queued ]
	psql_home "$1" "SELECT last_error FROM publish_jobs WHERE kind = 'cert.issue' AND ref = '$2'" |
	    grep -F "$3"
}

# publish_external HOME MAIL: issues MAIL a certificate in HOME, whose
# only target binds with SASL EXTERNAL; one publisher pass must put it on
# the entry, bound as the directory's administrator by that mechanism.
publish_external() {
	local s
	s=$(sg "$1" issue --csr "$W/k.csr" --email "$2" --profile signing \
	    --out "$W/ext.pem" | awk '{ print $2 }')
	: >"$LD/slapd.log"
	sg "$1" publish --once
	[ "$(job_state "$1" "$s")" = done ]
	openssl x509 -in "$W/ext.pem" -outform DER -out "$W/ext.der"
	vals "$2" 'userCertificate;binary' | grep -qxF "$(base64 -w0 "$W/ext.der")"
	grep 'BIND' "$LD/slapd.log" >&2
	grep -q 'BIND dn="cn=admin,dc=example,dc=com" mech=EXTERNAL' "$LD/slapd.log"
	# and never a simple bind (method=128) as the administrator
	! grep -q 'BIND dn="cn=admin,dc=example,dc=com" method=128' "$LD/slapd.log" || false
}

foreign_survives() {
	vals alice@example.com 'userCertificate;binary' | grep -qxF "$(base64 -w0 "$W/foreign.der")"
	vals alice@example.com userSMIMECertificate | grep -qxF "$(base64 -w0 "$W/foreign.p7c")"
}

@test "issue: alice's entry holds the certificate and a PKCS#7 of it, byte for byte" {
	s1=$(issue alice@example.com)
	echo "$s1" >"$W/s1"
	run sg "$H" publish --once
	[ "$status" -eq 0 ]
	[[ "$output" == "published 2 jobs; 0 failed"* ]]	# ca + cert.issue
	vals alice@example.com 'userCertificate;binary' | grep -qxF "$(der_b64 "$s1")"
	# userSMIMECertificate: a certs-only SignedData with id-data content
	# (RFC 8551 3.2.2) holding exactly alice's certificate and the CA
	p7=$(vals alice@example.com userSMIMECertificate | grep -vxF "$(base64 -w0 "$W/foreign.p7c")")
	[ "$(echo "$p7" | wc -l)" -eq 1 ]
	echo "$p7" | base64 -d | openssl asn1parse -inform DER | grep -q ":pkcs7-data"
	[ "$(p7_fps "$p7")" = "$(fps "$s1")" ]
	[[ "$(echo "$p7" | base64 -d | openssl pkcs7 -inform DER -print_certs)" == *"$(openssl x509 -in "$W/last.pem")"* ]]
	foreign_survives
}

@test "the CA entry is created as applicationProcess + pkiCA with the CA certificate" {
	run ldapsearch -x -LLL -o ldif-wrap=no -H "$URI" -b "cn=Signet CA,$BASE" -s base objectClass 'cACertificate;binary'
	[ "$status" -eq 0 ]
	[[ "$output" == *"objectClass: applicationProcess"* ]]
	[[ "$output" == *"objectClass: pkiCA"* ]]
	got=$(echo "$output" | awk '$1 == "cACertificate;binary::" { print $2 }')
	[ "$got" = "$(openssl x509 -in "$H/ca.pem" -outform DER | base64 -w0)" ]
}

@test "a second certificate for the same person is added, not substituted" {
	s2=$(issue alice@example.com encryption)
	echo "$s2" >"$W/s2"
	sg "$H" publish --once
	run vals alice@example.com 'userCertificate;binary'
	[ "${#lines[@]}" -eq 3 ]	# foreign + two of Signet's
	echo "$output" | grep -qxF "$(der_b64 "$(cat "$W/s1")")"
	echo "$output" | grep -qxF "$(der_b64 "$s2")"
	p7=$(vals alice@example.com userSMIMECertificate | grep -vxF "$(base64 -w0 "$W/foreign.p7c")")
	[ "$(echo "$p7" | wc -l)" -eq 1 ]
	[ "$(p7_fps "$p7")" = "$(fps "$(cat "$W/s1")" "$s2")" ]
	foreign_survives
}

@test "revocation removes exactly that certificate; the CRL reaches the CA entry" {
	s1=$(cat "$W/s1") s2=$(cat "$W/s2")
	sg "$H" revoke "$s1" --reason keyCompromise
	sg "$H" crl >/dev/null
	run sg "$H" publish --once
	[ "$status" -eq 0 ]
	run vals alice@example.com 'userCertificate;binary'
	[ "${#lines[@]}" -eq 2 ]
	! echo "$output" | grep -qxF "$(der_b64 "$s1")" || false
	echo "$output" | grep -qxF "$(der_b64 "$s2")"
	p7=$(vals alice@example.com userSMIMECertificate | grep -vxF "$(base64 -w0 "$W/foreign.p7c")")
	[ "$(p7_fps "$p7")" = "$(fps "$s2")" ]
	foreign_survives
	crl=$(ldapsearch -x -LLL -o ldif-wrap=no -H "$URI" -b "cn=Signet CA,$BASE" -s base 'certificateRevocationList;binary' |
	    awk '$1 == "certificateRevocationList;binary::" { print $2 }')
	[ "$crl" = "$(psql_home "$H" "SELECT encode(der, 'base64') FROM crls ORDER BY number DESC LIMIT 1" | tr -d '\n')" ]
	echo "$crl" | base64 -d | openssl crl -inform DER -noout -text | tr -d ': ' | tr A-Z a-z | grep -q "serialnumber0*${s1#00}"
}

@test "a Thunderbird-style search finds the certificate" {
	run ldapsearch -x -H "$URI" -b "$BASE" '(mail=alice@example.com)' 'usercertificate;binary'
	[ "$status" -eq 0 ]
	[[ "$output" == *"numEntries: 1"* ]]
	# ldapsearch wraps long lines at 76 columns unless told otherwise
	flat=$(echo "$output" | sed -e ':a' -e 'N' -e '$!ba' -e 's/\n //g')
	[[ "$flat" == *"userCertificate;binary:: $(der_b64 "$(cat "$W/s2")")"* ]]
}

@test "a person missing from the directory is a recorded failure, retried, never lost" {
	sz=$(issue zed@example.com)
	run sg "$H" publish --once
	[ "$status" -eq 1 ]
	[[ "$output" == *"published 0 jobs; 1 failed and will be retried"* ]]
	run sg "$H" publish status
	[ "$status" -eq 0 ]
	[[ "$output" == *"cert.issue $sz zed@example.com: 1 attempts"* ]]
	[[ "$output" == *"ldap.demo: no directory entry for zed@example.com under $BASE"* ]]
	[ "$(psql_home "$H" "SELECT state FROM publish_jobs WHERE ref = '$sz'")" = queued ]
	# the web target did its part once; only the directory is retried
	[ -f "$H/pub/$sz.cer" ]
	[ "$(psql_home "$H" "SELECT string_agg(d.target, ',') FROM publish_done d JOIN publish_jobs j ON j.id = d.job_id WHERE j.ref = '$sz'")" = web.site ]
	id=$(psql_home "$H" "SELECT id FROM publish_jobs WHERE ref = '$sz'")
	run sg "$H" publish retry "$id"
	[ "$output" = "requeued 1 job" ]
}

@test "expiry unpublishes once: one cert.expire job per certificate" {
	s=$(issue bob@example.com)
	sg "$H" publish --once || true
	vals bob@example.com 'userCertificate;binary' | grep -qxF "$(der_b64 "$s")"
	# simulates time passing: the certificate's notAfter is now behind us
	psql_home "$H" "UPDATE certificates SET not_after = now() - interval '1 second' WHERE serial = '$s'"
	sg "$H" publish --once || true
	sg "$H" publish --once || true
	[ "$(psql_home "$H" "SELECT count(*) FROM publish_jobs WHERE kind = 'cert.expire' AND ref = '$s'")" -eq 1 ]
	[ "$(psql_home "$H" "SELECT state FROM publish_jobs WHERE kind = 'cert.expire' AND ref = '$s'")" = done ]
	! vals bob@example.com 'userCertificate;binary' | grep -qxF "$(der_b64 "$s")" || false
	[ ! -e "$H/pub/$s.cer" ]
}

@test "slapd down: 50 issuances never touch the directory, status shows why, all 50 published once slapd is back" {
	sg "$H" publish retry >/dev/null	# zed's job: make it due again
	start_daemon
	people=(bob carol dave erin)
	for i in $(seq 1 10); do issue "${people[i % 4]}@example.com" >/dev/null; done
	# Issuance only queues a job: while the directory is away, nothing
	# that issues may so much as connect to it. The publisher is stopped
	# and a listener on the directory's port records every connection.
	stop_daemon
	bash "$ROOT/scripts/slapd.sh" stop "$LD"
	python3 -c '
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(16)
log = open(sys.argv[2], "a")
open(sys.argv[3], "w").close()
while True:
	c, peer = s.accept()
	log.write("connection from %s:%d\n" % peer)
	log.flush()
	c.close()
' "$LPORT" "$W/touches" "$W/listening" &
	echo $! >"$W/watch.pid"
	for _ in $(seq 1 50); do [ -e "$W/listening" ] && break; sleep 0.1; done
	[ -e "$W/listening" ]
	psql_home "$H" "SELECT serial FROM certificates" | sort >"$W/before"
	for i in $(seq 1 50); do issue "${people[i % 4]}@example.com" >/dev/null; done
	kill "$(cat "$W/watch.pid")"
	rm -f "$W/watch.pid"
	cat "$W/touches" >&2
	[ ! -s "$W/touches" ]
	psql_home "$H" "SELECT serial FROM certificates" | sort | comm -13 "$W/before" - >"$W/fifty"
	[ "$(wc -l <"$W/fifty")" -eq 50 ]
	# the publisher, back, finds the directory gone and says so
	start_daemon
	for _ in $(seq 1 50); do
		n=$(psql_home "$H" "SELECT count(*) FROM publish_jobs WHERE kind = 'cert.issue' AND last_error LIKE '%cannot reach $URI%'")
		[ "$n" -ge 50 ] && break
		sleep 0.2
	done
	run sg "$H" publish status
	[[ "$output" == *"ldap.demo: cannot reach $URI"* ]]
	[[ "$output" == *"cert.issue   queued"* ]]
	bash "$ROOT/scripts/slapd.sh" start "$LD" "$LPORT"
	for _ in $(seq 1 100); do
		left=$(psql_home "$H" "SELECT count(*) FROM publish_jobs j JOIN certificates c ON c.serial = j.ref WHERE j.kind = 'cert.issue' AND j.state <> 'done' AND c.email <> 'zed@example.com'")
		[ "$left" -eq 0 ] && break
		sleep 0.2
	done
	if [ "$left" -ne 0 ]; then
		# why, for the record: the queue, the daemon, the directory
		echo "$left jobs left after 20 s" >&2
		sg "$H" publish status >&2 || true
		tail -n 20 "$W/daemon.log" >&2
		kill -0 "$(cat "$W/daemon.pid")" 2>/dev/null || echo "the publisher is gone" >&2
		ldapsearch -x -H "$URI" -b "" -s base >/dev/null 2>&1 || echo "slapd does not answer" >&2
	fi
	[ "$left" -eq 0 ]
	# every one of the 50 is on its owner's entry, and no value twice
	for p in bob carol dave erin; do vals "$p@example.com" 'userCertificate;binary'; done | sort >"$W/published"
	[ "$(uniq -d "$W/published" | wc -l)" -eq 0 ]
	while read -r s; do grep -qxF "$(der_b64 "$s")" "$W/published"; done <"$W/fifty"
	valid=$(psql_home "$H" "SELECT count(*) FROM certificates WHERE email IN ('bob@example.com','carol@example.com','dave@example.com','erin@example.com') AND revoked_at IS NULL AND not_after > now()")
	[ "$(wc -l <"$W/published")" -eq "$valid" ]
	stop_daemon
	grep -q "signet publish: stopped" "$W/daemon.log"
	[ ! -e "$H/run/publish.pid" ]
}

@test "the web tree matches the database" {
	sg "$H" publish --once || true		# zed stays failing
	psql_home "$H" "SELECT serial FROM certificates WHERE revoked_at IS NULL AND not_after > now()" | sort >"$W/valid"
	ls "$H/pub" | sed -n 's/\.cer$//p' | grep -v '^ca$' | sort >"$W/files"
	diff "$W/valid" "$W/files"
	while read -r s; do
		sg "$H" export "$s" --format der --out "$W/e.der" >/dev/null
		cmp "$W/e.der" "$H/pub/$s.cer"
		grep -qF ">$s</a>" "$H/pub/index.html"
	done <"$W/valid"
	grep -q "<p id=\"count\">$(wc -l <"$W/valid") valid certificates" "$H/pub/index.html"
	openssl x509 -in "$H/ca.pem" -outform DER | cmp - "$H/pub/ca.cer"
	# the CRL sits where the CRL distribution point says (RFC 5280 4.2.1.13)
	cdp=$(openssl x509 -in "$W/last.pem" -noout -ext crlDistributionPoints | grep -o 'http://[^ ]*')
	path=${cdp#http://*/}
	psql_home "$H" "SELECT encode(der, 'base64') FROM crls ORDER BY number DESC LIMIT 1" | base64 -d | cmp - "$H/pub/$path"
	# per-mailbox lookup: alice's PKCS#7 holds her one valid certificate + CA
	[ "$(p7_fps "$(base64 -w0 "$H/pub/by-mail/alice@example.com.p7c")")" = "$(fps "$(cat "$W/s2")")" ]
	# no temp files left behind
	[ -z "$(find "$H/pub" -name '*.tmp.*')" ]
}

@test "sasl-external over ldapi://: the publisher binds as the directory's owner, no password, and publishes" {
	H2=$(new_home publish-ext)
	echo "$H2" >"$W/h2"
	sg "$H2" setup --cn "Publish External CA" >/dev/null
	sock=$(python3 -c 'import sys, urllib.parse; print(urllib.parse.quote(sys.argv[1], safe=""))' "$LD/ldapi")
	cat >>"$H2/signet.conf" <<CONF

[publish.ldap.sock]
uri = ldapi://$sock
bind = sasl-external
base_dn = $BASE
ca_dn = cn=Signet External CA,$BASE
create_ca_entry = yes
CONF
	grep -q '^\[publish\.ldap\.sock\]' "$H2/signet.conf"
	! grep -qi 'password' <(sed -n '/^\[publish\.ldap\.sock\]/,$p' "$H2/signet.conf") || false
	publish_external "$H2" erin@example.com
	# and the CA entry was made
	ldapsearch -x -LLL -o ldif-wrap=no -H "$URI" -b "cn=Signet External CA,$BASE" -s base \
	    'cACertificate;binary' | grep -q '^cACertificate;binary:: '
	stop_home "$H2"
	rm -f "$W/h2"
}

@test "sasl-external over ldaps://: the client certificate is the identity; bad TLS files are named, nothing lost" {
	T="$LD/tls"
	mkdir -p "$T"
	# a throwaway PKI: its CA, slapd's certificate for 127.0.0.1, the
	# publisher's client certificate
	ec() { openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes "$@" 2>/dev/null; }
	ec -x509 -keyout "$T/ca.key" -subj "/CN=Directory Test CA" -days 2 -out "$T/ca.pem"
	ec -keyout "$T/server.key" -subj "/CN=127.0.0.1" -out "$W/server.csr"
	openssl x509 -req -in "$W/server.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" \
	    -CAcreateserial -days 2 -out "$T/server.pem" 2>/dev/null \
	    -extfile <(printf 'subjectAltName = IP:127.0.0.1\nextendedKeyUsage = serverAuth\n')
	ec -keyout "$W/client.key" -subj "/CN=signet-publisher" -out "$W/client.csr"
	openssl x509 -req -in "$W/client.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" \
	    -CAcreateserial -days 2 -out "$W/client.pem" 2>/dev/null \
	    -extfile <(printf 'extendedKeyUsage = clientAuth\n')
	bash "$ROOT/scripts/slapd.sh" stop "$LD"
	bash "$ROOT/scripts/slapd.sh" start "$LD" "$LPORT"
	TPORT=$(cat "$LD/ldaps-port")
	H3=$(new_home publish-tls)
	echo "$H3" >"$W/h3"
	sg "$H3" setup --cn "Publish TLS CA" >/dev/null
	cp "$T/ca.pem" "$H3/directory-ca.pem"
	cp "$W/client.pem" "$H3/ldap-client.pem"
	install -m 0600 "$W/client.key" "$H3/ldap-client.key"
	cat >>"$H3/signet.conf" <<CONF

[publish.ldap.tls]
uri = ldaps://127.0.0.1:$TPORT
bind = sasl-external
tls_cacert = directory-ca.pem
tls_cert = ldap-client.pem
tls_key = ldap-client.key
base_dn = $BASE
ca_dn = cn=Signet TLS CA,$BASE
create_ca_entry = yes
CONF
	publish_external "$H3" dave@example.com
	# the identity was the certificate's subject, over TLS (the
	# security strength of a unix socket would be 71)
	grep -q 'BIND authcid="cn=signet-publisher"' "$LD/slapd.log"
	grep -qE 'mech=EXTERNAL bind_ssf=0 ssf=(128|256)$' "$LD/slapd.log"
	# a key that others can read is refused before anything is sent
	chmod 0644 "$H3/ldap-client.key"
	run sg "$H3" publish --once
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"ldap-client.key: the key file is accessible by group or others (mode 0644); run chmod 600 on it"* ]]
	chmod 0600 "$H3/ldap-client.key"
	# a client certificate that is not one: said so, nothing published
	cp "$H3/ldap-client.pem" "$W/client.good"
	echo "not a certificate" >"$H3/ldap-client.pem"
	s=$(sg "$H3" issue --csr "$W/k.csr" --email dave@example.com --profile signing \
	    --out "$W/ext2.pem" | awk '{ print $2 }')
	job_fails "$H3" "$s" "TLS settings for ldaps://127.0.0.1:$TPORT do not load"
	cp "$W/client.good" "$H3/ldap-client.pem"
	# a file that is not there is named when the configuration is read
	mv "$H3/directory-ca.pem" "$W/directory-ca.pem"
	run sg "$H3" publish --once
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"[publish.ldap.tls] tls_cacert: $H3/directory-ca.pem: No such file or directory"* ]]
	mv "$W/directory-ca.pem" "$H3/directory-ca.pem"
	# without a client certificate there is no identity to bind with
	sed -i '/^tls_cert = \|^tls_key = /d' "$H3/signet.conf"
	run sg "$H3" publish --once
	echo "$output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"bind = sasl-external over ldaps:// needs tls_cert and tls_key"* ]]
	stop_home "$H3"
	rm -f "$W/h3"
}

@test "the person's filter and the attribute names are the configuration's (as for Active Directory)" {
	H4=$(new_home publish-attrs)
	echo "$H4" >"$W/h4"
	sg "$H4" setup --cn "Publish Attrs CA" >/dev/null
	cat >>"$H4/signet.conf" <<CONF

[publish.ldap.ad]
uri = $URI
bind = simple
bind_dn = cn=admin,$BASE
password_file = $LD/admin.pw
base_dn = $BASE
filter = (&(objectClass=inetOrgPerson)(mail=%s)(uid=nobody))
cert_attr = userCertificate
create_ca_entry = no
CONF
	s=$(sg "$H4" issue --csr "$W/k.csr" --email carol@example.com --profile signing \
	    --out "$W/attrs.pem" | awk '{ print $2 }')
	# a filter no entry matches: the person is not found, and it is said
	job_fails "$H4" "$s" 'no directory entry for carol@example.com'
	# the filter that finds her; the attribute is the one named: AD's
	# plain userCertificate, which slapd refuses (RFC 4523 wants the
	# ;binary option), the server's words kept with the job
	sed -i 's/^filter = .*/filter = (\&(objectClass=inetOrgPerson)(mail=%s))/' "$H4/signet.conf"
	sg "$H4" publish retry >/dev/null
	job_fails "$H4" "$s" 'modifying uid=carol,ou=people,dc=example,dc=com: Undefined attribute type -- userCertificate: requires ;binary transfer'
	sed -i 's/^cert_attr = .*/cert_attr = userCertificate;binary/' "$H4/signet.conf"
	sg "$H4" publish retry >/dev/null
	sg "$H4" publish --once
	[ "$(job_state "$H4" "$s")" = done ]
	openssl x509 -in "$W/attrs.pem" -outform DER -out "$W/attrs.der"
	vals carol@example.com 'userCertificate;binary' | grep -qxF "$(base64 -w0 "$W/attrs.der")"
	stop_home "$H4"
	rm -f "$W/h4"
}

@test "[publish] max_attempts: a job that fails that often is given up, said so, left alone, and published after retry" {
	cp "$H/signet.conf" "$W/signet.conf.saved"
	sed -i 's/^sweep = 1$/sweep = 1\nmax_attempts = 2/' "$H/signet.conf"
	grep -qx 'max_attempts = 2' "$H/signet.conf"
	s=$(issue yan@example.com)
	id=$(psql_home "$H" "SELECT id FROM publish_jobs WHERE kind = 'cert.issue' AND ref = '$s'")
	attempts() { psql_home "$H" "SELECT attempts FROM publish_jobs WHERE id = $id"; }
	due_now() { psql_home "$H" "UPDATE publish_jobs SET next_at = now() WHERE id = $id" >/dev/null; }
	run sg "$H" publish --once
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"failed and will be retried"* ]]
	[ "$(job_state "$H" "$s")" = queued ]
	[ "$(attempts)" -eq 1 ]
	# simulates the backoff passing
	due_now
	run sg "$H" publish --once
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"given up after [publish] max_attempts (signet publish retry)"* ]]
	[ "$(job_state "$H" "$s")" = failed ]
	[ "$(attempts)" -eq 2 ]
	run sg "$H" publish status
	echo "$output"
	[[ "$output" == *"job $id cert.issue $s yan@example.com: 2 attempts, given up (signet publish retry $id): ldap.demo: no directory entry for yan@example.com"* ]]
	# given up means no more attempts, however long it waits
	due_now
	sg "$H" publish --once || true
	[ "$(attempts)" -eq 2 ]
	[ "$(job_state "$H" "$s")" = failed ]
	# the person appears; the operator retries; nothing was lost
	cp "$W/signet.conf.saved" "$H/signet.conf"
	ldapadd -x -H "$URI" -D "cn=admin,$BASE" -y "$LD/admin.pw" >/dev/null <<LDIF
dn: uid=yan,ou=people,$BASE
objectClass: inetOrgPerson
uid: yan
cn: Yan Li
sn: Li
mail: yan@example.com
LDIF
	run sg "$H" publish retry "$id"
	[ "$output" = "requeued 1 job" ]
	sg "$H" publish --once || true
	[ "$(job_state "$H" "$s")" = done ]
	vals yan@example.com 'userCertificate;binary' | grep -qxF "$(der_b64 "$s")"
}

#!/usr/bin/env bats
# The CA key in a PKCS#11 token (SoftHSM2): setup with --pkcs11 and
# --pin-file, issuance signed in the token, no private key and no PIN
# anywhere in the instance, a wrong PIN refused with nothing issued.

load lib

setup_file() {
	export W="$BATS_FILE_TMPDIR"
	export H=$(new_home pkcs11)
	# a private token store: nothing touches the system's SoftHSM
	mkdir -p "$W/tokens"
	printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
		"$W/tokens" >"$W/softhsm2.conf"
	export SOFTHSM2_CONF="$W/softhsm2.conf"
	# distinctive, so a grep for it means something
	export PIN="pin-$RANDOM$RANDOM-qx7"
	(umask 077 && printf '%s\n' "$PIN" >"$W/pin")
	softhsm2-util --init-token --free --label signet-ca \
		--pin "$PIN" --so-pin "so-$RANDOM$RANDOM" >/dev/null
	# the key is made inside the token; p11tool reads the PIN from the
	# environment, not its argv
	GNUTLS_PIN="$PIN" p11tool --login --generate-privkey=ECDSA \
		--curve=secp384r1 --label=ca --outfile="$W/token-pub.pem" \
		'pkcs11:token=signet-ca' >/dev/null 2>&1
	export URL='pkcs11:token=signet-ca;object=ca;type=private'
	# record the argv setup really ran with
	printf '%s\n' "$SIGNET" --home "$H" setup --pkcs11 "$URL" \
		--pin-file "$W/pin" --cn "Token Mail CA" >"$W/setup.argv"
	sg "$H" setup --pkcs11 "$URL" --pin-file "$W/pin" --cn "Token Mail CA" \
		>"$W/setup.out" 2>&1
}

teardown_file() {
	stop_home "$H"
}

count_certs() { psql_home "$H" "SELECT count(*) FROM certificates"; }

@test "setup with --pkcs11 makes a P-384 root whose key is the token's" {
	grep -q "Signet instance ready" "$W/setup.out"
	run openssl x509 -in "$H/ca.pem" -noout -text
	[ "$status" -eq 0 ]
	[[ "$output" == *"NIST CURVE: P-384"* ]]
	[[ "$output" == *"Signature Algorithm: ecdsa-with-SHA384"* ]]
	[[ "$output" == *"Subject: CN = Token Mail CA"* ]]
	[ "$(openssl x509 -in "$H/ca.pem" -noout -pubkey)" = \
	  "$(openssl pkey -pubin -in "$W/token-pub.pem")" ]
	run openssl verify -x509_strict -CAfile "$H/ca.pem" "$H/ca.pem"
	[ "$output" = "$H/ca.pem: OK" ]
	grep -qF "$URL" "$H/signet.conf"
}

@test "a certificate issued with the token key verifies strictly for S/MIME signing" {
	make_csr ecdsa-p256 "$W/alice.csr"
	run sg "$H" issue --csr "$W/alice.csr" --email alice@example.com \
		--profile signing --out "$W/alice.pem"
	[ "$status" -eq 0 ]
	[[ "$output" == "issued "*" for alice@example.com (signing, ecdsa-p256)" ]]
	run openssl verify -x509_strict -purpose smimesign -CAfile "$H/ca.pem" "$W/alice.pem"
	[ "$output" = "$W/alice.pem: OK" ]
	run openssl x509 -in "$W/alice.pem" -noout -text
	# S/MIME BR 7.1.3.2.2: a P-384 key signs with SHA-384
	echo "alice.pem: $(grep -m1 'Signature Algorithm' <<<"$output")"
	[[ "$output" == *"Signature Algorithm: ecdsa-with-SHA384"* ]]
	[[ "$output" == *"email:alice@example.com"* ]]
	serial=$(openssl x509 -in "$W/alice.pem" -noout -serial | cut -d= -f2 | tr A-F a-f)
	[ "$(psql_home "$H" "SELECT email FROM certificates WHERE serial = '$serial'")" = alice@example.com ]
}

@test "the instance directory holds no private key and no key passphrase" {
	[ ! -e "$H/ca.key" ]
	[ ! -e "$H/ca.pass" ]
	run grep -rlE "BEGIN (ENCRYPTED )?(EC )?PRIVATE KEY" "$H"
	[ "$status" -eq 1 ]
	[ -z "$output" ]
}

@test "the PIN is in no argv, no instance file and not in the PostgreSQL log" {
	! grep -qF "$PIN" "$W/setup.argv" || false
	! grep -qF "$PIN" "$W/setup.out" || false
	! grep -qF "pin-value" "$H/signet.conf" || false
	[ -s "$H/pg/postgresql.log" ]
	run grep -rlF "$PIN" "$H"
	[ "$status" -eq 1 ]
	[ -z "$output" ]
	# the token and the PIN file are what hold the secret, outside H
	grep -qF "$PIN" "$W/pin"
}

@test "a wrong PIN is refused with a clear error and nothing is issued" {
	before=$(count_certs)
	cp "$W/pin" "$W/pin.good"
	(umask 077 && printf 'wrong-%s\n' "$RANDOM" >"$W/pin")
	make_csr ecdsa-p256 "$W/bob.csr"
	run sg "$H" issue --csr "$W/bob.csr" --email bob@example.com \
		--profile signing --out "$W/bob.pem"
	cp "$W/pin.good" "$W/pin"
	echo "wrong PIN: $output"
	[ "$status" -ne 0 ]
	[[ "$output" == *PIN* ]]
	[ ! -e "$W/bob.pem" ]
	[ "$(count_certs)" = "$before" ]
	# the right PIN still works: the wrong one locked nothing
	run sg "$H" issue --csr "$W/bob.csr" --email bob@example.com \
		--profile signing --out "$W/bob.pem"
	[ "$status" -eq 0 ]
	[ "$(count_certs)" = "$((before + 1))" ]
}

@test "a PIN file others can read is refused before the token is touched" {
	chmod 0644 "$W/pin"
	run sg "$H" issue --csr "$W/bob.csr" --email bob@example.com \
		--profile signing --out "$W/bob2.pem"
	chmod 0600 "$W/pin"
	echo "readable PIN file: $output"
	[ "$status" -ne 0 ]
	[[ "$output" == *"$W/pin"* ]]
	[ ! -e "$W/bob2.pem" ]
}

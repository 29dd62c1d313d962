#!/usr/bin/env bats
# Interop: certificates and PKCS#12 files issued by Signet work in three
# independent S/MIME engines (RFC 8551 messages, RFC 5652 CMS): OpenSSL, NSS
# (certutil, pk12util, cmsutil) and GnuPG's gpgsm 2.2. Every behaviour is
# proved under two CAs, an ECDSA P-384 root and an RSA-3072 root.
#
# A signature counts as verified only when the engine says so in words:
# openssl "Verification successful", cmsutil "signer0.status=GoodSignature"
# (cmsutil exits 0 for bad signatures), gpgsm "GOODSIG" + "TRUST_FULLY".

load lib

setup_file() {
	cd "$BATS_TEST_DIRNAME/../.." || return 1
	[ -x "$SIGNET" ] || make "$SIGNET" >&2
	make_inputs
	instances_root
	ca_setup p384 ecdsa-p384
	ca_setup rsa3072 rsa-3072
}

teardown_file() {
	cd "$BATS_TEST_DIRNAME/../.." || return 1
	gpgsm_kill_all
	ca_stop_all
}

setup() {
	cd "$BATS_TEST_DIRNAME/../.." || return 1
}

# use_ca ID: the CA a test runs under; W is where its issued files live.
use_ca() {
	CA=$1
	W=$(work_dir "$1")
}

other_ca() { [ "$1" = p384 ] && echo rsa3072 || echo p384; }

# ---- 1. OpenSSL with an OpenSSL-made key and a CSR ---------------------------

# A dual-use certificate for an OpenSSL key signs; openssl verifies strictly
# against this CA and rejects the signature against the other CA.
check_openssl_csr_signs() {
	local kt=$1 cert
	cert=$(csr_cert "$CA" "$kt" dual)
	ossl_sign "$cert" "$(key_file "$kt")" "$W/csr-$kt.signed.p7m"
	ossl_verify_strict "$(ca_pem "$CA")" "$W/csr-$kt.signed.p7m"
	run openssl cms -verify -inform DER -in "$W/csr-$kt.signed.p7m" \
		-CAfile "$(ca_pem "$(other_ca "$CA")")" -purpose smimesign -x509_strict \
		-out /dev/null
	[ "$status" -ne 0 ] || fail "verified against the wrong CA: $output"
	assert_contains "$output" "unable to get local issuer certificate"
}

# RFC 8550 4.4.2: RSA recipients need keyEncipherment (key transport, ktri),
# EC recipients keyAgreement (ECDH, kari).
check_openssl_csr_decrypts() {
	local kt=$1 cert ku ri
	cert=$(csr_cert "$CA" "$kt" dual)
	ku=$(openssl x509 -in "$cert" -noout -ext keyUsage)
	echo "$ku"
	case $kt in
	rsa-*) assert_contains "$ku" "Digital Signature, Key Encipherment"; ri=ktri;;
	ecdsa-*) assert_contains "$ku" "Digital Signature, Key Agreement"; ri=kari;;
	esac
	ossl_encrypt "$cert" "$W/csr-$kt.env.p7m"
	run openssl cms -cmsout -print -inform DER -in "$W/csr-$kt.env.p7m"
	assert_contains "$output" "d.$ri:"
	show openssl cms -decrypt -inform DER -in "$W/csr-$kt.env.p7m" \
		-inkey "$(key_file "$kt")" -recip "$cert" -out "$W/csr-$kt.env.out"
	assert_same_file "$BATS_FILE_TMPDIR/msg.txt" "$W/csr-$kt.env.out"
}

@test "openssl: rsa-2048 CSR key signs, verifies with -x509_strict -purpose smimesign (P-384 CA)" {
	use_ca p384; check_openssl_csr_signs rsa-2048
}
@test "openssl: rsa-2048 CSR key signs, verifies with -x509_strict -purpose smimesign (RSA-3072 CA)" {
	use_ca rsa3072; check_openssl_csr_signs rsa-2048
}
@test "openssl: rsa-3072 CSR key signs, verifies with -x509_strict -purpose smimesign (P-384 CA)" {
	use_ca p384; check_openssl_csr_signs rsa-3072
}
@test "openssl: rsa-3072 CSR key signs, verifies with -x509_strict -purpose smimesign (RSA-3072 CA)" {
	use_ca rsa3072; check_openssl_csr_signs rsa-3072
}
@test "openssl: ecdsa-p256 CSR key signs, verifies with -x509_strict -purpose smimesign (P-384 CA)" {
	use_ca p384; check_openssl_csr_signs ecdsa-p256
}
@test "openssl: ecdsa-p256 CSR key signs, verifies with -x509_strict -purpose smimesign (RSA-3072 CA)" {
	use_ca rsa3072; check_openssl_csr_signs ecdsa-p256
}

@test "openssl: rsa-2048 dual cert (keyEncipherment) receives an AES-256 envelope the key decrypts (P-384 CA)" {
	use_ca p384; check_openssl_csr_decrypts rsa-2048
}
@test "openssl: rsa-2048 dual cert (keyEncipherment) receives an AES-256 envelope the key decrypts (RSA-3072 CA)" {
	use_ca rsa3072; check_openssl_csr_decrypts rsa-2048
}
@test "openssl: rsa-3072 dual cert (keyEncipherment) receives an AES-256 envelope the key decrypts (P-384 CA)" {
	use_ca p384; check_openssl_csr_decrypts rsa-3072
}
@test "openssl: rsa-3072 dual cert (keyEncipherment) receives an AES-256 envelope the key decrypts (RSA-3072 CA)" {
	use_ca rsa3072; check_openssl_csr_decrypts rsa-3072
}
@test "openssl: ecdsa-p256 dual cert (keyAgreement) receives an ECDH envelope the key decrypts (P-384 CA)" {
	use_ca p384; check_openssl_csr_decrypts ecdsa-p256
}
@test "openssl: ecdsa-p256 dual cert (keyAgreement) receives an ECDH envelope the key decrypts (RSA-3072 CA)" {
	use_ca rsa3072; check_openssl_csr_decrypts ecdsa-p256
}

# A signing-profile certificate has digitalSignature only (RFC 8550 4.4.2;
# S/MIME BR 7.1.2.3(e)), for RSA and EC keys alike. OpenSSL's S/MIME
# encryption purpose refuses the RSA one and passes the dual one; `openssl cms
# -encrypt` itself does not consult keyUsage, so the purpose check is where
# OpenSSL shows the refusal. (OpenSSL's purpose wants keyEncipherment even
# for EC keys, so it says nothing useful about EC certificates.)
check_openssl_signing_cert_not_for_encryption() {
	local kt sig dual
	for kt in rsa-2048 ecdsa-p256; do
		sig=$(csr_cert "$CA" "$kt" signing)
		run openssl x509 -in "$sig" -noout -ext keyUsage
		echo "$kt signing profile: $output"
		assert_contains "$output" "X509v3 Key Usage: critical"
		[ "$(echo "$output" | sed -n '2s/^ *//p')" = "Digital Signature" ]
	done
	sig=$(csr_cert "$CA" rsa-2048 signing)
	dual=$(csr_cert "$CA" rsa-2048 dual)
	run openssl verify -CAfile "$(ca_pem "$CA")" -purpose smimeencrypt -x509_strict "$sig"
	echo "signing cert, -purpose smimeencrypt: [exit $status] $output"
	[ "$status" -ne 0 ]
	assert_contains "$output" "unsuitable certificate purpose"
	run openssl verify -CAfile "$(ca_pem "$CA")" -purpose smimeencrypt -x509_strict "$dual"
	echo "dual cert, -purpose smimeencrypt: [exit $status] $output"
	[ "$status" -eq 0 ]
	assert_contains "$output" ": OK"
	# Shown, not asserted: what `cms -encrypt` itself does with this cert.
	run openssl cms -encrypt -aes256 -in "$BATS_FILE_TMPDIR/msg.txt" -out /dev/null "$sig"
	echo "note: openssl cms -encrypt to the signing-only cert: exit $status $output"
}

@test "openssl: signing-profile certs have digitalSignature only; RSA one refused by -purpose smimeencrypt, dual passes (P-384 CA)" {
	use_ca p384; check_openssl_signing_cert_not_for_encryption
}
@test "openssl: signing-profile certs have digitalSignature only; RSA one refused by -purpose smimeencrypt, dual passes (RSA-3072 CA)" {
	use_ca rsa3072; check_openssl_signing_cert_not_for_encryption
}

# ---- 2. PKCS#12 from `issue --generate`, read by OpenSSL ---------------------

# The two formats are what they claim (modern: PBES2/PBKDF2/AES-256-CBC with
# an HMAC-SHA256 MAC; compatible: pbeWithSHA1And3-KeyTripleDES-CBC with a SHA-1
# MAC), hold the key of the issued certificate, and that key signs.
check_openssl_p12_signs() {
	local kt=$1 fmt=$2 p12 base
	p12=$(p12_file "$CA" "$kt" "$fmt")
	base=${p12%.p12}
	run openssl pkcs12 -in "$p12" -passin "file:$BATS_FILE_TMPDIR/pw" -info -noout
	echo "$output"
	[ "$status" -eq 0 ]
	case $fmt in
	modern)
		assert_contains "$output" "MAC: sha256"
		assert_contains "$output" "Shrouded Keybag: PBES2, PBKDF2, AES-256-CBC"
		refute_contains "$output" "TripleDES";;
	compatible)
		assert_contains "$output" "MAC: sha1"
		assert_contains "$output" "Shrouded Keybag: pbeWithSHA1And3-KeyTripleDES-CBC";;
	esac
	p12_to_pem "$p12" "$base.all.pem"
	openssl pkey -in "$base.all.pem" -out "$base.key"
	openssl pkcs12 -in "$p12" -passin "file:$BATS_FILE_TMPDIR/pw" -nokeys -clcerts \
		-out "$base.p12cert.pem"
	# the key in the bag belongs to the certificate Signet reported issuing
	[ "$(openssl pkey -in "$base.key" -pubout)" = \
		"$(openssl x509 -in "$base.pem" -noout -pubkey)" ] ||
		fail "PKCS#12 key does not match the issued certificate"
	[ "$(cert_email "$base.p12cert.pem")" = "$(p12_email "$kt" "$fmt")" ]
	ossl_sign "$base.p12cert.pem" "$base.key" "$base.ossl-signed.p7m"
	ossl_verify_strict "$(ca_pem "$CA")" "$base.ossl-signed.p7m"
}

@test "openssl: modern PKCS#12 (rsa-3072, AES-256) key signs, verifies with -x509_strict -purpose smimesign (P-384 CA)" {
	use_ca p384; check_openssl_p12_signs rsa-3072 modern
}
@test "openssl: modern PKCS#12 (rsa-3072, AES-256) key signs, verifies with -x509_strict -purpose smimesign (RSA-3072 CA)" {
	use_ca rsa3072; check_openssl_p12_signs rsa-3072 modern
}
@test "openssl: compatible PKCS#12 (rsa-3072, 3DES) key signs, verifies with -x509_strict -purpose smimesign (P-384 CA)" {
	use_ca p384; check_openssl_p12_signs rsa-3072 compatible
}
@test "openssl: compatible PKCS#12 (rsa-3072, 3DES) key signs, verifies with -x509_strict -purpose smimesign (RSA-3072 CA)" {
	use_ca rsa3072; check_openssl_p12_signs rsa-3072 compatible
}
@test "openssl: modern PKCS#12 (ecdsa-p256, AES-256) key signs, verifies with -x509_strict -purpose smimesign (P-384 CA)" {
	use_ca p384; check_openssl_p12_signs ecdsa-p256 modern
}
@test "openssl: modern PKCS#12 (ecdsa-p256, AES-256) key signs, verifies with -x509_strict -purpose smimesign (RSA-3072 CA)" {
	use_ca rsa3072; check_openssl_p12_signs ecdsa-p256 modern
}
@test "openssl: compatible PKCS#12 (ecdsa-p256, 3DES) key signs, verifies with -x509_strict -purpose smimesign (P-384 CA)" {
	use_ca p384; check_openssl_p12_signs ecdsa-p256 compatible
}
@test "openssl: compatible PKCS#12 (ecdsa-p256, 3DES) key signs, verifies with -x509_strict -purpose smimesign (RSA-3072 CA)" {
	use_ca rsa3072; check_openssl_p12_signs ecdsa-p256 compatible
}

# ---- 3. NSS ------------------------------------------------------------------

# pk12util imports key and certificate; with the CA trusted for S/MIME, NSS
# validates the certificate as e-mail signer and as e-mail recipient.
check_nss_imports() {
	local kt=$1 fmt=$2 db nick
	nss_import "$CA" "$kt" "$fmt"
	db=$(nss_db "$CA")
	nick=$(nss_nick "$db" "$(p12_email "$kt" "$fmt")")
	run certutil -K -d "sql:$db"
	echo "$output"
	assert_contains "$output" "$nick"
	run certutil -V -n "$nick" -u S -d "sql:$db"
	echo "email signer: $output"
	assert_contains "$output" "certificate is valid"
	run certutil -V -n "$nick" -u R -d "sql:$db"
	echo "email recipient: $output"
	assert_contains "$output" "certificate is valid"
}

# cmsutil signs with the imported key; cmsutil itself reports GoodSignature
# and openssl verifies the NSS-made signature strictly.
check_nss_signs() {
	local kt=$1 fmt=$2 db nick out
	nss_import "$CA" "$kt" "$fmt"
	db=$(nss_db "$CA")
	nick=$(nss_nick "$db" "$(p12_email "$kt" "$fmt")")
	out=$W/nss-$kt-$fmt.signed.p7m
	show cmsutil -S -N "$nick" -d "sql:$db" -i "$BATS_FILE_TMPDIR/msg.txt" -o "$out"
	run cmsutil_decode "$db" "$out" "$out.nss-out"
	echo "$output"
	assert_contains "$output" "signer0.status=GoodSignature"
	assert_same_file "$BATS_FILE_TMPDIR/msg.txt" "$out.nss-out"
	ossl_verify_strict "$(ca_pem "$CA")" "$out"
}

# The check bites: one changed byte of content is no GoodSignature, although
# cmsutil still exits 0 (the DESIGN.md pitfall), and openssl refuses it too.
check_nss_tampered() {
	local db nick out
	nss_import "$CA" rsa-3072 modern
	db=$(nss_db "$CA")
	nick=$(nss_nick "$db" "$(p12_email rsa-3072 modern)")
	out=$W/nss-tamper.p7m
	show cmsutil -S -N "$nick" -d "sql:$db" -i "$BATS_FILE_TMPDIR/msg.txt" -o "$out"
	flip_byte_of_message "$out"
	run cmsutil_decode "$db" "$out" "$out.nss-out"
	echo "cmsutil -D on tampered message: [exit $status] $output"
	assert_contains "$output" "signer0.status="
	refute_contains "$output" "GoodSignature"
	assert_contains "$output" "signer0.status=DigestMismatch"
	run openssl cms -verify -inform DER -in "$out" -CAfile "$(ca_pem "$CA")" \
		-purpose smimesign -x509_strict -out /dev/null
	echo "openssl on tampered message: [exit $status] $output"
	[ "$status" -ne 0 ]
	refute_contains "$output" "Verification successful"
}

# openssl encrypts to the certificate; cmsutil decrypts with the key that
# pk12util put into the NSS database.
check_nss_decrypts() {
	local kt=$1 fmt=$2 db p12 env
	nss_import "$CA" "$kt" "$fmt"
	db=$(nss_db "$CA")
	p12=$(p12_file "$CA" "$kt" "$fmt")
	env=$W/nss-$kt-$fmt.env.p7m
	ossl_encrypt "${p12%.p12}.pem" "$env"
	run cmsutil_decode "$db" "$env" "$env.nss-out"
	echo "cmsutil -D: [exit $status] $output"
	if [ "$status" -ne 0 ] && [ "${kt%%-*}" = ecdsa ] &&
		version_lt "$(nss_version)" 3.100; then
		skip "NSS $(nss_version) has no CMS ECDH (KeyAgreeRecipientInfo) support, added in NSS 3.100 (bug 676118): cmsutil says $(echo "$output" | grep -o 'SEC_ERROR_[A-Z_]*' | head -n 1)"
	fi
	[ "$status" -eq 0 ]
	assert_contains "$output" "type=envelopedData"
	assert_same_file "$BATS_FILE_TMPDIR/msg.txt" "$env.nss-out"
}

# cmsutil encrypts to the certificate (looked up by nickname in the NSS db);
# openssl decrypts with the key out of the PKCS#12.
check_nss_encrypts_for_openssl() {
	local db nick p12 base env
	nss_import "$CA" rsa-3072 modern
	db=$(nss_db "$CA")
	nick=$(nss_nick "$db" "$(p12_email rsa-3072 modern)")
	p12=$(p12_file "$CA" rsa-3072 modern)
	base=${p12%.p12}
	p12_to_pem "$p12" "$base.all.pem"
	env=$W/nss-made.env.p7m
	show cmsutil -E -r "$nick" -d "sql:$db" -i "$BATS_FILE_TMPDIR/msg.txt" -o "$env"
	show openssl cms -decrypt -inform DER -in "$env" -inkey "$base.all.pem" \
		-recip "$base.pem" -out "$env.out"
	assert_same_file "$BATS_FILE_TMPDIR/msg.txt" "$env.out"
}

# NSS checks keyUsage for e-mail recipients (RFC 8550 4.4.2): the RSA
# signing-profile certificate is refused, the dual ones (RSA keyEncipherment,
# EC keyAgreement) are valid recipients, and all are valid signers. NSS's
# CERT_CheckKeyUsage accepts digitalSignature in place of keyAgreement for EC
# keys, so its verdict on the EC signing certificate is shown, not asserted.
check_nss_recipient_keyusage() {
	local db kt profile cert
	db=$(nss_db "$CA")
	for kt in rsa-2048 ecdsa-p256; do
		for profile in dual signing; do
			cert=$(csr_cert "$CA" "$kt" "$profile")
			certutil -A -n "csr-$kt-$profile" -t ",," -i "$cert" -d "sql:$db"
			run certutil -V -n "csr-$kt-$profile" -u S -d "sql:$db"
			echo "$kt $profile as email signer: $output"
			assert_contains "$output" "certificate is valid"
			run certutil -V -n "csr-$kt-$profile" -u R -d "sql:$db"
			echo "$kt $profile as email recipient: $output"
			case $kt-$profile in
			*-dual) assert_contains "$output" "certificate is valid";;
			rsa-*-signing)
				assert_contains "$output" "certificate is invalid"
				assert_contains "$output" "key usage inadequate";;
			esac
		done
	done
}

@test "nss: pk12util imports the modern PKCS#12 (rsa-3072); valid email signer and recipient (P-384 CA)" {
	use_ca p384; check_nss_imports rsa-3072 modern
}
@test "nss: pk12util imports the modern PKCS#12 (rsa-3072); valid email signer and recipient (RSA-3072 CA)" {
	use_ca rsa3072; check_nss_imports rsa-3072 modern
}
@test "nss: pk12util imports the compatible PKCS#12 (rsa-3072); valid email signer and recipient (P-384 CA)" {
	use_ca p384; check_nss_imports rsa-3072 compatible
}
@test "nss: pk12util imports the compatible PKCS#12 (rsa-3072); valid email signer and recipient (RSA-3072 CA)" {
	use_ca rsa3072; check_nss_imports rsa-3072 compatible
}
@test "nss: pk12util imports the modern PKCS#12 (ecdsa-p256); valid email signer and recipient (P-384 CA)" {
	use_ca p384; check_nss_imports ecdsa-p256 modern
}
@test "nss: pk12util imports the modern PKCS#12 (ecdsa-p256); valid email signer and recipient (RSA-3072 CA)" {
	use_ca rsa3072; check_nss_imports ecdsa-p256 modern
}
@test "nss: pk12util imports the compatible PKCS#12 (ecdsa-p256); valid email signer and recipient (P-384 CA)" {
	use_ca p384; check_nss_imports ecdsa-p256 compatible
}
@test "nss: pk12util imports the compatible PKCS#12 (ecdsa-p256); valid email signer and recipient (RSA-3072 CA)" {
	use_ca rsa3072; check_nss_imports ecdsa-p256 compatible
}

@test "nss: cmsutil signs with the modern PKCS#12 key (rsa-3072): GoodSignature, and openssl verifies it (P-384 CA)" {
	use_ca p384; check_nss_signs rsa-3072 modern
}
@test "nss: cmsutil signs with the modern PKCS#12 key (rsa-3072): GoodSignature, and openssl verifies it (RSA-3072 CA)" {
	use_ca rsa3072; check_nss_signs rsa-3072 modern
}
@test "nss: cmsutil signs with the compatible PKCS#12 key (rsa-3072): GoodSignature, and openssl verifies it (P-384 CA)" {
	use_ca p384; check_nss_signs rsa-3072 compatible
}
@test "nss: cmsutil signs with the compatible PKCS#12 key (rsa-3072): GoodSignature, and openssl verifies it (RSA-3072 CA)" {
	use_ca rsa3072; check_nss_signs rsa-3072 compatible
}
@test "nss: cmsutil signs with the modern PKCS#12 key (ecdsa-p256): GoodSignature, and openssl verifies it (P-384 CA)" {
	use_ca p384; check_nss_signs ecdsa-p256 modern
}
@test "nss: cmsutil signs with the modern PKCS#12 key (ecdsa-p256): GoodSignature, and openssl verifies it (RSA-3072 CA)" {
	use_ca rsa3072; check_nss_signs ecdsa-p256 modern
}
@test "nss: cmsutil signs with the compatible PKCS#12 key (ecdsa-p256): GoodSignature, and openssl verifies it (P-384 CA)" {
	use_ca p384; check_nss_signs ecdsa-p256 compatible
}
@test "nss: cmsutil signs with the compatible PKCS#12 key (ecdsa-p256): GoodSignature, and openssl verifies it (RSA-3072 CA)" {
	use_ca rsa3072; check_nss_signs ecdsa-p256 compatible
}

@test "nss: a tampered signed message gets DigestMismatch, not GoodSignature, though cmsutil exits 0 (P-384 CA)" {
	use_ca p384; check_nss_tampered
}
@test "nss: a tampered signed message gets DigestMismatch, not GoodSignature, though cmsutil exits 0 (RSA-3072 CA)" {
	use_ca rsa3072; check_nss_tampered
}

@test "openssl->nss: message encrypted by openssl to the modern PKCS#12 cert (rsa-3072) decrypts with cmsutil (P-384 CA)" {
	use_ca p384; check_nss_decrypts rsa-3072 modern
}
@test "openssl->nss: message encrypted by openssl to the modern PKCS#12 cert (rsa-3072) decrypts with cmsutil (RSA-3072 CA)" {
	use_ca rsa3072; check_nss_decrypts rsa-3072 modern
}
@test "openssl->nss: message encrypted by openssl to the compatible PKCS#12 cert (rsa-3072) decrypts with cmsutil (P-384 CA)" {
	use_ca p384; check_nss_decrypts rsa-3072 compatible
}
@test "openssl->nss: message encrypted by openssl to the compatible PKCS#12 cert (rsa-3072) decrypts with cmsutil (RSA-3072 CA)" {
	use_ca rsa3072; check_nss_decrypts rsa-3072 compatible
}
@test "openssl->nss: ECDH message encrypted by openssl to the modern PKCS#12 cert (ecdsa-p256) decrypts with cmsutil (P-384 CA)" {
	use_ca p384; check_nss_decrypts ecdsa-p256 modern
}
@test "openssl->nss: ECDH message encrypted by openssl to the modern PKCS#12 cert (ecdsa-p256) decrypts with cmsutil (RSA-3072 CA)" {
	use_ca rsa3072; check_nss_decrypts ecdsa-p256 modern
}

@test "nss->openssl: cmsutil encrypts to the rsa-3072 cert, openssl decrypts with the PKCS#12 key (P-384 CA)" {
	use_ca p384; check_nss_encrypts_for_openssl
}
@test "nss->openssl: cmsutil encrypts to the rsa-3072 cert, openssl decrypts with the PKCS#12 key (RSA-3072 CA)" {
	use_ca rsa3072; check_nss_encrypts_for_openssl
}

@test "nss: dual certs (RSA, EC) are valid email recipients, the RSA signing-profile cert is refused for key usage (P-384 CA)" {
	use_ca p384; check_nss_recipient_keyusage
}
@test "nss: dual certs (RSA, EC) are valid email recipients, the RSA signing-profile cert is refused for key usage (RSA-3072 CA)" {
	use_ca rsa3072; check_nss_recipient_keyusage
}

# ---- 4. gpgsm 2.2 --------------------------------------------------------------

# The compatible PKCS#12 of an RSA key imports with its secret key.
check_gpgsm_imports_compatible() {
	local p12 serial
	p12=$(p12_file "$CA" rsa-3072 compatible)
	gpgsm_import_p12 "$CA" rsa-3072 compatible
	serial=$(tr a-f A-F <"${p12%.p12}.serial")
	run gpgsm_as "$CA" --list-secret-keys
	echo "$output"
	assert_contains "$output" "S/N: $serial"
	assert_contains "$output" "aka: $(p12_email rsa-3072 compatible)"
}

# gpgsm 2.2 cannot read the modern PKCS#12 (PBES2 with AES-256 and an
# HMAC-SHA256 PRF): the reason the compatible format exists.
check_gpgsm_refuses_modern() {
	local p12 serial
	p12=$(p12_file "$CA" rsa-3072 modern)
	serial=$(tr a-f A-F <"${p12%.p12}.serial")
	run gpgsm_as "$CA" --import "$p12"
	echo "gpgsm --import modern: [exit $status] $output"
	[ "$status" -ne 0 ]
	assert_contains "$output" "error parsing or decrypting the PKCS#12 file"
	refute_contains "$output" "secret keys imported"
	run gpgsm_as "$CA" --list-secret-keys
	refute_contains "$output" "S/N: $serial"
}

# gpgsm signs with the imported key; openssl verifies strictly.
check_gpgsm_signs() {
	local out=$W/gpgsm-made.signed.p7m
	gpgsm_import_p12 "$CA" rsa-3072 compatible
	rm -f "$out"
	show gpgsm_as "$CA" -u "$(p12_email rsa-3072 compatible)" --sign -o "$out" \
		"$BATS_FILE_TMPDIR/msg.txt"
	ossl_verify_strict "$(ca_pem "$CA")" "$out"
}

# openssl encrypts to the certificate; gpgsm decrypts with the imported key.
check_gpgsm_decrypts() {
	local p12 env=$W/gpgsm-for.env.p7m
	gpgsm_import_p12 "$CA" rsa-3072 compatible
	p12=$(p12_file "$CA" rsa-3072 compatible)
	ossl_encrypt "${p12%.p12}.pem" "$env"
	rm -f "$env.out"
	show gpgsm_as "$CA" --decrypt -o "$env.out" "$env"
	assert_same_file "$BATS_FILE_TMPDIR/msg.txt" "$env.out"
}

# gpgsm verifies a signature openssl made with a CSR key (a certificate gpgsm
# has never seen: it comes inside the message) and refuses a tampered copy.
check_gpgsm_verifies_openssl() {
	local kt=$1 cert in=$W/for-gpgsm-$1.signed.p7m
	cert=$(csr_cert "$CA" "$kt" dual)
	ossl_sign "$cert" "$(key_file "$kt")" "$in"
	run gpgsm_as "$CA" --status-fd 1 --verify -o "$in.out" "$in"
	echo "gpgsm --verify: [exit $status] $output"
	[ "$status" -eq 0 ]
	assert_contains "$output" "Good signature"
	assert_contains "$output" "[GNUPG:] GOODSIG"
	assert_contains "$output" "[GNUPG:] TRUST_FULLY"
	assert_same_file "$BATS_FILE_TMPDIR/msg.txt" "$in.out"
	cp "$in" "$in.bad"
	flip_byte_of_message "$in.bad"
	run gpgsm_as "$CA" --status-fd 1 --verify -o /dev/null "$in.bad"
	echo "gpgsm --verify tampered: [exit $status] $output"
	[ "$status" -ne 0 ]
	refute_contains "$output" "GOODSIG"
	assert_contains "$output" "[GNUPG:] BADSIG"
}

# gpgsm will not encrypt to the RSA signing-profile certificate (keyUsage
# without keyEncipherment), and encrypts to the dual-use one.
check_gpgsm_recipient_keyusage() {
	local sig dual
	sig=$(csr_cert "$CA" rsa-2048 signing)
	dual=$(csr_cert "$CA" rsa-2048 dual)
	show gpgsm_as "$CA" --import "$sig" "$dual"
	run gpgsm_as "$CA" -r "$(cert_email "$sig")" --encrypt -o /dev/null \
		"$BATS_FILE_TMPDIR/msg.txt"
	echo "gpgsm --encrypt to signing cert: [exit $status] $output"
	[ "$status" -ne 0 ]
	assert_contains "$output" "certificate is not usable for encryption"
	assert_contains "$output" "Wrong key usage"
	rm -f "$W/gpgsm-to-dual.p7m"
	show gpgsm_as "$CA" -r "$(cert_email "$dual")" --encrypt -o "$W/gpgsm-to-dual.p7m" \
		"$BATS_FILE_TMPDIR/msg.txt"
	show openssl cms -decrypt -inform DER -in "$W/gpgsm-to-dual.p7m" \
		-inkey "$(key_file rsa-2048)" -recip "$dual" -out "$W/gpgsm-to-dual.out"
	assert_same_file "$BATS_FILE_TMPDIR/msg.txt" "$W/gpgsm-to-dual.out"
}

@test "gpgsm: imports the compatible PKCS#12 (rsa-3072, 3DES/SHA-1 MAC) with its secret key (P-384 CA)" {
	use_ca p384; check_gpgsm_imports_compatible
}
@test "gpgsm: imports the compatible PKCS#12 (rsa-3072, 3DES/SHA-1 MAC) with its secret key (RSA-3072 CA)" {
	use_ca rsa3072; check_gpgsm_imports_compatible
}
@test "gpgsm: 2.2 cannot import the modern PKCS#12 (PBES2/AES-256), the reason the compatible format exists (P-384 CA)" {
	use_ca p384; check_gpgsm_refuses_modern
}
@test "gpgsm: 2.2 cannot import the modern PKCS#12 (PBES2/AES-256), the reason the compatible format exists (RSA-3072 CA)" {
	use_ca rsa3072; check_gpgsm_refuses_modern
}
@test "gpgsm: refuses to encrypt to the RSA signing-profile cert (Wrong key usage); encrypts to the dual one for openssl (P-384 CA)" {
	use_ca p384; check_gpgsm_recipient_keyusage
}
@test "gpgsm: refuses to encrypt to the RSA signing-profile cert (Wrong key usage); encrypts to the dual one for openssl (RSA-3072 CA)" {
	use_ca rsa3072; check_gpgsm_recipient_keyusage
}
@test "gpgsm->openssl: gpgsm signs with the compatible PKCS#12 key, openssl verifies with -x509_strict -purpose smimesign (P-384 CA)" {
	use_ca p384; check_gpgsm_signs
}
@test "gpgsm->openssl: gpgsm signs with the compatible PKCS#12 key, openssl verifies with -x509_strict -purpose smimesign (RSA-3072 CA)" {
	use_ca rsa3072; check_gpgsm_signs
}
@test "openssl->gpgsm: gpgsm decrypts a message openssl encrypted to the compatible PKCS#12 cert (P-384 CA)" {
	use_ca p384; check_gpgsm_decrypts
}
@test "openssl->gpgsm: gpgsm decrypts a message openssl encrypted to the compatible PKCS#12 cert (RSA-3072 CA)" {
	use_ca rsa3072; check_gpgsm_decrypts
}
@test "openssl->gpgsm: gpgsm reports Good signature on an openssl rsa-2048 signature, BADSIG once tampered (P-384 CA)" {
	use_ca p384; check_gpgsm_verifies_openssl rsa-2048
}
@test "openssl->gpgsm: gpgsm reports Good signature on an openssl rsa-2048 signature, BADSIG once tampered (RSA-3072 CA)" {
	use_ca rsa3072; check_gpgsm_verifies_openssl rsa-2048
}
@test "openssl->gpgsm: gpgsm reports Good signature on an openssl ecdsa-p256 signature, BADSIG once tampered (P-384 CA)" {
	use_ca p384; check_gpgsm_verifies_openssl ecdsa-p256
}
@test "openssl->gpgsm: gpgsm reports Good signature on an openssl ecdsa-p256 signature, BADSIG once tampered (RSA-3072 CA)" {
	use_ca rsa3072; check_gpgsm_verifies_openssl ecdsa-p256
}

# ---- 5. The published chain (PKCS#7 certs-only) ------------------------------

# `export --format p7c` is SignedData with id-data content (RFC 8551 3.2.2,
# certs-only), and openssl, GnuTLS and NSS each find the same two
# certificates in it: the CA's and the subscriber's.
check_p7c_read_by_three() {
	local p12 base serial chain n_ossl n_gnutls n_nss
	p12=$(p12_file "$CA" rsa-3072 modern)
	base=${p12%.p12}
	serial=$(cat "$base.serial")
	chain=$W/chain-$serial.p7c
	show "$SIGNET" --home "$(ca_home "$CA")" export "$serial" --format p7c --out "$chain"

	run openssl asn1parse -inform DER -in "$chain"
	echo "$output" | head -n 12
	assert_contains "$output" ":pkcs7-signedData"
	assert_contains "$output" ":pkcs7-data"
	refute_contains "$output" "pkcs7-digestData"

	run openssl pkcs7 -inform DER -in "$chain" -print_certs
	echo "$output" | grep -E '^(subject|issuer)='
	[ "$status" -eq 0 ]
	n_ossl=$(echo "$output" | grep -c '^subject=')
	# the certificates are exactly the CA's and the subscriber's
	printf '%s\n' "$output" | awk -v dir="$W" '
		/BEGIN CERT/ { n++; f = dir "/p7c-cert-" n ".pem" }
		f { print > f }
		/END CERT/ { f = "" }'
	local got want
	got=$(for f in "$W"/p7c-cert-[12].pem; do
		openssl x509 -in "$f" -noout -fingerprint -sha256; done | sort)
	want=$(for f in "$(ca_pem "$CA")" "$base.pem"; do
		openssl x509 -in "$f" -noout -fingerprint -sha256; done | sort)
	[ "$got" = "$want" ] || fail "p7c certs: $got" "expected: $want"

	run certtool --p7-info --inder --infile "$chain"
	echo "$output" | grep -E 'Number|Signers'
	[ "$status" -eq 0 ]
	n_gnutls=$(echo "$output" | sed -n 's/^Number of certificates: //p')

	run nss-pp -t p7 -i "$chain"
	[ "$status" -eq 0 ] || fail "nss-pp: $output"
	echo "$output" | grep -E 'Certificate \(|Subject:'
	n_nss=$(echo "$output" | grep -c 'Certificate ([0-9]*):')
	run cmsutil -D -d "sql:$(nss_db "$CA")" -i "$chain" -n -h 2
	echo "cmsutil -D: $output"
	assert_contains "$output" "type=signedData; nsigners=0"

	echo "certificates: openssl $n_ossl, gnutls $n_gnutls, nss $n_nss"
	[ "$n_ossl" -eq 2 ] && [ "$n_gnutls" -eq 2 ] && [ "$n_nss" -eq 2 ]
}

@test "export p7c: openssl, gnutls certtool and NSS each read the CA and subscriber certs (P-384 CA)" {
	use_ca p384; check_p7c_read_by_three
}
@test "export p7c: openssl, gnutls certtool and NSS each read the CA and subscriber certs (RSA-3072 CA)" {
	use_ca rsa3072; check_p7c_read_by_three
}

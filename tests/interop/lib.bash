# Helpers for tests/interop/smime.bats: Signet instances, the certificates and
# PKCS#12 files they issue, and thin wrappers around the three independent
# S/MIME engines (OpenSSL, NSS, gpgsm) that the suite drives.
#
# Every helper that makes something (an issued certificate, an NSS database, a
# GnuPG home) does it once per test file and leaves a file behind, so a test
# may ask for what it needs without depending on which test ran first. On
# failure a helper prints the tool's own output: bats shows it under the test.
#
# Layout under $BATS_FILE_TMPDIR:
#   pw                 the PKCS#12 password (mode 0600, no newline)
#   msg.txt            the message every test signs or encrypts
#   keys/KT.key|.csr   OpenSSL-made keys and CSRs (rsa-2048, rsa-3072, ecdsa-p256)
#   work-ID/           what was issued by CA ID, and its NSS database
#   instances          the directory holding the Signet instances
# The instances (ROOT/ca-ID, ID = p384 or rsa3072) live in a mktemp dir of
# mode 0711: their PostgreSQL runs as the postgres user, which must be able
# to traverse to the cluster, and bats' own temporary tree is 0700.
# GnuPG homes live in short mktemp dirs (the agent's socket path must stay
# under 108 bytes) listed in $BATS_FILE_TMPDIR/gnupg-homes.

SIGNET=bin/signet
MSG_TEXT='Signet interop test message: S/MIME across three engines.'

# ---- small assertions -------------------------------------------------------

fail() {
	printf '%s\n' "$*" >&2
	return 1
}

# assert_contains TEXT NEEDLE: TEXT holds NEEDLE as a fixed string.
assert_contains() {
	case $1 in
	*"$2"*) return 0;;
	esac
	printf 'expected to find: %s\nin:\n%s\n' "$2" "$1" >&2
	return 1
}

# refute_contains TEXT NEEDLE
refute_contains() {
	case $1 in
	*"$2"*) printf 'did not expect: %s\nin:\n%s\n' "$2" "$1" >&2; return 1;;
	esac
	return 0
}

# assert_same_file EXPECTED ACTUAL: byte-identical, else show both.
assert_same_file() {
	if ! cmp -s "$1" "$2"; then
		printf 'content differs: %s vs %s\n--- expected\n' "$1" "$2" >&2
		cat "$1" >&2
		printf '\n--- got\n' >&2
		cat "$2" >&2 2>/dev/null
		return 1
	fi
}

# show CMD...: runs CMD, echoing it and its output (for bats' failure report);
# returns CMD's status.
show() {
	local out rc=0
	out=$("$@" 2>&1) || rc=$?
	printf '$ %s\n%s\n[exit %d]\n' "$*" "$out" "$rc" >&2
	return $rc
}

# ---- CAs --------------------------------------------------------------------

ca_label() {
	case $1 in
	p384) echo "P-384 CA";;
	rsa3072) echo "RSA-3072 CA";;
	*) fail "unknown CA id $1";;
	esac
}

ca_home() { echo "$(cat "$BATS_FILE_TMPDIR/instances")/ca-$1"; }
ca_pem() { echo "$(ca_home "$1")/ca.pem"; }

# instances_root: makes the directory for the instances (setup_file).
instances_root() {
	local root
	root=$(mktemp -d /tmp/signet-interop.XXXXXX) || return 1
	chmod 711 "$root"
	echo "$root" >"$BATS_FILE_TMPDIR/instances"
}
work_dir() { echo "$BATS_FILE_TMPDIR/work-$1"; }

# ca_setup ID KEY: a Signet instance with its own PostgreSQL and root CA.
ca_setup() {
	local id=$1 key=$2 out
	mkdir -p "$(work_dir "$id")"
	if ! out=$("$SIGNET" --home "$(ca_home "$id")" setup --key "$key" \
		--cn "Signet Interop $(ca_label "$id")" 2>&1); then
		fail "signet setup --key $key failed:" "$out"
	fi
	[ -s "$(ca_pem "$id")" ] || fail "setup did not write $(ca_pem "$id"): $out"
}

# ca_stop_all: stops every instance this file made and removes them
# (teardown_file).
ca_stop_all() {
	local root h
	[ -f "$BATS_FILE_TMPDIR/instances" ] || return 0
	root=$(cat "$BATS_FILE_TMPDIR/instances")
	for h in "$root"/ca-*; do
		[ -d "$h" ] && "$SIGNET" --home "$h" stop
	done
	case $root in
	/tmp/signet-interop.*) rm -rf "$root";;
	esac
	return 0
}

# ---- inputs made with OpenSSL ----------------------------------------------

# make_inputs: password file, message, and one key + CSR per key type.
make_inputs() {
	local d=$BATS_FILE_TMPDIR
	(umask 077 && printf 'interop-Pa55-phrase' >"$d/pw")
	chmod 600 "$d/pw"
	printf '%s\n' "$MSG_TEXT" >"$d/msg.txt"
	mkdir -p "$d/keys"
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
		-out "$d/keys/rsa-2048.key" 2>/dev/null
	openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 \
		-out "$d/keys/rsa-3072.key" 2>/dev/null
	openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
		-out "$d/keys/ecdsa-p256.key" 2>/dev/null
	local kt
	for kt in rsa-2048 rsa-3072 ecdsa-p256; do
		# The CSR's subject is ignored: Signet takes the identity from --email.
		openssl req -new -key "$d/keys/$kt.key" -subj "/CN=ignored by Signet" \
			-out "$d/keys/$kt.csr" || return 1
	done
}

key_file() { echo "$BATS_FILE_TMPDIR/keys/$1.key"; }

# signet_issue ID OUTBASE ARGS...: runs `signet issue`, keeps its serial in
# OUTBASE.serial.
signet_issue() {
	local id=$1 base=$2 out serial
	shift 2
	if ! out=$("$SIGNET" --home "$(ca_home "$id")" issue "$@" 2>&1); then
		fail "signet issue $* failed:" "$out"
		return 1
	fi
	serial=$(printf '%s\n' "$out" | sed -n 's/^issued \([0-9a-fA-F]*\) for .*/\1/p')
	[ -n "$serial" ] || fail "no serial in signet's answer: $out" || return 1
	echo "$serial" >"$base.serial"
}

# csr_cert ID KT PROFILE: path of the certificate Signet issued for the
# OpenSSL-made key KT under PROFILE (issued on first use).
csr_cert() {
	local id=$1 kt=$2 profile=$3
	local base
	base="$(work_dir "$id")/csr-$kt-$profile"
	if [ ! -s "$base.pem" ]; then
		signet_issue "$id" "$base" --csr "$BATS_FILE_TMPDIR/keys/$kt.csr" \
			--email "$kt-$profile@example.com" --profile "$profile" \
			--out "$base.pem" >&2 || return 1
	fi
	echo "$base.pem"
}

# p12_file ID KT FORMAT: path of a PKCS#12 from `issue --generate` (dual use),
# its certificate beside it as .pem (issued on first use).
p12_file() {
	local id=$1 kt=$2 fmt=$3
	local base
	base="$(work_dir "$id")/gen-$kt-$fmt"
	if [ ! -s "$base.p12" ]; then
		signet_issue "$id" "$base" --generate --key-type "$kt" \
			--email "$(p12_email "$kt" "$fmt")" --profile dual \
			--p12 "$base.p12" --p12-password-file "$BATS_FILE_TMPDIR/pw" \
			--p12-format "$fmt" --out "$base.pem" >&2 || return 1
	fi
	echo "$base.p12"
}

p12_email() { echo "gen-$1-$2@example.com"; }

# ---- OpenSSL ------------------------------------------------------------------

# ossl_sign CERT KEY OUT: opaque (content inside) DER SignedData of msg.txt.
ossl_sign() {
	show openssl cms -sign -nodetach -binary -md sha256 -outform DER \
		-in "$BATS_FILE_TMPDIR/msg.txt" -signer "$1" -inkey "$2" -out "$3"
}

# ossl_verify_strict CAPEM SIGNED: openssl verifies SIGNED against the CA
# with the S/MIME signing purpose and strict X.509 checks, and gets msg.txt
# back. Prints openssl's words.
ossl_verify_strict() {
	local ca=$1 in=$2 out rc=0
	out=$(openssl cms -verify -inform DER -in "$in" -CAfile "$ca" \
		-purpose smimesign -x509_strict -out "$in.out" 2>&1) || rc=$?
	printf 'openssl cms -verify -purpose smimesign -x509_strict: [exit %d]\n%s\n' \
		"$rc" "$out" >&2
	[ $rc -eq 0 ] || return 1
	assert_contains "$out" "Verification successful" || return 1
	assert_same_file "$BATS_FILE_TMPDIR/msg.txt" "$in.out"
}

# ossl_encrypt CERT OUT: DER EnvelopedData of msg.txt, AES-256-CBC.
ossl_encrypt() {
	show openssl cms -encrypt -aes256 -binary -outform DER \
		-in "$BATS_FILE_TMPDIR/msg.txt" -out "$2" "$1"
}

# p12_to_pem P12 OUT: key and certificates out of the PKCS#12, unencrypted.
p12_to_pem() {
	show openssl pkcs12 -in "$1" -passin "file:$BATS_FILE_TMPDIR/pw" -nodes -out "$2"
}

# cert_email PEM: the rfc822Name the certificate carries.
cert_email() { openssl x509 -in "$1" -noout -email | head -n 1; }

# ---- NSS --------------------------------------------------------------------

nss_dir() { echo "$(work_dir "$1")/nss"; }

# nss_db ID: an NSS database (empty password) that trusts CA ID for e-mail.
# In NSS trust strings the second field is S/MIME: "C" there makes the CA a
# trusted issuer of e-mail certificates; "C,,C" would leave S/MIME untrusted.
nss_db() {
	local db
	db=$(nss_dir "$1")
	if [ ! -f "$db/.ready" ]; then
		rm -rf "$db"
		mkdir -p "$db"
		show certutil -N -d "sql:$db" --empty-password || return 1
		show certutil -A -n "signet-$1" -t ",C," -i "$(ca_pem "$1")" \
			-d "sql:$db" || return 1
		touch "$db/.ready"
	fi
	echo "$db"
}

# nss_import ID KT FORMAT: imports the PKCS#12 into the NSS database once.
nss_import() {
	local id=$1 kt=$2 fmt=$3 db p12 out
	db=$(nss_db "$id") || return 1
	p12=$(p12_file "$id" "$kt" "$fmt") || return 1
	[ -f "$p12.nss-imported" ] && return 0
	local rc=0
	out=$(pk12util -i "$p12" -d "sql:$db" -w "$BATS_FILE_TMPDIR/pw" 2>&1) || rc=$?
	printf 'pk12util -i %s: [exit %d]\n%s\n' "${p12##*/}" "$rc" "$out" >&2
	[ $rc -eq 0 ] || return 1
	assert_contains "$out" "PKCS12 IMPORT SUCCESSFUL" || return 1
	touch "$p12.nss-imported"
}

# nss_nick DB EMAIL: the nickname of the user certificate (one with a key,
# trust "u,u,u") in DB whose SAN is EMAIL, found through `certutil -L`.
nss_nick() {
	local db=$1 email=$2 nick
	while IFS= read -r nick; do
		if [ "$(certutil -L -d "sql:$db" -n "$nick" -a | openssl x509 -noout -email |
			head -n 1)" = "$email" ]; then
			echo "$nick"
			return 0
		fi
	done < <(certutil -L -d "sql:$db" | sed -n 's/^\(.*[^ ]\)  *u,u,u *$/\1/p')
	certutil -L -d "sql:$db" >&2
	fail "no user certificate for $email in $db"
}

# cmsutil_decode DB IN OUT: decodes IN with NSS, content into OUT; prints
# cmsutil's report of the layers (-h 2, which carries signerN.status for
# signed data). cmsutil writes that report into its output stream, ahead of
# the content, so the report comes from a second run without content (-n).
cmsutil_decode() {
	local rc=0
	cmsutil -D -d "sql:$1" -i "$2" -o "$3" 2>&1 || rc=$?
	cmsutil -D -d "sql:$1" -i "$2" -n -h 2 2>&1 || rc=$?
	return $rc
}

nss_version() { dpkg-query -W -f '${Version}' libnss3 | sed 's/^[0-9]*://; s/-.*//'; }

# version_lt A B: A < B in dotted version order.
version_lt() {
	[ "$1" != "$2" ] && [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -n 1)" = "$1" ]
}

# ---- gpgsm ------------------------------------------------------------------

# gpgsm_home ID: a throwaway GNUPGHOME that trusts CA ID, made once.
# gpgsm.conf: disable-crl-checks only, because the CRL URL in the profile
# points at a web server this suite does not run. trustlist.txt: the CA's
# SHA-1 fingerprint and "S" (S/MIME); no "relax" is needed.
gpgsm_home() {
	local id=$1 rec=$BATS_FILE_TMPDIR/gnupg-home-$1 h fp
	if [ -f "$rec" ]; then
		cat "$rec"
		return 0
	fi
	h=$(mktemp -d /tmp/signet-gpgsm.XXXXXX) || return 1
	echo "$h" >>"$BATS_FILE_TMPDIR/gnupg-homes"
	chmod 700 "$h"
	echo allow-loopback-pinentry >"$h/gpg-agent.conf"
	echo disable-crl-checks >"$h/gpgsm.conf"
	show env GNUPGHOME="$h" gpgsm --batch --import "$(ca_pem "$id")" || return 1
	fp=$(openssl x509 -in "$(ca_pem "$id")" -noout -fingerprint -sha1 | cut -d= -f2)
	echo "$fp S" >"$h/trustlist.txt"
	echo "$h" >"$rec"
	echo "$h"
}

# gpgsm_as ID ARGS...: gpgsm in CA ID's home, batch mode, the PKCS#12
# password on fd 3 (gpgsm 2.2 has --passphrase-fd, not --passphrase-file).
gpgsm_as() {
	local h
	h=$(gpgsm_home "$1") || return 1
	shift
	GNUPGHOME=$h gpgsm --batch --pinentry-mode loopback --passphrase-fd 3 "$@" \
		3<"$BATS_FILE_TMPDIR/pw"
}

# gpgsm_import_p12 ID KT FORMAT: imports the PKCS#12 into gpgsm once.
gpgsm_import_p12() {
	local id=$1 kt=$2 fmt=$3 p12 out rc=0
	p12=$(p12_file "$id" "$kt" "$fmt") || return 1
	[ -f "$p12.gpgsm-imported" ] && return 0
	out=$(gpgsm_as "$id" --import "$p12" 2>&1) || rc=$?
	printf 'gpgsm --import %s: [exit %d]\n%s\n' "${p12##*/}" "$rc" "$out" >&2
	[ $rc -eq 0 ] || return 1
	assert_contains "$out" "secret keys imported: 1" || return 1
	touch "$p12.gpgsm-imported"
}

# gpgsm_kill_all: stops the agents (and any dirmngr) of the homes made here.
gpgsm_kill_all() {
	local h
	[ -f "$BATS_FILE_TMPDIR/gnupg-homes" ] || return 0
	while IFS= read -r h; do
		[ -d "$h" ] || continue
		GNUPGHOME=$h gpgconf --kill gpg-agent
		GNUPGHOME=$h gpgconf --kill dirmngr
		rm -rf "$h"
	done <"$BATS_FILE_TMPDIR/gnupg-homes"
	return 0
}

# flip_byte_of_message FILE: corrupts one byte of the signed text inside FILE
# (the DER encodes the message verbatim in opaque SignedData).
flip_byte_of_message() {
	local off
	off=$(LC_ALL=C grep -obUaF 'interop test message' "$1" | head -n 1 | cut -d: -f1)
	[ -n "$off" ] || fail "message text not found in $1" || return 1
	printf 'I' | dd of="$1" bs=1 seek="$off" conv=notrunc status=none
}

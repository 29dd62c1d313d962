#!/usr/bin/env bash
# bench_crlgen: CRL generation from the database (`signet crl`: stream the
# revoked certificates with COPY, write and sign the CRL, store it) against
# `openssl ca -gencrl` on the same revoked set (an index.txt generated to
# match), with 100,000 and 1,000,000 entries. Prints wall time and peak RSS
# (/usr/bin/time -v) of both. Target for 1M: <= 3 s and <= 64 MiB.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
S="$ROOT/bin/signet"
H="$ROOT/build/bench-homes/crlgen-$$"
T=$(mktemp -d /tmp/bench-crlgen.XXXXXX)
mkdir -p "$(dirname "$H")"
trap '"$S" --home "$H" stop >/dev/null 2>&1 || true; rm -rf "$T" "$H"' EXIT

"$S" --home "$H" setup --cn "Bench CRL CA" >/dev/null
ci=$("$S" --home "$H" db conninfo)
psql() { command psql -X -q -A -t "$ci" -v ON_ERROR_STOP=1 "$@"; }

# rows FROM TO: revoked certificates with 16-octet serials, mixed reasons
rows() {
	psql -c "INSERT INTO certificates (serial, email, profile, key_type,
	    spki_sha256, not_before, not_after, der, issued_by, revoked_at,
	    revocation_reason)
	  SELECT '40' || lpad(to_hex(i), 30, '0'), 'u' || i || '@example.com',
	    'signing', 'ecdsa-p256', sha256(int8send(i)), now() - interval '30 days',
	    now() + interval '300 days', '\\x3000', 'bench',
	    now() - interval '1 day' + i * interval '1 millisecond',
	    (ARRAY[1, 3, 4, 5, 0, 1])[1 + i % 6]
	  FROM generate_series($1, $2) i"
}

cat >"$T/openssl.cnf" <<CNF
[ca]
default_ca = bench
[bench]
database = $T/index.txt
crlnumber = $T/crlnumber
certificate = $H/ca.pem
private_key = $H/ca.key
default_md = sha384
default_crl_days = 7
crl_extensions = crl_ext
[crl_ext]
authorityKeyIdentifier = keyid:always
CNF

measure() {	# measure LABEL CMD...: prints wall seconds and peak RSS
	local label=$1; shift
	/usr/bin/time -v "$@" >"$T/out" 2>"$T/time" || { cat "$T/time" >&2; return 1; }
	local wall rss
	wall=$(awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, a, ":");
	    s = 0; for (i = 1; i <= n; i++) s = s * 60 + a[i]; print s }' "$T/time")
	rss=$(awk -F': ' '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$T/time")
	printf '%-28s wall %7.2f s   peak RSS %8.1f MiB\n' "$label" "$wall" "$rss"
	echo "$wall $rss" >"$T/last"
}

prev=0
for n in 100000 1000000; do
	rows $((prev + 1)) "$n"
	prev=$n
	psql -c "VACUUM ANALYZE certificates" >/dev/null
	# the same set as an OpenSSL CA database (openssl ca(1) index format)
	psql -c "COPY (SELECT 'R', to_char(not_after AT TIME ZONE 'UTC', 'YYMMDDHH24MISS') || 'Z',
	    to_char(revoked_at AT TIME ZONE 'UTC', 'YYMMDDHH24MISS') || 'Z,' ||
	    (ARRAY['unspecified','keyCompromise','CACompromise','affiliationChanged',
	      'superseded','cessationOfOperation','certificateHold','','removeFromCRL',
	      'privilegeWithdrawn'])[revocation_reason + 1],
	    upper(serial), 'unknown', '/CN=' || email FROM certificates
	    WHERE revoked_at IS NOT NULL) TO STDOUT" >"$T/index.txt"
	echo 01 >"$T/crlnumber"
	echo "entries: $n"
	measure "  signet crl (from the db)" "$S" --home "$H" crl
	read -r sw sr <"$T/last"
	measure "  openssl ca -gencrl" openssl ca -config "$T/openssl.cnf" -gencrl \
	    -passin "file:$H/ca.pass" -out "$T/openssl.crl"
	read -r ow or <"$T/last"
	"$S" --home "$H" crl --out "$T/signet.crl" >/dev/null
	ents=$(openssl crl -inform DER -in "$T/signet.crl" -noout -text | grep -c 'Serial Number:')
	oents=$(openssl crl -in "$T/openssl.crl" -noout -text | grep -c 'Serial Number:')
	awk -v sw="$sw" -v sr="$sr" -v ow="$ow" -v or="$or" -v e="$ents" -v oe="$oents" \
	    'BEGIN { printf "  ratio: %.1fx faster, %.1fx less memory (entries: signet %d, openssl %d)\n",
	      ow / (sw > 0 ? sw : 0.01), or / sr, e, oe }'
done
echo "target for 1,000,000: <= 3 s and <= 64 MiB"

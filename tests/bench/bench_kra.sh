#!/usr/bin/env bash
# Key recovery costs (issue 7, item 6), measured in one run on one instance:
#   escrow overhead   encryption certificates issued through ca_issue_tx
#                     with and without escrow (RA sealing + kra_escrow_tx in
#                     the issuing transaction): certs/s and the ratio
#   M-th approval     from the last agent's approval to the PKCS#12 being
#                     committed (median ms), beside one argon2id derivation
#                     at the same limits, which that approval pays once
# Prints medians of BENCH_REPS runs; never fails on a figure.
#
# Environment: BENCH_KRA_N (200), BENCH_REPS (5), BENCH_KRA_PWHASH
# (moderate: the production default; interactive for a quick run).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SIGNET=$ROOT/bin/signet
BENCH=$ROOT/build/rel/bench/bench_kra
N=${BENCH_KRA_N:-200}
REPS=${BENCH_REPS:-5}
PW=${BENCH_KRA_PWHASH:-moderate}

for f in "$SIGNET" "$BENCH"; do
	[ -x "$f" ] || { echo "bench_kra: $f missing (make all)" >&2; exit 1; }
done

W=$(mktemp -d /tmp/bench_kra.XXXXXX)
HD=$ROOT/build/bench-homes
mkdir -p "$HD"
chmod 0755 "$ROOT/build" "$HD" 2>/dev/null || true
H=$HD/kra-$$
cleanup() {
	[ -f "$H/signet.conf" ] && "$SIGNET" --home "$H" stop >/dev/null 2>&1
	rm -rf "$W" "$H"
}
trap cleanup EXIT

"$SIGNET" --home "$H" setup --cn "Bench KRA CA" >/dev/null
sed -i 's/^server_key_type.*/server_key_type = rsa-3072/' "$H/signet.conf"
printf '\n[kra]\nenabled = yes\npwhash = %s\n' "$PW" >>"$H/signet.conf"
for a in ann ben cat; do
	echo "$a bench passphrase" >"$W/$a.pw"
	chmod 600 "$W/$a.pw"
done
"$SIGNET" --home "$H" kra init --agents 3 --threshold 2 \
    --agent ann --passphrase-file "$W/ann.pw" \
    --agent ben --passphrase-file "$W/ben.pw" \
    --agent cat --passphrase-file "$W/cat.pw" >/dev/null

"$BENCH" "$H" "$N" "$REPS" ann "$W/ann.pw" ben "$W/ben.pw" >"$W/out"
awk -v n="$N" -v pw="$PW" '
	{ v[$1] = $2 }
	END {
		printf "RSA-3072 encryption certificates, %d per run, pwhash %s\n", n, pw
		printf "  issue without escrow   %8.1f certs/s\n", v["plain"]
		printf "  issue with escrow      %8.1f certs/s\n", v["escrow"]
		printf "  escrow cost per cert   %8.2f ms (%.0f%% of an issuance)\n", \
		    1000 / v["escrow"] - 1000 / v["plain"], \
		    100 * (1000 / v["escrow"] - 1000 / v["plain"]) / (1000 / v["plain"])
		printf "  M-th approval -> PKCS#12 %6.1f ms median\n", v["approve"]
		printf "  one argon2id (%s)  %6.1f ms; approval beyond it %.1f ms\n", \
		    pw, v["argon2id"], v["approve"] - v["argon2id"]
	}' "$W/out"

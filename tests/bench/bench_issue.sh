#!/usr/bin/env bash
# Issuance throughput (issue 2, item 8), under a P-256 and a P-384 CA,
# against two peers measured in the same run on the same CSRs:
#   limit    raw GnuTLS floor: CSR verify + one CA signature, one core
#   memory   csr_parse + cert_issue, no database
#   durable  csr_parse + ca_issue: row, audit record, publish job and one
#            commit per certificate, exactly like `signet issue`
#   dur x2   the same from two issuing threads (as ca-serve runs), each
#            with its own connection; still one commit per certificate
#   dur x4   the same from four threads: each waits for its statements and
#            commit longer than a signature takes, so two leave the core
#            idle part of the time
#   batched  `signet issue --batch` (csr_parse, ca_issue_sets): sets of 64
#            certificates, each signed, then rows, audit records and publish
#            jobs stored with one commit for the set, one lane signing while
#            the other commits; every certificate is durable before any is
#            handed out
#   openssl  `openssl ca` run once per certificate, as shell-script CAs do
#            (same CA key, exported as encrypted PEM with openssl's own
#            PBKDF2 defaults and read with -passin file:)
# The issuing process (all its threads) and openssl get core 0; PostgreSQL
# keeps core 1.
# For the durable runs, the WAL's flushes as the server counts them: how
# many per certificate and how long each takes, which bounds a commit per
# certificate when the flushes cannot be shared.
# Prints certs/s (median of BENCH_REPS runs) and the ratios
#   durable / openssl ca   target >= 25x (shown for each durable figure;
#                          the per-commit ones wait on the disk's flush,
#                          batched shares one among 64)
#   memory / limit         target >= 40%
# It reports; it never fails on a figure.
#
# Environment: BENCH_ISSUE_N (2000), BENCH_OPENSSL_N (100), BENCH_REPS (3).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
N=${BENCH_ISSUE_N:-2000}
ON=${BENCH_OPENSSL_N:-100}
REPS=${BENCH_REPS:-3}

for f in "$ROOT/bin/signet" "$ROOT/build/rel/bench/bench_issue"; do
	[ -x "$f" ] || { echo "bench_issue: $f missing (make all)" >&2; exit 1; }
done

# One core for the issuing process (PostgreSQL keeps the other).
PIN=()
command -v taskset >/dev/null && [ "$(nproc)" -gt 1 ] && PIN=(taskset -c 0)

W=$(mktemp -d /tmp/bench_issue.XXXXXX)
# private copies: a rebuild during the run must not pull the binaries away
# (the instances could then not be stopped)
cp "$ROOT/bin/signet" "$W/signet"
cp "$ROOT/build/rel/bench/bench_issue" "$W/bench_issue"
SIGNET=$W/signet
BENCH=$W/bench_issue
# The private cluster runs as postgres when we are root: the instance path
# must be traversable, as in tests/integration/lib.bash.
HD=$ROOT/build/bench-homes
mkdir -p "$HD"
chmod 0755 "$ROOT/build" "$HD" 2>/dev/null || true
HOMES=()
cleanup() {
	local h
	set +e
	for h in "${HOMES[@]}"; do
		if [ -f "$h/signet.conf" ]; then
			"$SIGNET" --home "$h" stop >/dev/null 2>&1 ||
				echo "bench_issue: could not stop $h" >&2
		fi
		rm -rf "$h"
	done
	rm -rf "$W"
}
trap cleanup EXIT

median() { sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

# openssl ca once per certificate over the first ON requests; prints certs/s.
openssl_ca_rate() {
	local d=$1 i f t0 t1
	rm -rf "$d/newcerts" "$d/out"
	mkdir -p "$d/newcerts" "$d/out"
	: >"$d/index.txt"
	t0=$(date +%s.%N)
	for ((i = 0; i < ON; i++)); do
		printf -v f '%06d' "$i"
		EMAIL=bench$i@example.com "${PIN[@]}" openssl ca -batch \
			-config "$d/openssl.cnf" -passin "file:$d/ca.pass" \
			-in "$W/csrs/$f.csr" -out "$d/out/$f.pem" -notext \
			-subj "/CN=bench$i@example.com/emailAddress=bench$i@example.com" \
			2>"$d/openssl.err" || { cat "$d/openssl.err" >&2; return 1; }
	done
	t1=$(date +%s.%N)
	awk -v n="$ON" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f\n", n / (b - a) }'
}

openssl_setup() {
	local h=$1 d=$2 md=$3
	mkdir -p "$d"
	(umask 077 && cp "$h/ca.pass" "$d/ca.pass" &&
	 openssl pkey -in "$h/ca.key" -passin "file:$h/ca.pass" \
		-aes-256-cbc -passout "file:$d/ca.pass" -out "$d/ca-key.pem")
	cp "$h/ca.pem" "$d/ca.pem"
	# The same profile as Signet's (DESIGN.md "Certificates").
	cat >"$d/openssl.cnf" <<-EOF
	[ca]
	default_ca = bench
	[bench]
	dir             = $d
	database        = \$dir/index.txt
	new_certs_dir   = \$dir/newcerts
	certificate     = \$dir/ca.pem
	private_key     = \$dir/ca-key.pem
	rand_serial     = yes
	default_md      = $md
	default_days    = 365
	policy          = policy_any
	unique_subject  = no
	copy_extensions = none
	x509_extensions = smime
	[policy_any]
	commonName      = supplied
	emailAddress    = supplied
	[smime]
	basicConstraints       = critical, CA:FALSE
	keyUsage               = critical, digitalSignature, nonRepudiation
	extendedKeyUsage       = emailProtection
	subjectAltName         = email:\$ENV::EMAIL
	subjectKeyIdentifier   = hash
	authorityKeyIdentifier = keyid
	crlDistributionPoints  = URI:http://localhost:8080/crl
	authorityInfoAccess    = caIssuers;URI:http://localhost:8080/ca.crt, OCSP;URI:http://localhost:8080/ocsp
	certificatePolicies    = 2.23.140.1.5.1.3
	EOF
}

mkdir -p "$W/csrs"
"$BENCH" csrs "$W/csrs" "$N"
[ "$ON" -le "$N" ] || ON=$N

printf '== bench_issue: %s certificates from ECDSA P-256 CSRs, %s runs, medians (certs/s)\n' "$N" "$REPS"
printf '%-6s %8s %8s %8s %8s %8s %8s %10s %12s %11s %11s %12s %12s\n' CA limit memory durable "dur x2" "dur x4" batched "openssl ca" "durable/ossl" "dur x2/ossl" "dur x4/ossl" "batched/ossl" "memory/limit"
for key in ecdsa-p256 ecdsa-p384; do
	h=$HD/issue-$$-${key#ecdsa-}
	HOMES+=("$h")
	"$SIGNET" --home "$h" setup --key "$key" --cn "Bench CA $key" >"$W/setup-$key.out" 2>&1 ||
		{ cat "$W/setup-$key.out" >&2; exit 1; }
	case $key in ecdsa-p384) md=sha384 ;; *) md=sha256 ;; esac
	openssl_setup "$h" "$W/ossl-$key" "$md"

	# The WAL's flushes, counted and timed by the server over the
	# durable runs: what a commit per certificate waits for.
	pq() { psql -X -q -A -t "$("$SIGNET" --home "$h" db conninfo)" -c "$1"; }
	pq "ALTER SYSTEM SET track_wal_io_timing = on" >/dev/null
	pq "SELECT pg_reload_conf()" >/dev/null
	pq "SELECT pg_stat_reset_shared('wal')" >/dev/null

	"${PIN[@]}" "$BENCH" run "$h" "$W/csrs" "$N" "$REPS" >"$W/run-$key.out"
	flush=$(pq "SELECT wal_sync, wal_sync_time / greatest(wal_sync, 1) FROM pg_stat_wal")
	lim=$(awk '$1 == "limit" { print $2 }' "$W/run-$key.out")
	mem=$(awk '$1 == "memory" { print $2 }' "$W/run-$key.out")
	dur=$(awk '$1 == "durable" { print $2 }' "$W/run-$key.out")
	dur2=$(awk '$1 == "durableT" { print $2 }' "$W/run-$key.out")
	dur4=$(awk '$1 == "durableT4" { print $2 }' "$W/run-$key.out")
	bat=$(awk '$1 == "batched" { print $2 }' "$W/run-$key.out")
	# every durable certificate is really in the database
	got=$(pq "SELECT count(*) FROM certificates WHERE issued_by = 'bench'")
	[ "$got" -eq $((4 * N * REPS)) ] ||
		{ echo "bench_issue: $got rows, expected $((4 * N * REPS))" >&2; exit 1; }
	for ((r = 0; r < REPS; r++)); do
		openssl_ca_rate "$W/ossl-$key"
	done >"$W/ossl-$key.rates"
	oss=$(median <"$W/ossl-$key.rates")
	# the last openssl certificate must be a real one: verify it
	printf -v last '%06d' $((ON - 1))
	openssl verify -x509_strict -purpose smimesign -CAfile "$h/ca.pem" \
		"$W/ossl-$key/out/$last.pem" >/dev/null
	printf '%-6s %8s %8s %8s %8s %8s %8s %10s %11.1fx %10.1fx %10.1fx %11.1fx %11.0f%%\n' \
		"${key#ecdsa-}" "$lim" "$mem" "$dur" "$dur2" "$dur4" "$bat" "$oss" \
		"$(awk -v a="$dur" -v b="$oss" 'BEGIN { print a / b }')" \
		"$(awk -v a="$dur2" -v b="$oss" 'BEGIN { print a / b }')" \
		"$(awk -v a="$dur4" -v b="$oss" 'BEGIN { print a / b }')" \
		"$(awk -v a="$bat" -v b="$oss" 'BEGIN { print a / b }')" \
		"$(awk -v a="$mem" -v b="$lim" 'BEGIN { print 100 * a / b }')"
	printf '       runs: limit %s | memory %s | durable %s | dur x2 %s | dur x4 %s | batched %s | openssl %s\n' \
		"$(awk '$1 == "limit" { $1 = $2 = ""; print }' "$W/run-$key.out" | xargs)" \
		"$(awk '$1 == "memory" { $1 = $2 = ""; print }' "$W/run-$key.out" | xargs)" \
		"$(awk '$1 == "durable" { $1 = $2 = ""; print }' "$W/run-$key.out" | xargs)" \
		"$(awk '$1 == "durableT" { $1 = $2 = ""; print }' "$W/run-$key.out" | xargs)" \
		"$(awk '$1 == "durableT4" { $1 = $2 = ""; print }' "$W/run-$key.out" | xargs)" \
		"$(awk '$1 == "batched" { $1 = $2 = ""; print }' "$W/run-$key.out" | xargs)" \
		"$(xargs <"$W/ossl-$key.rates")"
	# a batched set's commit flushes once at most: the rest are the
	# per-commit runs'
	echo "$flush" | awk -F'|' -v p=$((3 * N * REPS)) -v b=$((N * REPS)) \
		-v s=$(((N + 63) / 64 * REPS)) '{
		printf "       WAL: %d flushes for %d per-commit certificates and %d in %d batched sets: at least %.2f per per-commit certificate, mean %.3f ms; flushed one after another, at most %.0f commits/s\n", $1, p, b, s, ($1 - s) / p, $2, ($2 > 0 ? 1000 / $2 : 0) }'
	"$SIGNET" --home "$h" stop >/dev/null 2>&1 || true
done
printf 'targets: >= 25x openssl ca per certificate (durable, dur xN: `signet issue --csr`, a commit each; batched: `signet issue --batch`); memory >= 40%% of limit (one core%s)\n' \
	"${PIN:+, taskset -c 0}"

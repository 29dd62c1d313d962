#!/usr/bin/env bash
# bench_ocsp: OCSP responses per second with wrk (50 connections, POST,
# 200 distinct CertIDs in turn) against signet-web's /ocsp (pre-signed
# cache) and against `openssl ocsp -index` (2 processes, -multi 2) serving
# the same certificates, with 1,000 and 1,000,000 known certificates
# (BENCH_OCSP_MAX caps the larger set). Prints responses/s, p99 and the
# ratio. Target: >= 3x openssl's rate, p99 <= 2 ms.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
S="$ROOT/bin/signet"
H="$ROOT/build/bench-homes/ocsp-$$"
T=$(mktemp -d /tmp/bench-ocsp.XXXXXX)
DUR=${BENCH_OCSP_SECONDS:-10}
MAX=${BENCH_OCSP_MAX:-1000000}
mkdir -p "$(dirname "$H")"
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
OPID=
# openssl ocsp -multi ignores SIGTERM, and its forked workers outlive a
# killed parent (reloading a rewritten index.txt forever): parent and
# workers are killed by their pids once their set is measured.
openssl_stop() {
	[ -n "$OPID" ] || return 0
	kill -KILL "$OPID" $(ps -o pid= --ppid "$OPID") 2>/dev/null || true
	wait "$OPID" 2>/dev/null || true
	OPID=
}
cleanup() {
	openssl_stop
	bash "$ROOT/web/signet-web.sh" stop "$T/web" >/dev/null 2>&1 || true
	"$S" --home "$H" stop >/dev/null 2>&1 || true
	[ -n "${BENCH_KEEP:-}" ] || rm -rf "$T" "$H"
}
trap cleanup EXIT

"$S" --home "$H" setup --cn "Bench OCSP CA" >/dev/null
ci=$("$S" --home "$H" db conninfo)
psql() { command psql -X -q -A -t "$ci" -v ON_ERROR_STOP=1 "$@"; }
WPORT=$(port); OPORT=$(port)
export SIGNET_DB=$ci SIGNET_LDAP_URI=ldap://127.0.0.1:9
bash "$ROOT/web/signet-web.sh" start "$T/web" "$WPORT"

# rows FROM TO: valid certificates, every tenth revoked
rows() {
	psql -c "INSERT INTO certificates (serial, email, profile, key_type,
	    spki_sha256, not_before, not_after, der, issued_by, revoked_at,
	    revocation_reason)
	  SELECT '40' || lpad(to_hex(i), 30, '0'), 'u' || i || '@example.com',
	    'signing', 'ecdsa-p256', sha256(int8send(i)), now() - interval '30 days',
	    now() + interval '300 days', '\\x3000', 'bench',
	    CASE WHEN i % 10 = 0 THEN now() - interval '1 day' END,
	    CASE WHEN i % 10 = 0 THEN 1 END
	  FROM generate_series($1, $2) i"
}

wrk_run() {	# wrk_run URL PATH: prints "rate p99_ms"
	wrk -t2 -c50 -d"${DUR}s" --latency -s "$ROOT/tests/bench/bench_ocsp.lua" \
	    "$1" -- "$2" "$T"/req/*.der >"$T/wrk.out" 2>&1
	awk '/Requests\/sec/ { r = $2 }
	     / 99%/ { v = $2; if (v ~ /us$/) { sub(/us/, "", v); v /= 1000 }
	              else if (v ~ /ms$/) sub(/ms/, "", v)
	              else if (v ~ /s$/) { sub(/s/, "", v); v *= 1000 }
	              p = v }
	     END { printf "%s %s\n", r, p }' "$T/wrk.out"
}

prev=0
for n in 1000 1000000; do
	[ "$n" -gt "$MAX" ] && n=$MAX
	[ "$n" -le "$prev" ] && continue
	rows $((prev + 1)) "$n"
	prev_signed=$prev
	prev=$n
	psql -c "VACUUM ANALYZE certificates" >/dev/null
	start=$(date +%s.%N)
	"$S" --home "$H" ocsp-refresh >/dev/null
	presign=$(echo "$(date +%s.%N) - $start" | bc)
	psql -c "VACUUM ANALYZE ocsp_responses" >/dev/null
	# 200 CertIDs spread over the set, as openssl ocsp writes them
	rm -rf "$T/req"; mkdir -p "$T/req"
	for k in $(seq 1 200); do
		i=$(( (k * 7919) % n + 1 ))
		openssl ocsp -issuer "$H/ca.pem" -serial "0x40$(printf '%030x' "$i")" \
		    -no_nonce -reqout "$T/req/$k.der" 2>/dev/null
	done
	psql -c "COPY (SELECT CASE WHEN revoked_at IS NULL THEN 'V' ELSE 'R' END,
	    to_char(not_after AT TIME ZONE 'UTC', 'YYMMDDHH24MISS') || 'Z',
	    coalesce(to_char(revoked_at AT TIME ZONE 'UTC', 'YYMMDDHH24MISS') ||
	      'Z,keyCompromise', ''),
	    upper(serial), 'unknown', '/CN=' || email FROM certificates) TO STDOUT" >"$T/index.txt"
	openssl ocsp -index "$T/index.txt" -port "$OPORT" -rsigner "$H/ca.pem" \
	    -rkey "$H/ca.key" -passin "file:$H/ca.pass" -CA "$H/ca.pem" -nmin 60 \
	    -multi 2 -ignore_err </dev/null >"$T/openssl-ocsp.log" 2>&1 3>&- &
	OPID=$!
	for _ in $(seq 1 600); do
		openssl ocsp -url "http://127.0.0.1:$OPORT/" -reqin "$T/req/1.der" \
		    -noverify >/dev/null 2>&1 && break
		sleep 0.5
	done
	# both answer correctly before they are timed
	openssl ocsp -url "http://127.0.0.1:$WPORT/ocsp" -reqin "$T/req/1.der" \
	    -CAfile "$H/ca.pem" -resp_text 2>&1 | grep -Eq 'Cert Status: (good|revoked)'
	read -r sr sp < <(wrk_run "http://127.0.0.1:$WPORT" /ocsp)
	read -r or op < <(wrk_run "http://127.0.0.1:$OPORT" /)
	openssl_stop
	printf 'known certificates: %d (pre-signed in %.1f s, %.0f responses/s)\n' \
	    "$n" "$presign" "$(echo "($n - $prev_signed) / $presign" | bc -l)"
	printf '  signet-web /ocsp     %9.0f responses/s   p99 %7.2f ms\n' "$sr" "$sp"
	printf '  openssl ocsp -index  %9.0f responses/s   p99 %7.2f ms\n' "$or" "$op"
	awk -v s="$sr" -v o="$or" 'BEGIN { printf "  ratio: %.1fx\n", s / o }'
done
echo "target: >= 3x openssl ocsp, p99 <= 2 ms"

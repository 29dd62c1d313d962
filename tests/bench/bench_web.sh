#!/usr/bin/env bash
# bench_web: signet-web's hot read paths with wrk on loopback against Kore
# directly (no TLS terminator): the public certificate lookup (one indexed
# query and a rendered page), the login page (template, no database) and,
# as the peer in the same run, a static file served by the same Kore
# instance. Prints requests/s (median of RUNS) and each path's ratio to
# the static rate; the target is lookup >= 50% of static. Never asserts.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
# shellcheck source=/dev/null
. "$ROOT/tests/integration/lib.bash"
# shellcheck source=/dev/null
. "$ROOT/tests/integration/web_lib.bash"

RUNS=${RUNS:-3}
SECS=${SECS:-5}
CONNS=${CONNS:-32}

trap web_teardown_full EXIT
web_setup_full >/dev/null

# One issued certificate for alice, so the lookup finds and renders a row.
J="$WEB_DIR/jar"
make_csr ecdsa-p256 "$WEB_DIR/a.csr"
web_employee_login "$J" alice alice-demo-pw >/dev/null
csrf=$(web_curl "$J" "$WEB_URL/enrol" | web_csrf_of)
web_curl "$J" -o /dev/null --data-urlencode "csrf=$csrf" \
    --data-urlencode "csr@$WEB_DIR/a.csr" "$WEB_URL/enrol/csr"
for _ in $(seq 1 50); do
	[ "$(web_psql "SELECT count(*) FROM certificates")" -ge 1 ] && break
	sleep 0.1
done

rate() {	# rate PATH -> median requests/s over RUNS runs
	local i r all=()
	for i in $(seq 1 "$RUNS"); do
		r=$(wrk -t2 -c"$CONNS" -d"${SECS}s" "$WEB_KORE_URL$1" |
		    awk '/^Requests\/sec:/ { printf "%d", $2 }')
		all+=("$r")
	done
	printf '%s\n' "${all[@]}" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# sanity: each path answers 200 with what a user would see
curl -sf "$WEB_KORE_URL/lookup?mail=alice@example.com" | grep -q 'id="found"'
curl -sf -o /dev/null "$WEB_KORE_URL/login"
curl -sf -o /dev/null "$WEB_KORE_URL/static/signet.css"

static=$(rate /static/signet.css)
lookup=$(rate "/lookup?mail=alice@example.com")
login=$(rate /login)

echo "# wrk -t2 -c$CONNS -d${SECS}s, median of $RUNS, Kore with 2 workers on $(nproc) cores"
printf '%-34s %10s %8s\n' "path" "req/s" "ratio"
printf '%-34s %10d %8s\n' "static file /static/signet.css" "$static" "1.00"
printf '%-34s %10d %8.2f\n' "lookup /lookup?mail=..." "$lookup" "$(awk -v a="$lookup" -v b="$static" 'BEGIN { print a / b }')"
printf '%-34s %10d %8.2f\n' "login page /login" "$login" "$(awk -v a="$login" -v b="$static" 'BEGIN { print a / b }')"
awk -v l="$lookup" -v s="$static" 'BEGIN { printf "# lookup is %.0f%% of the static rate (target >= 50%%)\n", 100 * l / s }'

#!/usr/bin/env bash
# Publisher (issue 5, item 5): a burst of N issuances (bench_publish, in
# process: row + audit + publish job per certificate) with the publisher
# daemon running against a real slapd holding N people.
#   lag         issued_at (the issuing transaction) -> done_at (set right
#               after slapd acknowledged the modify, i.e. the value is
#               visible), median and p99 over all N; target p99 <= 1 s.
#               A sample is checked with ldapsearch, as a mail client would.
#   throughput  a backlog of N jobs (publisher stopped during the burst)
#               drained by `signet publish --once`: certificates/s, against
#               the issuing rate of the same run as the peer. That second
#               burst runs with no publisher, as the peer of the first:
#               publishing must not slow issuance down.
#   slapd       the directory's own write rate through one connection, as
#               the publisher's peers: one modify at a time (ldapmodify;
#               each commits and syncs MDB on its own) and the same
#               modifies in one RFC 5805 transaction (ldapmodify -E
#               txn=commit; one commit), which is how the publisher writes
#               a batch. The directory keeps MDB's default durable sync.
# It reports; it never fails on a figure.
#
# Environment: BENCH_PUBLISH_N (1000), BENCH_SIGNET (bin/signet),
# BENCH_PUBLISH_BIN (build/rel/bench/bench_publish).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SIGNET=${BENCH_SIGNET:-$ROOT/bin/signet}
BENCH=${BENCH_PUBLISH_BIN:-$ROOT/build/rel/bench/bench_publish}
N=${BENCH_PUBLISH_N:-1000}
BASE=dc=example,dc=com

for f in "$SIGNET" "$BENCH"; do
	[ -x "$f" ] || { echo "bench_publish: $f missing (make all)" >&2; exit 1; }
done

W=$(mktemp -d /tmp/bench_publish.XXXXXX)
HD=$ROOT/build/bench-homes
mkdir -p "$HD"
chmod 0755 "$ROOT/build" "$HD" 2>/dev/null || true
H=$HD/publish-$$
DPID=
cleanup() {
	[ -n "$DPID" ] && kill "$DPID" 2>/dev/null && wait "$DPID" 2>/dev/null
	"$SIGNET" --home "$H" stop >/dev/null 2>&1 || true
	bash "$ROOT/scripts/slapd.sh" stop "$W/ldap" >/dev/null 2>&1 || true
	rm -rf "$W" "$H"
}
trap cleanup EXIT

bash "$ROOT/scripts/slapd.sh" start "$W/ldap" >/dev/null
URI="ldap://127.0.0.1:$(cat "$W/ldap/port")"
# N people for the burst, N more for the backlog
for p in burst backlog; do
	for i in $(seq 1 "$N"); do
		u=$(printf '%s%04d' "$p" "$i")
		printf 'dn: uid=%s,ou=people,%s\nobjectClass: inetOrgPerson\nuid: %s\ncn: %s\nsn: %s\nmail: %s@example.com\n\n' \
		    "$u" "$BASE" "$u" "$u" "$u" "$u"
	done
done >"$W/people.ldif"
ldapadd -x -H "$URI" -D "cn=admin,$BASE" -y "$W/ldap/admin.pw" -f "$W/people.ldif" >/dev/null

"$SIGNET" --home "$H" setup --cn "Bench Publish CA" >/dev/null
cat >>"$H/signet.conf" <<EOF

[publish.ldap.bench]
uri = $URI
bind = simple
bind_dn = cn=admin,$BASE
password_file = $W/ldap/admin.pw
base_dn = $BASE
EOF
psql_h() { psql -X -q -A -t "$("$SIGNET" --home "$H" db conninfo)" -c "$1"; }
"$SIGNET" --home "$H" publish --once >/dev/null	# the setup's "ca" job

wait_done() {	# wait_done PREFIX: until every cert.issue job for PREFIX is done
	local left
	for _ in $(seq 1 600); do
		left=$(psql_h "SELECT count(*) FROM publish_jobs WHERE kind = 'cert.issue' AND email LIKE '$1%' AND state <> 'done'")
		[ "$left" -eq 0 ] && return 0
		sleep 0.1
	done
	echo "bench_publish: $left jobs for $1 still not done" >&2
	return 1
}

# 1. lag under a burst, daemon running
"$SIGNET" --home "$H" publish </dev/null >"$W/daemon.log" 2>&1 3>&- &
DPID=$!
sleep 0.5
issued=$("$BENCH" "$H" "$N" burst)
wait_done burst
read -r med p99 max <<<"$(psql_h "SELECT round(percentile_cont(0.5) WITHIN GROUP (ORDER BY l)::numeric, 3), round(percentile_cont(0.99) WITHIN GROUP (ORDER BY l)::numeric, 3), round(max(l)::numeric, 3) FROM (SELECT extract(epoch FROM j.done_at - c.issued_at) AS l FROM publish_jobs j JOIN certificates c ON c.serial = j.ref WHERE j.kind = 'cert.issue' AND j.email LIKE 'burst%') x" | tr '|' ' ')"
# the sample: done means visible to a mail client's search
seen=0
for s in $(psql_h "SELECT serial || ':' || email FROM certificates WHERE email LIKE 'burst%' ORDER BY random() LIMIT 20"); do
	der=$(psql_h "SELECT encode(der, 'base64') FROM certificates WHERE serial = '${s%%:*}'" | tr -d '\n')
	ldapsearch -x -LLL -o ldif-wrap=no -H "$URI" -b "$BASE" "(mail=${s#*:})" 'userCertificate;binary' |
	    grep -qxF "userCertificate;binary:: $der" && seen=$((seen + 1))
done
kill "$DPID"; wait "$DPID" 2>/dev/null || true; DPID=

# 2. throughput: a backlog drained by one publisher
quiet=$("$BENCH" "$H" "$N" backlog)
t0=$(date +%s%N)
"$SIGNET" --home "$H" publish --once >/dev/null
t=$(( $(date +%s%N) - t0 ))
wait_done backlog
tp=$(awk -v n="$N" -v t="$t" 'BEGIN { printf "%.0f", n / (t / 1e9) }')
# the directory's own limit: M single-value modifies through one connection
M=$((N / 5))
for i in $(seq 1 "$M"); do
	printf 'dn: uid=backlog0001,ou=people,%s\nchangetype: modify\nreplace: description\ndescription: %d\n\n' "$BASE" "$i"
done >"$W/mods.ldif"
t0=$(date +%s%N)
ldapmodify -x -H "$URI" -D "cn=admin,$BASE" -y "$W/ldap/admin.pw" -f "$W/mods.ldif" >/dev/null
lim=$(awk -v n="$M" -v t="$(( $(date +%s%N) - t0 ))" 'BEGIN { printf "%.0f", n / (t / 1e9) }')
t0=$(date +%s%N)
ldapmodify -E txn=commit -x -H "$URI" -D "cn=admin,$BASE" -y "$W/ldap/admin.pw" -f "$W/mods.ldif" >/dev/null
limtx=$(awk -v n="$M" -v t="$(( $(date +%s%N) - t0 ))" 'BEGIN { printf "%.0f", n / (t / 1e9) }')
irate=$(echo "$issued" | sed -n 's/.*(\([0-9]*\) certs\/s).*/\1/p')

echo "burst: $issued, daemon publishing meanwhile; without a publisher running: ${quiet#issued }"
echo "lag issue -> visible in LDAP: median ${med} s, p99 ${p99} s, max ${max} s (target p99 <= 1 s)"
echo "sample: $seen of 20 certificates found by (mail=...) usercertificate;binary"
echo "throughput: $N backlog jobs in $(awk -v t="$t" 'BEGIN { printf "%.2f", t / 1e9 }') s = ${tp} certs/s to slapd" \
    "($(awk -v a="$tp" -v b="$irate" 'BEGIN { printf "%.2f", a / b }')x the issuing rate)"
echo "slapd limit: ${lim} modifies/s one at a time (ldapmodify, one connection), ${limtx} modifies/s in one transaction (-E txn=commit);" \
    "publisher at $(awk -v a="$tp" -v b="$lim" 'BEGIN { printf "%.0f", 100 * a / b }')% of the first," \
    "$(awk -v a="$tp" -v b="$limtx" 'BEGIN { printf "%.0f", 100 * a / b }')% of the second"

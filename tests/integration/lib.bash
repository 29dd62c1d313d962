# Shared helpers for the bats suites: instances, CSRs, the database.
# Every instance a suite makes is stopped in its teardown_file.

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SIGNET="$ROOT/bin/signet"

# new_home NAME: a fresh, unused instance directory path.
new_home() {
	local d="$ROOT/build/test-homes"
	mkdir -p "$d"
	chmod 0755 "$ROOT/build" "$d" 2>/dev/null || true
	local h="$d/$1-$$-$RANDOM"
	rm -rf "$h"
	echo "$h"
}

# free_port: a TCP port on 127.0.0.1 that is free now.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# sg HOME ARGS...: runs signet against an instance.
sg() {
	local h=$1; shift
	"$SIGNET" --home "$h" "$@"
}

# make_csr TYPE OUT [SUBJECT]: a key and CSR made by openssl, the way an
# employee's own software would. TYPE: rsa-2048|rsa-3072|ecdsa-p256|ecdsa-p384
make_csr() {
	local type=$1 out=$2 subj=${3:-/CN=someone}
	case $type in
	rsa-*) openssl req -new -newkey "rsa:${type#rsa-}" -nodes \
		-keyout "$out.key" -subj "$subj" -out "$out" 2>/dev/null ;;
	ecdsa-p256) openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
		-nodes -keyout "$out.key" -subj "$subj" -out "$out" 2>/dev/null ;;
	ecdsa-p384) openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-384 \
		-nodes -keyout "$out.key" -subj "$subj" -out "$out" 2>/dev/null ;;
	*) echo "make_csr: unknown type $type" >&2; return 1 ;;
	esac
}

# psql_home HOME SQL: runs SQL on the instance's database, prints rows.
psql_home() {
	local ci
	ci=$(sg "$1" db conninfo) || return 1
	psql -X -q -A -t "$ci" -c "$2"
}

# stop_home HOME: stops what the instance started; never fails teardown.
stop_home() {
	[ -n "${1:-}" ] && [ -f "$1/signet.conf" ] && sg "$1" stop >/dev/null 2>&1
	return 0
}

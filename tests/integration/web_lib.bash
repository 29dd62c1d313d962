# web_lib.bash: bring up what signet-web needs for an integration test —
# a throwaway PostgreSQL (unix socket only), the demo slapd, signet-web
# (Kore) and the nginx TLS terminator — each on a free port under
# $WEB_DIR, and tear them down by pid.
#
# Usage in a bats file:
#   load web_lib
#   setup_file()    { web_setup; }
#   teardown_file() { web_teardown; }
# Then: $WEB_URL (https://localhost:PORT), $WEB_CA (trust anchor for curl),
#       $WEB_KORE_URL (plain http to Kore), $WEB_DIR, $WEB_PSQL (psql argv).

WEB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)

web_free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# A private PostgreSQL cluster owned by the postgres user (initdb refuses
# root, DESIGN.md), listening only on DIR/run, with database and role
# "signet", and sql/010_web.sql applied.
web_pg_start() {
	local dir=$1
	mkdir -p "$dir/run"
	chmod 755 "$dir" "$(dirname "$dir")"
	chown -R postgres:postgres "$dir"
	runuser -u postgres -- "$PG_BIN/initdb" -D "$dir/data" -U postgres \
	    --auth=trust -E UTF8 >/dev/null
	runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/pg.log" \
	    -o "-k $dir/run -c listen_addresses=''" -w start >/dev/null
	"$PG_BIN/psql" -X -q -h "$dir/run" -U postgres -d postgres \
	    -c "CREATE ROLE signet LOGIN" -c "CREATE DATABASE signet OWNER signet"
	"$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$dir/run" -U signet -d signet \
	    -f "$WEB_ROOT/sql/010_web.sql" >/dev/null
}

web_pg_stop() {
	local dir=$1
	[ -f "$dir/data/postmaster.pid" ] || return 0
	runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
}

web_setup() {
	WEB_DIR=$(mktemp -d /tmp/signet-web-test.XXXXXX)
	chmod 755 "$WEB_DIR"
	export WEB_DIR
	web_pg_start "$WEB_DIR/pg"
	bash "$WEB_ROOT/scripts/slapd.sh" start "$WEB_DIR/ldap"
	WEB_KORE_PORT=$(web_free_port)
	WEB_HTTPS_PORT=$(web_free_port)
	export SIGNET_DB="host=$WEB_DIR/pg/run dbname=signet user=signet"
	export SIGNET_LDAP_URI="ldap://127.0.0.1:$(cat "$WEB_DIR/ldap/port")"
	export SIGNET_LDAP_BASE="dc=example,dc=com"
	make -s -C "$WEB_ROOT/web" >/dev/null
	bash "$WEB_ROOT/web/signet-web.sh" start "$WEB_DIR/web" "$WEB_KORE_PORT"
	bash "$WEB_ROOT/scripts/nginx.sh" start "$WEB_DIR/nginx" "$WEB_KORE_PORT" "$WEB_HTTPS_PORT"
	export WEB_URL="https://localhost:$WEB_HTTPS_PORT"
	export WEB_KORE_URL="http://127.0.0.1:$WEB_KORE_PORT"
	export WEB_CA="$WEB_DIR/nginx/local-ca.pem"
	export WEB_PSQL="$PG_BIN/psql -X -q -t -A -h $WEB_DIR/pg/run -U signet -d signet"
}

web_teardown() {
	[ -n "${WEB_DIR:-}" ] || return 0
	bash "$WEB_ROOT/scripts/nginx.sh" stop "$WEB_DIR/nginx" || true
	bash "$WEB_ROOT/web/signet-web.sh" stop "$WEB_DIR/web" || true
	bash "$WEB_ROOT/scripts/slapd.sh" stop "$WEB_DIR/ldap" || true
	web_pg_stop "$WEB_DIR/pg"
	if [ -z "${WEB_KEEP:-}" ]; then
		rm -rf "$WEB_DIR"
	fi
}

# curl through the terminator, trusting the local CA; keeps cookies in
# the given jar. Usage: web_curl JAR [curl args...]
web_curl() {
	local jar=$1; shift
	curl -sS --cacert "$WEB_CA" -b "$jar" -c "$jar" "$@"
}

# The hidden csrf value of a page's form.
web_csrf_of() {
	sed -n 's/.*name="csrf" value="\([0-9a-f]*\)".*/\1/p' | head -1
}

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

# free_port and the other shared helpers
source "$(dirname "${BASH_SOURCE[0]}")/lib.bash"

WEB_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)

# A private PostgreSQL cluster owned by the postgres user (initdb refuses
# root, DESIGN.md), listening only on DIR/run, with database and role
# "signet", and signet-web's own migrations (sql/010_web.sql,
# sql/011_web_enrol.sql) applied.
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
	    -f "$WEB_ROOT/sql/010_web.sql" -f "$WEB_ROOT/sql/011_web_enrol.sql" >/dev/null
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
	WEB_KORE_PORT=$(free_port)
	WEB_HTTPS_PORT=$(free_port)
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

# web_san_check: under SIGNET_WEB_SAN (tests/run.sh's sanitizer pass),
# fails with the sanitizers' reports when signet-web's log has any.
web_san_check() {
	[ -z "${SIGNET_WEB_SAN:-}" ] || bash "$WEB_ROOT/web/signet-web.sh" check "$1"
}

web_teardown() {
	local rc=0
	[ -n "${WEB_DIR:-}" ] || return 0
	bash "$WEB_ROOT/scripts/nginx.sh" stop "$WEB_DIR/nginx" || true
	bash "$WEB_ROOT/web/signet-web.sh" stop "$WEB_DIR/web" || true
	web_san_check "$WEB_DIR/web" || rc=1
	bash "$WEB_ROOT/scripts/slapd.sh" stop "$WEB_DIR/ldap" || true
	web_pg_stop "$WEB_DIR/pg"
	if [ -z "${WEB_KEEP:-}" ]; then
		rm -rf "$WEB_DIR"
	fi
	return $rc
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

# web_setup_full: a whole Signet behind the terminator — an instance made
# by `signet setup` (its private PostgreSQL with every migration), the
# demo directory, `signet ca-serve` deciding requests, signet-web and
# nginx; the exchange policy issues at once for the smime-auto group
# (alice, bob) and pends the rest (carol). Operators: olivia (officer),
# audrey (auditor), password in $WEB_OP_PW.
# Sets WEB_DIR, WEB_HOME, WEB_URL, WEB_CA, WEB_KORE_URL, WEB_SIGNET_CA.
web_setup_full() {
	WEB_DIR=$(mktemp -d /tmp/signet-web-test.XXXXXX)
	chmod 755 "$WEB_DIR"
	export WEB_DIR WEB_HOME="$WEB_DIR/home"
	"$WEB_ROOT/bin/signet" --home "$WEB_HOME" setup --cn "Signet Web Test CA" \
	    >"$WEB_DIR/setup.log" 2>&1
	printf 'auto_issue_groups = smime-auto\nmax_valid_per_mailbox = 0\n' \
	    >>"$WEB_HOME/signet.conf"
	export WEB_OP_PW="$WEB_DIR/operator.pw"
	printf 'officer-password-1\n' >"$WEB_OP_PW"
	chmod 600 "$WEB_OP_PW"
	"$WEB_ROOT/bin/signet" --home "$WEB_HOME" operator add olivia \
	    --role officer --password-file "$WEB_OP_PW" >/dev/null
	"$WEB_ROOT/bin/signet" --home "$WEB_HOME" operator add audrey \
	    --role auditor --password-file "$WEB_OP_PW" >/dev/null
	bash "$WEB_ROOT/scripts/slapd.sh" start "$WEB_DIR/ldap"
	# the publisher, as make run configures it, to the demo directory
	cp "$WEB_DIR/ldap/admin.pw" "$WEB_HOME/ldap.pw"
	chmod 600 "$WEB_HOME/ldap.pw"
	printf '\n[publish.ldap.demo]\nuri = ldap://127.0.0.1:%s\nbind_dn = cn=admin,dc=example,dc=com\npassword_file = ldap.pw\nbase_dn = ou=people,dc=example,dc=com\n' \
	    "$(cat "$WEB_DIR/ldap/port")" >>"$WEB_HOME/signet.conf"
	"$WEB_ROOT/bin/signet" --home "$WEB_HOME" ca-serve \
	    </dev/null >"$WEB_DIR/ca-serve.log" 2>&1 3>&- &
	echo $! >"$WEB_DIR/ca-serve.mypid"
	"$WEB_ROOT/bin/signet" --home "$WEB_HOME" publish \
	    </dev/null >"$WEB_DIR/publish.log" 2>&1 3>&- &
	echo $! >"$WEB_DIR/publish.mypid"
	WEB_KORE_PORT=$(free_port)
	WEB_HTTPS_PORT=$(free_port)
	SIGNET_DB=$("$WEB_ROOT/bin/signet" --home "$WEB_HOME" db conninfo)
	export SIGNET_DB SIGNET_HOME="$WEB_HOME"
	export SIGNET_LDAP_URI="ldap://127.0.0.1:$(cat "$WEB_DIR/ldap/port")"
	export SIGNET_LDAP_BASE="dc=example,dc=com"
	make -s -C "$WEB_ROOT/web" >/dev/null
	bash "$WEB_ROOT/web/signet-web.sh" start "$WEB_DIR/web" "$WEB_KORE_PORT"
	bash "$WEB_ROOT/scripts/nginx.sh" start "$WEB_DIR/nginx" "$WEB_KORE_PORT" "$WEB_HTTPS_PORT"
	export WEB_URL="https://localhost:$WEB_HTTPS_PORT"
	export WEB_KORE_URL="http://127.0.0.1:$WEB_KORE_PORT"
	export WEB_CA="$WEB_DIR/nginx/local-ca.pem"
	export WEB_SIGNET_CA="$WEB_HOME/ca.pem"
}

# web_psql SQL: runs SQL on the full instance's database, prints rows.
web_psql() {
	psql -X -q -t -A "$SIGNET_DB" -c "$1"
}

web_teardown_full() {
	local rc=0
	[ -n "${WEB_DIR:-}" ] || return 0
	bash "$WEB_ROOT/scripts/nginx.sh" stop "$WEB_DIR/nginx" || true
	bash "$WEB_ROOT/web/signet-web.sh" stop "$WEB_DIR/web" || true
	web_san_check "$WEB_DIR/web" || rc=1
	for p in ca-serve publish; do
		if [ -f "$WEB_DIR/$p.mypid" ]; then
			kill "$(cat "$WEB_DIR/$p.mypid")" 2>/dev/null || true
		fi
	done
	bash "$WEB_ROOT/scripts/slapd.sh" stop "$WEB_DIR/ldap" || true
	"$WEB_ROOT/bin/signet" --home "$WEB_HOME" stop >/dev/null 2>&1 || true
	if [ -z "${WEB_KEEP:-}" ]; then
		rm -rf "$WEB_DIR"
	fi
	return $rc
}

# web_employee_login JAR LOGIN PASSWORD: signs in; prints the HTTP status.
web_employee_login() {
	local jar=$1 csrf
	csrf=$(web_curl "$jar" "$WEB_URL/login" | web_csrf_of)
	web_curl "$jar" -o /dev/null -w '%{http_code}' --data-urlencode "login=$2" \
	    --data-urlencode "password=$3" --data-urlencode "csrf=$csrf" "$WEB_URL/login"
}

# web_operator_login JAR NAME PASSWORD: prints the HTTP status.
web_operator_login() {
	local jar=$1 csrf
	csrf=$(web_curl "$jar" "$WEB_URL/admin/login" | web_csrf_of)
	web_curl "$jar" -o /dev/null -w '%{http_code}' --data-urlencode "name=$2" \
	    --data-urlencode "password=$3" --data-urlencode "csrf=$csrf" "$WEB_URL/admin/login"
}

# web_wait_state JAR ID STATE: polls the status endpoint up to 10 s.
web_wait_state() {
	local i s
	for i in $(seq 1 100); do
		s=$(web_curl "$1" "$WEB_URL/requests/$2/status" | sed -n 's/.*"state":"\([a-z]*\)".*/\1/p')
		[ "$s" = "$3" ] && return 0
		sleep 0.1
	done
	echo "request $2 is '$s', not '$3'" >&2
	return 1
}

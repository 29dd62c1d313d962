#!/usr/bin/env bash
# run.sh: what `make run` calls. Brings up a complete local Signet in var/:
# the instance (made once with `signet setup`), its PostgreSQL, the demo
# directory (var/ldap), `signet ca-serve`, `signet publish` (to the demo
# directory), signet-web (Kore, loopback) and nginx at https://localhost:8443
# (or a free port when 8443 is taken). Prints the URL and the logins;
# Ctrl-C stops everything it started, by PID. A second run reuses var/.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
var=$root/var
signet=$root/bin/signet
pids=()

free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
port_free() {
	python3 -c 'import socket,sys; s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind(("127.0.0.1",int(sys.argv[1])))' "$1" 2>/dev/null
}

stop_all() {
	trap - INT TERM EXIT
	echo
	echo "run.sh: stopping"
	bash "$root/scripts/nginx.sh" stop "$var/nginx" || true
	bash "$root/web/signet-web.sh" stop "$var/web" || true
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${pids[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	bash "$root/scripts/slapd.sh" stop "$var/ldap" || true
	"$signet" --home "$var" db stop >/dev/null 2>&1 || true
	echo "run.sh: stopped (state kept in var/; run again to resume)"
}

# ---- the instance, once ----
first=0
if [ ! -f "$var/signet.conf" ]; then
	first=1
	mkdir -p "$var"
	chmod 755 "$var"
	"$signet" --home "$var" setup --cn "Signet Demo CA"
	# The demo policy: the smime-auto group (alice, bob) is issued at
	# once; everyone else (carol) waits for an officer.
	printf 'auto_issue_groups = smime-auto\n' >>"$var/signet.conf"
fi
# A previous run's PostgreSQL may still be shutting down: retry briefly.
for _ in $(seq 1 30); do
	"$signet" --home "$var" db start >/dev/null 2>&1 || true
	"$signet" --home "$var" migrate >/dev/null 2>&1 && break
	sleep 1
done
"$signet" --home "$var" migrate >/dev/null

# ---- the demo directory (its port is kept in var/ldap/port) ----
ldap_port=$(cat "$var/ldap/port" 2>/dev/null || free_port)
port_free "$ldap_port" || ldap_port=$(free_port)
bash scripts/slapd.sh start "$var/ldap" "$ldap_port"
ldap_uri="ldap://127.0.0.1:$ldap_port"

if [ $first -eq 1 ]; then
	cat >>"$var/signet.conf" <<CONF

[publish.ldap.demo]
; the demo directory that \`make run\` starts (scripts/slapd.sh)
uri = $ldap_uri
bind_dn = cn=admin,dc=example,dc=com
password_file = ldap/admin.pw
base_dn = ou=people,dc=example,dc=com
ca_dn = cn=Signet Demo CA,dc=example,dc=com
create_ca_entry = yes
CONF
fi
# The directory may have moved to another port since the first run.
sed -i "s|^uri = ldap://127.0.0.1:[0-9]*$|uri = $ldap_uri|" "$var/signet.conf"
chmod 600 "$var/ldap/admin.pw" 2>/dev/null || true

# ---- a demo officer, once; the password is printed this once ----
if [ ! -f "$var/officer.pw" ]; then
	umask 077
	python3 -c 'import secrets; print(secrets.token_urlsafe(15))' >"$var/officer.pw"
	umask 022
	"$signet" --home "$var" operator add officer --role officer \
	    --password-file "$var/officer.pw" >/dev/null
	new_officer=1
fi

trap 'stop_all; exit 0' INT TERM
trap stop_all EXIT

mkdir -p "$var/log"
# setsid: Ctrl-C reaches this script only, which then stops each daemon
# by its PID in order (stop_all).
setsid "$signet" --home "$var" ca-serve </dev/null >>"$var/log/ca-serve.log" 2>&1 3>&- &
pids+=($!)
usage=$("$signet" 2>&1 || true)
if grep -q '^  publish ' <<<"$usage"; then
	setsid "$signet" --home "$var" publish </dev/null >>"$var/log/publish.log" 2>&1 3>&- &
	pids+=($!)
fi

# ---- signet-web on loopback, nginx in front ----
# The certificates name http://HOST:PORT/ for their CRL, OCSP and CA
# certificate ([ca] crl_url): serve there when the port is free.
web_port=$(sed -n 's|^crl_url = http://[^:/]*:\([0-9][0-9]*\)/.*|\1|p' "$var/signet.conf")
if [ -z "$web_port" ] || ! port_free "$web_port"; then
	echo "run.sh: port ${web_port:-?} named by [ca] crl_url is taken;" \
	    "CRL and OCSP URLs in certificates will not answer" >&2
	web_port=$(free_port)
fi
SIGNET_DB=$("$signet" --home "$var" db conninfo)
export SIGNET_DB SIGNET_HOME="$var" SIGNET_LDAP_URI="$ldap_uri" \
    SIGNET_LDAP_BASE="dc=example,dc=com"
make -s -C web >/dev/null
bash web/signet-web.sh start "$var/web" "$web_port"
https_port=${SIGNET_HTTPS_PORT:-8443}
port_free "$https_port" || https_port=$(free_port)
bash scripts/nginx.sh start "$var/nginx" "$web_port" "$https_port"

url="https://localhost:$https_port"
cat <<EOF_MSG

  Signet is running at  $url

  The site's TLS certificate comes from a local CA made for this machine:
    trust it:  curl --cacert var/nginx/local-ca.pem $url/
    browsers:  import var/nginx/local-ca.pem as an authority (or accept the warning)
  Mail clients trust Signet's own CA from $url/ca (var/ca.pem).

  Employees (directory logins):  alice / alice-demo-pw   (issued at once)
                                 bob   / bob-demo-pw     (issued at once)
                                 carol / carol-demo-pw   (waits for an officer)
  Operator console:  $url/admin   name: officer
EOF_MSG
if [ -n "${new_officer:-}" ]; then
	echo "                     password: $(cat "$var/officer.pw")   (shown once; kept in var/officer.pw)"
else
	echo "                     password: in var/officer.pw"
fi
cat <<EOF_MSG

  Logs: var/log/ (ca-serve, publish), var/web/kore.log, var/ldap/slapd.log
  Press Ctrl-C to stop everything started here.
EOF_MSG

# Stay in the foreground until Ctrl-C or a daemon dies.
while :; do
	for pid in "${pids[@]}"; do
		if ! kill -0 "$pid" 2>/dev/null; then
			echo "run.sh: a daemon (pid $pid) exited; see var/log/" >&2
			exit 1
		fi
	done
	sleep 2
done

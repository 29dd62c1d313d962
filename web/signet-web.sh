#!/usr/bin/env bash
# signet-web.sh start|stop DIR PORT: runs signet-web (Kore) on
# http://127.0.0.1:PORT with its configuration, pid and logs in DIR.
#
# The caller exports SIGNET_DB and SIGNET_LDAP_URI (and optionally the other
# SIGNET_* settings listed in signet-web.conf.in); SIGNET_TEMPLATES,
# SIGNET_STATIC and SIGNET_VENDOR default to this checkout's templates/,
# web/static/ and build/vendor/ (PKI.js bundled by web/vendor.sh).
# Kore's output (start-up messages, errors) goes to DIR/kore.log.
#
# With SIGNET_WEB_SAN=1 it runs the AddressSanitizer/UBSan build of the
# module (make web-san) instead, the sanitizer runtimes preloaded into
# Kore; their reports go to DIR/kore.log, and `check DIR` exits 1 with
# them when there are any.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cmd=${1:-}; dir=${2:-}; port=${3:-}
usage() { echo "usage: $0 start DIR PORT | stop DIR | check DIR" >&2; exit 2; }
[ -n "$cmd" ] && [ -n "$dir" ] || usage

running() {
	[ -f "$dir/signet-web.pid" ] && kill -0 "$(cat "$dir/signet-web.pid")" 2>/dev/null
}

case $cmd in
start)
	[ -n "$port" ] || usage
	mkdir -p "$dir"
	dir=$(cd "$dir" && pwd)
	running && exit 0
	[ -f "$here/signet-web.so" ] || make -s -C "$here"
	module=$here/signet-web.so
	preload=
	if [ -n "${SIGNET_WEB_SAN:-}" ]; then
		module=$root/build/web-san/signet-web.so
		[ -f "$module" ] || { echo "$0: $module missing (make web-san)" >&2; exit 1; }
		# the runtimes first, or they refuse to start; no leak check
		# (it needs ptrace, which the workers' seccomp filter refuses)
		preload="$(${CC:-cc} -print-file-name=libasan.so) $(${CC:-cc} -print-file-name=libubsan.so)"
		export ASAN_OPTIONS=detect_leaks=0 UBSAN_OPTIONS=print_stacktrace=1
	fi
	: "${SIGNET_DB:?SIGNET_DB is not set}"
	: "${SIGNET_LDAP_URI:?SIGNET_LDAP_URI is not set}"
	export SIGNET_TEMPLATES=${SIGNET_TEMPLATES:-$root/templates}
	export SIGNET_STATIC=${SIGNET_STATIC:-$here/static}
	export SIGNET_VENDOR=${SIGNET_VENDOR:-$root/build/vendor}
	[ -f "$SIGNET_VENDOR/pki.js" ] || bash "$here/vendor.sh" "$SIGNET_VENDOR"
	sed -e "s|@PORT@|$port|g" -e "s|@MODULE@|$module|g" \
	    -e "s|@RUNDIR@|$dir|g" -e "s|@WORKERS@|${SIGNET_WEB_WORKERS:-$(nproc)}|g" \
	    "$here/signet-web.conf.in" > "$dir/signet-web.conf"
	rm -f "$dir/signet-web.pid"
	LD_PRELOAD=$preload setsid kore -fnrc "$dir/signet-web.conf" \
	    >> "$dir/kore.log" 2>&1 < /dev/null &
	for _ in $(seq 1 100); do
		if curl -s -o /dev/null "http://127.0.0.1:$port/login"; then
			exit 0
		fi
		kill -0 $! 2>/dev/null || break
		sleep 0.1
	done
	echo "signet-web.sh: kore did not start; see $dir/kore.log" >&2
	tail -5 "$dir/kore.log" >&2 || true
	exit 1
	;;
stop)
	if running; then
		pid=$(cat "$dir/signet-web.pid")
		kill "$pid"
		for _ in $(seq 1 50); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
		# Under the sanitizer runtimes a worker's exit can hang in
		# libp11-kit's destructor (freelocale waits on glibc's locale
		# lock); the release build's does not. Kore was started with
		# setsid: its process group goes.
		if [ -n "${SIGNET_WEB_SAN:-}" ] && kill -0 "$pid" 2>/dev/null; then
			kill -KILL -- "-$pid" 2>/dev/null || true
			# gone, and its port with it, before a restart
			for _ in $(seq 1 50); do
				pgrep -g "$pid" >/dev/null || break
				sleep 0.1
			done
		fi
	fi
	;;
check)
	# a sanitizer's report, from its first line to the end of its stack
	if [ -f "$dir/kore.log" ] &&
	    grep -Eq 'ERROR: AddressSanitizer|runtime error:' "$dir/kore.log"; then
		echo "signet-web: sanitizer reports in $dir/kore.log:" >&2
		grep -E -A 30 'ERROR: AddressSanitizer|runtime error:' \
		    "$dir/kore.log" >&2
		exit 1
	fi
	;;
*) usage ;;
esac

# stop_pid PID NAME: sourced by the scripts that start a local service.
# TERM, then up to 30 s for PID to go, then KILL and 5 s more. Returns only
# once the process is gone (1, said on stderr, if even KILL failed): a
# service still shutting down would make the next start find it
# "running" and do nothing, and then leave nothing running at all.
stop_pid() {
	local pid=$1 name=$2
	kill "$pid" 2>/dev/null || return 0
	for _ in $(seq 1 300); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	echo "$name $pid still running after 30 s; killing it" >&2
	kill -KILL "$pid" 2>/dev/null || true
	for _ in $(seq 1 50); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	echo "$name $pid would not stop" >&2
	return 1
}

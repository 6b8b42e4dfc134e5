# Shared by the benchmark scripts (run.sh, store_scale.sh). Sourced, not run.

log() { printf '%s %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# stop_pid PID [SECONDS]: TERM, wait up to SECONDS (5), then KILL; reaps a child.
stop_pid() {
  local pid=$1 tenths=$(( ${2:-5} * 10 )) i
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < tenths; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
  wait "$pid" 2>/dev/null || true
}

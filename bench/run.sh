#!/usr/bin/env bash
# runmirror beside nginx, in one go. See bench/README.md ("runmirror beside nginx").
#
#   bench/run.sh [--quick] [--duration S] [--repeat R] [--runs N] [--pages P] [--conns "16 256"]
#                [--cases "byid hot byjob list miss v2"] [--targets "origin nginx runmirror"]
#                [--data DIR] [--bin PATH] [--results DIR] [--keep]
#
# Starts an origin (Debian nginx serving generated ExtractRun and Extract v2 job JSON files at
# the API's paths; case v2 reads the v2 jobs, byid the same data as v1 runs), an
# nginx proxy_cache in front of it and runmirror in front of it, warms both caches, then runs wrk
# (pinned to one core) against each target (pinned to the other) and prints a table. Everything it
# starts is stopped on exit, Ctrl-C included.
# Environment: RUNMIRROR_BIN, WRK_CPU (0), SERVER_CPU (1), WRK_THREADS (1), BENCH_KEY (bench-key),
# RM_LIST_MAX_AGE_MS (3600000), RM_DEFAULTS (0; 1: the daemon at its defaults, no tuning flags),
# RM_EXTRA_ARGS, NGINX_MISS_STORE (0), RM_WRAP (a command the daemon
# runs under, e.g. "valgrind --tool=callgrind --callgrind-out-file=/tmp/cg.out" to count its
# instructions per request, which a busy machine does not change; see bench/README.md).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"

DURATION=10
REPEAT=1
RUNS=2000
PAGES=40
CONNS="16 256"
CASES="byid hot byjob list miss"
TARGETS="origin nginx runmirror"
DATA=""
BIN="${RUNMIRROR_BIN:-$ROOT/build/runmirror}"
RESULTS=""
KEEP=0
KEY="${BENCH_KEY:-bench-key}"
WRK_CPU="${WRK_CPU:-0}"
SERVER_CPU="${SERVER_CPU:-1}"
WRK_THREADS="${WRK_THREADS:-1}"
# List pages are cached for --list-max-age-ms (daemon default 5 s); the bench keeps them for an
# hour so that the list case measures hits. RM_LIST_MAX_AGE_MS=5000 measures the default.
RM_LIST_MAX_AGE_MS="${RM_LIST_MAX_AGE_MS:-3600000}"
RM_EXTRA_ARGS="${RM_EXTRA_ARGS:-}"
# Forwarded miss through nginx: NGINX_MISS_STORE=1 stores the refreshed answer (bypass only),
# the default forwards without storing (bypass + proxy_no_cache).
if [[ "${NGINX_MISS_STORE:-0}" == 1 ]]; then NGINX_NO_STORE=0; else NGINX_NO_STORE=1; fi

usage() { sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) DURATION=3 ;;
    --duration) DURATION="$2"; shift ;;
    --repeat) REPEAT="$2"; shift ;;
    --runs) RUNS="$2"; shift ;;
    --pages) PAGES="$2"; shift ;;
    --conns) CONNS="$2"; shift ;;
    --cases) CASES="$2"; shift ;;
    --targets) TARGETS="$2"; shift ;;
    --data) DATA="$2"; shift ;;
    --bin) BIN="$2"; shift ;;
    --results) RESULTS="$2"; shift ;;
    --keep) KEEP=1 ;;
    -h|--help) usage 0 ;;
    *) echo "run.sh: unknown option $1" >&2; usage 2 ;;
  esac
  shift
done

for tool in nginx wrk taskset python3; do
  command -v "$tool" >/dev/null || { echo "run.sh: $tool not found (apt-get install nginx-light wrk util-linux python3)" >&2; exit 2; }
done
[[ -x "$BIN" ]] || { echo "run.sh: no runmirror at $BIN (ninja -C build runmirror, or --bin)" >&2; exit 2; }
if [[ $(nproc) -lt 2 ]]; then WRK_CPU=0; SERVER_CPU=0; echo "run.sh: one core only: wrk and servers share it" >&2; fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/runmirror-bench.XXXXXX")
PIDS=()        # every long-lived process started here, stopped in cleanup
CHILD=""       # the current foreground helper (wrk, warm-up), run in background + wait

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  [[ -n "$CHILD" ]] && stop_pid "$CHILD"
  local i
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${PIDS[i]}"; done
  if [[ $KEEP -eq 1 || $rc -ne 0 ]]; then
    log "kept $TMP (logs, wrk outputs, configs)"
  else
    rm -rf "$TMP"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A private copy: colleagues relinking build/runmirror mid-run must not change what is measured.
cp "$BIN" "$TMP/runmirror"
BIN_INFO="$(date -r "$BIN" '+%F %T') $(sha256sum "$BIN" | cut -c1-12)"
BIN="$TMP/runmirror"
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)

run_child() {  # run a helper so that a signal reaches our trap at once; returns its status
  "$@" &
  CHILD=$!
  local rc=0
  wait "$CHILD" || rc=$?
  CHILD=""
  return "$rc"
}

free_ports() {
  python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

wait_port() {  # wait_port PORT PID NAME
  local i tries=100
  # Under valgrind (RM_WRAP) the daemon starts 50-100 times slower.
  [[ -n "${RM_WRAP:-}" ]] && tries=1200
  for i in $(seq "$tries"); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    kill -0 "$2" 2>/dev/null || { echo "run.sh: $3 exited at start" >&2; return 1; }
    sleep 0.1
  done
  echo "run.sh: $3 not listening on $1" >&2; return 1
}

# ---- data ---------------------------------------------------------------------------------------
if [[ -z "$DATA" ]]; then DATA="$TMP/data"; fi
if [[ -f "$DATA/manifest.json" ]] && python3 -c "import json,sys; m=json.load(open('$DATA/manifest.json')); sys.exit(0 if m['runs']==$RUNS and m['list_pages']>=min($PAGES,1) else 1)" && [[ -f "$DATA/paths/v2.txt" ]]; then
  log "reusing data in $DATA"
else
  log "generating $RUNS runs, $PAGES list pages in $DATA"
  run_child python3 "$HERE/gen_data.py" "$DATA" --runs "$RUNS" --pages "$PAGES"
fi
DATA=$(cd "$DATA" && pwd)
P="$DATA/paths"

# ---- servers ------------------------------------------------------------------------------------
read -r ORIGIN_PORT NGINX_PORT RM_PORT < <(free_ports 3)
USER_LINE=""
if [[ $EUID -eq 0 ]]; then USER_LINE="user $(id -un) $(id -gn);"; fi
# keys_zone: about 8,000 keys per MiB; every run has two URLs.
ZONE_MB=$(( (2 * RUNS + PAGES) / 8000 + 16 ))

nginx_common() {  # nginx_common DIR: main-context and http-context lines shared by both nginxes
  local d=$1
  mkdir -p "$d/tmp"
  cat <<EOF
worker_processes 1;
daemon off;
master_process on;
pid $d/nginx.pid;
lock_file $d/nginx.lock;
error_log $d/error.log warn;
$USER_LINE
events { worker_connections 8192; }
http {
  access_log off;
  types { application/json json; }
  default_type application/json;
  sendfile on;
  tcp_nopush on;
  tcp_nodelay on;
  keepalive_timeout 65s;
  keepalive_requests 1000000;
  open_file_cache max=20000 inactive=60s;
  open_file_cache_valid 60s;
  client_body_temp_path $d/tmp/body;
  proxy_temp_path $d/tmp/proxy;
  fastcgi_temp_path $d/tmp/fastcgi;
  uwsgi_temp_path $d/tmp/uwsgi;
  scgi_temp_path $d/tmp/scgi;
EOF
}

mkdir -p "$TMP/origin" "$TMP/nginx/cache" "$TMP/wrk"
{
  nginx_common "$TMP/origin"
  cat <<EOF
  server {
    listen 127.0.0.1:$ORIGIN_PORT backlog=4096;
    root $DATA;
    # /api/v1/extraction/runs?extraction_agent_id=A&skip=S&limit=L -> lists/A/S-L.json
    location = /api/v1/extraction/runs {
      try_files /lists/\$arg_extraction_agent_id/\$arg_skip-\$arg_limit.json =404;
    }
    location ~ ^/api/v1/extraction/runs/by-job/([0-9a-f-]+)\$ { try_files /by-job/\$1.json =404; }
    location ~ ^/api/v1/extraction/runs/([0-9a-f-]+)\$ { try_files /runs/\$1.json =404; }
    location ~ ^/api/v2/extract/(v2-[0-9a-f-]+)\$ { try_files /v2/\$1.json =404; }
    location = /_bench/status { stub_status; }
    location / { return 404 '{"detail":"Not Found"}'; }
  }
}
EOF
} > "$TMP/origin/nginx.conf"

{
  nginx_common "$TMP/nginx"
  cat <<EOF
  proxy_cache_path $TMP/nginx/cache levels=1:2 keys_zone=bench:${ZONE_MB}m max_size=50g inactive=7d use_temp_path=off;
  upstream origin { server 127.0.0.1:$ORIGIN_PORT; keepalive 256; }
  # "Cache-Control: no-cache" from the client: forward to the origin (proxy_cache_bypass), and by
  # default do not store the answer (proxy_no_cache): see bench/README.md for why.
  map \$http_cache_control \$bench_bypass { default 0; ~*no-cache 1; }
  map \$http_cache_control \$bench_no_store { default 0; ~*no-cache $NGINX_NO_STORE; }
  server {
    listen 127.0.0.1:$NGINX_PORT backlog=4096;
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffers 32 16k;
      proxy_cache bench;
      proxy_cache_key "\$http_authorization|\$request_uri";
      proxy_cache_valid 200 7d;
      proxy_cache_lock on;
      proxy_cache_bypass \$bench_bypass;
      proxy_no_cache \$bench_no_store;
      add_header X-Cache-Status \$upstream_cache_status always;
    }
  }
}
EOF
} > "$TMP/nginx/nginx.conf"

start_nginx() {  # start_nginx NAME DIR PORT -> appends the master's pid to PIDS
  taskset -c "$SERVER_CPU" nginx -p "$2/" -c "$2/nginx.conf" -e "$2/error.log" &
  local pid=$!
  PIDS+=("$pid")
  wait_port "$3" "$pid" "$1"
  log "$1: nginx pid $pid on 127.0.0.1:$3"
}

start_nginx origin "$TMP/origin" "$ORIGIN_PORT"
ORIGIN_PID=${PIDS[-1]}
start_nginx nginx "$TMP/nginx" "$NGINX_PORT"
NGINX_PID=${PIDS[-1]}

# RM_DEFAULTS=1: the daemon exactly as users run it (threads, idle upstream connections and list
# max age at their defaults), pinned to one CPU like every server here.
if [[ "${RM_DEFAULTS:-0}" == 1 ]]; then
  RM_TUNING=()
else
  RM_TUNING=(--threads 1 --upstream-max-idle 256 --list-max-age-ms "$RM_LIST_MAX_AGE_MS")
fi
# shellcheck disable=SC2086
taskset -c "$SERVER_CPU" ${RM_WRAP:-} "$BIN" serve --listen "127.0.0.1:$RM_PORT" \
  --upstream "http://127.0.0.1:$ORIGIN_PORT" --db "$TMP/rm.db" "${RM_TUNING[@]}" \
  $RM_EXTRA_ARGS > "$TMP/runmirror.log" 2>&1 &
RM_PID=$!
PIDS+=("$RM_PID")
wait_port "$RM_PORT" "$RM_PID" runmirror
log "runmirror: pid $RM_PID on 127.0.0.1:$RM_PORT ($("$BIN" --version 2>/dev/null | head -1), built $BIN_INFO)"

# ---- warm-up ------------------------------------------------------------------------------------
WARM_FILES=("$P/ids.txt" "$P/jobs.txt" "$P/lists.txt" "$P/v2.txt")
log "warming nginx proxy_cache"
run_child python3 "$HERE/warm.py" "http://127.0.0.1:$NGINX_PORT" "${WARM_FILES[@]}" --key "$KEY" \
  --expect-header X-Cache-Status --expect-value HIT
log "warming runmirror"
run_child python3 "$HERE/warm.py" "http://127.0.0.1:$RM_PORT" "${WARM_FILES[@]}" --key "$KEY" \
  --expect-header Cache-Status --expect-value "runmirror; hit"

# ---- measurement --------------------------------------------------------------------------------
CLK_TCK=$(getconf CLK_TCK)

tree_pids() {  # tree_pids PID: the process and its children (nginx master, workers, cache manager)
  echo "$1"
  local kids
  kids=$(cat /proc/"$1"/task/*/children 2>/dev/null || true)
  local k
  for k in $kids; do echo "$k"; done
}

cpu_ticks() {  # sum of utime+stime of the given pids
  local total=0 p stat rest
  for p in "$@"; do
    stat=$(cat /proc/"$p"/stat 2>/dev/null) || continue
    rest=${stat##*) }
    # shellcheck disable=SC2086
    set -- $rest
    total=$(( total + ${12} + ${13} ))
  done
  echo "$total"
}

mem_kb() {  # mem_kb FIELD PIDS...: sum of VmRSS or VmHWM
  local field=$1 total=0 p v
  shift
  for p in "$@"; do
    v=$(awk -v f="$field:" '$1 == f { print $2 }' /proc/"$p"/status 2>/dev/null || true)
    total=$(( total + ${v:-0} ))
  done
  echo "$total"
}

origin_counters() {  # "accepts requests" from the origin's stub_status ("0 0" if it is gone)
  python3 - "$ORIGIN_PORT" <<'EOF' 2>/dev/null || echo "0 0"
import sys, urllib.request
t = urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/_bench/status").read().decode().split("\n")
accepts, handled, requests = t[2].split()
print(accepts, requests)
EOF
}

CHILD_CPU_MS=0
children_cpu_ms() {  # sets CHILD_CPU_MS: CPU time (user+sys, ms) of this shell's waited-for children
  times > "$TMP/times"   # a builtin with a redirection runs in this shell: no $(...) subshell here
  CHILD_CPU_MS=$(awk 'NR == 2 { n = split($0, f, " "); t = 0
         for (i = 1; i <= n; i++) { split(f[i], ms, "m"); t += ms[1] * 60000 + ms[2] * 1000 }
         printf "%d\n", t }' "$TMP/times")
}

case_paths() {
  case "$1" in
    byid|miss) echo "$P/ids.txt" ;;
    hot) echo "$P/hot.txt" ;;
    list) echo "$P/lists.txt" ;;
    byjob) echo "$P/jobs.txt" ;;
    v2) echo "$P/v2.txt" ;;
  esac
}

target_port() {
  case "$1" in origin) echo "$ORIGIN_PORT" ;; nginx) echo "$NGINX_PORT" ;; runmirror) echo "$RM_PORT" ;; esac
}
target_pid() {
  case "$1" in origin) echo "$ORIGIN_PID" ;; nginx) echo "$NGINX_PID" ;; runmirror) echo "$RM_PID" ;; esac
}

TSV="$TMP/results.tsv"
echo "# case conns target wrk_output cpu_ticks rss_kb hwm_kb origin_ticks origin_reqs origin_conns clk_tck wrk_cpu_ms" > "$TSV"

measure() {  # measure CASE CONNS TARGET REP
  local case=$1 conns=$2 target=$3 rep=$4 out header=""
  out="$TMP/wrk/$case-$conns-$target-$rep.txt"
  [[ $case == miss ]] && header="Cache-Control: no-cache"
  local -a pids opids
  mapfile -t pids < <(tree_pids "$(target_pid "$target")")
  mapfile -t opids < <(tree_pids "$ORIGIN_PID")
  local p
  for p in "${pids[@]}"; do echo 5 > /proc/"$p"/clear_refs 2>/dev/null || true; done  # reset VmHWM
  local c0 o0 a0 r0 c1 o1 a1 r1
  read -r a0 r0 < <(origin_counters)
  c0=$(cpu_ticks "${pids[@]}"); o0=$(cpu_ticks "${opids[@]}")
  local rc=0 w0 w1
  children_cpu_ms; w0=$CHILD_CPU_MS
  BENCH_PATHS=$(case_paths "$case") BENCH_KEY="$KEY" BENCH_HEADER="$header" \
    run_child taskset -c "$WRK_CPU" wrk -t"$WRK_THREADS" -c"$conns" -d"${DURATION}s" --latency \
      -s "$HERE/wrk_paths.lua" "http://127.0.0.1:$(target_port "$target")" > "$out" || rc=$?
  children_cpu_ms; w1=$CHILD_CPU_MS
  if [[ $rc -ne 0 ]]; then echo "run.sh: wrk failed ($rc) for $target $case @$conns:" >&2; cat "$out" >&2; exit 1; fi
  c1=$(cpu_ticks "${pids[@]}"); o1=$(cpu_ticks "${opids[@]}")
  read -r a1 r1 < <(origin_counters)
  local rss hwm
  rss=$(mem_kb VmRSS "${pids[@]}"); hwm=$(mem_kb VmHWM "${pids[@]}")
  if [[ $target == origin ]]; then o0=$o1; fi
  # The status request itself counts once (accepted and served) in each reading.
  printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$case" "$conns" "$target" "$out" \
    "$((c1 - c0))" "$rss" "$hwm" "$((o1 - o0))" "$((r1 - r0 - 1))" "$((a1 - a0 - 1))" "$CLK_TCK" "$((w1 - w0))" >> "$TSV"
  log "  $case @$conns $target: $(awk '/Requests\/sec/ { print $2 " req/s" }' "$out")$(grep -E 'Non-2xx|Socket errors' "$out" | tr -s ' ' | sed 's/^/; /' | tr -d '\n')"
  kill -0 "$(target_pid "$target")" 2>/dev/null || { echo "run.sh: $target died during $case @$conns" >&2; exit 1; }
  sleep 1
}

log "measuring: cases [$CASES] x conns [$CONNS] x targets [$TARGETS], ${DURATION} s each, $REPEAT time(s); wrk on cpu $WRK_CPU, servers on cpu $SERVER_CPU"
for case in $CASES; do
  for conns in $CONNS; do
    for rep in $(seq "$REPEAT"); do
      for target in $TARGETS; do
        measure "$case" "$conns" "$target" "$rep"
      done
    done
  done
done

echo
echo "runmirror bench: $RUNS runs ($(python3 -c "import json; m=json.load(open('$DATA/manifest.json')); print(f\"{m['run_bytes_avg']} B avg; {m['list_pages']} list pages of {m['page_limit']}, {m['list_bytes_avg']} B avg\")")), ${DURATION} s per cell (median of $REPEAT), wrk -t$WRK_THREADS on cpu $WRK_CPU, server on cpu $SERVER_CPU, $(nproc) cpus, $(uname -r)"
echo "runmirror binary built $BIN_INFO; load average before $LOAD_BEFORE, after $(cut -d' ' -f1-3 /proc/loadavg)"
python3 "$HERE/report.py" "$TSV"
if grep -qiE '\[(warning|error|critical)\]|\b(warn|error)\b' "$TMP/runmirror.log"; then
  echo
  echo "runmirror log (warnings/errors, first 20):"
  grep -iE '\[(warning|error|critical)\]|\b(warn|error)\b' "$TMP/runmirror.log" | head -20
fi
if [[ -n "$RESULTS" ]]; then
  mkdir -p "$RESULTS"
  cp -r "$TSV" "$TMP/wrk" "$TMP/runmirror.log" "$RESULTS/"
  sed -i "s#$TMP/wrk/#$RESULTS/wrk/#" "$RESULTS/results.tsv"
  log "results copied to $RESULTS"
fi

#!/usr/bin/env bash
# Scale of the store (issue 6, part 3): a store of --runs runs, and what the daemon does with it.
#
#   bench/store_scale.sh [--runs 1000000] [--build DIR] [--dir DIR] [--refill | --reuse]
#                        [--duration S] [--conns 16] [--starts 10]
#
# Fills a store through the real store code (runmirror_fill_store, built from bench/fill_store.cpp)
# or reuses the one in --dir (default BUILD/store-scale-RUNS) when it holds --runs runs at the
# schema version this tree has (--reuse: at any version, e.g. to measure an older build's store
# with that build's BUILD/runmirror). Then measures, with a PASS/FAIL per target:
#   size       the .db plus its -wal after a checkpoint, against the raw JSON bytes of the runs
#   startup    process start until /_runmirror/health answers (--starts times), and how many
#              bytes the process read from files by then (/proc/PID/io rchar)
#   byid       GET /api/v1/extraction/runs/{id}          wrk, --conns connections, p50/p99
#   byjob      GET /api/v1/extraction/runs/by-job/{job}
#   list       GET /api/v1/extraction/runs?extraction_agent_id=A&skip=S&limit=50, stored pages
#   assembled  the same for pages never stored, daemon --offline (Cache-Status ... assembled):
#              the 40 pages after the stored ones, per agent
#   deep       assembled pages anywhere in an agent's runs (deep skips; reported, no target)
# The daemon runs online with an upstream that refuses connections (every run is final, so it
# never asks), except for the assembled cases. wrk is pinned to WRK_CPU (0), the daemon to
# SERVER_CPU (1) with --threads SERVER_THREADS (1), as bench/run.sh does. Every process started
# here is stopped on exit, Ctrl-C included.
# Environment: BENCH_KEY (bench-key), WRK_CPU, SERVER_CPU, SERVER_THREADS, WRK_THREADS (1),
# WARM_CACHE (1: read the store file once before the latency cases).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"

RUNS=1000000
BUILD="$ROOT/build"
DIR=""
REFILL=0
REUSE=0
DURATION=10
CONNS=16
STARTS=10
KEY="${BENCH_KEY:-bench-key}"
WRK_CPU="${WRK_CPU:-0}"
SERVER_CPU="${SERVER_CPU:-1}"
SERVER_THREADS="${SERVER_THREADS:-1}"
WRK_THREADS="${WRK_THREADS:-1}"

usage() { sed -n '2,25p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --runs) RUNS="$2"; shift ;;
    --build) BUILD="$2"; shift ;;
    --dir) DIR="$2"; shift ;;
    --refill) REFILL=1 ;;
    --reuse) REUSE=1 ;;
    --duration) DURATION="$2"; shift ;;
    --conns) CONNS="$2"; shift ;;
    --starts) STARTS="$2"; shift ;;
    -h|--help) usage 0 ;;
    *) echo "store_scale.sh: unknown option $1" >&2; usage 2 ;;
  esac
  shift
done

BIN="$BUILD/runmirror"
FILL="$BUILD/runmirror_fill_store"
DIR="${DIR:-$BUILD/store-scale-$RUNS}"
for tool in wrk taskset python3 curl; do
  command -v "$tool" >/dev/null || { echo "store_scale.sh: $tool not found" >&2; exit 2; }
done
[[ -x "$BIN" ]] || { echo "store_scale.sh: no runmirror at $BIN (cmake --build $BUILD)" >&2; exit 2; }
if [[ $(nproc) -lt 2 ]]; then WRK_CPU=0; SERVER_CPU=0; fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/runmirror-scale.XXXXXX")
PIDS=()
REPORTED=0
cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  local i
  # 10 s: the writer checkpoints the WAL on close.
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do stop_pid "${PIDS[i]}" 10; done
  # Logs are kept when the script itself failed; a FAIL in the table (exit 1) is a result.
  if [[ $rc -ne 0 && $REPORTED -eq 0 ]]; then log "kept $TMP (logs, wrk outputs)"; else rm -rf "$TMP"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# ---- the store -----------------------------------------------------------------------------------
DB="$DIR/store.db"
P="$DIR/paths"
SCHEMA_FILES=$(find "$ROOT/schema" -name '[0-9]*_*.sql' | wc -l)
reusable() {
  [[ -f "$DB" && -f "$P/manifest.txt" && -f "$DIR/fill.txt" ]] || return 1
  grep -qx "runs $RUNS" "$P/manifest.txt" || return 1
  # A store written by another schema version would be migrated (or refused) by this daemon.
  [[ $REUSE -eq 1 ]] || [[ "$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute('PRAGMA user_version').fetchone()[0])" "$DB")" == "$SCHEMA_FILES" ]]
}
if [[ $REFILL -eq 0 ]] && reusable; then
  log "reusing the store in $DIR"
else
  log "building runmirror_fill_store"
  nice cmake --build "$BUILD" --target runmirror_fill_store >/dev/null
  rm -rf "$DIR"
  mkdir -p "$P"
  log "filling $DB with $RUNS runs"
  # 40 stored list pages, fewer for a small store so that some pages are left to assemble.
  "$FILL" --db "$DB" --runs "$RUNS" --key "$KEY" --pages $((RUNS / 100 < 40 ? RUNS / 100 : 40)) \
    --paths "$P" > "$DIR/fill.txt"
fi
fill_value() { awk -v k="$1" '$1 == k { print $2 }' "$DIR/fill.txt"; }
RAW=$(fill_value raw_json_bytes)
FILL_S=$(fill_value seconds)

# Size after a checkpoint: the fill tool's store closes with one; make sure of it anyway.
python3 -c "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('PRAGMA wal_checkpoint(TRUNCATE)'); c.close()" "$DB"
DB_BYTES=$(stat -c %s "$DB")
WAL_BYTES=$( [[ -f "$DB-wal" ]] && stat -c %s "$DB-wal" || echo 0)
STORE_BYTES=$((DB_BYTES + WAL_BYTES))
log "store: $DB_BYTES + $WAL_BYTES (wal) bytes for $RAW raw JSON bytes"

# ---- start-up ------------------------------------------------------------------------------------
DEAD_PORT=$(free_port)  # nothing listens there: the upstream refuses connections
SERVE_ARGS=(--db "$DB" --upstream "http://127.0.0.1:$DEAD_PORT" --threads "$SERVER_THREADS"
  --list-max-age-ms 3600000 --log-level warn)
log "start-up, $STARTS times"
python3 - "$BIN" "$STARTS" "$TMP/startup.txt" "${SERVE_ARGS[@]}" <<'EOF'
import socket, statistics, subprocess, sys, time
bin_, starts, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
args = sys.argv[4:]

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close(); return port

def healthy(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
            s.sendall(b"GET /_runmirror/health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            return s.recv(64).startswith(b"HTTP/1.1 200")
    except OSError:
        return False

ms, rchar = [], []
for _ in range(starts):
    port = free_port()
    t0 = time.perf_counter()
    p = subprocess.Popen([bin_, "serve", "--listen", f"127.0.0.1:{port}", *args],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not healthy(port):
            if p.poll() is not None:
                sys.exit(f"store_scale: runmirror exited at start ({p.returncode})")
            if time.perf_counter() - t0 > 60:
                sys.exit("store_scale: runmirror not healthy within 60 s")
            time.sleep(0.001)
        ms.append((time.perf_counter() - t0) * 1000)
        with open(f"/proc/{p.pid}/io") as f:
            io = dict(line.split(": ") for line in f.read().splitlines())
        rchar.append(int(io["rchar"]))
    finally:
        p.terminate()
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            p.kill(); p.wait()
with open(out, "w") as f:
    f.write(f"median {statistics.median(ms):.1f}\nmax {max(ms):.1f}\nmin {min(ms):.1f}\n"
            f"rchar_max {max(rchar)}\n")
EOF
startup() { awk -v k="$1" '$1 == k { print $2 }' "$TMP/startup.txt"; }

# ---- serving -------------------------------------------------------------------------------------
start_daemon() {  # start_daemon NAME EXTRA_ARGS...: sets PORT
  local name=$1 i
  shift
  PORT=$(free_port)
  taskset -c "$SERVER_CPU" "$BIN" serve --listen "127.0.0.1:$PORT" "${SERVE_ARGS[@]}" "$@" \
    > "$TMP/$name.log" 2>&1 &
  PIDS+=("$!")
  for i in $(seq 600); do
    curl -sf "http://127.0.0.1:$PORT/_runmirror/health" >/dev/null && return 0
    kill -0 "${PIDS[-1]}" 2>/dev/null || { echo "store_scale.sh: $name exited" >&2; cat "$TMP/$name.log" >&2; return 1; }
    sleep 0.1
  done
  echo "store_scale.sh: $name not healthy" >&2; return 1
}
stop_daemon() { stop_pid "${PIDS[-1]}" 10; unset 'PIDS[-1]'; }

check_status() {  # check_status PATHS EXPECTED: the first path answers 200 with that Cache-Status
  local path headers
  [[ -s "$1" ]] || { echo "store_scale.sh: $1 is empty (a store too small for this case)" >&2; exit 2; }
  path=$(head -1 "$1")
  headers=$(curl -s -o /dev/null -D - -H "Authorization: Bearer $KEY" "http://127.0.0.1:$PORT$path")
  if ! grep -qi "^cache-status: .*$2" <<< "$headers" || ! grep -q "^HTTP/1.1 200" <<< "$headers"; then
    echo "store_scale.sh: $path did not answer 200 with Cache-Status ... $2:" >&2
    echo "$headers" >&2
    exit 1
  fi
}

declare -A P50 P99 RPS ERR
measure() {  # measure CASE PATHS
  local case=$1 out="$TMP/wrk-$1.txt"
  # A 30 s timeout, so that slow answers are measured rather than dropped as socket errors.
  BENCH_PATHS=$2 BENCH_KEY="$KEY" BENCH_HEADER="" taskset -c "$WRK_CPU" wrk -t"$WRK_THREADS" \
    -c"$CONNS" -d"${DURATION}s" --timeout 30s --latency -s "$HERE/wrk_paths.lua" \
    "http://127.0.0.1:$PORT" > "$out"
  if grep -qE 'Non-2xx' "$out"; then
    echo "store_scale.sh: answers other than 200 during $case:" >&2; cat "$out" >&2; exit 1
  fi
  read -r P50[$case] P99[$case] RPS[$case] ERR[$case] < <(python3 - "$out" <<'EOF'
import re, sys
text = open(sys.argv[1]).read()
def ms(label):
    m = re.search(r"^\s*" + label + r"\s+([\d.]+)(us|ms|s)\s*$", text, re.M)
    v = float(m.group(1)); return v / 1000 if m.group(2) == "us" else v * 1000 if m.group(2) == "s" else v
rps = re.search(r"Requests/sec:\s+([\d.]+)", text).group(1)
errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
print(f"{ms('50%'):.3f} {ms('99%'):.3f} {float(rps):.0f} {sum(map(int, errors.groups())) if errors else 0}")
EOF
)
  log "  $case @$CONNS: p50 ${P50[$case]} ms, p99 ${P99[$case]} ms, ${RPS[$case]} req/s, ${ERR[$case]} socket errors"
}

# The latency cases measure a warm page cache, as on a host where the daemon has been serving
# for a while: the 200,000 sampled ids are spread over the whole file, and cold pages would
# measure the disk. (Start-up above ran first, on whatever the cache held.)
if [[ "${WARM_CACHE:-1}" == 1 ]]; then
  log "reading $DB once into the page cache"
  cat "$DB" > /dev/null
fi

log "daemon (online, upstream refusing): by id, by job, stored list pages"
start_daemon online
check_status "$P/ids.txt" "hit"
check_status "$P/jobs.txt" "hit"
check_status "$P/lists.txt" "hit"
# One pass over the sampled ids first, as a client reading them back would, so the measurement
# is of the daemon, not of pages the kernel has not cached since the fill.
BENCH_PATHS="$P/ids.txt" BENCH_KEY="$KEY" taskset -c "$WRK_CPU" wrk -t1 -c"$CONNS" -d5s \
  -s "$HERE/wrk_paths.lua" "http://127.0.0.1:$PORT" >/dev/null
measure byid "$P/ids.txt"
measure byjob "$P/jobs.txt"
measure list "$P/lists.txt"
stop_daemon

log "daemon --offline: assembled list pages"
start_daemon offline --offline
check_status "$P/assembled.txt" "detail=assembled"
measure assembled "$P/assembled.txt"
measure deep "$P/deep.txt"
stop_daemon

# ---- report --------------------------------------------------------------------------------------
REPORTED=1
python3 - "$RUNS" "$RAW" "$DB_BYTES" "$WAL_BYTES" "$FILL_S" "$CONNS" \
  "$(startup median)" "$(startup max)" "$(startup rchar_max)" \
  "${P50[byid]}" "${P99[byid]}" "${RPS[byid]}" "${P50[byjob]}" "${P99[byjob]}" "${RPS[byjob]}" \
  "${P50[list]}" "${P99[list]}" "${RPS[list]}" "${P50[assembled]}" "${P99[assembled]}" \
  "${RPS[assembled]}" "${P50[deep]}" "${P99[deep]}" "${RPS[deep]}" \
  "${ERR[byid]}" "${ERR[byjob]}" "${ERR[list]}" "${ERR[assembled]}" "${ERR[deep]}" <<'EOF'
import sys
a = sys.argv[1:]
runs, raw, db, wal, fill_s, conns = int(a[0]), int(a[1]), int(a[2]), int(a[3]), float(a[4]), a[5]
st_med, st_max, rchar = float(a[6]), float(a[7]), int(a[8])
lat, err = {}, {}
for k, name in enumerate(["byid", "byjob", "list", "assembled", "deep"]):
    lat[name] = tuple(float(x) for x in a[9 + 3 * k: 12 + 3 * k])
    err[name] = int(a[24 + k])
ratio = (db + wal) / raw
rows = [
    ("store size / raw JSON", f"{ratio:.3f} ({(db + wal) / 1e9:.2f} GB / {raw / 1e9:.2f} GB)", "<= 1.1", ratio <= 1.1),
    ("start-up to health (max)", f"{st_max:.0f} ms (median {st_med:.0f})", "<= 300 ms", st_max <= 300),
    ("start-up file reads (rchar)", f"{rchar / 1e6:.1f} MB ({100 * rchar / (db + wal):.2f}% of store)", "< 1% of store", rchar < 0.01 * (db + wal)),
]
for name, label, limit in [("byid", "get by id", 1), ("byjob", "get by job", 1), ("list", "stored list page", 1),
                           ("assembled", "assembled list (offline)", 10)]:
    p50, p99, rps = lat[name]
    errors = f", {err[name]} socket errors" if err[name] else ""
    rows.append((f"{label} p99 @{conns}", f"{p99:.3f} ms (p50 {p50:.3f}, {rps:.0f} req/s{errors})", f"<= {limit} ms", p99 <= limit and not err[name]))
p50, p99, rps = lat["deep"]
errors = f", {err['deep']} socket errors" if err["deep"] else ""
rows.append((f"assembled, deep skips p99 @{conns}", f"{p99:.3f} ms (p50 {p50:.3f}, {rps:.0f} req/s{errors})", "(none)", None))
rows.append(("fill time", f"{fill_s:.0f} s ({runs / fill_s:.0f} runs/s)", "(none)", None))
print(f"\nstore scale: {runs} runs, {raw / runs:.0f} B avg raw JSON")
w = max(len(r[0]) for r in rows)
v = max(len(r[1]) for r in rows)
for name, value, limit, ok in rows:
    verdict = "" if ok is None else ("PASS" if ok else "FAIL")
    print(f"  {name:<{w}}  {value:<{v}}  {limit:<14} {verdict}")
sys.exit(0 if all(r[3] is not False for r in rows) else 1)
EOF

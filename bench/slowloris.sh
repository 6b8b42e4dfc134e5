#!/usr/bin/env bash
# Slowloris against the daemon at its defaults, while a loop of normal requests measures what a
# well-behaved client sees. Not part of CI (bench/README.md, "Overload").
#
#   bench/slowloris.sh [--conns 6000] [--rate 1000] [--interval 10] [--length 40] [--bin PATH]
#
# Starts `runmirror serve --offline` on a free loopback port with a throwaway store (no other
# flags: --max-connections is its default, 4096), runs slowhttptest -H (Debian package
# slowhttptest) with --conns connections opened at --rate per second, each sending a header
# line every --interval seconds, and meanwhile sends one GET /_runmirror/health every 50 ms on a
# new connection with curl (1 s budget each). Prints the normal requests' outcome: answered
# 200 within 1 s, refused with 503 (the daemon full), or not answered (the failure this guards
# against), and their latency percentiles. Everything it starts is stopped on exit.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
# shellcheck source=bench/lib.sh
source "$HERE/lib.sh"

CONNS=6000
RATE=1000
INTERVAL=10
LENGTH=40
BIN=${RUNMIRROR_BIN:-$ROOT/build/runmirror}
while [ $# -gt 0 ]; do
  case $1 in
    --conns) CONNS=$2; shift 2 ;;
    --rate) RATE=$2; shift 2 ;;
    --interval) INTERVAL=$2; shift 2 ;;
    --length) LENGTH=$2; shift 2 ;;
    --bin) BIN=$2; shift 2 ;;
    *) echo "unknown argument $1" >&2; exit 2 ;;
  esac
done
command -v slowhttptest >/dev/null || { echo "needs slowhttptest (apt-get install slowhttptest)" >&2; exit 1; }
command -v curl >/dev/null || { echo "needs curl" >&2; exit 1; }

# The daemon's 4,096 connections, slowhttptest's 6,000 and the loop's, all in this process tree.
ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -ge $((CONNS + 4096 + 256)) ] || log "warning: ulimit -n is $(ulimit -n); the test may run out of descriptors"

WORK=$(mktemp -d /tmp/runmirror-slowloris.XXXXXX)
DAEMON=""
ATTACK=""
cleanup() {
  [ -n "$ATTACK" ] && stop_pid "$ATTACK" 2
  [ -n "$DAEMON" ] && stop_pid "$DAEMON" 15
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

"$BIN" serve --offline --listen 127.0.0.1:0 --db "$WORK/rm.db" >"$WORK/daemon.log" 2>&1 &
DAEMON=$!
PORT=""
for _ in $(seq 100); do
  PORT=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$WORK/daemon.log" | head -1)
  [ -n "$PORT" ] && break
  sleep 0.1
done
[ -n "$PORT" ] || { cat "$WORK/daemon.log" >&2; exit 1; }
URL="http://127.0.0.1:$PORT/_runmirror/health"
log "daemon on port $PORT (pid $DAEMON); slowhttptest -H -c $CONNS -r $RATE -i $INTERVAL -l $LENGTH"

slowhttptest -H -c "$CONNS" -r "$RATE" -i "$INTERVAL" -l "$LENGTH" -p 3 -u "$URL" \
  >"$WORK/slowhttptest.log" 2>&1 &
ATTACK=$!

# The normal client: one request per 50 ms, each on a new connection, for the attack's length.
end=$((SECONDS + LENGTH))
while [ $SECONDS -lt $end ]; do
  curl -s -o /dev/null --max-time 1 -w '%{http_code} %{time_total}\n' "$URL" >>"$WORK/normal.txt" \
    || echo "000 $?" >>"$WORK/normal.txt"
  sleep 0.05
done
stop_pid "$ATTACK" 2
ATTACK=""

log "slowhttptest's last status:"
grep -E "pending|connected|error|closed|service available" "$WORK/slowhttptest.log" | tail -6 >&2 || true
grep -E "pressure|connections" "$WORK/daemon.log" | sort | uniq -c | sort -rn | head -4 >&2 || true
awk '
  $1 == 200 && $2 <= 1.0 { ok++ }
  $1 == 200 && $2 > 1.0 { slow++ }
  $1 == 503 { refused++ }
  $1 == "000" { unanswered++ }
  $1 != 200 && $1 != 503 && $1 != "000" { other++ }
  END {
    n = ok + slow + refused + unanswered + other
    printf "normal requests: %d; 200 within 1 s: %d (%.2f%%); 200 later: %d; 503: %d; unanswered: %d; other: %d\n",
      n, ok, 100 * ok / n, slow, refused, unanswered, other
  }' "$WORK/normal.txt"
awk '$1 == 200 { print $2 * 1000 }' "$WORK/normal.txt" | sort -n | awk '
  { t[NR] = $1 }
  END {
    p99 = int(NR * 0.99); if (p99 < 1) p99 = 1
    if (NR) printf "latency of the 200s (ms): p50 %.1f, p99 %.1f, max %.1f\n", t[int((NR + 1) / 2)], t[p99], t[NR]
  }'

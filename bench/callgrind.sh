#!/usr/bin/env bash
# User-space instructions per request of runmirror for one case, under callgrind. CPU time moves
# with the machine's load (and this VM gives perf no hardware counters); instruction counts do
# not, so this compares two builds on a busy machine. See bench/README.md.
#
#   bench/callgrind.sh CASE [--conns N] [--bin PATH] [--out FILE] [-- DAEMON FLAGS...]
#
# Runs bench/run.sh for CASE (byid, hot, byjob, list, miss) against runmirror alone, with the
# daemon under valgrind --tool=callgrind: two wrk passes of 5 s, counters zeroed after the
# first, so the figure is the warmed steady state. Prints requests, instructions and
# instructions per request; FILE (default a temp file) keeps the profile for callgrind_annotate.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
usage() { sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
[[ $# -ge 1 ]] || usage 2
case "$1" in -h|--help) usage 0 ;; esac
CASE=$1; shift
CONNS=16
BIN="${RUNMIRROR_BIN:-$HERE/../build/runmirror}"
OUT=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --conns) CONNS="$2"; shift ;;
    --bin) BIN="$2"; shift ;;
    --out) OUT="$2"; shift ;;
    --) shift; break ;;
    *) echo "callgrind.sh: unknown option $1" >&2; usage 2 ;;
  esac
  shift
done
command -v valgrind >/dev/null && command -v callgrind_control >/dev/null ||
  { echo "callgrind.sh: needs valgrind (apt-get install valgrind)" >&2; exit 2; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/runmirror-callgrind.XXXXXX")
[[ -n "$OUT" ]] || OUT="$TMP/callgrind.out"
BENCH=""
cleanup() {
  if [[ -n "$BENCH" ]] && kill -0 "$BENCH" 2>/dev/null; then kill -INT "$BENCH"; wait "$BENCH" || true; fi
  rm -rf "$TMP"
}
trap cleanup EXIT

# The warm-up reads every run and list page, more than the memory cache holds at its default
# (12 MiB): what it keeps then depends on how many requests the first pass got through to
# evict pages for runs, which on a busy machine is too few, and the second pass would count
# store reads. A budget that holds everything makes every counted request a memory hit, the
# cheapest answer (so any added cost is at its largest share). Flags after -- come later and
# win.
RUNMIRROR_BIN="$BIN" RM_WRAP="valgrind --tool=callgrind --callgrind-out-file=$OUT" \
  RM_EXTRA_ARGS="--memory-cache-mb 64 $*" \
  "$HERE/run.sh" --duration 5 --repeat 2 --cases "$CASE" --conns "$CONNS" --targets runmirror \
  --results "$TMP/results" > "$TMP/report.txt" 2> "$TMP/log.txt" &
BENCH=$!
# The first pass warms the memory cache and the allocator; count from the second.
until grep -q "$CASE @$CONNS runmirror:" "$TMP/log.txt" 2>/dev/null; do
  kill -0 "$BENCH" 2>/dev/null || { cat "$TMP/log.txt" >&2; exit 1; }
  sleep 0.1
done
callgrind_control -z > /dev/null  # every callgrind run on the machine: run one at a time
# Dump as soon as the second pass ends (run.sh pauses a second after each pass), so the daemon's
# shutdown (freeing the memory cache, the store's last checkpoint) is not counted against the
# requests: it varies from run to run by more than what this is meant to resolve.
until [[ $(grep -c "$CASE @$CONNS runmirror:" "$TMP/log.txt") -ge 2 ]]; do
  kill -0 "$BENCH" 2>/dev/null || { cat "$TMP/log.txt" >&2; exit 1; }
  sleep 0.05
done
callgrind_control -d > /dev/null
wait "$BENCH"
BENCH=""
requests=$(awk '/requests in/ { print $1 }' "$TMP"/results/wrk/*-2.txt)
dump=$(ls "$OUT".* 2>/dev/null | head -1)
[[ -n "$dump" ]] || { echo "callgrind.sh: no dump was written" >&2; exit 1; }
instructions=$(callgrind_annotate "$dump" 2>/dev/null | awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1 }')
[[ "$OUT" == "$TMP/callgrind.out" ]] || mv "$dump" "$OUT"
echo "$CASE @$CONNS: $requests requests, $instructions instructions, $((instructions / requests)) per request"
[[ "$OUT" == "$TMP/callgrind.out" ]] || echo "profile: $OUT (callgrind_annotate --inclusive=yes $OUT)"

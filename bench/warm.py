#!/usr/bin/env python3
"""Request every path once (keep-alive, a few threads) to warm a cache, then check a sample.

Usage: warm.py BASE_URL PATHS_FILE... [--key bench-key] [--threads 4]
               [--expect-header NAME --expect-value SUBSTRING]
Exits non-zero if any warm-up request did not answer 200, or if a sampled second request does
not carry the expected header value (e.g. Cache-Status containing "hit").
"""
import argparse
import collections
import http.client
import sys
import threading
import urllib.parse


def worker(host, port, paths, headers, stats, lock, expect=None):
    try:
        _worker(host, port, paths, headers, stats, lock, expect)
    except Exception as e:  # noqa: BLE001 - reported, and the run fails
        with lock:
            stats["_bad"] = stats.get("_bad", 0) + 1
            stats.setdefault("_examples", []).append(("worker died", repr(e)))


def _worker(host, port, paths, headers, stats, lock, expect=None):
    conn = None
    local = collections.Counter()
    bad = []
    for p in paths:
        for attempt in range(3):
            try:
                if conn is None:
                    conn = http.client.HTTPConnection(host, port, timeout=60)
                conn.request("GET", p, headers=headers)
                r = conn.getresponse()
                r.read()
                break
            except (OSError, http.client.HTTPException):
                conn = None
                if attempt == 2:
                    raise
        local[f"status {r.status}"] += 1
        cs = r.getheader("Cache-Status") or r.getheader("X-Cache-Status")
        if cs:
            local[f"cache {cs}"] += 1
        if r.status != 200:
            bad.append((p, r.status))
        if expect and expect[1].lower() not in (r.getheader(expect[0]) or "").lower():
            bad.append((p, f"{expect[0]}: {r.getheader(expect[0])}"))
        if r.getheader("Connection", "").lower() == "close":
            conn.close()
            conn = None
    with lock:
        stats.update(local)
        stats["_bad"] = stats.get("_bad", 0) + len(bad)
        stats.setdefault("_examples", []).extend(bad[:3])


def run(base, paths, key, threads, expect=None):
    u = urllib.parse.urlsplit(base)
    headers = {"Authorization": f"Bearer {key}", "Accept": "application/json"}
    stats = collections.Counter()
    lock = threading.Lock()
    shards = [paths[i::threads] for i in range(threads)]
    ts = [threading.Thread(target=worker, args=(u.hostname, u.port, s, headers, stats, lock, expect))
          for s in shards if s]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return stats


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("base")
    ap.add_argument("files", nargs="+")
    ap.add_argument("--key", default="bench-key")
    ap.add_argument("--threads", type=int, default=4)
    ap.add_argument("--expect-header")
    ap.add_argument("--expect-value")
    ap.add_argument("--sample", type=int, default=50, help="paths per file re-requested to check")
    args = ap.parse_args()
    paths, sample = [], []
    for f in args.files:
        with open(f) as fh:
            ps = [line.strip() for line in fh if line.strip()]
        paths += ps
        step = max(1, len(ps) // args.sample)
        sample += ps[::step][: args.sample]
    stats = run(args.base, paths, args.key, args.threads)
    summary = ", ".join(f"{k}: {v}" for k, v in sorted(stats.items()) if not k.startswith("_"))
    print(f"  warm {args.base}: {len(paths)} requests; {summary}", file=sys.stderr)
    ok = stats.get("_bad", 0) == 0
    if not ok:
        print(f"  warm: {stats['_bad']} bad answers, e.g. {stats['_examples']}", file=sys.stderr)
    if args.expect_header:
        check = run(args.base, sample, args.key, 1, (args.expect_header, args.expect_value))
        summary = ", ".join(f"{k}: {v}" for k, v in sorted(check.items()) if not k.startswith("_"))
        print(f"  check {len(sample)} sampled paths again: {summary}", file=sys.stderr)
        if check.get("_bad", 0):
            print(f"  check: {check['_bad']} not '{args.expect_value}', e.g. {check['_examples']}",
                  file=sys.stderr)
            ok = False
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Turn bench/run.sh measurements (a TSV plus wrk outputs) into the results table and target checks.

Usage: report.py RESULTS_TSV
TSV columns: case conns target wrk_output cpu_ticks rss_kb hwm_kb origin_ticks origin_reqs origin_conns clk_tck wrk_cpu_ms
"""
import re
import statistics
import sys

UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3, "h": 3600e3}
CASE_ORDER = ["byid", "hot", "byjob", "list", "miss"]
TARGET_ORDER = ["origin", "nginx", "runmirror"]


def ms(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", text)
    return float(m.group(1)) * UNITS[m.group(2)] if m else float("nan")


def parse_wrk(path):
    with open(path) as f:
        out = f.read()
    r = {"rps": float("nan"), "p50": float("nan"), "p99": float("nan"), "requests": 0,
         "non2xx": 0, "sockerr": 0, "secs": float("nan")}
    if m := re.search(r"Requests/sec:\s+([\d.]+)", out):
        r["rps"] = float(m.group(1))
    if m := re.search(r"(\d+) requests in (\S+),", out):
        r["requests"] = int(m.group(1))
        r["secs"] = ms(m.group(2)) / 1e3
    for pct, key in (("50", "p50"), ("99", "p99")):
        if m := re.search(rf"^\s+{pct}%\s+(\S+)", out, re.M):
            r[key] = ms(m.group(1))
    if m := re.search(r"Non-2xx or 3xx responses: (\d+)", out):
        r["non2xx"] = int(m.group(1))
    if m := re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out):
        r["sockerr"] = sum(int(x) for x in m.groups())
        r["sockerr_detail"] = m.group(0)
    return r


def main():
    runs = {}
    with open(sys.argv[1]) as f:
        for line in f:
            if not line.strip() or line.startswith("#"):
                continue
            case, conns, target, wrk_out, ticks, rss, hwm, oticks, oreqs, oconns, clk, wrk_ms = \
                line.rstrip("\n").split("\t")
            r = parse_wrk(wrk_out)
            n = max(r["requests"], 1)
            clk = int(clk)
            r.update(cpu_us=int(ticks) * 1e6 / clk / n, rss=int(rss) / 1024, hwm=int(hwm) / 1024,
                     origin_us=int(oticks) * 1e6 / clk / n, up_per_req=int(oreqs) / n,
                     up_conns=int(oconns), wrk_cpu=int(wrk_ms) / 10 / max(r["secs"], 1e-9))
            runs.setdefault((case, int(conns), target), []).append(r)
    # Several repetitions of a cell: the median of each metric, and the req/s spread.
    rows = {}
    for key, rs in runs.items():
        m = {k: statistics.median(r[k] for r in rs) for k in rs[0] if isinstance(rs[0][k], (int, float))}
        m["sockerr_detail"] = "; ".join(r["sockerr_detail"] for r in rs if r.get("sockerr_detail"))
        m["non2xx"] = sum(r["non2xx"] for r in rs)
        m["sockerr"] = sum(r["sockerr"] for r in rs)
        m["spread"] = (max(r["rps"] for r in rs) - min(r["rps"] for r in rs)) / m["rps"] if m["rps"] else 0
        m["n"] = len(rs)
        rows[key] = m

    repeats = max(r["n"] for r in rows.values())
    head = (f"{'case':<6} {'conns':>5} {'target':<9} {'req/s':>9} {'p50 ms':>7} {'p99 ms':>7} "
            f"{'CPU us/req':>10} {'RSS MiB':>7} {'HWM MiB':>7} {'x origin':>8} {'x nginx':>7} "
            f"{'up/req':>6} {'up conns':>8} {'origin us/req':>13} {'errors':>6} {'wrk cpu':>7}"
            + (f" {'req/s spread':>12}" if repeats > 1 else ""))
    print(head)
    print("-" * len(head))
    cases = sorted({k[0] for k in rows}, key=lambda c: CASE_ORDER.index(c) if c in CASE_ORDER else 99)
    conns_all = sorted({k[1] for k in rows})
    for case in cases:
        for c in conns_all:
            base = rows.get((case, c, "origin"))
            ngx = rows.get((case, c, "nginx"))
            for t in TARGET_ORDER:
                r = rows.get((case, c, t))
                if not r:
                    continue
                xo = f"{r['rps'] / base['rps']:.2f}" if base else "-"
                xn = f"{r['rps'] / ngx['rps']:.2f}" if ngx else "-"
                up = f"{r['up_per_req']:.2f}" if t != "origin" else "-"
                upc = f"{r['up_conns']:.0f}" if t != "origin" else "-"
                ous = f"{r['origin_us']:.1f}" if t != "origin" else "-"
                print(f"{case:<6} {c:>5} {t:<9} {r['rps']:>9.0f} {r['p50']:>7.3f} {r['p99']:>7.3f} "
                      f"{r['cpu_us']:>10.1f} {r['rss']:>7.1f} {r['hwm']:>7.1f} {xo:>8} {xn:>7} "
                      f"{up:>6} {upc:>8} {ous:>13} {r['non2xx'] + r['sockerr']:>6} {r['wrk_cpu']:>6.0f}%"
                      + (f" {r['spread'] * 100:>11.0f}%" if repeats > 1 else ""))
        print()

    # Targets from the issue (runmirror, 256 connections unless said otherwise).
    print("Targets (issue 6):")

    def get(case, c, t):
        return rows.get((case, c, t))

    def line(ok, text):
        mark = "-" if ok is None else ("PASS" if ok else "FAIL")
        print(f"  [{mark:>4}] {text}")

    for case, label in (("byid", "run by id"), ("hot", "hot run")):
        o, n, r = get(case, 256, "origin"), get(case, 256, "nginx"), get(case, 256, "runmirror")
        if not (o and r):
            continue
        line(r["rps"] / o["rps"] >= 0.85,
             f"{label} @256: req/s {r['rps'] / o['rps']:.2f} of origin (>= 0.85"
             + (f"; nginx {n['rps'] / o['rps']:.2f})" if n else ")"))
        if n:
            line(r["p99"] <= n["p99"], f"{label} @256: p99 {r['p99']:.2f} ms vs nginx {n['p99']:.2f} ms (<=)")
            line(r["cpu_us"] <= n["cpu_us"],
                 f"{label} @256: CPU {r['cpu_us']:.1f} us/req vs nginx {n['cpu_us']:.1f} (<=)")
    o, r = get("list", 256, "origin"), get("list", 256, "runmirror")
    if o and r:
        line(r["cpu_us"] <= 40, f"list page @256: CPU {r['cpu_us']:.1f} us/req (<= 40)")
        line(r["rps"] / o["rps"] >= 0.75, f"list page @256: req/s {r['rps'] / o['rps']:.2f} of origin (>= 0.75)")
    for c in conns_all:
        o, r = get("miss", c, "origin"), get("miss", c, "runmirror")
        if o and r:
            d = r["p50"] - o["p50"]
            line(d <= 0.3, f"forwarded miss @{c}: p50 {r['p50']:.3f} ms vs origin {o['p50']:.3f} ms: +{d:.3f} ms (<= 0.3)")
    hits = [(case, rows[(case, 256, "runmirror")]) for case in ("byid", "hot", "list", "byjob")
            if (case, 256, "runmirror") in rows]
    for case, h in hits:
        line(h["hwm"] <= 32, f"RSS serving hits ({case}) @256: peak VmHWM {h['hwm']:.1f} MiB, "
             f"VmRSS after {h['rss']:.1f} MiB (<= 32)")
    bad = [(k, r) for k, r in rows.items() if r["non2xx"] or r["sockerr"]]
    for (case, c, t), r in sorted(bad):
        print(f"  [note] {t} {case} @{c}: {r['non2xx']} non-2xx, {r.get('sockerr_detail', '')}")


if __name__ == "__main__":
    main()

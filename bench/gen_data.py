#!/usr/bin/env python3
"""Generate a static LlamaCloud-like data set for the runmirror benchmark.

Writes, under OUT:
  runs/<run_id>.json                     one ExtractRun (~4.6 KB)      GET /api/v1/extraction/runs/<id>
  by-job/<job_id>.json                   hard link to the run's file   GET /api/v1/extraction/runs/by-job/<job>
  lists/<agent_id>/<skip>-<limit>.json   {"items":[50 runs],...}       GET /api/v1/extraction/runs?extraction_agent_id=A&skip=S&limit=50
  v2/<job_id>.json                       the same run as an Extract v2 job  GET /api/v2/extract/<job_id>
  paths/{ids,jobs,lists,hot,all,v2}.txt  request paths, one a line (wrk Lua scripts and warm-up read them)
  manifest.json                          what was generated, with byte sizes

The bodies are compact JSON (like the upstream's FastAPI answers), deterministic for a given --seed.
Runs are numbered 0..N-1 newest first (created_at strictly descending), run i belongs to agent
i % agents, so an agent's list, newest first, is runs a, a+A, a+2A, ...; pages hold exactly the
bytes of the run files they list. Every run is final (SUCCESS, a few ERROR) unless --pending-frac
is given, so a cache may serve all of them without asking the origin.

Usage: gen_data.py OUT [--runs 2000] [--pages 40] [--agents 8] [--projects 2] [--seed 1]
"""
import argparse
import json
import os
import random
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone

PAGE_LIMIT = 50
BASE = datetime(2025, 6, 1, 12, 0, 0, tzinfo=timezone.utc)

VENDORS = [
    ("Acme Industrial Supply GmbH", "Hauptstrasse 12", "Berlin", "10115", "DE"),
    ("Northwind Traders Ltd", "221 Harbour Road", "Leeds", "LS1 4AP", "GB"),
    ("Contoso Office Products Inc.", "1 Microsoft Way", "Redmond", "98052", "US"),
    ("Globex Logistics S.A.", "Rue de la Loi 44", "Bruxelles", "1040", "BE"),
    ("Initech Software LLC", "4120 Freidrich Lane", "Austin", "78744", "US"),
    ("Umbrella Lab Equipment K.K.", "2-4-1 Marunouchi", "Tokyo", "100-0005", "JP"),
    ("Stark Components S.r.l.", "Via Roma 88", "Milano", "20121", "IT"),
    ("Wayne Facility Services", "1007 Mountain Drive", "Gotham", "10001", "US"),
]
PRODUCTS = [
    "Stainless steel hex bolts M8x40 (box of 200)", "Industrial nitrile gloves, size L, 100 pcs",
    "A4 copy paper 80 g/m2, 5 reams", "Laser toner cartridge, black, high yield",
    "Ergonomic office chair with lumbar support", "27-inch IPS monitor, USB-C, height adjustable",
    "Annual software maintenance and support", "On-site installation, per technician hour",
    "Pallet freight Berlin to Hamburg, 2 pallets", "Safety goggles, anti-fog, EN166 certified",
    "Cat6 patch cable 2 m, blue, pack of 10", "Cloud storage subscription, 5 TB tier, monthly",
]
NOTES = [
    "Payment due within 30 days of the invoice date. Late payments incur 1.5% monthly interest.",
    "Goods remain the property of the supplier until paid in full. Please quote the invoice number.",
    "Thank you for your business. Questions about this invoice: billing@example.com, +44 20 7946 0958.",
    "Delivery partially completed; the remaining items ship in a separate consignment next week.",
    "Reverse charge: VAT to be accounted for by the recipient as per Article 196 Council Directive.",
]
CURRENCIES = ["EUR", "USD", "GBP", "JPY", "CHF"]
MODES = ["BALANCED", "BALANCED", "FAST", "PREMIUM", "MULTIMODAL"]
ERRORS = [
    "Document parsing failed: the file appears to be password protected",
    "Extraction timed out after 600 seconds on page 14",
    "Unsupported file type: application/x-ms-shortcut",
]

SCHEMA = {
    "type": "object",
    "properties": {
        "vendor": {"type": "object", "description": "The party that issued the invoice",
                   "properties": {"name": {"type": "string"}, "vat_id": {"type": ["string", "null"]},
                                  "address": {"type": "object", "properties": {
                                      "street": {"type": "string"}, "city": {"type": "string"},
                                      "postal_code": {"type": "string"}, "country": {"type": "string"}}}}},
        "invoice_number": {"type": "string", "description": "Invoice identifier as printed"},
        "invoice_date": {"type": "string", "format": "date"},
        "due_date": {"type": ["string", "null"], "format": "date"},
        "currency": {"type": "string", "description": "ISO 4217 code"},
        "line_items": {"type": "array", "items": {"type": "object", "properties": {
            "description": {"type": "string"}, "quantity": {"type": "number"},
            "unit_price": {"type": "number"}, "amount": {"type": "number"}},
            "required": ["description", "amount"]}},
        "subtotal": {"type": "number"}, "tax": {"type": "number"}, "total": {"type": "number"},
        "notes": {"type": ["string", "null"]},
    },
    "required": ["vendor", "invoice_number", "total"],
}


def compact(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def ts(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def rng_uuid(rng):
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def make_ids(seed, agents, projects):
    r = random.Random(f"ids-{seed}")
    project_ids = [rng_uuid(r) for _ in range(projects)]
    agent_ids = [rng_uuid(r) for _ in range(agents)]
    return project_ids, agent_ids


def make_run(i, seed, agent_ids, project_ids, pending_frac):
    r = random.Random(f"run-{seed}-{i}")
    a = i % len(agent_ids)
    agent_id = agent_ids[a]
    project_id = project_ids[a % len(project_ids)]
    run_id, job_id, file_id = rng_uuid(r), rng_uuid(r), rng_uuid(r)
    created = BASE - timedelta(seconds=37 * i + r.randint(0, 30), microseconds=r.randint(0, 999999))
    updated = created + timedelta(seconds=r.randint(8, 240), microseconds=r.randint(0, 999999))
    u = r.random()
    status = "PENDING" if u < pending_frac else ("ERROR" if u < pending_frac + 0.03 else "SUCCESS")
    mode = MODES[a % len(MODES)]
    vendor = VENDORS[r.randrange(len(VENDORS))]
    inv_no = f"INV-{2025}-{r.randint(10000, 99999)}"
    pages = r.randint(1, 12)
    config = {
        "extraction_target": "PER_DOC", "extraction_mode": mode, "chunk_mode": "PAGE",
        "high_resolution_mode": False, "invalidate_cache": False, "cite_sources": a % 2 == 0,
        "use_reasoning": a % 3 == 0, "confidence_scores": True, "multimodal_fast_mode": False,
        "citation_bbox": False, "num_pages_context": None, "page_range": None,
        "system_prompt": "Extract the invoice header, every line item and the totals. "
                         "Amounts are numbers without currency symbols.",
        "priority": None, "extract_model": None, "parse_model": None,
    }
    data = None
    error = None
    metadata = {}
    if status == "SUCCESS":
        items = []
        for _ in range(r.randint(4, 9)):
            qty = r.randint(1, 40)
            price = round(r.uniform(1.5, 900.0), 2)
            items.append({"sku": f"SKU-{r.randint(10000, 99999)}",
                          "description": PRODUCTS[r.randrange(len(PRODUCTS))], "quantity": qty,
                          "unit_price": price, "amount": round(qty * price, 2)})
        subtotal = round(sum(it["amount"] for it in items), 2)
        tax = round(subtotal * 0.19, 2)
        inv_date = (created - timedelta(days=r.randint(1, 20))).date()
        data = {
            "vendor": {"name": vendor[0], "vat_id": f"{vendor[4]}{r.randint(100000000, 999999999)}",
                       "address": {"street": vendor[1], "city": vendor[2], "postal_code": vendor[3],
                                   "country": vendor[4]}},
            "invoice_number": inv_no, "invoice_date": inv_date.isoformat(),
            "due_date": (inv_date + timedelta(days=30)).isoformat(),
            "currency": CURRENCIES[r.randrange(len(CURRENCIES))], "line_items": items,
            "subtotal": subtotal, "tax": tax, "total": round(subtotal + tax, 2),
            "notes": NOTES[r.randrange(len(NOTES))],
        }
        fm = {}
        for f in ("vendor", "invoice_number", "invoice_date", "due_date", "currency", "subtotal",
                  "tax", "total", "notes"):
            fm[f] = {"confidence": round(r.uniform(0.7, 0.999), 4),
                     "citation": [{"page": r.randint(1, pages), "matching_text": str(data[f])[:48]}]}
        fm["line_items"] = [{"confidence": round(r.uniform(0.6, 0.99), 4), "page": r.randint(1, pages)}
                            for _ in items]
        metadata = {"field_metadata": fm,
                    "usage": {"num_pages_extracted": pages, "num_document_tokens": r.randint(800, 40000),
                              "num_output_tokens": r.randint(200, 3000)}}
    elif status == "ERROR":
        error = ERRORS[r.randrange(len(ERRORS))]
    run = {
        "id": run_id, "extraction_agent_id": agent_id, "project_id": project_id, "status": status,
        "config": config, "data_schema": SCHEMA, "from_ui": r.random() < 0.1,
        "created_at": ts(created), "updated_at": ts(updated if status != "PENDING" else created),
        "data": data, "error": error, "extraction_metadata": metadata,
        "file": {"id": file_id, "name": f"{inv_no.lower()}-{vendor[2].lower()}.pdf",
                 "project_id": project_id, "created_at": ts(created - timedelta(seconds=5)),
                 "updated_at": ts(created - timedelta(seconds=5)), "data_source_id": None,
                 "expires_at": None, "external_file_id": None, "file_size": r.randint(20_000, 4_000_000),
                 "file_type": "pdf", "last_modified_at": ts(created - timedelta(days=1)),
                 "permission_info": None, "purpose": "extract", "resource_info": {"file_size": "0"}},
        "file_id": file_id, "job_id": job_id,
    }
    return run_id, job_id, a, compact(run).encode()


def v2_job_of(job_id, run_body):
    """The run as an Extract v2 job of about the same size (ExtractV2Job's members)."""
    run = json.loads(run_body)
    final = {"SUCCESS": "COMPLETED", "ERROR": "FAILED"}.get(run["status"], "RUNNING")
    return compact({
        "id": job_id, "project_id": run["project_id"], "file_input": run.get("file_id"),
        "status": final, "created_at": run.get("created_at"), "updated_at": run.get("updated_at"),
        "error_message": run.get("error"), "extract_result": run.get("data"),
        "configuration_id": run["extraction_agent_id"], "metadata": {},
    }).encode()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out")
    ap.add_argument("--runs", type=int, default=2000)
    ap.add_argument("--pages", type=int, default=40, help="list pages of 50 runs, spread over the agents")
    ap.add_argument("--agents", type=int, default=8)
    ap.add_argument("--projects", type=int, default=2)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--pending-frac", type=float, default=0.0,
                    help="fraction of runs left PENDING (default 0: every run is final)")
    args = ap.parse_args()
    if not 1 <= args.runs <= 1_000_000:
        sys.exit("--runs must be 1..1000000")
    out = args.out
    for d in ("runs", "by-job", "lists", "paths", "v2"):
        os.makedirs(os.path.join(out, d), exist_ok=True)
    project_ids, agent_ids = make_ids(args.seed, args.agents, args.projects)
    A = len(agent_ids)
    per_agent = [len(range(a, args.runs, A)) for a in range(A)]
    # Pages per agent: spread --pages over the agents, never past an agent's last run.
    pages_of = [0] * A
    want = args.pages
    while want > 0:
        progressed = False
        for a in range(A):
            if want and pages_of[a] * PAGE_LIMIT < per_agent[a]:
                pages_of[a] += 1
                want -= 1
                progressed = True
        if not progressed:
            break
    # Run index -> (agent, page) for the runs some page lists.
    listed = {}
    for a in range(A):
        for k in range(pages_of[a]):
            for j in range(PAGE_LIMIT):
                pos = k * PAGE_LIMIT + j
                if pos < per_agent[a]:
                    listed[a + A * pos] = (a, k)
    bodies = {}
    run_bytes = 0
    t0 = time.time()
    with open(os.path.join(out, "paths", "ids.txt"), "w") as ids_f, \
         open(os.path.join(out, "paths", "jobs.txt"), "w") as jobs_f, \
         open(os.path.join(out, "paths", "v2.txt"), "w") as v2_f:
        for i in range(args.runs):
            run_id, job_id, a, body = make_run(i, args.seed, agent_ids, project_ids, args.pending_frac)
            p = os.path.join(out, "runs", run_id + ".json")
            with open(p, "wb") as f:
                f.write(body)
            j = os.path.join(out, "by-job", job_id + ".json")
            try:
                if os.path.exists(j):
                    os.unlink(j)
                os.link(p, j)
            except OSError:
                with open(j, "wb") as f:
                    f.write(body)
            ids_f.write(f"/api/v1/extraction/runs/{run_id}\n")
            v2_id = "v2-" + run_id
            with open(os.path.join(out, "v2", v2_id + ".json"), "wb") as f:
                f.write(v2_job_of(v2_id, body))
            v2_f.write(f"/api/v2/extract/{v2_id}\n")
            jobs_f.write(f"/api/v1/extraction/runs/by-job/{job_id}\n")
            run_bytes += len(body)
            if i == 0:
                hot = run_id
            if i in listed:
                bodies[i] = body
            if i and i % 100_000 == 0:
                print(f"  {i} runs, {time.time() - t0:.0f} s", file=sys.stderr)
    list_paths = []
    list_bytes = []
    for a in range(A):
        agent_dir = os.path.join(out, "lists", agent_ids[a])
        os.makedirs(agent_dir, exist_ok=True)
        for k in range(pages_of[a]):
            skip = k * PAGE_LIMIT
            items = [bodies[a + A * pos] for pos in range(skip, min(skip + PAGE_LIMIT, per_agent[a]))]
            page = (b'{"items":[' + b",".join(items) + b'],"total":' + str(per_agent[a]).encode() +
                    b',"skip":' + str(skip).encode() + b',"limit":' + str(PAGE_LIMIT).encode() + b"}")
            with open(os.path.join(agent_dir, f"{skip}-{PAGE_LIMIT}.json"), "wb") as f:
                f.write(page)
            list_bytes.append(len(page))
            list_paths.append(f"/api/v1/extraction/runs?extraction_agent_id={agent_ids[a]}"
                              f"&skip={skip}&limit={PAGE_LIMIT}")
    # Interleave agents so consecutive list requests go to different agents.
    list_paths.sort(key=lambda s: (int(s.split("skip=")[1].split("&")[0]), s))
    with open(os.path.join(out, "paths", "lists.txt"), "w") as f:
        f.write("".join(p + "\n" for p in list_paths))
    with open(os.path.join(out, "paths", "hot.txt"), "w") as f:
        f.write(f"/api/v1/extraction/runs/{hot}\n")
    manifest = {
        "runs": args.runs, "agents": A, "projects": len(project_ids), "seed": args.seed,
        "pending_frac": args.pending_frac, "list_pages": len(list_paths), "page_limit": PAGE_LIMIT,
        "run_bytes_avg": round(run_bytes / args.runs), "list_bytes_avg": round(sum(list_bytes) / len(list_bytes)) if list_bytes else 0,
        "hot_run": hot, "agent_ids": agent_ids, "project_ids": project_ids,
    }
    with open(os.path.join(out, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1)
    print(f"gen_data: {args.runs} runs (avg {manifest['run_bytes_avg']} B), {len(list_paths)} list pages "
          f"(avg {manifest['list_bytes_avg']} B) in {out} ({time.time() - t0:.1f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()

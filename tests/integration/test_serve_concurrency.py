#!/usr/bin/env python3
"""A customer's download arrives whole while other requests run.

`costream serve` with 1, 2 and 4 request threads.  For each, a customer
token's FOCUS export of ~10 MB and its chargeback table over a from/to
range are first read alone; then six FOCUS and two table downloads of the
same token are read slowly, at once, while finance-page, spend and healthz
requests with other customers' ids arrive all the time on the same
threads.  Every concurrent download must be byte-for-byte the one read
alone, end with HTTP's closing chunk, and the export read alone must hold
exactly the rows and the cost this test inserted (summed here in Python's
decimal).

This is the use after return issue 21 found: the request's customer id
lived in the request handler's stack frame and was read again for every
later block of the stream.  The suite's ASan build runs with
detect_stack_use_after_return=1, which turns that into a report.
"""
import csv
import http.client
import io
import os
import sys
import threading
import time
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check  # noqa: E402

ROWS = 20000  # acme's hourly rows: 720 hours x ~28 meters


def get(port, path, token, slow=False):
    """(status, body, complete): complete when the chunked body ended
    with its closing chunk (http.client raises IncompleteRead if not)."""
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    c.request("GET", path, headers={"Authorization": "Bearer " + token})
    r = c.getresponse()
    parts = []
    try:
        while True:
            b = r.read(65536)
            if not b:
                break
            parts.append(b)
            if slow:
                time.sleep(0.004)
        complete = True
    except (http.client.IncompleteRead, OSError):
        complete = False
    c.close()
    return r.status, b"".join(parts), complete


def main():
    svc = harness.Services(["usage-events:1"])
    ok = False
    try:
        rules_path = svc.simple_rules()
        svc.costream("migrate", "-c", svc.write_config("m.conf", rules_path))
        svc.insert_usage("SELECT '2026-11-01', '2026-11-01'::timestamptz + (i %% 720) * interval '1 hour',"
                         " 'acme', 'api', 'm' || (i / 720), 'r', 'v', 'pro', 'USD', 'call', 0.001, 0,"
                         " i, i * 0.001, 0, i * 0.001, 1 FROM generate_series(1, %d) i" % ROWS)
        # other customers, whose ids the concurrent requests carry
        svc.insert_usage("SELECT '2026-11-01', '2026-11-01'::timestamptz + i * interval '1 hour',"
                         " 'zz-other-customer-' || i, 'api', 'm', 'r', 'v', 'pro', 'USD', 'call', 0.001, 0,"
                         " 1, 0.001, 0, 0.001, 1 FROM generate_series(1, 50) i")
        want_cost = sum(Decimal(i) * Decimal("0.001") for i in range(1, ROWS + 1))
        cfg0 = svc.write_config("t.conf", rules_path)
        fin = svc.costream("token", "create", "--scope", "finance", "--name", "fin", "-c", cfg0).stdout.strip()
        cust = svc.costream("token", "create", "--scope", "customer", "--customer", "acme", "--name", "acme",
                            "-c", cfg0).stdout.strip()
        others = [svc.costream("token", "create", "--scope", "customer", "--customer", "zz-other-customer-%d" % i,
                               "--name", "o%d" % i, "-c", cfg0).stdout.strip() for i in (1, 2)]
        focus = "/reports/focus?period=2026-11"
        table = "/reports/chargeback?from=2026-11-01T00:00:00Z&to=2026-11-30T00:00:00Z&format=table"

        for threads in (1, 2, 4):
            cfg = svc.write_config("s%d.conf" % threads, rules_path, {
                "serve.listen": "127.0.0.1:0", "serve.threads": str(threads), "serve.db_pool": "16",
                "serve.max_requests_per_token": "12",
                "serve.max_requests_per_customer": "12"})
            server, port = svc.start_serve(cfg, "serve%d" % threads)
            st, ref_focus, done = get(port, focus, cust)
            check(st == 200 and done, "FOCUS alone: %s, complete %s" % (st, done))
            st, ref_table, done = get(port, table, cust)
            check(st == 200 and done and b"Chargeback for 2026-11-01T00:00:00Z/2026-11-30T00:00:00Z" in ref_table,
                  "table alone: %s, complete %s\n%s" % (st, done, ref_table[:300]))
            if threads == 1:
                text = ref_focus.decode("utf-8-sig")
                rows = list(csv.DictReader(io.StringIO(text)))
                check(len(rows) == ROWS, "FOCUS rows %d, inserted %d" % (len(rows), ROWS))
                check({r["BillingAccountId"] for r in rows} == {"acme"}, "only acme's rows")
                got = sum(Decimal(r["BilledCost"]) for r in rows)
                check(got == want_cost, "FOCUS BilledCost %s, inserted %s" % (got, want_cost))

            stop = threading.Event()
            noise = {"n": 0}

            def hammer():
                i = 0
                while not stop.is_set():
                    i += 1
                    who = "zz-other-customer-%d-%s" % (i % 50, "x" * (i % 200))
                    paths = [("/?period=2026-11", fin), ("/reports/spend?period=2026-11", fin),
                             ("/healthz", fin), ("/?period=2026-11", others[i % 2]),
                             ("/reports/chargeback?period=2026-11&customer=" + who, fin)]
                    path, tok = paths[i % len(paths)]
                    try:
                        get(port, path, tok)
                        noise["n"] += 1
                    except OSError:
                        pass
                    time.sleep(0.01)

            results = {}

            def download(k, path):
                results[k] = get(port, path, cust, slow=True)

            hammers = [threading.Thread(target=hammer) for _ in range(2)]
            loads = [threading.Thread(target=download, args=(k, focus if k < 6 else table)) for k in range(8)]
            for t in hammers + loads:
                t.start()
            for t in loads:
                t.join(240)
            stop.set()
            for t in hammers:
                t.join(60)
            bad = []
            for k in range(8):
                st, body, done = results.get(k, (None, b"", False))
                want = ref_focus if k < 6 else ref_table
                if st != 200 or not done or body != want:
                    bad.append("download %d: status %s, complete %s, %d of %d bytes, equal %s"
                               % (k, st, done, len(body), len(want), body == want))
            alive = server.poll() is None
            server.terminate()
            server.wait(30)
            logtext = open(server.log_path).read()
            print("threads %d: 8 concurrent downloads beside %d other requests; %d differ; server alive %s"
                  % (threads, noise["n"], len(bad), alive))
            check(alive, "the server died:\n" + logtext[-3000:])
            check(not bad, "\n".join(bad) + "\n" + logtext[-3000:])
            check(noise["n"] > 20, "only %d other requests ran beside the downloads" % noise["n"])
            check("mid-stream" not in logtext and "AddressSanitizer" not in logtext, logtext[-3000:])
        ok = True
    finally:
        status = harness.finish(svc, ok)
    return status


if __name__ == "__main__":
    sys.exit(main())

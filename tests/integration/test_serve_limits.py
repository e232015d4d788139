#!/usr/bin/env python3
"""The report server stays bounded under slow and excess clients.

`costream serve` with a pool of 4 PostgreSQL connections, 2 requests per
token, 4 threads and a 3-second client timeout.  At once:

  - a customer token opens 12 FOCUS downloads and reads none of them
    (slow readers): 2 are served, the other 10 get 503 with Retry-After;
  - 200 clients send half a request and then nothing (slow headers);
  - a finance token downloads a chargeback report, which must arrive whole
    and match the stored total the test computes itself.

Throughout, the server's PostgreSQL connections stay <= the pool and its
threads bounded; the half-sent clients are dropped after the timeout.
"""
import json
import os
import re
import socket
import sys
import time
import urllib.error
import urllib.request
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check  # noqa: E402

POOL, PER_TOKEN, THREADS = 4, 2, 4


def raw_request(port, path, token, read=True):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n" % (path, token)).encode())
    if not read:
        return s, None
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(4096)
        if not chunk:
            break
        head += chunk
    return s, head.decode("latin-1")


def threads_of(pid):
    with open("/proc/%d/status" % pid) as f:
        return int(re.search(r"^Threads:\s+(\d+)", f.read(), re.M).group(1))


def main():
    svc = harness.Services(["usage-events:1"])
    ok = False
    try:
        rules_path = svc.simple_rules()
        cfg = svc.write_config("c.conf", rules_path, {
            "serve.listen": "127.0.0.1:0", "serve.db_pool": str(POOL),
            "serve.max_requests_per_token": str(PER_TOKEN), "serve.threads": str(THREADS),
            "serve.client_timeout_s": "3", "serve.idle_in_transaction_timeout_ms": "20000",
            # every client here is 127.0.0.1: the cap per address is test_serve_hostile's
            "serve.max_connections_per_ip": "0"})
        svc.costream("migrate", "-c", cfg)
        # 30,000 hourly rows for acme (a FOCUS export of ~15 MB), 10 for beta
        svc.insert_usage("SELECT '2026-11-01', '2026-11-01'::timestamptz + (i % 720) * interval '1 hour',"
                         " CASE WHEN i <= 10 THEN 'beta' ELSE 'acme' END, 'api', 'm' || (i / 720), 'r', 'v', 'pro', 'USD',"
                         " 'call', 0.01, 0, i, i * 0.01, 0, i * 0.01, i FROM generate_series(1, 30000) i")
        svc.insert_usage("VALUES ('2026-10-01', '2026-10-03 00:00+00', 'beta', 'api', 'm', 'r', 'v', 'pro', 'USD',"
                         " 'call', 0.01, 0, 1, 0.01, 0, 0.01, 1)")
        want_total = sum(Decimal(i) * Decimal("0.01") for i in range(1, 30001))
        fin = svc.costream("token", "create", "--scope", "finance", "--name", "fin", "-c", cfg).stdout.strip()
        cust = svc.costream("token", "create", "--scope", "customer", "--customer", "acme", "--name", "acme",
                            "-c", cfg).stdout.strip()
        server, port = svc.start_serve(cfg)
        base_threads = threads_of(server.pid)

        # HEAD, other methods, and the index's scope
        def call(method, path, token):
            req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method=method,
                                         headers={"Authorization": "Bearer " + token})
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    return r.status, r.headers, r.read()
            except urllib.error.HTTPError as e:
                return e.code, e.headers, e.read()

        st, hdr, body = call("HEAD", "/reports/chargeback?period=2026-11", fin)
        check(st == 200 and body == b"", "HEAD: %s, %d bytes" % (st, len(body)))
        st, hdr, body = call("POST", "/", fin)
        check(st == 405 and hdr.get("Allow") == "GET, HEAD", "POST: %s, Allow %s" % (st, hdr.get("Allow")))
        st, _, fin_index = call("GET", "/", fin)
        st2, _, cust_index = call("GET", "/", cust)
        check(b"2026-10" in fin_index and b"2026-11" in fin_index, "finance index lists both months")
        check(b"2026-11" in cust_index and b"2026-10" not in cust_index,
              "a customer's index lists only its months")

        # slow readers with one customer token
        slow = []
        statuses = []
        for _ in range(12):
            s, head = raw_request(port, "/reports/focus?period=2026-11", cust)
            slow.append(s)
            statuses.append(head.split(" ")[1] if head else "none")
            if head and head.startswith("HTTP/1.1 503"):
                check("Retry-After:" in head, "503 without Retry-After:\n%s" % head)
        check(statuses.count("200") == PER_TOKEN and statuses.count("503") == 12 - PER_TOKEN,
              "per-token cap: statuses %s" % statuses)

        # half-sent requests
        half = []
        for _ in range(200):
            s = socket.create_connection(("127.0.0.1", port), timeout=10)
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
            half.append(s)
        time.sleep(0.5)
        peak_threads = threads_of(server.pid)

        # finance is still served, whole and exact
        req = urllib.request.Request("http://127.0.0.1:%d/reports/chargeback?period=2026-11&format=json" % port,
                                     headers={"Authorization": "Bearer " + fin})
        t0 = time.monotonic()
        doc = json.loads(urllib.request.urlopen(req, timeout=20).read(), parse_float=Decimal, parse_int=Decimal)
        took = time.monotonic() - t0
        total = doc["totals"][0]["unrounded_billed_cost"]
        backends = int(svc.psql("SELECT count(*) FROM pg_stat_activity WHERE datname = 'costream'"
                                " AND pid <> pg_backend_pid() AND backend_type = 'client backend'")[0][0])
        print("statuses %s; threads %d -> %d with 12 slow readers and 200 half requests; "
              "finance report in %.2fs; %d PostgreSQL connections" % (statuses, base_threads, peak_threads, took, backends))
        check(backends <= POOL, "%d PostgreSQL connections, pool is %d" % (backends, POOL))
        check(peak_threads <= base_threads + 2, "threads grew from %d to %d" % (base_threads, peak_threads))
        check(took < 10, "finance report took %.1fs" % took)
        check(total == want_total, "finance total %s, stored %s" % (total, want_total))

        # idle half-sent clients are dropped after the client timeout
        time.sleep(4)
        closed = 0
        for s in half:
            s.settimeout(2)
            try:
                closed += s.recv(1) == b""
            except OSError:
                closed += 1
        check(closed == len(half), "%d of %d idle half requests closed after the timeout" % (closed, len(half)))
        # once the slow readers go, their connections return to the pool
        for s in slow + half:
            s.close()
        harness.wait_until(lambda: raw_request(port, "/reports/focus?period=2026-11", cust)[1].startswith("HTTP/1.1 200"),
                           30, "the token's slots to free after its clients left")

        # token list: both used; a customer nobody knows needs --force
        p = svc.costream("token", "create", "--scope", "customer", "--customer", "acmee", "--name", "typo",
                         "-c", cfg, check_rc=False)
        check(p.returncode == 2 and "no customer \"acmee\"" in p.stderr and "--force" in p.stderr, p.stderr)
        forced = svc.costream("token", "create", "--scope", "customer", "--customer", "newco", "--name", "new",
                              "--force", "-c", cfg).stdout.strip()
        svc.costream("token", "revoke", forced.split("_")[1], "-c", cfg)
        rows = [l.split() for l in svc.costream("token", "list", "-c", cfg).stdout.splitlines()[1:]]
        by_name = {r[3]: r for r in rows}
        check(set(by_name) == {"fin", "acme", "new"}, "token list: %s" % rows)
        check(by_name["fin"][5] != "never" and by_name["acme"][5] != "never" and by_name["acme"][2] == "acme",
              "last used recorded: %s" % rows)
        check(by_name["new"][5] == "never" and by_name["new"][6] != "-", "a revoked, never used token: %s" % rows)
        ok = True
    finally:
        status = harness.finish(svc, ok)
    return status


if __name__ == "__main__":
    sys.exit(main())

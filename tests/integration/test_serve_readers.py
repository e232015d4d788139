#!/usr/bin/env python3
"""Slow readers cannot starve finance, and every request is checked
(issue 21, findings 3 and 5).

`costream serve` with its default pool (8), per-token (2) and per-customer
(4) caps.  Five customers with three tokens each open 60 FOCUS downloads
of ~7 MB and read none of them:

  - each customer gets at most 4 of them (its tokens together), the rest
    503 with Retry-After;
  - the downloads were made whole before their first byte was sent, so no
    PostgreSQL session stays in a transaction for the readers that stall,
    and the finance page and the finance CSV answer 200 while they hang;
  - a download read afterwards carries Content-Length and is whole.

Then the arguments: unknown parameters are refused on every route (a
finance token's /reports/spend?customer=... no longer returns every
customer), so are control characters (%00) and a parameter given twice;
HEAD answers a download's headers with its length and no body.
"""
import http.client
import os
import socket
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check  # noqa: E402

CUSTOMERS = ["cus_%02d" % i for i in range(5)]


def open_download(port, path, token):
    """Sends the request and reads only the status line and headers."""
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # before connecting: a small window
    s.settimeout(30)
    s.connect(("127.0.0.1", port))
    s.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n" % (path, token)).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        b = s.recv(1024)
        if not b:
            break
        head += b
    return s, head.decode("latin-1")


def request(port, method, path, token):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    c.request(method, path, headers={"Authorization": "Bearer " + token})
    r = c.getresponse()
    body = r.read()
    c.close()
    return r.status, r.headers, body


def main():
    svc = harness.Services(["usage-events:1"])
    ok = False
    slow = []
    try:
        rules_path = svc.simple_rules()
        cfg = svc.write_config("c.conf", rules_path, {"serve.listen": "127.0.0.1:0"})
        svc.costream("migrate", "-c", cfg)
        svc.insert_usage("SELECT '2026-11-01', '2026-11-01'::timestamptz + (i % 720) * interval '1 hour',"
                         " 'cus_0' || (i % 5), 'api', 'm' || (i / 720), 'r', 'v', 'pro', 'USD', 'call', 0.01, 0,"
                         " i, i * 0.01, 0, i * 0.01, 1 FROM generate_series(1, 100000) i")
        fin = svc.costream("token", "create", "--scope", "finance", "--name", "fin", "-c", cfg).stdout.strip()
        tokens = {c: [svc.costream("token", "create", "--scope", "customer", "--customer", c, "--name",
                                   "%s-%d" % (c, k), "-c", cfg).stdout.strip() for k in range(3)]
                  for c in CUSTOMERS}
        _, port = svc.start_serve(cfg)
        focus = "/reports/focus?period=2026-11"

        # 60 downloads nobody reads: 4 per customer at most
        statuses = {c: [] for c in CUSTOMERS}
        for i in range(60):
            c = CUSTOMERS[i % 5]
            s, head = open_download(port, focus, tokens[c][(i // 5) % 3])
            slow.append(s)
            st = head.split(" ")[1] if head else "none"
            statuses[c].append(st)
            if st == "503":
                check("Retry-After:" in head, "503 without Retry-After:\n" + head)
        for c in CUSTOMERS:
            check(statuses[c].count("200") == 4 and statuses[c].count("503") == 8,
                  "%s: %s (cap 4 per customer)" % (c, statuses[c]))
        in_tx = int(svc.psql("SELECT count(*) FROM pg_stat_activity WHERE datname = 'costream'"
                             " AND state LIKE 'idle in transaction%'")[0][0])
        check(in_tx == 0, "%d PostgreSQL sessions stay in a transaction for stalled readers" % in_tx)

        # finance is served while they hang
        for path in ("/?period=2026-11", "/reports/chargeback?period=2026-11&format=csv"):
            t0 = time.monotonic()
            st, _, body = request(port, "GET", path, fin)
            took = time.monotonic() - t0
            print("%s with 20 stalled downloads: %s in %.2fs" % (path, st, took))
            check(st == 200 and len(body) > 100, "%s: %s" % (path, st))
            check(took < 10, "%s took %.1fs" % (path, took))
        for s in slow:
            s.close()
        slow = []

        # a whole download, with its length
        harness.wait_until(lambda: request(port, "HEAD", focus, tokens["cus_00"][0])[0] == 200, 30,
                           "the stalled downloads' slots to be given back")
        st, hdr, body = request(port, "HEAD", focus, tokens["cus_00"][0])
        length = int(hdr.get("Content-Length", "-1"))
        check(st == 200 and body == b"" and length > 5000000, "HEAD: %s, length %s, %d body bytes" % (st, length, len(body)))
        st, hdr, body = request(port, "GET", focus, tokens["cus_00"][0])
        check(st == 200 and len(body) == length and hdr.get("Transfer-Encoding") is None,
              "GET: %s, %d bytes, HEAD said %d" % (st, len(body), length))
        want_rows = 20000  # i % 5 == 0 among 1..100000
        check(body.count(b"\n") == want_rows + 1, "%d lines, want %d rows and a header" % (body.count(b"\n"), want_rows))

        # every argument is checked
        refused = [
            ("/reports/spend?period=2026-11&customer=cus_01", fin, 'unknown parameter "customer"'),
            ("/?period=2026-11&foo=1", fin, 'unknown parameter "foo"'),
            ("/reports/chargeback?period=2026-11&bogus=1", fin, 'unknown parameter "bogus"'),
            ("/reports/spend?period=2026-11%00junk", fin, "control character"),
            ("/?period=2026-11%0a", fin, "control character"),
            ("/reports/focus?period=2026-11&period=2026-10", fin, "given twice"),
        ]
        for path, tok, why in refused:
            st, _, body = request(port, "GET", path, tok)
            check(st == 400 and why in body.decode(), "%s: %s %s" % (path, st, body[:200]))
        # a customer filter cut at every byte of a Japanese name: valid cuts are a filter
        # (PostgreSQL gets valid text), the others a 400, never a database error
        name = "請求書".encode()
        for k in range(1, len(name) + 1):
            quoted = "".join("%%%02X" % b for b in name[:k])
            st, _, body = request(port, "GET", "/reports/chargeback?period=2026-11&customer=" + quoted, fin)
            valid = k % 3 == 0
            check(st == 200 if valid else st == 400 and b"not valid UTF-8" in body,
                  "customer cut at %d bytes: %s %s" % (k, st, body[:200]))
        ok = True
    finally:
        for s in slow:
            s.close()
        status = harness.finish(svc, ok)
    return status


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""redis.url reaches a Redis that wants a user and a password (Redis 6 ACL):
events are attributed with the customer's attributes read through it, and a
wrong password is said on /readyz and in the log, not silently unattributed.
The password holds '@' and ':' percent-escaped, as a URL must."""
import json
import os
import re
import sys
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check  # noqa: E402

RULES = {"version": "url-1", "currency": "USD", "plans": {},
         "rules": [{"id": "calls", "product": "api", "meter": "calls", "unit": "call", "unit_price": "0.5"}]}


def main():
    svc = harness.Services(["usage-events:1"])
    ok = False
    try:
        rules_path = os.path.join(svc.dir, "rules.json")
        with open(rules_path, "w") as f:
            json.dump(RULES, f)
        svc.redis("HSET", "costream:customer:acme", "plan", "pro", "name", "Acme GmbH")
        svc.redis("ACL", "SETUSER", "billing", "on", ">p@ss:word", "~*", "+@all")
        svc.redis("CONFIG", "SET", "requirepass", "admin-only")  # the default user is locked out now
        port = svc.env["REDIS_PORT"]
        cfg = svc.write_config("url.conf", rules_path, {
            "group": "url", "redis.url": "redis://billing:p%%40ss%%3Aword@127.0.0.1:%s/0" % port})
        svc.costream("migrate", "-c", cfg)
        w = svc.start_worker(cfg, "url")
        prod = harness.producer(svc.bootstrap)
        for i in range(3):
            prod.send("usage-events", harness.dump({
                "specversion": "1.0", "id": "u%d" % i, "source": "//url", "type": "t", "subject": "acme",
                "time": "2026-11-05T10:00:00Z", "data": {"product": "api", "meter": "calls", "quantity": "2"}}))
        prod.flush()
        harness.wait_until(lambda: svc.stored_offsets("url", "usage-events").get(0) == 3, 60, "3 events stored")
        rows = svc.psql("SELECT customer, plan, cost FROM usage_cost")
        check(rows == [["acme", "pro", "3.000000000000"]], "attributed through the URL: %s" % rows)
        names = svc.psql("SELECT name FROM customers WHERE id = 'acme'")
        check(names == [["Acme GmbH"]], "customer attributes read through the URL: %s" % names)
        check(svc.stop_worker(w) == 0, "worker exit")

        bad = svc.write_config("bad.conf", rules_path, {
            "group": "url-bad", "redis.url": "redis://billing:wrong@127.0.0.1:%s/0" % port})
        w = svc.start_worker(bad, "bad")
        hport = harness.wait_until(lambda: (re.findall(r'"port":(\d+)', open(w.log_path).read()) or [None])[0],
                                   20, "HTTP port")
        prod.send("usage-events", harness.dump({
            "specversion": "1.0", "id": "u9", "source": "//url", "type": "t", "subject": "acme",
            "time": "2026-11-05T10:00:00Z", "data": {"product": "api", "meter": "calls", "quantity": "2"}}))
        prod.flush()

        def readyz():
            try:
                urllib.request.urlopen("http://127.0.0.1:%s/readyz" % hport, timeout=2)
                return None
            except urllib.error.HTTPError as e:
                body = e.read().decode()
                return body if "WRONGPASS" in body else None

        said = harness.wait_until(readyz, 30, "/readyz to name the refused password")
        check("WRONGPASS" in open(w.log_path).read(), "the log names the refused password")
        check(svc.psql("SELECT count(*) FROM usage_cost WHERE customer = 'unattributed'") == [["0"]],
              "a refused password must not send usage to unattributed")
        svc.stop_worker(w)
        print("ok: attributed through redis://billing:***@.../0 (3 events, 3.00 USD); a wrong password: %s"
              % said.strip()[:120])
        ok = True
    finally:
        svc.close(keep_logs=not ok)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Rules reload, Redis changes and service outages, through real services.

One worker consumes a topic in four phases; after each phase the test waits
until everything is stored, then changes the world:

  1. rules v1, initial Redis labels and plans
  2. rules v2 loaded by SIGHUP; an api_key moved to another customer and a
     plan changed in Redis (effective within the cache TTL)
  3. an invalid rules file + SIGHUP (must be refused: v2 stays); Redis is
     stopped while events arrive and started again (the worker must hold, not
     misattribute)
  4. PostgreSQL is stopped while events arrive and started again (the batch
     must survive in memory and be stored once)

Each event's expected cost is computed by the test with Python's decimal
module from the rules and Redis state of its phase; the stored rows must equal
the sums exactly, per rules version, customer and plan.
"""
import json
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal, ROUND_HALF_EVEN

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, dump  # noqa: E402

TOPIC, GROUP = "usage-events", "it-reload"
Q12 = Decimal("0.000000000001")


def rules(version, price):
    return {"version": version, "currency": "USD",
            "plans": {"free": {"discount": "0"}, "pro": {"discount": "0.15"}},
            "rules": [{"id": "calls", "product": "api", "meter": "calls", "unit": "call", "unit_price": price}]}


def main():
    svc = harness.Services(["%s:4" % TOPIC])
    ok = False
    try:
        rules_path = os.path.join(svc.dir, "rules.json")

        def write_rules(doc):
            with open(rules_path + ".tmp", "w") as f:
                f.write(doc if isinstance(doc, str) else json.dumps(doc, indent=2))
            os.rename(rules_path + ".tmp", rules_path)

        write_rules(rules("v1", "0.0030"))
        cfg = svc.write_config("costream.conf", rules_path, {"group": GROUP, "labels.cache_ttl_ms": "500"})
        svc.costream("migrate", "-c", cfg)
        svc.redis("HSET", "costream:customer:acme", "plan", "free")
        svc.redis("HSET", "costream:customer:globex", "plan", "pro")
        svc.redis("SET", "costream:label:api_key:k1", "acme")
        w = svc.start_worker(cfg, "worker")
        prod = harness.producer(svc.bootstrap)
        expected = {}
        seq = [0]

        def produce(n, version, price, owner_of_k1, plan_of):
            for i in range(n):
                seq[0] += 1
                qty = "%d.%03d" % (i % 97, (i * 37) % 1000)
                ev = {"specversion": "1.0", "id": "r-%d" % seq[0], "source": "//it", "type": "usage",
                      "time": "2026-11-05T%02d:00:00Z" % (i % 24),
                      "data": {"product": "api", "meter": "calls", "quantity": qty, "labels": {"api_key": "k1"}}}
                prod.send(TOPIC, value=dump(ev))
                cust = owner_of_k1
                plan = plan_of[cust]
                rate = Decimal({"free": "0", "pro": "0.15"}[plan])
                lst = (Decimal(qty) * Decimal(price)).quantize(Q12, ROUND_HALF_EVEN)
                cost = lst - (lst * rate).quantize(Q12, ROUND_HALF_EVEN)
                k = (version, cust, plan)
                q0, c0, n0 = expected.get(k, (Decimal(0), Decimal(0), 0))
                expected[k] = (q0 + Decimal(qty), c0 + cost, n0 + 1)
            prod.flush()

        def caught_up():
            harness.wait_until(lambda: svc.consumed_all(GROUP, TOPIC), 90, "the worker to catch up")

        def log_has(text, count=1):
            return open(w.log_path).read().count(text) >= count

        # Phase 1
        produce(1500, "v1", "0.0030", "acme", {"acme": "free", "globex": "pro"})
        caught_up()
        # Phase 2: new prices by SIGHUP, k1 moves to globex, acme becomes pro
        write_rules(rules("v2", "0.0025"))
        w.send_signal(signal.SIGHUP)
        harness.wait_until(lambda: log_has("rules reloaded"), 30, "the reload")
        svc.redis("SET", "costream:label:api_key:k1", "globex")
        svc.redis("HSET", "costream:customer:acme", "plan", "pro")
        time.sleep(1.0)  # > labels.cache_ttl_ms
        produce(1500, "v2", "0.0025", "globex", {"acme": "pro", "globex": "pro"})
        caught_up()
        # Phase 3: a broken rules file is refused; Redis goes away and comes back
        write_rules('{"version": "v3", "currency": "usd", "rules": []}')
        w.send_signal(signal.SIGHUP)
        harness.wait_until(lambda: log_has("rules reload rejected"), 30, "the refused reload")
        svc.redis("SET", "costream:label:api_key:k1", "acme")
        redis_port = svc.env["REDIS_PORT"]
        subprocess.run(["redis-cli", "-p", redis_port, "shutdown", "nosave"], check=False, capture_output=True)
        time.sleep(1.0)  # cache entries expire while Redis is down
        produce(800, "v2", "0.0025", "acme", {"acme": "pro", "globex": "pro"})
        harness.wait_until(lambda: log_has("customer lookup failed"), 30, "the worker to notice Redis is gone")
        subprocess.run(["redis-server", "--port", redis_port, "--bind", "127.0.0.1", "--save", "", "--daemonize", "yes",
                        "--dir", svc.dir, "--pidfile", os.path.join(svc.dir, "redis.pid")], check=True)
        for _ in range(50):
            if subprocess.run(["redis-cli", "-p", redis_port, "ping"], capture_output=True).returncode == 0:
                break
            time.sleep(0.1)
        svc.redis("HSET", "costream:customer:acme", "plan", "pro")
        svc.redis("HSET", "costream:customer:globex", "plan", "pro")
        svc.redis("SET", "costream:label:api_key:k1", "acme")
        caught_up()
        # Phase 4: PostgreSQL goes away while a batch is in memory
        pg = ["runuser", "-u", open(os.path.join(svc.dir, "pg.owner")).read().strip(), "--"] if os.getuid() == 0 else []
        pgbin = sorted(d for d in os.listdir("/usr/lib/postgresql"))[-1]
        pg_ctl = "/usr/lib/postgresql/%s/bin/pg_ctl" % pgbin
        datadir = os.path.join(svc.dir, "pg", "data")
        produce(700, "v2", "0.0025", "acme", {"acme": "pro", "globex": "pro"})
        subprocess.run(pg + [pg_ctl, "-D", datadir, "-m", "fast", "-w", "stop"], check=True, capture_output=True)
        produce(700, "v2", "0.0025", "acme", {"acme": "pro", "globex": "pro"})
        harness.wait_until(lambda: log_has("flush failed"), 30, "the worker to notice PostgreSQL is gone")
        time.sleep(2)
        subprocess.run(pg + [pg_ctl, "-D", datadir, "-l", os.path.join(svc.dir, "pg", "log"), "-w", "start"],
                       check=True, capture_output=True)
        caught_up()
        check(svc.stop_worker(w) == 0, "worker did not exit cleanly")

        rows = svc.psql("SELECT rules_version, customer, plan, sum(quantity), sum(cost), sum(events)"
                        " FROM usage_cost GROUP BY 1, 2, 3")
        got = {(v, c, p): (Decimal(q), Decimal(cost), int(n)) for v, c, p, q, cost, n in rows}
        check(got == expected, "stored sums differ:\n got      %s\n expected %s" % (sorted(got.items()), sorted(expected.items())))
        check(int(svc.psql("SELECT count(*) FROM rejected_events")[0][0]) == 0, "nothing should be rejected")
        print("ok: %d events over 4 phases; reload, refused reload, Redis and PostgreSQL outages: sums exact (%s)"
              % (seq[0], ", ".join("%s/%s/%s=%s" % (k + (v[1],)) for k, v in sorted(got.items()))), flush=True)
        ok = True
    finally:
        svc.close(keep_logs=not ok)


if __name__ == "__main__":
    main()

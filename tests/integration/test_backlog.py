#!/usr/bin/env python3
"""A worker behind its partitions hands batches to PostgreSQL as soon as
the flusher is idle, not when the flush interval says (docs/architecture.md,
batches and flushes), and what it stores that way is exact.

20,000 events wait in one partition before the worker starts; its flush
interval is a minute.  Within that minute PostgreSQL must hold at least one
batch of 4,096 messages, logged as a "behind" flush.  Once the worker has
read everything, a SIGTERM stores the rest, and usage_cost holds every
event's quantity and cost, summed here independently.
"""
import json
import os
import sys
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, dump  # noqa: E402

TOPIC, GROUP, N = "usage-events", "it-backlog", 20000
PRICE = Decimal("0.0013")
RULES = {"version": "backlog-1", "currency": "USD", "plans": {},
         "rules": [{"id": "calls", "product": "api", "meter": "calls", "unit": "call", "unit_price": str(PRICE)}]}


def quantity(i):
    return Decimal(i % 13 + 1) / 4


def event(i):
    return dump({"specversion": "1.0", "id": "e%d" % i, "source": "//backlog", "type": "t", "subject": "acme",
                 "time": "2026-11-%02dT%02d:15:00Z" % (1 + i % 28, i % 24),
                 "data": {"product": "api", "meter": "calls", "quantity": str(quantity(i))}})


def flushes(log_path):
    return [r for r in harness.log_records(open(log_path).read()) if r["msg"] == "flushed"]


def main():
    svc = harness.Services(["%s:1" % TOPIC])
    ok = False
    try:
        rules_path = os.path.join(svc.dir, "rules.json")
        with open(rules_path, "w") as f:
            json.dump(RULES, f)
        cfg = svc.write_config("c.conf", rules_path, {
            "group": GROUP, "log.level": "debug",
            "flush.interval_ms": "60000", "flush.max_interval_ms": "60000"})
        svc.costream("migrate", "-c", cfg)
        prod = harness.producer(svc.bootstrap)
        for i in range(N):
            prod.send(TOPIC, event(i), partition=0)
        prod.flush()

        w = svc.start_worker(cfg, "w1")
        stored = harness.wait_until(lambda: svc.stored_offsets(GROUP, TOPIC).get(0), 30,
                                    "a batch stored before the one-minute interval")
        check(stored >= 4096, "the first batch stored held %d messages, at least 4,096 expected" % stored)
        behind = [f for f in flushes(w.log_path) if f.get("why") == "behind"]
        check(behind and int(behind[0]["messages"]) >= 4096,
              "a flush logged as behind, of 4,096 messages or more: %s" % flushes(w.log_path))

        def read_all():  # then the shutdown's flush holds the rest
            return any(r["msg"].startswith("caught up") and r["consumed"] == N
                       for r in harness.log_records(open(w.log_path).read()))
        harness.wait_until(read_all, 60, "the worker to have read all %d messages" % N)
        check(svc.stop_worker(w) == 0, "worker stopped cleanly")
        check(svc.stored_offsets(GROUP, TOPIC).get(0) == N, "all %d offsets stored at shutdown" % N)
        want_q = sum(quantity(i) for i in range(N))
        want_cost = sum(quantity(i) * PRICE for i in range(N))
        events, q, cost = svc.psql("SELECT sum(events), sum(quantity), sum(cost) FROM usage_cost")[0]
        check(int(events) == N, "usage_cost counts %s events, %d produced" % (events, N))
        check(Decimal(q) == want_q, "quantity %s, expected %s" % (q, want_q))
        check(Decimal(cost) == want_cost, "cost %s, expected %s" % (cost, want_cost))
        ok = True
    finally:
        status = harness.finish(svc, ok)
    return status


if __name__ == "__main__":
    sys.exit(main())

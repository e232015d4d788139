#!/usr/bin/env python3
"""A stale worker cannot commit.

Worker B consumes every message of a topic but holds them unflushed (its
flush interval is a minute).  It is frozen with SIGSTOP; worker A joins the
group, B's session times out, A gets every partition, processes everything
from the stored offsets and commits.  B is thawed: its first flush must be
refused by the store's compare-and-set (logged as fenced) and write nothing.
The stored sums must count every event exactly once, computed by the test.
"""
import json
import os
import signal
import sys
import time
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, dump  # noqa: E402

TOPIC, GROUP = "usage-events", "it-fencing"


def main():
    svc = harness.Services(["%s:2" % TOPIC])
    ok = False
    try:
        rules_path = os.path.join(svc.dir, "rules.json")
        with open(rules_path, "w") as f:
            json.dump({"version": "f1", "currency": "USD",
                       "rules": [{"id": "r", "product": "p", "meter": "m", "unit": "u", "unit_price": "0.07"}]}, f)
        cfg_b = svc.write_config("b.conf", rules_path, {"group": GROUP, "flush.interval_ms": "60000",
                                                        "log.level": "debug"})
        cfg_a = svc.write_config("a.conf", rules_path, {"group": GROUP})
        svc.costream("migrate", "-c", cfg_a)
        prod = harness.producer(svc.bootstrap)
        total_q = Decimal(0)
        for i in range(2000):
            q = "%d.%02d" % (i % 13, i % 100)
            total_q += Decimal(q)
            prod.send(TOPIC, value=dump({"specversion": "1.0", "id": "f-%d" % i, "source": "//f", "type": "t",
                                         "subject": "cus_%d" % (i % 7), "time": "2026-11-10T10:00:00Z",
                                         "data": {"product": "p", "meter": "m", "quantity": q}}))
        prod.flush()
        b = svc.start_worker(cfg_b, "worker-b")
        harness.wait_until(lambda: open(b.log_path).read().count("partition assigned") == 2, 60, "B's assignment")
        time.sleep(3)  # B reads everything, and holds it
        check(svc.stored_offsets(GROUP, TOPIC) == {}, "B should not have flushed yet")
        b.send_signal(signal.SIGSTOP)
        a = svc.start_worker(cfg_a, "worker-a")
        ends = harness.end_offsets(svc.bootstrap, TOPIC)
        harness.wait_until(lambda: svc.stored_offsets(GROUP, TOPIC) == ends, 90, "A to take over and commit")
        b.send_signal(signal.SIGCONT)
        harness.wait_until(lambda: "flush fenced" in open(b.log_path).read(), 60, "B's stale flush to be fenced")
        time.sleep(2)
        for w in (a, b):
            check(svc.stop_worker(w) == 0, "worker did not exit cleanly")
        q, cost, n = svc.psql("SELECT sum(quantity), sum(cost), sum(events) FROM usage_cost")[0]
        check(int(n) == 2000, "events stored: %s, expected 2000" % n)
        check(Decimal(q) == total_q, "quantity %s, expected %s" % (q, total_q))
        check(Decimal(cost) == total_q * Decimal("0.07"), "cost %s, expected %s" % (cost, total_q * Decimal("0.07")))
        check(svc.stored_offsets(GROUP, TOPIC) == ends, "offsets moved past the end")
        print("ok: stale worker fenced; 2000 events counted once, cost %s" % cost, flush=True)
        ok = True
    finally:
        svc.close(keep_logs=not ok)


if __name__ == "__main__":
    main()

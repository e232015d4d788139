#!/usr/bin/env python3
"""Metric streams: the two gaps that used to lose money or exactness silently.

1. A counter that falls silent for longer than metrics.series_idle_ms (here
   one minute of event time) while other series move the watermark on by two
   hours, then comes back (a remote_write backlog replayed after an outage):
   its increase across the gap is charged, because counters are kept for
   metrics.counter_retention_hours; an idle gauge is forgotten (counted by
   kind), and its gap is not charged, as before.
2. A producer that writes one series at a time into a partition: the
   samples that go back in time are counted
   (costream_metric_samples_out_of_order_total) and the worker says so in
   its log, naming the topic and partition.

Two workers settle the 16 shards between them.  Expected costs are computed
here with Python's decimal and compared to the last digit.
"""
import json
import os
import sys
import time
from datetime import datetime, timezone
from decimal import Decimal, ROUND_HALF_EVEN

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, dump  # noqa: E402

TOPIC, GROUP, PARTS = "metrics", "it-metric-gaps", 2
Q12 = Decimal("0.000000000001")
RULES = {
    "version": "gap-1", "currency": "USD",
    "rules": [
        {"id": "cpu", "product": "sandbox", "meter": "cpu_hours", "unit": "cpu-hour", "unit_price": "0.04",
         "metric": {"names": ["container_cpu_usage_seconds_total"], "kind": "counter", "unit_divisor": 3600}},
        {"id": "mem", "product": "sandbox", "meter": "memory_gib_hours", "unit": "GiB-hour", "unit_price": "0.005",
         "metric": {"names": ["container_memory_working_set_bytes"], "kind": "gauge",
                    "unit_divisor": 3865470566400, "max_gap_seconds": 300}},
    ],
}
T0 = int(datetime(2026, 11, 12, 8, tzinfo=timezone.utc).timestamp())
GIB = 1 << 30


def ts(sec):
    return datetime.fromtimestamp(sec, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def sample(t, name, value, pod, ns="ns-a"):
    return dump({"timestamp": ts(t), "value": str(value), "name": name,
                 "labels": {"__name__": name, "namespace": ns, "pod": pod}})


def q12(x):
    return x.quantize(Q12, ROUND_HALF_EVEN)


def main():
    svc = harness.Services(["usage-events:1", "%s:%d" % (TOPIC, PARTS)])
    ok = False
    try:
        rules_path = os.path.join(svc.dir, "rules.json")
        with open(rules_path, "w") as f:
            json.dump(RULES, f)
        cfg = svc.write_config("c.conf", rules_path, {
            "group": GROUP, "metrics.topics": TOPIC, "metrics.settle_interval_ms": "300",
            "metrics.lateness_ms": "0", "metrics.series_idle_ms": "60000"})
        svc.costream("migrate", "-c", cfg)
        svc.redis("SET", "costream:label:namespace:ns-a", "acme")
        prod = harness.producer(svc.bootstrap)
        cpu, mem = "container_cpu_usage_seconds_total", "container_memory_working_set_bytes"

        def send(msgs):
            for part, payload in msgs:
                prod.send(TOPIC, value=payload, partition=part)
            prod.flush()

        def tick(t):  # an unpriced sample on every partition moves the watermark to t
            send([(p, sample(t, "costream_test_tick", 1, "tick")) for p in range(PARTS)])

        def settled_below(t):
            return svc.psql("SELECT count(*) FROM metric_sample_blocks WHERE min_ts < '%s'" % ts(t))[0][0] == "0"

        def consumed_all():
            return svc.consumed_all(GROUP, TOPIC)

        workers = [svc.start_worker(cfg, "worker-a"), svc.start_worker(cfg, "worker-b")]
        # before the outage: a counter and a gauge, one minute each
        send([(0, sample(T0, cpu, 100, "p1")), (0, sample(T0 + 60, cpu, 160, "p1")),
              (1, sample(T0, mem, 2 * GIB, "p1")), (1, sample(T0 + 60, mem, 2 * GIB, "p1"))])
        tick(T0 + 7200)  # two hours of other traffic: both series are idle far past a minute
        harness.wait_until(lambda: consumed_all() and settled_below(T0 + 7200), 120, "the first settlement")
        kinds = dict(svc.psql("SELECT kind, count(*) FROM metric_series GROUP BY kind"))
        check(kinds == {"counter": "1"}, "after two idle hours: the counter kept, the gauge forgotten (got %s)" % kinds)

        # the backlog after the outage: the counter went on counting
        send([(1, sample(T0 + 7260, cpu, 7360, "p1")), (0, sample(T0 + 7260, mem, 3 * GIB, "p1")),
              (0, sample(T0 + 7320, mem, 3 * GIB, "p1"))])
        tick(T0 + 7400)
        harness.wait_until(lambda: consumed_all() and settled_below(T0 + 7400), 120, "the second settlement")

        # a producer writing one series at a time into partition 1: p2's
        # ten minutes, then p3's ten minutes (p3 goes back in time)
        t1 = T0 + 7400
        one_at_a_time = [(1, sample(t1 + 60 * i, cpu, 10 * i, "p2", "ns-b")) for i in range(11)]
        one_at_a_time += [(1, sample(t1 + 60 * i, cpu, 10 * i, "p3", "ns-b")) for i in range(11)]
        send(one_at_a_time)
        harness.wait_until(consumed_all, 60, "the one-series-at-a-time samples")
        time.sleep(1.5)  # counters are published every second
        texts = [harness.scrape(w) for w in workers]
        ooo = sum(harness.metric_value(t, "costream_metric_samples_out_of_order_total") for t in texts)
        check(ooo == 10, "p3's samples older than p2's last (10 of 11) counted out of order: %s" % ooo)
        logs = "".join(open(w.log_path).read() for w in workers)
        check("go back in time" in logs and '"partition":"1"' in logs, "the worker warned, naming the partition")
        evicted = sum(harness.metric_value(t, "costream_metric_series_evicted_total", '{kind="gauge"}') for t in texts)
        check(evicted >= 1, "the forgotten gauge is counted by kind (%s)" % evicted)
        for w in workers:
            check(svc.stop_worker(w) == 0, "worker exit")

        # expected, computed here: the counter's 60 s, then 7,200 s across the gap;
        # the gauge's first minute (2 GiB x 60 s); its 2-hour gap is not charged,
        # and its restart is a baseline followed by 3 GiB x 60 s
        def cost(usage, div, price):
            return q12(q12(usage / div) * Decimal(price))
        want = {
            ("08", "cpu_hours"): cost(Decimal(60), 3600, "0.04"),
            ("10", "cpu_hours"): cost(Decimal(7200), 3600, "0.04"),
            ("08", "memory_gib_hours"): cost(Decimal(2 * GIB * 60), 3865470566400, "0.005"),
            ("10", "memory_gib_hours"): cost(Decimal(3 * GIB * 60), 3865470566400, "0.005"),
        }
        rows = svc.psql("SELECT to_char(hour AT TIME ZONE 'UTC', 'HH24'), meter, sum(cost) FROM usage_cost"
                        " WHERE customer = 'acme' GROUP BY 1, 2")
        got = {(h, m): Decimal(c) for h, m, c in rows}
        check(got == want, "costs per hour and meter: got %s, expected %s" % (got, want))
        print("ok: the counter charged across a two-hour gap (%s), the gauge forgotten and counted; "
              "%d out-of-order samples counted and logged" % (want[("10", "cpu_hours")], ooo), flush=True)
        ok = True
    finally:
        sys.exit(harness.finish(svc, ok))


if __name__ == "__main__":
    main()

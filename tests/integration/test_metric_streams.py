#!/usr/bin/env python3
"""Infrastructure metric streams through real services.

Counters (with resets, NaN samples and duplicates) and gauges (with a gap
beyond max_gap and a NaN staleness marker) for pods of three namespaces are
produced as prometheus-kafka-adapter JSON and MessagePack to a 4-partition
topic, without keys, so one series' samples land on several partitions.  Two
workers consume them; one is killed with SIGKILL mid-stream and restarted.
Between two phases a namespace is mapped to another customer in Redis; a late
sample arrives after its time was settled.

The test applies the counter and gauge semantics itself (Python decimal) and
asserts the stored costs per hour, customer, meter and plan to the last digit,
conservation per metric (attributed + unattributed = whole metric), and that
duplicate, late and NaN samples are counted by the workers' metrics.
"""
import json
import os
import random
import re
import signal
import sys
import threading
import time
from datetime import datetime, timezone
from decimal import Decimal, ROUND_HALF_EVEN

import msgpack

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, dump  # noqa: E402

TOPIC, GROUP, PARTS = "metrics", "it-metric-streams", 4
Q12 = Decimal("0.000000000001")
RULES = {
    "version": "ms-1", "currency": "USD",
    "plans": {"pro": {"discount": "0.2"}},
    "rules": [
        {"id": "cpu", "product": "sandbox", "meter": "cpu_hours", "unit": "cpu-hour", "unit_price": "0.04",
         "metric": {"names": ["container_cpu_usage_seconds_total"], "kind": "counter", "unit_divisor": 3600}},
        {"id": "mem", "product": "sandbox", "meter": "memory_kib_hours", "unit": "KiB-hour", "unit_price": "0.000003",
         "metric": {"names": ["container_memory_working_set_bytes"], "kind": "gauge", "unit_divisor": 3686400,
                    "max_gap_seconds": 120}},
    ],
}
RULE = {"container_cpu_usage_seconds_total": RULES["rules"][0], "container_memory_working_set_bytes": RULES["rules"][1]}
START = int(datetime(2026, 11, 10, tzinfo=timezone.utc).timestamp())
PHASE1_END = START + 1800
PHASE2_END = START + 3600


def ts(sec, frac=0):
    return datetime.fromtimestamp(sec, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S") + (".%03dZ" % frac if frac else "Z")


def make_samples(rng, t0, t1, owners, counters, gauges):
    """Samples every 15 s in [t0, t1): list of (t_us, name, labels, value_text, customer)."""
    out = []
    for t in range(t0, t1, 15):
        for pod, ns in (("pod-a", "ns-a"), ("pod-b", "ns-b"), ("pod-x", "ns-x")):
            labels = {"namespace": ns, "pod": pod, "container": "main"}
            cust = owners.get(ns, "unattributed")
            key = (pod, "cpu")
            if rng.random() < 0.03:
                counters[key] = Decimal(rng.randint(0, 5))  # a restart: the counter resets
            else:
                counters[key] += Decimal(rng.randint(0, 30000)) / 1000
            val = str(counters[key])
            if rng.random() < 0.03:
                val = "NaN"
            out.append((t * 10**6, "container_cpu_usage_seconds_total", labels, val, cust))
            gkey = (pod, "mem")
            if pod == "pod-b" and t0 + 300 <= t < t0 + 480:
                continue  # a 3-minute gap: longer than max_gap, not charged
            gval = str(Decimal(rng.randint(50, 400)) * 1048576 + rng.randint(0, 999))
            if pod == "pod-a" and t == t0 + 600:
                gval = "NaN"  # staleness marker: the series ends, the next sample is a baseline
            out.append((t * 10**6 + 500000, "container_memory_working_set_bytes", labels, gval, cust))
    return out


def expected(samples_in_settle_order, plans):
    """Applies the semantics; returns {(hour, customer, meter, plan): (qty, cost, n)} and outcome counts."""
    state, rows, outcomes = {}, {}, {}
    for t, name, labels, val, cust in samples_in_settle_order:
        rule = RULE[name]
        kind, div = rule["metric"]["kind"], rule["metric"]["unit_divisor"]
        gap = rule["metric"].get("max_gap_seconds", 600) * 10**6
        sid = (name, tuple(sorted(labels.items())))
        st = state.get(sid)
        if st is not None and t == st[0]:
            outcomes["duplicate"] = outcomes.get("duplicate", 0) + 1
            continue
        if st is not None and t < st[0]:
            outcomes["late"] = outcomes.get("late", 0) + 1
            continue
        if val == "NaN":
            if kind == "gauge" and st is not None:
                state[sid] = (t, None)
            outcomes["nan"] = outcomes.get("nan", 0) + 1
            continue
        v = Decimal(val)
        if st is None or st[1] is None:
            state[sid] = (t, v)
            continue
        if kind == "counter":
            usage = v - st[1] if v >= st[1] else v
        else:
            if t - st[0] > gap:
                state[sid] = (t, v)
                continue
            usage = (st[1] * Decimal(t - st[0]) / Decimal(10**6)).quantize(Q12, ROUND_HALF_EVEN)
        state[sid] = (t, v)
        qty = (usage / div).quantize(Q12, ROUND_HALF_EVEN)
        plan = plans.get(cust, "none")
        rate = Decimal(RULES["plans"].get(plan, {}).get("discount", "0"))
        lst = (qty * Decimal(rule["unit_price"])).quantize(Q12, ROUND_HALF_EVEN)
        cost = lst - (lst * rate).quantize(Q12, ROUND_HALF_EVEN)
        hour = ts(t // 10**6 // 3600 * 3600)
        k = (hour, cust, rule["meter"], plan)
        q0, c0, n0 = rows.get(k, (Decimal(0), Decimal(0), 0))
        rows[k] = (q0 + qty, c0 + cost, n0 + 1)
    return rows, outcomes


def encode(t, name, labels, val, binary):
    msg = {"timestamp": ts(t // 10**6, (t % 10**6) // 1000), "value": val, "name": name,
           "labels": dict(labels, __name__=name)}
    return msgpack.packb(msg) if binary else dump(msg)


def scrape_outcomes(svc):
    totals = {}
    for w in svc.workers:
        if w.poll() is not None:
            continue
        text = harness.scrape(w)
        for outcome, v in re.findall(r'costream_metric_samples_total\{outcome="(\w+)"\} (\d+)', text):
            totals[outcome] = totals.get(outcome, 0) + int(v)
    return totals


def main():
    rng = random.Random(11)
    svc = harness.Services(["usage-events:1", "%s:%d" % (TOPIC, PARTS)])
    ok = False
    try:
        rules_path = os.path.join(svc.dir, "rules.json")
        with open(rules_path, "w") as f:
            json.dump(RULES, f)
        cfg = svc.write_config("c.conf", rules_path, {
            "group": GROUP, "metrics.topics": TOPIC, "metrics.settle_interval_ms": "300",
            "metrics.lateness_ms": "0", "labels.cache_ttl_ms": "200",
            "log.level": os.environ.get("COSTREAM_TEST_LOG_LEVEL", "info")})
        svc.costream("migrate", "-c", cfg)
        plans = {"acme": "pro", "beta": "free", "gamma": "pro"}
        for c, p in plans.items():
            svc.redis("HSET", "costream:customer:" + c, "plan", p)
        svc.redis("SET", "costream:label:namespace:ns-a", "acme")
        svc.redis("SET", "costream:label:namespace:ns-b", "beta")
        prod = harness.producer(svc.bootstrap)
        counters = {(p, "cpu"): Decimal(0) for p in ("pod-a", "pod-b", "pod-x")}

        def send(samples, dup_rate=0.0):
            for t, name, labels, val, cust in samples:
                payload = encode(t, name, labels, val, rng.random() < 0.3)
                prod.send(TOPIC, value=payload, partition=rng.randrange(PARTS))
                if rng.random() < dup_rate:  # the same sample again, maybe elsewhere
                    prod.send(TOPIC, value=payload, partition=rng.randrange(PARTS))
            prod.flush()

        def tick(t):  # a sample of an unpriced metric on every partition: moves the watermark
            for p in range(PARTS):
                prod.send(TOPIC, value=dump({"timestamp": ts(t), "value": "1", "name": "costream_test_tick",
                                             "labels": {}}), partition=p)
            prod.flush()

        def settled_below(t):
            rows = svc.psql("SELECT count(*) FROM metric_sample_blocks WHERE group_id = '%s' AND min_ts < '%s'" % (GROUP, ts(t)))
            return int(rows[0][0]) == 0

        def consumed_all():
            return svc.consumed_all(GROUP, TOPIC)

        phase1 = make_samples(rng, START, PHASE1_END, {"ns-a": "acme", "ns-b": "beta"}, counters, None)
        a = svc.start_worker(cfg, "worker-a")
        b = svc.start_worker(cfg, "worker-b")
        # duplicates are sent next to their originals, so they settle together
        sent_phase1 = []
        for s in phase1:
            sent_phase1.append(s)
        send(phase1, dup_rate=0.02)
        tick(PHASE1_END + 1)
        harness.wait_until(lambda: consumed_all() and settled_below(PHASE1_END + 1), 120, "phase 1 to settle")

        # a late sample: its time is already settled
        late = (START * 10**6 + 600 * 10**6 + 7, "container_cpu_usage_seconds_total",
                {"namespace": "ns-a", "pod": "pod-a", "container": "main"}, "999999", "acme")
        send([late])
        # ns-b now belongs to gamma
        svc.redis("SET", "costream:label:namespace:ns-b", "gamma")
        time.sleep(0.5)
        phase2 = make_samples(rng, PHASE1_END, PHASE2_END, {"ns-a": "acme", "ns-b": "gamma"}, counters, None)
        half = len(phase2) // 2
        th = threading.Thread(target=lambda: (send(phase2[:half], 0.02), time.sleep(1.0), send(phase2[half:], 0.02)))
        th.start()
        time.sleep(0.7)
        a.kill()  # SIGKILL mid-stream
        a.wait()
        th.join()
        a2 = svc.start_worker(cfg, "worker-a2")
        tick(PHASE2_END + 3600)
        harness.wait_until(lambda: consumed_all() and settled_below(PHASE2_END + 3600), 120, "phase 2 to settle")

        # outcome counters on the surviving workers: one more duplicate, late and NaN
        time.sleep(1.5)  # counters are published every second
        before = scrape_outcomes(svc)
        extra_t = (PHASE2_END + 10) * 10**6
        lbl = {"namespace": "ns-x", "pod": "pod-z", "container": "main"}
        for s in ((extra_t, "container_cpu_usage_seconds_total", lbl, "10", "unattributed"),
                  (extra_t, "container_cpu_usage_seconds_total", lbl, "10", "unattributed"),
                  (extra_t + 10**6, "container_cpu_usage_seconds_total", lbl, "NaN", "unattributed")):
            prod.send(TOPIC, value=encode(*s[:4], False), partition=0)
        prod.flush()
        # the watermark is already past them (the last tick): they settle as they come
        harness.wait_until(lambda: consumed_all() and settled_below(PHASE2_END + 3600), 60, "the extra samples")
        prod.send(TOPIC, value=encode(extra_t - 10**6, "container_cpu_usage_seconds_total", lbl, "5", False), partition=1)
        prod.flush()
        harness.wait_until(lambda: consumed_all() and settled_below(PHASE2_END + 3600), 60, "the late extra sample")
        time.sleep(1.5)  # counters are published every second
        after = scrape_outcomes(svc)
        for outcome in ("duplicate", "late", "nan", "baseline"):
            check(after.get(outcome, 0) - before.get(outcome, 0) == 1,
                  "%s counter moved by %d, expected 1" % (outcome, after.get(outcome, 0) - before.get(outcome, 0)))
        for w in (a2, b):
            check(svc.stop_worker(w) == 0, "worker exit")

        # the expected costs: settlement order = phase 1 sorted, the late sample, phase 2 sorted
        order = sorted(phase1, key=lambda s: s[0]) + [late] + sorted(phase2, key=lambda s: s[0])
        exp_rows, exp_out = expected(order, plans)
        rows = svc.psql("SELECT to_char(hour AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), customer, meter, plan,"
                        " sum(quantity), sum(cost), sum(events) FROM usage_cost WHERE rules_version = 'ms-1'"
                        " GROUP BY 1, 2, 3, 4")
        got = {tuple(r[:4]): (Decimal(r[4]), Decimal(r[5]), int(r[6])) for r in rows}
        check(set(got) == set(exp_rows), "row keys differ: missing %s extra %s" % (sorted(set(exp_rows) - set(got))[:3], sorted(set(got) - set(exp_rows))[:3]))
        bad = [k for k in exp_rows if got[k] != exp_rows[k]]
        check(not bad, "%d rows differ, e.g. %s: got %s expected %s" % (len(bad), bad[0], got[bad[0]], exp_rows[bad[0]]) if bad else "")
        check(any(k[1] == "gamma" for k in got) and any(k[1] == "beta" for k in got), "the Redis change took effect")
        check(exp_out.get("late", 0) == 1 and exp_out.get("nan", 0) > 0, "the scenario has late and NaN samples")
        for meter in ("cpu_hours", "memory_kib_hours"):
            whole = sum(v[1] for k, v in exp_rows.items() if k[2] == meter)
            parts = svc.psql("SELECT coalesce(sum(cost) FILTER (WHERE customer <> 'unattributed'), 0),"
                             " coalesce(sum(cost) FILTER (WHERE customer = 'unattributed'), 0)"
                             " FROM usage_cost WHERE meter = '%s'" % meter)[0]
            check(Decimal(parts[0]) + Decimal(parts[1]) == whole and Decimal(parts[1]) > 0,
                  "conservation for %s: %s + %s != %s" % (meter, parts[0], parts[1], whole))
        rolled, why = svc.rollups_match()  # settlement's rows reach the finance page's rollups
        check(rolled, why)
        left = svc.psql("SELECT coalesce(sum(samples), 0) FROM metric_sample_blocks")[0][0]
        print("ok: %d samples, %d cost rows exact to the last digit; conservation per metric; outcomes %s;"
              " pending left %s" % (len(order), len(got), exp_out, left), flush=True)
        ok = True
    finally:
        svc.close(keep_logs=not ok)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""End to end through real services: a known stream of usage events (JSON and
MessagePack, with malformed events, unknown customers and unattributable
ones) is produced to Kafka while two `costream run` workers share it in one
consumer group.  One worker is killed with SIGKILL mid-stream and restarted;
later the other is frozen (SIGSTOP) past its session timeout so the group
moves its partitions, then thawed, so that its stale batch must be fenced.

The test prices every event itself (Python's decimal module, half-even at
12 places, an implementation independent of costream's C code) and asserts
that PostgreSQL holds exactly those sums, to the last digit, and that every
malformed message is in rejected_events with the reason it expects.
"""
import hashlib
import os
import re
import random
import signal
import sys
import threading
import time
from decimal import Decimal, ROUND_HALF_EVEN
from datetime import datetime, timezone

import msgpack

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, dump  # noqa: E402

TOPIC = "usage-events"
GROUP = "it-exactly-once"
Q12 = Decimal("0.000000000001")

RULES = {
    "version": "it-1",
    "currency": "EUR",
    "plans": {"free": {"discount": "0"}, "pro": {"discount": "0.10"}, "enterprise": {"discount": "0.25"}},
    "rules": [
        {"id": "runs", "product": "agents", "meter": "runs", "unit": "run", "unit_price": "0.0150"},
        {"id": "tok-large-old", "product": "agents", "meter": "tokens", "unit": "token", "unit_price": "0.0000150",
         "match": [{"label": "model", "op": "=", "value": "large"}], "effective_until": "2026-11-02T12:00:00Z"},
        {"id": "tok-large-new", "product": "agents", "meter": "tokens", "unit": "token", "unit_price": "0.0000120",
         "match": [{"label": "model", "op": "=", "value": "large"}], "effective_from": "2026-11-02T12:00:00Z",
         "discounts": {"enterprise": "0.30"}},
        {"id": "tok", "product": "agents", "meter": "tokens", "unit": "token", "unit_price": "0.0000006"},
        {"id": "cpu-gpu", "product": "sandbox", "meter": "cpu", "unit": "s", "unit_price": "0.000900",
         "match": [{"label": "tier", "op": "=~", "value": "gpu.*"}]},
        {"id": "cpu", "product": "sandbox", "meter": "cpu", "unit": "s", "unit_price": "0.000024"},
        {"id": "egress", "product": "gateway", "meter": "egress_bytes", "unit": "byte", "unit_price": "0.00000000009"},
    ],
}
PLANS = ["free", "pro", "enterprise"]
CUSTOMERS = ["c%02d" % i for i in range(1, 31)]
START = datetime(2026, 11, 1, tzinfo=timezone.utc).timestamp()


def ts(sec):
    return datetime.fromtimestamp(sec, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_ts(s):
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc).timestamp()


def price(ev, plan):
    """Independent pricing: first matching rule, per-event half-even rounding."""
    t = parse_ts(ev["time"])
    labels = ev["data"].get("labels", {})
    import re
    for r in RULES["rules"]:
        if r["product"] != ev["data"]["product"] or r["meter"] != ev["data"]["meter"]:
            continue
        if "effective_from" in r and t < parse_ts(r["effective_from"]):
            continue
        if "effective_until" in r and t >= parse_ts(r["effective_until"]):
            continue
        ok = True
        for m in r.get("match", []):
            v = labels.get(m["label"], "")
            ok = ok and (v == m["value"] if m["op"] == "=" else re.fullmatch(m["value"], v) is not None)
        if not ok:
            continue
        rate = Decimal(r.get("discounts", {}).get(plan, RULES["plans"].get(plan, {}).get("discount", "0")))
        lst = (Decimal(ev["data"]["quantity"]) * Decimal(r["unit_price"])).quantize(Q12, ROUND_HALF_EVEN)
        disc = (lst * rate).quantize(Q12, ROUND_HALF_EVEN)
        return r["id"], lst - disc
    return None, None


def make_stream(rng, n):
    """Returns [(key, bytes, expected)] where expected is ('ok', aggkey, qty,
    cost) or ('reject', reason)."""
    out = []
    plan_of = {c: PLANS[i % 3] for i, c in enumerate(CUSTOMERS)}
    for i in range(n):
        cust = rng.choice(CUSTOMERS)
        kind = rng.random()
        product, meter, labels = rng.choice([("agents", "runs", {}), ("agents", "tokens", {"model": "large"}),
                                             ("agents", "tokens", {"model": "small"}), ("sandbox", "cpu", {"tier": "gpu-h100"}),
                                             ("sandbox", "cpu", {"tier": "std"}), ("gateway", "egress_bytes", {})])
        labels = dict(labels)
        qty = str(rng.randint(1, 5000)) if rng.random() < 0.5 else "%d.%06d" % (rng.randint(0, 300), rng.randint(0, 999999))
        ev = {"specversion": "1.0", "id": "it-%d" % i, "source": "//it", "type": "usage",
              "time": ts(START + rng.randint(0, 3 * 86400 - 1)),
              "data": {"product": product, "meter": meter, "quantity": qty, "labels": labels}}
        who = rng.random()
        if who < 0.5:
            ev["subject"] = cust
            customer, plan = cust, plan_of[cust]
        elif who < 0.8:
            labels["api_key"] = "key-" + cust
            customer, plan = cust, plan_of[cust]
        elif who < 0.9:
            labels["namespace"] = "ns-" + cust
            customer, plan = cust, plan_of[cust]
        elif who < 0.95:
            ev["subject"] = "c99"  # known id, no attributes in Redis
            customer, plan = "c99", "unknown"
        else:
            labels["api_key"] = "key-nobody"
            customer, plan = "unattributed", "none"
        expected = None
        use_msgpack = rng.random() < 0.3
        if kind < 0.04:
            defect = rng.randrange(10)
            if defect == 0:
                payload, expected = b'{"specversion":"1.0","id":', ("reject", "malformed_json")
            elif defect == 1:
                ev["data"]["quantity"] = "-2"
                expected = ("reject", "invalid_quantity")
            elif defect == 2:
                ev["data"]["quantity"] = "NaN"
                expected = ("reject", "invalid_quantity")
            elif defect == 3:
                ev["time"] = "2026-11-31T00:00:00Z"
                expected = ("reject", "invalid_time")
            elif defect == 4:
                ev["data"]["meter"] = "teleports"
                expected = ("reject", "unpriced")
            elif defect == 5:
                del ev["data"]["product"]
                expected = ("reject", "missing_field")
            elif defect == 6:
                payload = dump(ev).replace(b'"//it"', b'"//\xff\xfe"')
                expected = ("reject", "invalid_utf8")
            elif defect == 7:
                ev["data"]["quantity"] = 0.5
                payload = msgpack.packb(ev)
                expected = ("reject", "wrong_type")  # a binary float is not exact
            elif defect == 8:
                payload = msgpack.packb(ev)[:-3]
                expected = ("reject", "malformed_msgpack")
            else:
                ev["data"]["labels"]["pad"] = "x" * 5000
                expected = ("reject", "oversized")
            if defect in (1, 2, 3, 4, 5, 9):
                payload = msgpack.packb(ev) if use_msgpack else dump(ev)
        else:
            if use_msgpack:
                if "." not in qty and rng.random() < 0.5:
                    ev["data"]["quantity"] = int(qty)
                payload = msgpack.packb(ev)
            else:
                text = dump(ev)
                if rng.random() < 0.5:  # quantity as a JSON number, written exactly
                    text = text.replace(b'"quantity":"%s"' % qty.encode(), b'"quantity":%s' % qty.encode())
                payload = text
            rule, cost = price(ev, plan)
            hour = ts(parse_ts(ev["time"]) // 3600 * 3600)
            expected = ("ok", (hour, customer, product, meter, rule, plan), Decimal(qty), cost, ev["id"])
        key = None if rng.random() < 0.2 else customer.encode()
        out.append((key, payload, expected))
        if rng.random() < 0.02:  # a producer retry: the same event again, maybe elsewhere
            earlier = rng.choice([o for o in out[-200:] if o[2][0] == "ok"] or [None])
            if earlier:
                out.append((None if rng.random() < 0.5 else earlier[0], earlier[1], ("dup",)))
    return out


def main():
    rng = random.Random(20261122)
    svc = harness.Services(["%s:6" % TOPIC])
    ok = False
    try:
        rules_path = os.path.join(svc.dir, "rules.json")
        with open(rules_path, "w") as f:
            f.write(dump(RULES).decode())
        cfg = svc.write_config("costream.conf", rules_path, {"group": GROUP, "events.max_bytes": "4096"})
        svc.costream("migrate", "-c", cfg)
        for i, c in enumerate(CUSTOMERS):
            svc.redis("HSET", "costream:customer:" + c, "plan", PLANS[i % 3], "name", "Customer " + c)
            svc.redis("SET", "costream:label:api_key:key-" + c, c)
            svc.redis("SET", "costream:label:namespace:ns-" + c, c)

        stream = make_stream(rng, 30000)
        located = {}  # (partition, offset) -> expected
        prod = harness.producer(svc.bootstrap)
        sent = {"n": 0}

        def produce():
            futures = []
            for i, (key, payload, exp) in enumerate(stream):
                futures.append((prod.send(TOPIC, key=key, value=payload), exp))
                if i % 500 == 499:
                    prod.flush()
                    sent["n"] = i + 1
                    time.sleep(0.15)
            prod.flush()
            for fut, exp in futures:
                md = fut.get(timeout=30)
                located[(md.partition, md.offset)] = exp
            sent["n"] = len(stream)

        th = threading.Thread(target=produce)
        th.start()
        a = svc.start_worker(cfg, "worker-a")
        b = svc.start_worker(cfg, "worker-b")
        harness.wait_until(lambda: sum(svc.stored_offsets(GROUP, TOPIC).values()) >= 4000, 90, "first flushes")
        a.kill()  # SIGKILL mid-stream
        a.wait()
        print("killed worker A with SIGKILL after %d stored offsets, %d sent" % (sum(svc.stored_offsets(GROUP, TOPIC).values()), sent["n"]), flush=True)
        time.sleep(2)
        a2 = svc.start_worker(cfg, "worker-a2")
        harness.wait_until(lambda: sent["n"] >= 20000, 120, "two thirds produced")
        blog = open(b.log_path).read()
        revoked_before = blog.count("partitions revoked")
        # did B own partitions when frozen? (its last assignment event was an assignment)
        held = blog.rfind('"partition assigned"') > blog.rfind('"partitions revoked"')
        b.send_signal(signal.SIGSTOP)  # a stale worker: the group moves on without it
        print("froze worker B (SIGSTOP) for 10 s", flush=True)
        time.sleep(10)
        b.send_signal(signal.SIGCONT)
        th.join()
        ends = harness.end_offsets(svc.bootstrap, TOPIC)
        check(sum(ends.values()) == len(stream), "Kafka holds %d messages, produced %d" % (sum(ends.values()), len(stream)))
        ndup = sum(1 for e in located.values() if e[0] == "dup")
        check(ndup > 300, "the stream should hold duplicates")
        harness.wait_until(lambda: svc.stored_offsets(GROUP, TOPIC) == ends, 120, "workers to catch up")
        for w in (a2, b):
            rc = svc.stop_worker(w)
            check(rc == 0, "worker exited with %d after SIGTERM" % rc)

        # Independent expectation.
        exp_rows, exp_rejects = {}, {}
        for (part, off), e in located.items():
            if e[0] == "dup":
                continue  # counted once, by its first occurrence
            if e[0] == "ok":
                q, c, n = exp_rows.get(e[1], (Decimal(0), Decimal(0), 0))
                exp_rows[e[1]] = (q + e[2], c + e[3], n + 1)
            else:
                exp_rejects[(part, off)] = e[1]
        rows = svc.psql("SELECT to_char(hour AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), customer, product, meter,"
                        " rule_id, plan, quantity, cost, events FROM usage_cost WHERE rules_version = 'it-1'")
        got = {tuple(r[:6]): (Decimal(r[6]), Decimal(r[7]), int(r[8])) for r in rows}
        missing = set(exp_rows) - set(got)
        extra = set(got) - set(exp_rows)
        check(not missing and not extra, "row keys differ: missing %s extra %s" % (list(missing)[:3], list(extra)[:3]))
        bad = [k for k in exp_rows if exp_rows[k] != got[k]]
        check(not bad, "%d rows differ, e.g. %s: expected %s got %s" % (len(bad), bad[0], exp_rows[bad[0]], got[bad[0]]) if bad else "")
        total_exp = sum(v[1] for v in exp_rows.values())
        total_db = Decimal(svc.psql("SELECT sum(cost) FROM usage_cost")[0][0])
        attributed = Decimal(svc.psql("SELECT coalesce(sum(cost),0) FROM usage_cost WHERE customer <> 'unattributed'")[0][0])
        unattributed = Decimal(svc.psql("SELECT coalesce(sum(cost),0) FROM usage_cost WHERE customer = 'unattributed'")[0][0])
        check(total_db == total_exp, "total cost %s, expected %s" % (total_db, total_exp))
        exp_unattr = sum(v[1] for k, v in exp_rows.items() if k[1] == "unattributed")
        check(unattributed == exp_unattr and unattributed > 0,
              "unattributed cost %s, expected %s" % (unattributed, exp_unattr))
        check(attributed == total_exp - exp_unattr,
              "attributed cost %s, expected %s" % (attributed, total_exp - exp_unattr))

        rej = {(int(p), int(o)): (r, d) for p, o, r, d in svc.psql(
            "SELECT partition, \"offset\", reason, detail FROM rejected_events WHERE group_id = '%s'" % GROUP)}
        check(set(rej) == set(exp_rejects), "rejected offsets differ: %d stored, %d expected" % (len(rej), len(exp_rejects)))
        wrong = [(k, rej[k], exp_rejects[k]) for k in rej if rej[k][0] != exp_rejects[k]]
        check(not wrong, "wrong reasons, e.g. %s" % (wrong[:3],))
        check(all(d for _, d in rej.values()), "a rejected event lacks its detail")
        raw_ok = svc.psql("SELECT count(*) FROM rejected_events WHERE octet_length(raw) > 0")[0][0]
        check(int(raw_ok) == len(rej), "raw bytes missing from rejected events")
        fenced = sum(open(w.log_path).read().count("flush fenced") for w in svc.workers)
        dups_logged = 0
        for w in (a2, b):  # the workers that stopped cleanly log their final counts
            m = re.findall(r'"duplicates":(\d+)', open(w.log_path).read())
            dups_logged += int(m[-1]) if m else 0
        # worker A's counts died with it, so the survivors saw some, never more than exist
        check(0 < dups_logged <= ndup, "duplicates counted by the survivors: %d of %d" % (dups_logged, ndup))
        # the frozen worker, if it owned partitions, lost them to the group (and, if it held a
        # batch, was fenced: the exact totals above show nothing was doubled)
        check(not held or open(b.log_path).read().count("partitions revoked") > revoked_before,
              "the frozen worker kept its partitions")
        # the stored fingerprints are exactly those of the counted events, once each
        want_fps = {hashlib.sha256(b"//it\x00" + e[4].encode()).hexdigest()[:32]
                    for e in located.values() if e[0] == "ok"}
        got_fps = [r[0] for r in svc.psql(
            "SELECT encode(substring(fps FROM 1 + 16 * i FOR 16), 'hex') FROM event_fingerprints,"
            " generate_series(0, octet_length(fps) / 16 - 1) i WHERE group_id = '%s'" % GROUP)]
        check(len(got_fps) == len(set(got_fps)) == len(want_fps) and set(got_fps) == want_fps,
              "event_fingerprints holds %d fingerprints (%d distinct), %d events were counted"
              % (len(got_fps), len(set(got_fps)), len(want_fps)))
        # the finance page's rollups, folded by the workers through the kills, equal the rows
        rolled, why = svc.rollups_match()
        check(rolled, why)
        folded = int(svc.psql("SELECT count(*) FROM usage_period")[0][0])
        check(folded > 0, "no worker folded the rollups' changes")
        print("ok: %d messages (%d duplicates), %d rows, %d rejects, total %s EUR to the last digit;"
              " duplicates counted by the workers that finished cleanly: %d; fenced flushes: %d"
              % (len(stream), ndup, len(got), len(rej), total_db, dups_logged, fenced), flush=True)
        ok = True
    finally:
        svc.close(keep_logs=not ok)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""A straightforward Python peer doing costream's job, for bench/run:
confluent-kafka, json, Decimal and psycopg2; each event is priced with the
rules file (the same rule, discount and rounding as docs/rounding.md), its
customer found from the load generator's Redis commands (a dict, i.e. a
perfect cache), and added to an hourly row with one upsert per event; a
commit every 1,000 events.  No de-duplication.

  peer.py BROKERS TOPIC RULES REDIS_COMMANDS CONNINFO EVENTS

Prints "EVENTS events in SECONDS s = RATE events/s" (from the first message).
"""
import json
import os
import sys
import time
from decimal import Decimal, ROUND_HALF_EVEN

import psycopg2
from confluent_kafka import Consumer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "scripts"))
import oracle  # noqa: E402  (rule matching and Redis parsing, shared with the demo's check)

Q12 = Decimal("0.000000000001")


def main():
    brokers, topic, rules_path, redis_path, conninfo, want = sys.argv[1:7]
    want = int(want)
    rules = json.load(open(rules_path))
    labels, customers = oracle.load_redis(redis_path)
    db = psycopg2.connect(conninfo)
    cur = db.cursor()
    cur.execute("CREATE TABLE IF NOT EXISTS peer_cost (hour timestamptz, customer text, product text,"
                " meter text, rule_id text, plan text, quantity numeric(38,12), cost numeric(38,12),"
                " events bigint, PRIMARY KEY (hour, customer, product, meter, rule_id, plan))")
    db.commit()
    c = Consumer({"bootstrap.servers": brokers, "group.id": "peer-%d" % time.time(),
                  "auto.offset.reset": "earliest", "enable.auto.commit": False})
    c.subscribe([topic])
    n, t0 = 0, None
    deadline = time.time() + 600
    while n < want and time.time() < deadline:
        m = c.poll(0.5)
        if m is None or m.error():
            continue
        if t0 is None:
            t0 = time.monotonic()
        n += 1
        try:
            ev = json.loads(m.value(), parse_float=Decimal)
        except ValueError:
            continue
        checked = oracle.valid(ev) if isinstance(ev, dict) else None
        rule = checked and oracle.rule_for(rules, ev, checked[1])
        if rule:
            q, when = checked
            cust, plan = oracle.customer_of(ev, labels, customers)
            rate = Decimal(rule.get("discounts", {}).get(plan, rules["plans"].get(plan, {}).get("discount", "0")))
            lst = (q * Decimal(rule["unit_price"])).quantize(Q12, ROUND_HALF_EVEN)
            cost = lst - (lst * rate).quantize(Q12, ROUND_HALF_EVEN)
            cur.execute("INSERT INTO peer_cost VALUES (date_trunc('hour', %s::timestamptz), %s, %s, %s, %s, %s,"
                        " %s, %s, 1) ON CONFLICT (hour, customer, product, meter, rule_id, plan) DO UPDATE"
                        " SET quantity = peer_cost.quantity + EXCLUDED.quantity,"
                        " cost = peer_cost.cost + EXCLUDED.cost, events = peer_cost.events + 1",
                        (ev["time"], cust, ev["data"]["product"], ev["data"]["meter"], rule["id"], plan, q, cost))
        if n % 1000 == 0:
            db.commit()
            c.commit(asynchronous=True)
    db.commit()
    dt = time.monotonic() - (t0 or time.monotonic())
    c.close()
    print("%d events in %.3f s = %.0f events/s" % (n, dt, n / dt if dt else 0))
    return 0 if n == want else 1


if __name__ == "__main__":
    sys.exit(main())

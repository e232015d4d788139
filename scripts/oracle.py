#!/usr/bin/env python3
"""An independent price check for the demo: reads back every usage event
from Kafka, finds each customer from the Redis commands the load generator
wrote, prices each event with the rules file in Python's decimal (the rule
of docs/rounding.md: round half-even at 12 places per event), counts each
(source, id) once, and prints the expected cost per customer and product as
`customer|product|cost` lines.  Shares no code with costream's C.

  oracle.py BROKERS TOPIC RULES REDIS_COMMANDS > expected.txt
"""
import json
import re
import shlex
import sys
from datetime import datetime, timezone
from decimal import Decimal, ROUND_HALF_EVEN, getcontext

import msgpack
from kafka import KafkaConsumer, TopicPartition

getcontext().prec = 60
Q12 = Decimal("0.000000000001")
LABEL_ORDER = ["api_key", "namespace", "sandbox_id"]


def parse_time(s):
    s = s.replace("Z", "+00:00")
    return datetime.fromisoformat(s).astimezone(timezone.utc)


def load_redis(path):
    labels, customers = {}, {}
    for line in open(path, encoding="utf-8"):
        words = shlex.split(line)
        if not words:
            continue
        if words[0].upper() == "SET" and words[1].startswith("costream:label:"):
            _, _, name, value = words[1].split(":", 3)
            labels[(name, value)] = words[2]
        elif words[0].upper() == "HSET" and words[1].startswith("costream:customer:"):
            fields = dict(zip(words[2::2], words[3::2]))
            customers[words[1][len("costream:customer:"):]] = fields.get("plan", "")
    return labels, customers


def customer_of(ev, labels, customers):
    if ev.get("subject"):
        cust = ev["subject"]
    else:
        found = [labels.get((n, ev["data"].get("labels", {}).get(n))) for n in LABEL_ORDER]
        found = [c for c in found if c]
        if not found:
            return "unattributed", "none"
        cust = found[0]
    return cust, customers.get(cust) or "unknown"


def rule_for(rules, ev, when):
    lab = ev["data"].get("labels", {})
    for r in rules["rules"]:
        if "metric" in r or r["product"] != ev["data"]["product"] or r["meter"] != ev["data"]["meter"]:
            continue
        if "effective_from" in r and when < parse_time(r["effective_from"]):
            continue
        if "effective_until" in r and when >= parse_time(r["effective_until"]):
            continue
        ok = True
        for m in r.get("match", []):
            v = lab.get(m["label"], "")
            hit = {"=": lambda: v == m["value"], "!=": lambda: v != m["value"],
                   "=~": lambda: re.fullmatch(m["value"], v) is not None,
                   "!~": lambda: re.fullmatch(m["value"], v) is None}[m["op"]]()
            ok = ok and hit
        if ok:
            return r
    return None


def valid(ev):
    """The event checks of docs/formats.md that the generator's defects hit."""
    try:
        d = ev["data"]
        if ev.get("specversion") != "1.0" or not ev.get("id") or not ev.get("source"):
            return None
        q = d["quantity"]
        if isinstance(q, bool) or isinstance(q, float):
            return None
        q = Decimal(str(q))
        if not q.is_finite() or q < 0 or q != q.quantize(Q12) or not d.get("product") or not d.get("meter"):
            return None
        when = parse_time(ev["time"])
        return q, when
    except (KeyError, ValueError, TypeError, ArithmeticError, AttributeError):
        return None


def main():
    brokers, topic, rules_path, redis_path = sys.argv[1:5]
    rules = json.load(open(rules_path))
    labels, customers = load_redis(redis_path)
    c = KafkaConsumer(bootstrap_servers=brokers, api_version=(2, 5, 0), consumer_timeout_ms=5000,
                      enable_auto_commit=False, max_partition_fetch_bytes=8 << 20)
    parts = [TopicPartition(topic, p) for p in c.partitions_for_topic(topic)]
    ends = c.end_offsets(parts)
    c.assign(parts)
    c.seek_to_beginning()
    seen, totals, left = set(), {}, sum(ends.values())
    for m in c:
        left -= 1
        raw = m.value
        try:
            ev = (json.loads(raw, parse_float=Decimal) if raw[:1] == b"{"
                  else msgpack.unpackb(raw, raw=False))  # a MessagePack float stays a float: refused
        except Exception:
            ev = None
        checked = valid(ev) if isinstance(ev, dict) else None
        if checked:
            q, when = checked
            key = (ev["source"], ev["id"])
            rule = rule_for(rules, ev, when)
            if rule and key not in seen:
                seen.add(key)
                cust, plan = customer_of(ev, labels, customers)
                rate = Decimal(rule.get("discounts", {}).get(plan, rules["plans"].get(plan, {}).get("discount", "0")))
                lst = (q * Decimal(rule["unit_price"])).quantize(Q12, ROUND_HALF_EVEN)
                cost = lst - (lst * rate).quantize(Q12, ROUND_HALF_EVEN)
                k = (cust, ev["data"]["product"])
                totals[k] = totals.get(k, Decimal(0)) + cost
        if left == 0:
            break
    c.close()
    for (cust, product), cost in sorted(totals.items()):
        print("%s|%s|%s" % (cust, product, cost))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""No message, name or label can stop billing (docs/reliability.md).

Two workers consume a usage topic and a metric topic through the real Kafka
endpoint.  Between valid events the test produces every kind of poison
input found so far:

  - reject details that would be cut inside a UTF-8 character (a time of 39
    ASCII letters and an "é"; an unpriced product "a" + 40 "é");
  - a MessagePack metric sample with byte 0x9d in its timestamp;
  - a 6-byte MessagePack header declaring a map of 150 million entries;
  - quantities as JSON numbers: 2^63 and 10^25 (valid) and 1e400 (out of
    range);
  - customer names in Redis: a 100-character Japanese company name (300
    bytes), a 1,200-byte one (cut between characters), one with invalid
    UTF-8 and control characters; a label that resolves to a customer id
    that is not UTF-8;
  - a quantity that PostgreSQL itself refuses: its hour's stored sum would
    pass NUMERIC(38,12) (SQLSTATE 22003), so the flush fails on data and
    the worker isolates that one message.

Half-way one worker is SIGKILLed and restarted.  The test then checks, with
figures it computes itself: every valid event billed exactly, every poison
message in rejected_events with its raw bytes and reason, every partition's
stored offset at the end of the log, names stored as valid UTF-8, and the
workers' /metrics answering throughout with the consumed counter moving.
"""
import json
import os
import random
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import decimal
from decimal import Decimal, ROUND_HALF_EVEN

import msgpack

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, dump  # noqa: E402

TOPIC, METRICS, GROUP = "usage-events", "container-metrics", "it-poison"
Q12 = Decimal("0.000000000001")
decimal.getcontext().prec = 60
PRICE = {("api", "calls"): Decimal("0.003"), ("big", "units"): Decimal("1")}
JP = "株式会社" * 25                    # 100 characters, 300 bytes
JP_LONG = "株式会社日本" * 67          # 402 characters, 1,206 bytes
RULES = {"version": "poison-1", "currency": "USD", "plans": {"pro": {"discount": "0"}},
         "rules": [{"id": "calls", "product": "api", "meter": "calls", "unit": "call", "unit_price": "0.003"},
                   {"id": "big", "product": "big", "meter": "units", "unit": "unit", "unit_price": "1"}]}
HOUR = "2026-11-05T10:00:00Z"


def event(i, key, product="api", meter="calls", quantity=None, time_=None):
    q = quantity if quantity is not None else str(1 + i % 7)
    return {"specversion": "1.0", "id": "ev-%d" % i, "source": "//poison", "type": "usage",
            "time": time_ or "2026-11-05T%02d:%02d:00Z" % (i % 24, i % 60),
            "data": {"product": product, "meter": meter, "quantity": q, "labels": {"api_key": key}}}


def poison_messages():
    """(payload bytes, topic, expected reason) for every poison message."""
    out = []
    t39 = ("a" * 39 + "é").encode()
    out.append((b'{"specversion":"1.0","id":"p1","source":"//p","type":"t","time":"' + t39 +
                b'","data":{"product":"api","meter":"calls","quantity":1}}', TOPIC, "invalid_time"))
    out.append((dump(event(10**6, "k1", product="a" + "é" * 40)), TOPIC, "unpriced"))
    # use_bin_type=False packs bytes as a MessagePack str: the 0x9d goes in as is
    out.append((msgpack.packb({b"name": b"container_cpu_usage_seconds_total", b"value": b"1",
                               b"timestamp": b"2026-11-05T10:00:00\x9dZ", b"labels": {}}, use_bin_type=False),
                METRICS, "invalid_time"))
    out.append((bytes.fromhex("df090000003e"), TOPIC, "malformed_msgpack"))
    out.append((b'{"specversion":"1.0","id":"p5","source":"//p","type":"t","time":"2026-11-05T10:00:00Z",'
                b'"data":{"product":"api","meter":"calls","quantity":1e400}}', TOPIC, "invalid_quantity"))
    out.append((b'\xff\xfe{"specversion":"1.0"}', TOPIC, "invalid_utf8"))
    out.append((b'{"specversion":"1.0","id":"\xc3","source":"//p"}', TOPIC, "invalid_utf8"))
    return out


def scraper(ports, stop, seen):
    """Scrapes every worker's /metrics every 300 ms; records consumed counters."""
    while not stop.is_set():
        for name, port in list(ports.items()):
            try:
                body = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % port, timeout=2).read().decode()
                m = re.search(r"^costream_messages_consumed_total (\S+)$", body, re.M)
                seen.append((time.monotonic(), name, Decimal(m.group(1)) if m else None, body))
            except OSError as e:
                seen.append((time.monotonic(), name, "error: %s" % e, ""))
        time.sleep(0.3)


def http_port(w):
    return harness.wait_until(
        lambda: (re.findall(r'"msg":"serving /metrics[^\n]*"port":(\d+)', open(w.log_path).read()) or [None])[0],
        30, "the worker's HTTP port")


def main():
    svc = harness.Services(["%s:4" % TOPIC, "%s:2" % METRICS])
    ok = False
    try:
        rules_path = os.path.join(svc.dir, "rules.json")
        with open(rules_path, "w") as f:
            json.dump(RULES, f)
        cfg = svc.write_config("c.conf", rules_path, {"group": GROUP, "metrics.topics": METRICS,
                                                      "flush.interval_ms": "200"})
        svc.costream("migrate", "-c", cfg)
        redis = svc.redis
        redis("HSET", "costream:customer:acme", "plan", "pro", "name", JP, "cost_center", "経理")
        redis("HSET", "costream:customer:jp", "plan", "pro", "name", JP_LONG)
        redis("SET", "costream:label:api_key:k1", "acme")
        redis("SET", "costream:label:api_key:k2", "jp")
        redis("SET", "costream:label:api_key:k4", "bigco")
        redis("HSET", "costream:customer:bigco", "plan", "pro")
        # invalid UTF-8 and a control character, through redis-cli's escapes
        subprocess.run(["redis-cli", "-p", svc.env["REDIS_PORT"]], check=True, capture_output=True,
                       input=b'HSET costream:customer:badname plan pro name "Bad\\xc3\\x28\\x1b[31m"\n'
                             b'SET costream:label:api_key:k3 "\\xff\\xfebad"\n'
                             b'HSET "costream:customer:\\xff\\xfebad" plan pro\n')
        expect = {}

        def bill(customer, product, meter, q):
            cost = (Decimal(q) * PRICE[(product, meter)]).quantize(Q12, ROUND_HALF_EVEN)
            expect[customer] = expect.get(customer, Decimal(0)) + cost

        keys = {"k1": "acme", "k2": "jp", "k3": "\\xff\\xfebad", "k9": "unattributed"}
        redis("SET", "costream:label:api_key:k5", "badname")
        keys["k5"] = "badname"
        prod = harness.producer(svc.bootstrap)
        poison = poison_messages()
        sent_poison = []
        rng = random.Random(7)
        n = 0

        def produce_phase(count, poisons, extra=()):
            nonlocal n
            slots = sorted(rng.sample(range(count), len(poisons)))
            for i in range(count):
                key = rng.choice(sorted(keys))
                ev = event(n, key)
                prod.send(TOPIC, dump(ev), partition=n % 4)
                bill(keys[key], "api", "calls", ev["data"]["quantity"])
                n += 1
                while slots and slots[0] == i:
                    slots.pop(0)
                    payload, topic, reason = poisons.pop(0)
                    prod.send(topic, payload, partition=n % (4 if topic == TOPIC else 2))
                    sent_poison.append((payload, reason))
            for payload, bills in extra:
                prod.send(TOPIC, payload, partition=0)
                for b in bills:
                    bill(*b)
            prod.flush()

        def wait_stored():
            ends = harness.end_offsets(svc.bootstrap, TOPIC)
            mends = harness.end_offsets(svc.bootstrap, METRICS)
            harness.wait_until(lambda: svc.stored_offsets(GROUP, TOPIC) == ends and
                               all(svc.stored_offsets(GROUP, METRICS).get(p, 0) == o for p, o in mends.items() if o),
                               120, "every partition stored to its end %s / %s" % (ends, mends))

        w1 = svc.start_worker(cfg, "w1")
        w2 = svc.start_worker(cfg, "w2")
        ports = {"w1": http_port(w1), "w2": http_port(w2)}
        stop, seen = threading.Event(), []
        th = threading.Thread(target=scraper, args=(ports, stop, seen), daemon=True)
        th.start()

        big = "6" + "0" * 25  # 6 × 10^25: fits NUMERIC(38,12) once, not twice

        def literal(i, key, q):  # an event whose quantity is a JSON number literal
            return dump(event(i, key, quantity="Q")).replace(b'"Q"', q.encode())

        ints = [(literal(900001, "k1", "9223372036854775808"), [("acme", "api", "calls", "9223372036854775808")]),
                (literal(900002, "k1", "1" + "0" * 25), [("acme", "api", "calls", "1" + "0" * 25)]),
                (dump(event(900003, "k4", "big", "units", big, HOUR)), [("bigco", "big", "units", big)])]
        produce_phase(1500, poison[:4], ints)
        wait_stored()

        # a restart: one worker killed mid-stream, started again
        w1.send_signal(signal.SIGKILL)
        w1.wait()
        w1 = svc.start_worker(cfg, "w1b")
        ports["w1"] = http_port(w1)
        overflow = dump(event(900004, "k4", "big", "units", big, HOUR))
        sent_poison.append((overflow, "store_refused"))
        produce_phase(1500, poison[4:], [(overflow, [])])
        wait_stored()
        stop.set()
        th.join()

        # every valid event billed exactly
        rows = svc.psql("SELECT customer, sum(cost) FROM usage_cost GROUP BY 1 ORDER BY 1")
        got = {c: Decimal(v) for c, v in rows}
        check(got == {c: v for c, v in expect.items()},
              "billed per customer differs:\n got %s\nwant %s" % (sorted(got.items()), sorted(expect.items())))
        # every poison message kept with its raw bytes and reason
        stored = svc.psql("SELECT encode(raw, 'hex'), reason, replace(detail, E'\\n', ' ') FROM rejected_events")
        by_raw = {}
        for raw, reason, detail in stored:
            by_raw.setdefault(raw, []).append((reason, detail))
        check(len(stored) == len(sent_poison),
              "%d rejects stored, %d poison messages sent: %s" % (len(stored), len(sent_poison), stored))
        for payload, reason in sent_poison:
            got_r = by_raw.get(payload.hex())
            check(got_r and got_r[0][0] == reason,
                  "poison %r: stored as %s, expected %s" % (payload[:60], got_r, reason))
        refused = by_raw[overflow.hex()][0][1]
        check("22003" in refused, "store_refused detail names the SQLSTATE: %r" % refused)
        # names stored as valid UTF-8, cut between characters
        names = dict(svc.psql("SELECT id, name FROM customers WHERE name IS NOT NULL"))
        check(names.get("acme") == JP, "Japanese name stored whole: %r" % names.get("acme"))
        jp = names.get("jp", "")
        check(JP_LONG.startswith(jp) and len(jp.encode()) <= 1023 and len(jp.encode()) > 1000,
              "a long name is cut between characters: %d bytes" % len(jp.encode()))
        check(names.get("badname") == "Bad\\xc3( [31m",
              "an invalid name is stored escaped, control characters blanked: %r" % names.get("badname"))
        # the isolation and the store_refused reject show in the metrics
        last = {}
        for t, name, consumed, body in seen:
            last[name] = body or last.get(name, "")
        iso = sum(Decimal(m) for b in last.values() for m in re.findall(r"^costream_store_isolations_total (\S+)$", b, re.M))
        fixed = sum(Decimal(m) for b in last.values() for m in re.findall(r"^costream_label_values_escaped_total (\S+)$", b, re.M))
        check(iso >= 1, "isolations counted: %s" % iso)
        check(fixed >= 1, "escaped Redis values counted: %s" % fixed)
        # /metrics answered throughout and kept moving
        errors = [s for s in seen if isinstance(s[2], str)]
        check(len(errors) <= 4, "scrapes failed (beyond the restart): %s" % errors[:5])
        for name in ("w1", "w2"):
            vals = [c for _, nm, c, _ in seen if nm == name and isinstance(c, Decimal)]
            check(len(vals) >= 10, "%s: /metrics answered %d scrapes" % (name, len(vals)))
        # which worker gets which partitions is the group's choice: the
        # group's consumed total, as scraped, must keep moving
        latest, totals = {}, []
        for _, nm, c, _ in seen:
            if isinstance(c, Decimal):
                latest[nm] = c
                totals.append(sum(latest.values()))
        check(len(set(totals)) >= 4, "consumed moved through %d values" % len(set(totals)))
        print("poison: %d valid events billed exactly over %d customers; %d poison messages rejected "
              "with raw bytes; %d isolations; %d scrapes" % (n + 3, len(expect), len(sent_poison), iso, len(seen)))
        ok = True
    finally:
        status = harness.finish(svc, ok)
    return status


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python3
"""Lost input is loud: when Kafka's retention deletes messages a group has
not read yet (its stored offset is below the log start), the worker counts
them in costream_messages_lost_total, logs an error naming the offsets, and
says so on /readyz; everything Kafka still has is billed exactly.

The mock cluster keeps about 5 MB per partition: the test stores 20 events,
stops the worker, produces 8 MB more to the same partition (so the oldest
are deleted unread), and starts the worker again.
"""
import json
import os
import re
import sys
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, dump  # noqa: E402

TOPIC, GROUP = "usage-events", "it-lost"
RULES = {"version": "lost-1", "currency": "USD", "plans": {},
         "rules": [{"id": "calls", "product": "api", "meter": "calls", "unit": "call", "unit_price": "0.001"}]}


def event(i, pad=""):
    return dump({"specversion": "1.0", "id": "e%d" % i, "source": "//lost", "type": "t", "subject": "acme",
                 "time": "2026-11-05T10:00:00Z",
                 "data": {"product": "api", "meter": "calls", "quantity": "1",
                          "labels": {"pad%d" % k: pad for k in range(4)} if pad else {}}})


def main():
    svc = harness.Services(["%s:1" % TOPIC])
    ok = False
    try:
        rules_path = os.path.join(svc.dir, "rules.json")
        with open(rules_path, "w") as f:
            json.dump(RULES, f)
        cfg = svc.write_config("c.conf", rules_path, {"group": GROUP})
        svc.costream("migrate", "-c", cfg)
        prod = harness.producer(svc.bootstrap)
        w = svc.start_worker(cfg, "w1")
        for i in range(20):
            prod.send(TOPIC, event(i), partition=0)
        prod.flush()
        harness.wait_until(lambda: svc.stored_offsets(GROUP, TOPIC).get(0) == 20, 60, "20 stored")
        check(svc.stop_worker(w) == 0, "worker stopped cleanly")

        pad = "x" * 220  # four labels of it: about 1 KB an event
        for i in range(20, 9020):  # about 8 MB: more than the partition keeps
            prod.send(TOPIC, event(i, pad), partition=0)
        prod.flush()
        from kafka import KafkaConsumer, TopicPartition
        c = KafkaConsumer(bootstrap_servers=svc.bootstrap, api_version=(2, 5, 0))
        tp = TopicPartition(TOPIC, 0)
        start, end = c.beginning_offsets([tp])[tp], c.end_offsets([tp])[tp]
        c.close()
        check(start > 20, "retention deleted nothing (log start %d): the test needs more data" % start)

        w = svc.start_worker(cfg, "w2")
        harness.wait_until(lambda: svc.stored_offsets(GROUP, TOPIC).get(0) == end, 120, "all stored")
        port = harness.wait_until(lambda: (re.findall(r'"port":(\d+)', open(w.log_path).read()) or [None])[0],
                                  20, "HTTP port")
        def lost_metric():  # published every second
            body = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % port, timeout=5).read().decode()
            v = int(float(re.search(r"^costream_messages_lost_total (\S+)$", body, re.M).group(1)))
            return v or None
        lost = harness.wait_until(lost_metric, 10, "costream_messages_lost_total")
        check(lost == start - 20, "lost %d messages, Kafka deleted %d unread" % (lost, start - 20))
        ready = urllib.request.urlopen("http://127.0.0.1:%s/readyz" % port, timeout=5).read().decode()
        check("deleted by Kafka's retention" in ready and ready.startswith("ready; warning:"),
              "/readyz: %r" % ready)
        errors = [r for r in harness.log_records(open(w.log_path).read()) if r["level"] == "error"]
        check(any(e["msg"].startswith("messages lost") and e.get("first_offset") == 20 and
                  e.get("last_offset") == start - 1 for e in errors), "error log names offsets 20..%d: %s"
              % (start - 1, errors))
        billed = int(svc.psql("SELECT sum(events) FROM usage_cost")[0][0])
        check(billed == 20 + (end - start), "billed %d events, Kafka had %d" % (billed, 20 + end - start))
        print("lost input: log start %d, %d messages lost and counted, %d billed; /readyz: %s"
              % (start, lost, billed, ready.strip()))
        ok = True
    finally:
        status = harness.finish(svc, ok)
    return status


if __name__ == "__main__":
    sys.exit(main())

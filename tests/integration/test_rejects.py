#!/usr/bin/env python3
"""Rejected events from the operator's side: list, replay after a fix,
retention.

  1. A worker rejects three events of a meter no rule prices yet (unpriced)
     and two malformed messages; `rejects list --reason unpriced --format
     json` returns exactly the three payloads sent, byte for byte.
  2. The rules are fixed (SIGHUP); `rejects replay --dry-run` sends nothing;
     `rejects replay --reason unpriced --into usage-events` re-publishes the
     three, and the worker bills them: cost = the test's own Decimal sum.
  3. Replaying again selects nothing (they are marked replayed); `--again`
     re-publishes them once more and the cost does not change (the
     CloudEvents ids are de-duplicated).
  4. rejects.retention_days: rejects older than it are deleted by the
     worker, the others stay.
"""
import json
import os
import signal
import sys
from decimal import Decimal

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, dump  # noqa: E402

TOPIC, GROUP = "usage-events", "it-rejects"
RULES = {"version": "rj-1", "currency": "USD", "plans": {},
         "rules": [{"id": "calls", "product": "api", "meter": "calls", "unit": "call", "unit_price": "0.003"}]}
FIXED = dict(RULES, version="rj-2", rules=RULES["rules"] + [
    {"id": "tp", "product": "api", "meter": "teleports", "unit": "teleport", "unit_price": "1.25"}])


def event(i, meter, qty):
    return dump({"specversion": "1.0", "id": "rj-%d" % i, "source": "//rj", "type": "usage",
                 "subject": "acme", "time": "2026-11-05T10:00:00Z",
                 "data": {"product": "api", "meter": meter, "quantity": qty}})


def main():
    svc = harness.Services([TOPIC + ":2"])
    ok = False
    try:
        rules_path = os.path.join(svc.dir, "rules.json")
        with open(rules_path, "w") as f:
            json.dump(RULES, f)
        cfg = svc.write_config("c.conf", rules_path, {"group": GROUP, "topics": TOPIC})
        svc.costream("migrate", "-c", cfg)
        svc.redis("HSET", "costream:customer:acme", "plan", "pro")
        w = svc.start_worker(cfg, "worker")
        prod = harness.producer(svc.bootstrap)
        sent = {}
        for i, q in enumerate(["2", "3.5", "0.25"]):
            sent[i] = event(i, "teleports", q)
            prod.send(TOPIC, sent[i], partition=i % 2)
        prod.send(TOPIC, b"{not json", partition=0)
        prod.send(TOPIC, b"\xff\xfe", partition=1)
        prod.send(TOPIC, event(9, "calls", "10"), partition=1)
        prod.flush()
        harness.wait_until(lambda: sum(svc.stored_offsets(GROUP, TOPIC).values()) == 6, 60, "6 offsets")

        out = svc.costream("rejects", "list", "--reason", "unpriced", "--format", "json", "-c", cfg).stdout
        rows = [json.loads(l) for l in out.splitlines()]
        check(sorted(bytes.fromhex(r["raw_hex"]) for r in rows) == sorted(sent.values()),
              "the listed raw payloads are not the ones sent: %s" % rows)
        check(all(r["reason"] == "unpriced" and "teleports" in r["detail"] for r in rows), "reasons: %s" % rows)
        table = svc.costream("rejects", "list", "-c", cfg).stdout
        check(table.count("\n    ") == 5 and "malformed_json" in table and "invalid_utf8" in table,
              "the table lists every reject:\n" + table)

        with open(rules_path, "w") as f:
            json.dump(FIXED, f)
        w.send_signal(signal.SIGHUP)
        harness.wait_until(lambda: "rj-2" in open(w.log_path).read(), 30, "rules rj-2 loaded")
        dry = svc.costream("rejects", "replay", "--reason", "unpriced", "--into", TOPIC, "--dry-run", "-c", cfg).stdout
        check(dry.startswith("3 rejects selected, 0 re-published"), dry)
        done = svc.costream("rejects", "replay", "--reason", "unpriced", "--into", TOPIC, "-c", cfg).stdout
        check(done.startswith("3 rejects selected, 3 re-published to " + TOPIC), done)
        want = (Decimal("2") + Decimal("3.5") + Decimal("0.25")) * Decimal("1.25")

        def teleport_cost():
            return Decimal(svc.psql("SELECT coalesce(sum(cost), 0) FROM usage_cost WHERE meter = 'teleports'")[0][0])
        harness.wait_until(lambda: teleport_cost() == want, 60, "the replayed events billed")
        again = svc.costream("rejects", "replay", "--reason", "unpriced", "--into", TOPIC, "-c", cfg).stdout
        check(again.startswith("0 rejects selected"), "a second replay selected again: " + again)
        forced = svc.costream("rejects", "replay", "--reason", "unpriced", "--into", TOPIC, "--again", "-c", cfg).stdout
        check(forced.startswith("3 rejects selected, 3 re-published"), forced)
        harness.wait_until(lambda: sum(svc.stored_offsets(GROUP, TOPIC).values()) == 12, 60, "12 offsets")
        check(teleport_cost() == want, "replaying twice changed the cost: %s vs %s" % (teleport_cost(), want))
        listed = [json.loads(l) for l in svc.costream("rejects", "list", "--reason", "unpriced", "--format", "json",
                                                      "-c", cfg).stdout.splitlines()]
        check(all(r.get("replayed", {}).get("to") == TOPIC for r in listed), "replayed marks: %s" % listed)
        check(svc.stop_worker(w) == 0, "worker exit")

        svc.psql("UPDATE rejected_events SET received_at = now() - interval '100 days' WHERE reason = 'malformed_json'")
        keep = svc.write_config("k.conf", rules_path, {"group": GROUP, "topics": TOPIC, "rejects.retention_days": "90"})
        w = svc.start_worker(keep, "retention")
        harness.wait_until(lambda: svc.psql("SELECT count(*) FROM rejected_events WHERE reason = 'malformed_json'")
                           == [["0"]], 60, "the old reject deleted")
        left = svc.psql("SELECT reason, count(*) FROM rejected_events GROUP BY 1 ORDER BY 1")
        check(left == [["invalid_utf8", "1"], ["unpriced", "3"]], "retention deleted too much: %s" % left)
        svc.stop_worker(w)
        print("ok: 3 unpriced listed byte for byte, replayed after the fix and billed %s USD (twice: once);"
              " retention deleted the 100-day-old reject only" % want)
        ok = True
    finally:
        svc.close(keep_logs=not ok)


if __name__ == "__main__":
    main()

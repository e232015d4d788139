#!/usr/bin/env python3
"""Usage that went to `unattributed` while Redis did not know its labels is
moved to its customers by `costream reattribute`, once Redis knows them,
exactly and on the record.

Events without a subject carry api_key ak_1, ak_2, ak_9 (never known) or no
label at all; Redis knows none of the keys while the worker bills them.
Then ak_1 -> acme (plan pro, 20 % off) and ak_2 -> globex (free) are set.

  - --dry-run reports 2 of 3 label sets and moves nothing;
  - the run moves ak_1's usage to acme with list cost unchanged and the pro
    discount round12(list x 0.2), ak_2's to globex undiscounted; ak_9's and
    the label-less event's stay unattributed; the month's list cost is
    unchanged; every moved hourly row is in `reattributions` with the actor;
  - a second run moves nothing; a closed month is refused (exit 2).
"""
import json
import os
import sys
from decimal import Decimal, ROUND_HALF_EVEN

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, dump  # noqa: E402

TOPIC, GROUP = "usage-events", "it-reattr"
PRICE, PRO = Decimal("0.003"), Decimal("0.2")
Q12 = Decimal("0.000000000001")
RULES = {"version": "ra-1", "currency": "USD", "plans": {"pro": {"discount": "0.2"}, "free": {"discount": "0"}},
         "rules": [{"id": "calls", "product": "api", "meter": "calls", "unit": "call", "unit_price": "0.003"}]}


def main():
    svc = harness.Services([TOPIC + ":2"])
    ok = False
    try:
        rules_path = os.path.join(svc.dir, "rules.json")
        with open(rules_path, "w") as f:
            json.dump(RULES, f)
        cfg = svc.write_config("c.conf", rules_path, {"group": GROUP, "topics": TOPIC, "labels.order": "api_key"})
        svc.costream("migrate", "-c", cfg)
        w = svc.start_worker(cfg, "worker")
        prod = harness.producer(svc.bootstrap)
        sent = {"ak_1": [], "ak_2": [], "ak_9": [], None: []}
        n = 0
        for key in sent:
            for i in range(7):
                q = Decimal(1 + (n * 37) % 500) / (4 if n % 3 else 1)
                data = {"product": "api", "meter": "calls", "quantity": str(q)}
                if key:
                    data["labels"] = {"api_key": key}
                prod.send(TOPIC, dump({"specversion": "1.0", "id": "ra-%d" % n, "source": "//ra", "type": "usage",
                                       "time": "2026-10-%02dT%02d:10:00Z" % (10 + i % 3, i), "data": data}),
                          partition=n % 2)
                sent[key].append(q)
                n += 1
        prod.flush()
        harness.wait_until(lambda: sum(svc.stored_offsets(GROUP, TOPIC).values()) == n, 60, "all stored")
        check(svc.stop_worker(w) == 0, "worker exit")

        def totals():
            return {r[0]: (Decimal(r[1]), Decimal(r[2]), int(r[3])) for r in svc.psql(
                "SELECT customer, sum(list_cost), sum(cost), sum(events) FROM usage_cost GROUP BY 1")}
        before = totals()
        lists = {k: (sum(v, Decimal(0)) * PRICE).quantize(Q12) for k, v in sent.items()}
        check(list(before) == ["unattributed"] and before["unattributed"][0] == sum(lists.values()),
              "everything unattributed first: %s" % before)

        svc.redis("HSET", "costream:customer:acme", "plan", "pro", "name", "Acme GmbH")
        svc.redis("HSET", "costream:customer:globex", "plan", "free", "name", "Globex")
        svc.redis("SET", "costream:label:api_key:ak_1", "acme")
        svc.redis("SET", "costream:label:api_key:ak_2", "globex")
        dry = svc.costream("reattribute", "--period", "2026-10", "--dry-run", "-c", cfg).stdout
        check("2 of 3 unattributed label sets resolve" in dry and "dry run" in dry, dry)
        check(totals() == before, "a dry run moved something")

        out = svc.costream("reattribute", "--period", "2026-10", "--by", "ops", "-c", cfg).stdout
        after = totals()
        # acme: per hourly row, discount = round12(list x 0.2) (the rows are the hours of ak_1's events)
        rows = svc.psql("SELECT list_cost, discount, cost, discount_before FROM reattributions WHERE customer = 'acme'")
        for lc, d, c, db in rows:
            want_d = (Decimal(lc) * PRO).quantize(Q12, ROUND_HALF_EVEN)
            check(Decimal(d) == want_d and Decimal(c) == Decimal(lc) - want_d and Decimal(db) == 0,
                  "acme row: %s %s %s vs discount %s" % (lc, d, c, want_d))
        acme_disc = sum(((Decimal(r[0]) * PRO).quantize(Q12, ROUND_HALF_EVEN) for r in rows), Decimal(0))
        check(after["acme"] == (lists["ak_1"], lists["ak_1"] - acme_disc, 7), "acme: %s" % (after["acme"],))
        check(after["globex"] == (lists["ak_2"], lists["ak_2"], 7), "globex: %s" % (after["globex"],))
        left = lists["ak_9"] + lists[None]
        check(after["unattributed"] == (left, left, 14), "still unattributed: %s vs %s" % (after["unattributed"], left))
        check(sum(v[0] for v in after.values()) == sum(v[0] for v in before.values()), "list cost not conserved")
        log = svc.psql("SELECT customer, actor, sum(events) FROM reattributions GROUP BY 1, 2 ORDER BY 1")
        check(log == [["acme", "ops", "7"], ["globex", "ops", "7"]], "reattributions: %s" % log)
        names = svc.psql("SELECT id, name FROM customers ORDER BY 1")
        check(names == [["acme", "Acme GmbH"], ["globex", "Globex"]], "customer names: %s" % names)
        again = svc.costream("reattribute", "--period", "2026-10", "-c", cfg).stdout
        check("0 of 1 unattributed label sets" in again and totals() == after, "a second run: " + again)

        svc.costream("period", "close", "2026-10", "--yes", "-c", cfg)
        p = svc.costream("reattribute", "--period", "2026-10", "-c", cfg, check_rc=False)
        check(p.returncode == 2 and "is closed" in p.stderr, "a closed month: %d %s" % (p.returncode, p.stderr))
        rolled, why = svc.rollups_match()  # moves and deletes reach the finance page's rollups
        check(rolled, why)
        print("ok: %s" % out.strip())
        ok = True
    finally:
        svc.close(keep_logs=not ok)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""`costream spend allocate`: the real bill split over customers and
products, to the last digit.

Usage events for three customers go through a real worker (CPU seconds,
memory and API requests in some hours of last month); a generated FOCUS bill
for that month is imported (hourly compute lines, one in an hour nobody used,
hourly load-balancer lines whose unused capacity is idle, a monthly credit, a management line shared in
proportion, a support line shared evenly, a line whose tag no pool selects,
a storage line no pool selects).  `spend allocate` must store exactly the
rows this test computes with its own implementation of the rules in Python
decimal (largest remainder at 12 decimals, ties to the lower index); every
pool's rows add up to its cost and the period's to the bill.  A late event
re-allocates the open month, and so does a restated bill; the margin view
equals billed minus
allocated; once the month is closed, a late event changes nothing in it and
its difference is stored as a correction in the next open month (once,
however often it is re-allocated).
"""
import json
import os
import sys
from datetime import datetime, timedelta, timezone
from decimal import Decimal, ROUND_HALF_EVEN

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, dump  # noqa: E402

U = Decimal("0.000000000001")
TOPIC, GROUP = "usage-events", "it-spend-allocate"
RULES = {
    "version": "alloc-1", "currency": "USD",
    "rules": [
        {"id": "cpu", "product": "sandbox", "meter": "cpu", "unit": "s", "unit_price": "0.00002"},
        {"id": "mem", "product": "sandbox", "meter": "mem", "unit": "GiB-s", "unit_price": "0.000003"},
        {"id": "req", "product": "gateway", "meter": "requests", "unit": "r", "unit_price": "0.0004"},
    ],
    "allocation": {"pools": [
        {"id": "compute", "select": {"ServiceName": "Amazon EC2", "Tags.cluster": "sandbox"},
         "drivers": [{"product": "sandbox", "meter": "cpu", "weight": "0.6"},
                     {"product": "sandbox", "meter": "mem", "weight": "0.4"}]},
        {"id": "gateway", "select": {"ServiceName": "Elastic Load Balancing"},
         "drivers": [{"product": "gateway", "meter": "requests", "capacity_per_hour": "1250"}]},
        {"id": "control-plane", "select": {"ServiceCategory": "Management and Governance"}, "shared": "proportional"},
        {"id": "support", "select": {"ServiceName": "AWS Support"}, "shared": "even"},
    ]},
}


def split(total, weights):
    """Largest remainder at 12 decimals, ties to the lower index (docs/spend.md)."""
    t = int(abs(total) / U)
    ws = [int(w / U) for w in weights]
    wsum = sum(ws)
    q = [t * w // wsum for w in ws]
    rem = [t * w % wsum for w in ws]
    for i in sorted(range(len(ws)), key=lambda i: (-rem[i], i))[:t - sum(q)]:
        q[i] += 1
    return [(-1 if total < 0 else 1) * Decimal(x) * U for x in q]


def allocate(lines, usage, idle_by_line=None):
    """lines: (pool or None, start, end, cost); usage: {(product, meter): [(hour, customer, qty)]};
    idle_by_line (a dict) receives each line's idle part by its index."""
    rows = {}
    idle_by_line = {} if idle_by_line is None else idle_by_line

    def add(pool, customer, product, kind, amount):
        k = (pool or "", customer, product, kind)
        rows[k] = rows.get(k, Decimal(0)) + amount
    shared = {}
    pools = {p["id"]: p for p in RULES["allocation"]["pools"]}
    for li, (pool, start, end, cost) in enumerate(lines):
        if pool is None:
            add(None, "unallocated", "", "no_pool", cost)
            continue
        p = pools[pool]
        if "shared" in p:
            shared[pool] = shared.get(pool, Decimal(0)) + cost
            continue
        drivers = p["drivers"]
        parts = split(cost, [Decimal(d.get("weight", "1")) for d in drivers])
        for d, part in zip(drivers, parts):
            q = {}
            for hour, cust, qty in usage.get((d["product"], d["meter"]), []):
                if start <= hour < end and qty > 0:
                    q[cust] = q.get(cust, Decimal(0)) + qty
            custs = sorted(q)
            weights = [q[c] for c in custs]
            kinds = ["direct"] * len(custs)
            if "capacity_per_hour" in d:  # unused capacity goes to "idle", after the customers
                cap = (Decimal(d["capacity_per_hour"]) * int((end - start).total_seconds()) / 3600).quantize(U, ROUND_HALF_EVEN)
                if cap - sum(weights) > 0:
                    custs, weights, kinds = custs + ["idle"], weights + [cap - sum(weights)], kinds + ["idle"]
            if not custs:
                add(pool, "unallocated", d["product"], "no_usage", part)
                continue
            for c, k, a in zip(custs, kinds, split(part, weights)):
                add(pool, c, d["product"], k, a)
                if k == "idle":
                    idle_by_line[li] = idle_by_line.get(li, Decimal(0)) + a
    for pool in [p["id"] for p in RULES["allocation"]["pools"]]:
        if pool not in shared:
            continue
        direct = sorted((k[1], k[2], v) for k, v in rows.items() if k[3] == "direct" and v > 0)
        if pools[pool]["shared"] == "even":
            targets = sorted({(c, "shared") for c, _, _ in direct})
            weights = [Decimal(1)] * len(targets)
        else:
            targets = [(c, p) for c, p, _ in direct]
            weights = [v for _, _, v in direct]
        for (c, prod), a in zip(targets, split(shared[pool], weights)):
            add(pool, c, prod, "shared", a)
    return rows


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def main():
    svc = harness.Services(["%s:2" % TOPIC])
    ok = False
    try:
        rules_path = os.path.join(svc.dir, "rules.json")
        with open(rules_path, "w") as f:
            json.dump(RULES, f)
        cfg = svc.write_config("c.conf", rules_path, {"group": GROUP, "metrics.month_to_date_refresh_ms": "500",
                                                      "spend.reallocate_interval_s": "1"})
        svc.costream("migrate", "-c", cfg)
        now = datetime.now(timezone.utc)
        month = (now.replace(day=1) - timedelta(days=1)).replace(day=5, hour=0, minute=0, second=0, microsecond=0)
        period = month.strftime("%Y-%m")
        prod = harness.producer(svc.bootstrap)
        usage = {}
        n = [0]

        def event(customer, product, meter, hour, qty):
            n[0] += 1
            t = month + timedelta(hours=hour, minutes=n[0] % 60)
            prod.send(TOPIC, value=dump({"specversion": "1.0", "id": "a-%d" % n[0], "source": "//alloc",
                                         "type": "usage", "time": iso(t), "subject": customer,
                                         "data": {"product": product, "meter": meter, "quantity": str(qty)}}))
            usage.setdefault((product, meter), []).append((month + timedelta(hours=hour), customer, Decimal(qty)))
        for h in range(10, 15):
            for i, c in enumerate(("acme", "beta", "gamma")):
                if h == 12 and c == "gamma":
                    continue
                event(c, "sandbox", "cpu", h, (h * 7 + i * 13) % 50 + 1)
                event(c, "sandbox", "mem", h, "%d.5" % ((h + i * 3) % 9))
                if c != "beta":
                    event(c, "gateway", "requests", h, (h + i) * 100)
        prod.flush()

        def caught_up():
            return svc.consumed_all(GROUP, TOPIC)
        w = svc.start_worker(cfg, "worker")
        harness.wait_until(caught_up, 90, "the usage to be stored")

        # the bill
        cols = ["BilledCost", "EffectiveCost", "BillingCurrency", "BillingPeriodStart", "ChargeCategory",
                "ChargePeriodStart", "ChargePeriodEnd", "ServiceName", "ServiceCategory", "ResourceId", "Tags"]
        start, end = month.replace(day=1), (month.replace(day=28) + timedelta(days=4)).replace(day=1)
        lines, bill = [], []

        def line(pool, s, e, cost, service, category, tags="", charge="Usage", billed=None):
            bill.append([str(billed if billed is not None else cost), str(cost), "USD", iso(start), charge, iso(s),
                         iso(e), service, category, "r-%d" % len(bill), tags])
            lines.append((pool, s, e, Decimal(str(cost))))
        for h in range(10, 16):  # hour 15: nobody used it
            s = month + timedelta(hours=h)
            line("compute", s, s + timedelta(hours=1), Decimal("1.234567890123") * (h - 8), "Amazon EC2", "Compute",
                 json.dumps({"cluster": "sandbox"}))
            line("gateway", s, s + timedelta(hours=1), Decimal("0.333333333333"), "Elastic Load Balancing", "Networking")
        line("compute", start, end, Decimal("-2.5"), "Amazon EC2", "Compute", json.dumps({"cluster": "sandbox"}),
             charge="Credit")
        line(None, start, end, Decimal("7.77"), "Amazon EC2", "Compute", json.dumps({"cluster": "ci"}))
        line("control-plane", start, end, Decimal("10.000000000001"), "Amazon EKS", "Management and Governance")
        line("support", start, end, Decimal("100"), "AWS Support", "Other", charge="Purchase")
        line(None, start, end, Decimal("3.21"), "Amazon S3", "Storage")
        with open(os.path.join(svc.dir, "bill.csv"), "w") as f:
            f.write(",".join(cols) + "\n")
            for b in bill:
                f.write(",".join('"%s"' % v.replace('"', '""') for v in b) + "\n")
        svc.costream("spend", "import", os.path.join(svc.dir, "bill.csv"), "--source", "aws", "-c", cfg)

        def stored():
            return {(p, c, pr, k): Decimal(a) for p, c, pr, k, a in svc.psql(
                "SELECT pool, customer, product, kind, amount FROM spend_allocations WHERE billing_period = '%s-01'"
                " AND correction_of = '-infinity'" % period)}

        def compare(what, run=True):
            if run:
                svc.costream("spend", "allocate", "--period", period, "-c", cfg)
            got = {(p, c, pr, k): Decimal(a) for p, c, pr, k, a in svc.psql(
                "SELECT pool, customer, product, kind, amount FROM spend_allocations WHERE billing_period = '%s-01'" % period)}
            want = {k: v for k, v in allocate(lines, usage).items()}
            check(got == want, "%s: allocation differs:\n  only stored %s\n  only expected %s\n  differing %s" % (
                what, sorted(set(got) - set(want))[:4], sorted(set(want) - set(got))[:4],
                [(k, got[k], want[k]) for k in got if k in want and got[k] != want[k]][:4]))
            for pool in {p for p, _, _, _ in lines}:
                cost = sum(c for p, _, _, c in lines if p == pool)
                check(sum(v for k, v in got.items() if k[0] == (pool or "")) == cost, "%s: pool %s conserved" % (what, pool))
            check(sum(got.values()) == sum(c for _, _, _, c in lines), "%s: the bill is conserved" % what)
            return got
        got = compare("first allocation")
        # efficiency: the idle part of every line, by resource (ResourceId r-<line>)
        idle_lines = {}
        allocate(lines, usage, idle_lines)
        want_res = {(lines[i][0], "r-%d" % i): v
                    for i, v in idle_lines.items() if v}
        got_res = {(p_, r_): Decimal(v) for p_, r_, v in svc.psql(
            "SELECT pool, resource_id, idle FROM spend_idle_resources WHERE billing_period = '%s-01'" % period)}
        check(got_res == want_res and want_res, "idle by resource: %s vs %s" % (sorted(got_res.items())[:3],
                                                                              sorted(want_res.items())[:3]))
        check(sum(got_res.values()) == sum(v for k, v in got.items() if k[3] == "idle"),
              "idle by resource adds up to the pools' idle")
        check(any(k[3] == "no_usage" for k in got) and any(k[3] == "no_pool" for k in got)
              and any(k[3] == "idle" for k in got)
              and any(k[3] == "shared" and k[2] == "shared" for k in got), "the scenario has every kind")

        # a late event: the worker re-allocates the open month by itself (spend.reallocate_interval_s)
        before = stored()
        event("gamma", "sandbox", "cpu", 12, 40)
        prod.flush()
        harness.wait_until(caught_up, 60, "the late event")
        want = allocate(lines, usage)
        check(before != want, "the late event must change the allocation")
        harness.wait_until(lambda: stored() == want, 30, "the worker to re-allocate the month")
        check("infrastructure spend allocated again" in open(w.log_path).read(), "the worker says it re-allocated")
        got = compare("after a late event", run=False)

        # a restated bill: the compute lines 10 % higher, the S3 line gone; re-allocated from version 2
        lines = [(p_, s_, e_, (c * Decimal("1.1")).quantize(U) if p_ == "compute" else c)
                 for p_, s_, e_, c in lines if not (p_ is None and c == Decimal("3.21"))]
        with open(os.path.join(svc.dir, "bill2.csv"), "w") as f:
            f.write(",".join(cols) + "\n")
            for b, (_, _, _, c) in zip([b for b in bill if b[7] != "Amazon S3"], lines):
                b = list(b)
                b[0] = b[1] = str(c)
                f.write(",".join('"%s"' % v.replace('"', '""') for v in b) + "\n")
        svc.costream("spend", "import", os.path.join(svc.dir, "bill2.csv"), "--source", "aws", "-c", cfg)
        got = compare("after a restated bill")

        # the spend report: cents by largest remainder that add up
        import csv as csvmod
        import io
        out = svc.costream("report", "--kind", "spend", "--period", period, "--format", "csv", "-c", cfg).stdout
        rep = list(csvmod.DictReader(io.StringIO(out)))
        lines_ = [r for r in rep if r["type"] == "line"]
        check(sorted(Decimal(r["exact_amount"]) for r in lines_) == sorted(got.values()), "report lines are the stored rows")
        for r in lines_:
            check(abs(Decimal(r["amount"]) - Decimal(r["exact_amount"])) < Decimal("0.01"), "a line within a cent: %s" % r)
        subs = {r["customer"]: Decimal(r["amount"]) for r in rep if r["type"] == "subtotal"}
        for c, v in subs.items():
            check(sum(Decimal(r["amount"]) for r in lines_ if r["customer"] == c) == v, "lines add up to %s's subtotal" % c)
        grand = next(r for r in rep if r["type"] == "grand_total")
        exact_total = sum(got.values())
        check(Decimal(grand["amount"]) == sum(subs.values()) == exact_total.quantize(Decimal("0.01"), ROUND_HALF_EVEN)
              and Decimal(grand["exact_amount"]) == exact_total, "grand total: %s vs %s" % (grand, exact_total))

        # the allocation as FOCUS rows: valid FOCUS 1.4, exact, one row per stored allocation row
        import focus_check
        fo = svc.costream("report", "--kind", "spend", "--period", period, "--format", "focus", "-c", cfg).stdout
        frows = list(csvmod.DictReader(io.StringIO(fo)))
        problems = focus_check.validate(fo.splitlines()[0].split(","), frows, "1.4")
        check(not problems, "spend FOCUS: %s" % problems[:5])
        check(sorted(Decimal(r["BilledCost"]) for r in frows) == sorted(got.values())
              and sum(Decimal(r["BilledCost"]) for r in frows) == exact_total, "spend FOCUS amounts are the stored rows")
        check({(r["BillingAccountId"], r["ServiceName"], json.loads(r["Tags"])["costream/pool"],
                json.loads(r["Tags"])["costream/allocation"]) for r in frows}
              == {(k[1], k[2] or "unallocated", k[0], k[3]) for k in got},
              "spend FOCUS rows name customer, product, pool and kind")

        # the same report over HTTP, with the token scopes
        import re
        import subprocess
        import urllib.error
        import urllib.request
        fin = svc.costream("token", "create", "--scope", "finance", "--name", "f", "-c", cfg).stdout.strip()
        mine = svc.costream("token", "create", "--scope", "customer", "--customer", "acme", "--name", "a",
                            "--with-spend", "-c", cfg).stdout.strip()
        billing_only = svc.costream("token", "create", "--scope", "customer", "--customer", "acme", "--name", "b",
                                    "-c", cfg).stdout.strip()
        listed = {l.split()[3]: l.split()[-1] for l in svc.costream("token", "list", "-c", cfg).stdout.splitlines()[1:]}
        check(listed == {"f": "yes", "a": "yes", "b": "no"}, "token list's spend column: %s" % listed)
        scfg = svc.write_config("s.conf", rules_path, {"group": GROUP, "serve.listen": "127.0.0.1:0"})
        log = open(os.path.join(svc.dir, "serve.log"), "w")
        server = subprocess.Popen([harness.COSTREAM, "serve", "-c", scfg], stdout=log, stderr=subprocess.STDOUT)
        try:
            port = harness.wait_until(lambda: (re.findall(r'"port":(\d+)', open(log.name).read()) or [None])[0], 30, "serve")

            def get(token, fmt="&format=csv"):
                req = urllib.request.Request("http://127.0.0.1:%s/reports/spend?period=%s%s" % (port, period, fmt),
                                             headers={"Authorization": "Bearer " + token})
                with urllib.request.urlopen(req, timeout=10) as resp:
                    return resp.read().decode()
            check(get(fin).replace("\r\n", "\n") == out.replace("\r\n", "\n"), "HTTP spend CSV equals the command line's")
            check(get(fin, "&format=focus").replace("\r\n", "\n") == fo.replace("\r\n", "\n"),
                  "HTTP spend FOCUS equals the command line's")
            own_focus = list(csvmod.DictReader(io.StringIO(get(mine, "&format=focus"))))
            check(own_focus and {r["BillingAccountId"] for r in own_focus} == {"acme"}, "a customer's own spend FOCUS")
            own = list(csvmod.DictReader(io.StringIO(get(mine))))
            check({r["customer"] for r in own if r["type"] != "grand_total"} == {"acme"}
                  and sum(Decimal(r["exact_amount"]) for r in own if r["type"] == "line")
                  == sum(v for k, v in got.items() if k[1] == "acme"), "a customer token sees its own spend only")
            # a customer token without --with-spend reads its billing, never the platform's cost of it
            try:
                get(billing_only)
                check(False, "a billing-only customer token read the spend report")
            except urllib.error.HTTPError as e:
                check(e.code == 403 and b"--with-spend" in e.read(), "billing-only token: %s" % e.code)

            def page(token):
                req = urllib.request.Request("http://127.0.0.1:%s/?period=%s" % (port, period),
                                             headers={"Authorization": "Bearer " + token})
                with urllib.request.urlopen(req, timeout=10) as resp:
                    return resp.read().decode()
            check("/reports/spend" not in page(billing_only) and "/reports/spend" in page(mine)
                  and "/reports/spend" in page(fin), "the finance page links spend only for tokens that may read it")
        finally:
            server.terminate()
            server.wait()

        # Prometheus: infrastructure_cost_dollars_total per customer_id, read back from PostgreSQL
        def exposed():
            text = harness.scrape(w)
            return {c: Decimal(v) for c, v in re.findall(
                r'^infrastructure_cost_dollars_total\{customer_id="([^"]+)",currency="USD"\} (\S+)$', text, re.M)}
        per_customer = {}
        for k, v in got.items():
            per_customer[k[1]] = per_customer.get(k[1], Decimal(0)) + v
        harness.wait_until(lambda: exposed() == per_customer, 30, "the allocated spend on /metrics")
        p = subprocess.run(["promtool", "check", "metrics"], input=harness.scrape(w), capture_output=True, text=True)
        check(p.returncode == 0, "promtool check metrics: %s%s" % (p.stdout, p.stderr))

        # efficiency: the idle view
        idle = svc.psql("SELECT pool, idle, pool_cost FROM spend_idle WHERE billing_period = '%s-01'" % period)
        want_idle = sum(v for k, v in got.items() if k[3] == "idle")
        check(len(idle) == 1 and idle[0][0] == "gateway" and Decimal(idle[0][1]) == want_idle
              and Decimal(idle[0][2]) == sum(c for p_, _, _, c in lines if p_ == "gateway"), "spend_idle: %s" % idle)

        # margin: billed (rate card) minus allocated
        billed = {}
        for (product, meter), rows in usage.items():
            price = next(Decimal(r["unit_price"]) for r in RULES["rules"] if r["product"] == product and r["meter"] == meter)
            for _, c, q in rows:
                billed[(c, product)] = billed.get((c, product), Decimal(0)) + (q * price).quantize(U, ROUND_HALF_EVEN)
        alloc = {}
        for (p, c, pr, k), v in got.items():
            alloc[(c, pr)] = alloc.get((c, pr), Decimal(0)) + v
        margin = {(c, p): (Decimal(b), Decimal(a), Decimal(m)) for c, p, b, a, m in svc.psql(
            "SELECT customer, product, billed, allocated, margin FROM spend_margin WHERE billing_period = '%s-01'" % period)}
        for k in set(billed) | set(alloc):
            b, a = billed.get(k, Decimal(0)), alloc.get(k, Decimal(0))
            check(margin.get(k) == (b, a, b - a), "margin %s: %s, expected %s" % (k, margin.get(k), (b, a, b - a)))

        # a closed month: its rows stay; a late event becomes a correction in the next open month
        svc.costream("period", "close", period, "-c", cfg)
        frozen = dict(got)
        event("beta", "gateway", "requests", 11, 500)  # beta had no requests: it now shares the ELB lines
        prod.flush()
        harness.wait_until(caught_up, 60, "the event after closing")
        p = svc.costream("spend", "allocate", "--period", period, "-c", cfg)
        nxt = (month.replace(day=28) + timedelta(days=4)).strftime("%Y-%m")
        check("is closed" in p.stdout and nxt in p.stdout, p.stdout)
        still = {(p_, c, pr, k): Decimal(a) for p_, c, pr, k, a in svc.psql(
            "SELECT pool, customer, product, kind, amount FROM spend_allocations"
            " WHERE billing_period = '%s-01' AND correction_of = '-infinity'" % period)}
        check(still == frozen, "the closed month's rows did not change")
        fresh = allocate(lines, usage)
        want = {k: fresh.get(k, Decimal(0)) - frozen.get(k, Decimal(0)) for k in set(fresh) | set(frozen)}
        want = {k: v for k, v in want.items() if v != 0}
        corr = {(p_, c, pr, k): Decimal(a) for p_, c, pr, k, a in svc.psql(
            "SELECT pool, customer, product, kind, amount FROM spend_allocations"
            " WHERE billing_period = '%s-01' AND correction_of = '%s-01'" % (nxt, period))}
        check(corr == want and corr and sum(corr.values()) == 0,
              "the correction is the difference (and moves cost, adding none): %s vs %s" % (corr, want))
        svc.costream("spend", "allocate", "--period", period, "-c", cfg)  # again: the same correction
        again = {(p_, c, pr, k): Decimal(a) for p_, c, pr, k, a in svc.psql(
            "SELECT pool, customer, product, kind, amount FROM spend_allocations"
            " WHERE correction_of = '%s-01'" % period)}
        check(again == corr, "allocating a closed month twice stores its correction once")
        check(svc.stop_worker(w) == 0, "worker exit")
        print("ok: %d bill lines allocated into %d rows exactly as computed here; conserved per pool and period;"
              " re-allocated after a late event; margins; a closed month corrected in the next" % (len(lines), len(got)), flush=True)
        ok = True
    finally:
        sys.exit(harness.finish(svc, ok))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Every query of every dashboard (grafana/dashboards/*.json) against real
services, compared with figures this test computes itself.

A known stream goes through two real workers (sharing one http.listen
port range, as two workers on one host do): 14 customers on free, pro and
enterprise plans (names in Redis), unattributed usage, three products, events
in the current month and the previous one, metric samples of a gauge, then
the previous month is closed and more of its usage arrives late (corrections),
with duplicates and rejects in a second phase.  A real Prometheus scrapes both
workers every second.  Then:

  * every SQL query (panels and variables) runs against the real schema with
    the dashboard's variables substituted as Grafana does, and returns the
    exact figures computed here from the stream (Python decimal): totals,
    list price and discounts, forecast (to the second of now()), previous
    period, unattributed share, active customers, top 10 and "other", per
    product, plan, day and customer, corrections, and the variables' values;
    one query runs again with a single plan selected;
  * every PromQL expression runs against the real Prometheus.  Expressions
    without a range function (lag, month to date, readiness, rules version,
    cache hit ratio, resident memory) must equal the figures computed here
    (or read from the workers' own /metrics, for figures only a worker
    knows).  Expressions with increase() or rate() over the second phase must
    lie between the second phase's exact amount D and D x R / (R - 4 s):
    Prometheus extrapolates an increase to the window's edges, and with a
    1 s scrape the first and last samples sit about a scrape from them (4 s
    allows for scrapes delayed on a busy machine).
  * every alert rule's expression runs against the same Prometheus: those
    whose condition this stream does not meet return nothing; the two it
    meets on purpose (rejects above 1 %, unattributed above 5 %) return one
    series within the bounds computed here;
  * a panel without an expectation here fails the test, so a new panel
    needs one; renaming a metric, a label or a view breaks a comparison.
"""
import json
import os
import re
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone
from decimal import Decimal, ROUND_HALF_EVEN

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, dump  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOPIC, METRICS, GROUP = "usage-events", "metrics", "it-dashboards"
Q12 = Decimal("0.000000000001")
PLANS = {"free": Decimal("0"), "pro": Decimal("0.10"), "enterprise": Decimal("0.22")}
PRICES = {("api-gateway", "requests"): ("request", Decimal("0.0005")),
          ("sandbox-execution", "cpu_seconds"): ("cpu-second", Decimal("0.000024")),
          ("agent-orchestration", "agent_runs"): ("run", Decimal("0.015"))}
MEM_PRICE, MEM_DIV = Decimal("0.005"), 3865470566400
RULES = {"version": "dash-1", "currency": "USD",
         "plans": {k: {"discount": str(v)} for k, v in PLANS.items()},
         "rules": [{"id": m, "product": p, "meter": m, "unit": u, "unit_price": str(c)}
                   for (p, m), (u, c) in PRICES.items()] +
                  [{"id": "mem", "product": "sandbox-execution", "meter": "container_memory_gib_hours",
                    "unit": "GiB-hour", "unit_price": str(MEM_PRICE),
                    "metric": {"names": ["container_memory_working_set_bytes"], "kind": "gauge",
                               "unit_divisor": MEM_DIV, "max_gap_seconds": 300}}]}
CUSTOMERS = {"c%02d" % i: list(PLANS)[i % 3] for i in range(1, 15)}
NAMES = {c: ("顧客 %s" % c if c == "c07" else "Customer %s" % c.upper()) for c in CUSTOMERS}
SCRAPE = 1.0


def q12(x):
    return x.quantize(Q12, ROUND_HALF_EVEN)


def price(product, meter, qty, plan):
    lst = q12(qty * PRICES[(product, meter)][1])
    return lst, q12(lst * PLANS.get(plan, Decimal(0)))


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


class Ledger:
    """The test's own account of what was stored: one row per event."""

    def __init__(self):
        self.rows = []  # dict(period, hour, customer, product, meter, plan, qty, list, discount, cost, phase)

    def add(self, **r):
        self.rows.append(r)

    def sum(self, field, **where):
        return sum((r[field] for r in self.rows if all(r[k] == v for k, v in where.items())), Decimal(0))

    def group(self, key, field, pred=lambda r: True):
        out = {}
        for r in self.rows:
            if pred(r):
                k = key(r)
                out[k] = out.get(k, Decimal(0)) + r[field]
        return out


def month_start(t):
    return t.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def main():
    svc = harness.Services(["%s:3" % TOPIC, "%s:2" % METRICS])
    prom = None
    ok = False
    try:
        ok = run(svc, lambda p: globals().__setitem__("_prom", p))
    finally:
        p = globals().get("_prom")
        if p:
            p.terminate()
            p.wait()
        sys.exit(harness.finish(svc, ok))


def run(svc, keep_prom):
    rules_path = os.path.join(svc.dir, "rules.json")
    with open(rules_path, "w") as f:
        json.dump(RULES, f)
    first = free_port()  # both workers share one listen range, as on one host
    cfg = svc.write_config("c.conf", rules_path, {
        "http.listen": "127.0.0.1:%d-%d" % (first, first + 5),
        "group": GROUP, "topics": TOPIC, "metrics.topics": METRICS, "metrics.lateness_ms": "0",
        "metrics.settle_interval_ms": "300", "metrics.month_to_date_refresh_ms": "500",
        "labels.order": "api_key,namespace"})
    svc.costream("migrate", "-c", cfg)
    for c, plan in CUSTOMERS.items():
        svc.redis("HSET", "costream:customer:" + c, "plan", plan, "name", NAMES[c])
    svc.redis("SET", "costream:label:namespace:ns-mem", "c01")
    now = datetime.now(timezone.utc).replace(microsecond=0)
    cur = month_start(now)
    prev = month_start(cur - timedelta(days=1))
    cur_p, prev_p = cur.strftime("%Y-%m"), prev.strftime("%Y-%m")
    elapsed = now - cur
    # previous-month times on both sides of "the same point of its month"
    prev_len = cur - prev
    before_cut = prev + min(elapsed, prev_len) / 3
    after_cut = prev + min(elapsed, prev_len) + (prev_len - min(elapsed, prev_len)) / 2
    if after_cut >= cur:
        after_cut = cur - timedelta(hours=1)
    led = Ledger()
    prod = harness.producer(svc.bootstrap)
    n = [0]

    def event(t, customer, product, meter, qty, phase, period=None, send=True, ev_id=None, part=None):
        n[0] += 1
        ev = {"specversion": "1.0", "id": ev_id or "d-%d" % n[0], "source": "//dash", "type": "usage",
              "time": iso(t), "data": {"product": product, "meter": meter, "quantity": str(qty), "labels": {}}}
        if customer == "unattributed":
            ev["data"]["labels"]["api_key"] = "nobody"
            plan = "none"
        else:
            ev["subject"] = customer
            plan = CUSTOMERS[customer]
        lst, disc = price(product, meter, Decimal(str(qty)), plan)
        led.add(period=period or t.strftime("%Y-%m"), hour=t.replace(minute=0, second=0), customer=customer,
                product=product, meter=meter, plan=plan, qty=Decimal(str(qty)), list=lst, discount=disc,
                cost=lst - disc, phase=phase, day=t.strftime("%Y-%m-%d"), unit=PRICES[(product, meter)][0])
        if send and part is not None:
            prod.send(TOPIC, value=dump(ev), partition=part)
        elif send:
            prod.send(TOPIC, value=dump(ev))
        return ev

    # phase 1: every customer (and unattributed) with every product on every
    # partition, this month and the previous one, so that every Prometheus
    # series exists on both workers before phase 2
    k = 0
    for c in list(CUSTOMERS) + ["unattributed"]:
        for (p, m) in PRICES:
            for j in range(3):
                k += 1
                t = cur + (now - cur) * ((k * 37 % 100) / 100.0)
                event(t.replace(microsecond=0), c, p, m, Decimal(k % 7 + 1) * (j + 1) * (17 if p == "api-gateway" else 3), 1,
                      part=j)
            event(before_cut, c, p, m, Decimal(k % 5 + 2), 1)
            event(after_cut, c, p, m, Decimal(k % 3 + 1), 1)
    prod.flush()
    # a gauge for c01 (namespace ns-mem): 2 GiB at T-120 s and T-60 s, then a
    # tick on both partitions at T moves the watermark to T
    tw = now - timedelta(seconds=600)
    for dt, part in ((120, 0), (60, 1)):
        prod.send(METRICS, value=dump({"timestamp": iso(tw - timedelta(seconds=dt)), "value": str(2 << 30),
                                       "name": "container_memory_working_set_bytes",
                                       "labels": {"namespace": "ns-mem", "pod": "p"}}), partition=part)
    for part in (0, 1):
        prod.send(METRICS, value=dump({"timestamp": iso(tw), "value": "1", "name": "tick", "labels": {}}),
                  partition=part)
    prod.flush()
    mem_qty = q12(Decimal((2 << 30) * 60) / MEM_DIV)
    mem_lst = q12(mem_qty * MEM_PRICE)
    mem_disc = q12(mem_lst * PLANS[CUSTOMERS["c01"]])
    mem_t = tw - timedelta(seconds=60)
    led.add(period=mem_t.strftime("%Y-%m"), hour=mem_t.replace(minute=0, second=0), customer="c01",
            product="sandbox-execution", meter="container_memory_gib_hours", plan=CUSTOMERS["c01"], qty=mem_qty,
            list=mem_lst, discount=mem_disc, cost=mem_lst - mem_disc, phase=1, day=mem_t.strftime("%Y-%m-%d"),
            unit="GiB-hour")

    workers = [svc.start_worker(cfg, "worker-a"), svc.start_worker(cfg, "worker-b")]
    ports = [harness.wait_until(lambda w=w: (re.findall(r'"msg":"serving /metrics[^\n]*"port":(\d+)', open(w.log_path).read()) or [None])[0],
                                30, "the HTTP endpoint") for w in workers]
    check(len(set(ports)) == 2 and all(first <= int(p) <= first + 5 for p in ports),
          "two workers on one host took two ports of the range: %s" % ports)
    prom_port = free_port()
    with open(os.path.join(svc.dir, "prometheus.yml"), "w") as f:
        f.write("global:\n  scrape_interval: %ds\nscrape_configs:\n  - job_name: costream\n"
                "    static_configs:\n      - targets: [%s]\n" % (SCRAPE, ", ".join("'127.0.0.1:%s'" % p for p in ports)))
    prom = subprocess.Popen(["prometheus", "--config.file=" + os.path.join(svc.dir, "prometheus.yml"),
                             "--storage.tsdb.path=" + os.path.join(svc.dir, "tsdb"),
                             "--web.listen-address=127.0.0.1:%d" % prom_port],
                            stdout=subprocess.DEVNULL, stderr=open(os.path.join(svc.dir, "prometheus.log"), "w"))
    keep_prom(prom)
    api = "http://127.0.0.1:%d" % prom_port

    def caught_up():
        return (svc.consumed_all(GROUP, TOPIC, METRICS)
                and svc.psql("SELECT count(*) FROM metric_sample_blocks")[0][0] == "0")

    harness.wait_until(caught_up, 90, "phase 1 to be stored")
    harness.wait_until(lambda: query(api, "count(up{job='costream'} == 1) == 2"), 60, "Prometheus to scrape both workers")
    # Prometheus holds phase 1 whole (counters are published every second and
    # scraped every second; a slow worker, e.g. under AddressSanitizer, may take
    # longer), then a few more scrapes, so that the phase-2 window starts after it
    events1 = len([r for r in led.rows if r["phase"] == 1]) - 1  # the gauge row is no event
    # accepted: the events and the 2 priced metric samples; consumed: also the 2 ticks

    def prom_has_phase1():
        acc = query(api, "sum(costream_events_accepted_total)")
        con = query(api, "sum(costream_messages_consumed_total)")
        return (isinstance(acc, list) and acc and float(acc[0]["value"][1]) == events1 + 2
                and isinstance(con, list) and con and float(con[0]["value"][1]) == events1 + 4)
    harness.wait_until(prom_has_phase1, 60, "Prometheus to hold phase 1")
    time.sleep(4)

    # close the previous month; its late usage becomes a correction
    svc.costream("period", "close", prev_p, "-c", cfg)
    t2 = time.time()
    phase2 = []
    for i, c in enumerate(list(CUSTOMERS)[:9] + ["unattributed"]):
        for j, (p, m) in enumerate(PRICES):
            phase2.append(event(now, c, p, m, Decimal(i + j + 1) * 5, 2))
    for i, c in enumerate(list(CUSTOMERS)[:4]):
        event(after_cut, c, "api-gateway", "requests", Decimal(100 + i), 2, period=cur_p)
    dups = 7
    for ev in phase2[:dups]:
        prod.send(TOPIC, value=dump(ev))  # the same event again: counted once
    rejects = {"malformed_json": 3, "unpriced": 2}
    for i in range(rejects["malformed_json"]):
        prod.send(TOPIC, value=b"{not json %d" % i)
    for i in range(rejects["unpriced"]):
        prod.send(TOPIC, value=dump({"specversion": "1.0", "id": "u-%d" % i, "source": "//dash", "type": "usage",
                                     "time": iso(now), "subject": "c01",
                                     "data": {"product": "nothing", "meter": "x", "quantity": "1"}}))
    prod.flush()
    harness.wait_until(caught_up, 90, "phase 2 to be stored")
    time.sleep(6 + 3 * SCRAPE)  # lag published every 5 s, counters every second, then scraped
    R = int(time.time() - t2) + 3
    figures = Figures(led, now, cur_p, prev_p, elapsed, workers, ports, R, dups, rejects)
    failures = check_sql(svc, figures)
    failures += check_prom(api, figures)
    failures += check_alerts(api, figures)
    for f in failures:
        print("FAIL:", f, flush=True)
    check(not failures, "%d dashboard queries disagree with the test's figures" % len(failures))
    for w in workers:
        check(svc.stop_worker(w) == 0, "worker exit")
    print("ok: every SQL and PromQL query of both dashboards returns the test's figures (R = %ds)" % R, flush=True)
    return True


def free_port():
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def query(api, q, at=None):
    args = {"query": q}
    if at:
        args["time"] = "%.3f" % at
    try:
        with urllib.request.urlopen(api + "/api/v1/query?" + urllib.parse.urlencode(args), timeout=10) as r:
            body = json.loads(r.read().decode())
    except Exception as e:  # noqa: BLE001
        return {"error": str(e)}
    if body.get("status") != "success":
        return {"error": body.get("error")}
    return body["data"]["result"]


class Figures:
    """What every panel should show, from the stream alone."""

    def __init__(self, led, now, cur_p, prev_p, elapsed, workers, ports, R, dups, rejects):
        self.led, self.now, self.cur_p, self.prev_p = led, now, cur_p, prev_p
        self.elapsed, self.workers, self.ports, self.R = elapsed, workers, ports, R
        self.dups, self.rejects = dups, rejects


# ---- SQL -------------------------------------------------------------------

def sql_subst(q, f, plan=".*"):
    start = "%s-01T00:00:00Z" % f.prev_p
    for k, v in (("$__timeFilter(day)", "day BETWEEN '%s' AND now() + interval '1 day'" % start),
                 ("${customer:regex}", ".*"), ("${product:regex}", ".*"), ("${plan:regex}", plan),
                 ("${budget}", "1000"), ("$period", f.cur_p)):
        q = q.replace(k, v)
    check(not re.search(r"\$[A-Za-z_{]", q), "unsubstituted variable in %s" % q)
    return q


def expected_sql(title, f, plan=None):
    led, P = f.led, f.cur_p
    cur = [r for r in led.rows if r["period"] == P and (plan is None or r["plan"] == plan)]

    def tot(field, rows=cur):
        return sum((r[field] for r in rows), Decimal(0))

    cost = tot("cost")
    hours_total = Decimal(((datetime.strptime(P, "%Y-%m").replace(tzinfo=timezone.utc) + timedelta(days=32)).replace(day=1)
                           - datetime.strptime(P, "%Y-%m").replace(tzinfo=timezone.utc)).total_seconds()) / 3600
    prev_start = datetime.strptime(f.prev_p, "%Y-%m").replace(tzinfo=timezone.utc)
    cut = prev_start + f.elapsed
    prev_rows = [r for r in led.rows if r["period"] == f.prev_p]
    prev_same = sum((r["cost"] for r in prev_rows if r["hour"] < cut), Decimal(0))
    unattr = tot("cost", [r for r in cur if r["customer"] == "unattributed"])
    by_cust = {}
    for r in cur:
        by_cust[r["customer"]] = by_cust.get(r["customer"], Decimal(0)) + r["cost"]
    ranked = sorted(by_cust.items(), key=lambda kv: (-kv[1], kv[0]))
    top = {c: v for c, v in ranked[:10]}
    if len(ranked) > 10:
        top["other"] = sum((v for _, v in ranked[10:]), Decimal(0))
    active = len({r["customer"] for r in cur if r["customer"] != "unattributed"})
    if title == "Billed in the period":
        return [["USD", cost]]
    if title == "Run-rate forecast for the period":
        secs = Decimal(time.time() - datetime.strptime(P, "%Y-%m").replace(tzinfo=timezone.utc).timestamp())
        return [["USD", ("approx", cost / (secs / 3600) * hours_total, Decimal(10) / secs), Decimal(1000)]]
    if title == "List price, discount and billed":
        return [["USD", tot("list"), tot("discount"), cost]]
    if title == "Change against the previous period":
        return [["USD", cost, prev_same, cost - prev_same, sum((r["cost"] for r in prev_rows), Decimal(0))]]
    if title == "Unattributed cost and share":
        return [["USD", unattr, (unattr / cost).quantize(Decimal("0.000001"), ROUND_HALF_EVEN)]]
    if title == "Active customers":
        return [["USD", Decimal(active)]]
    if title == "Cost by customer (top 10 and other)":
        return sorted([[c, v] for c, v in top.items()], key=lambda x: (-x[1], x[0]))
    if title == "Cost by product":
        return sorted([[k, v] for k, v in led.group(lambda r: r["product"], "cost", lambda r: r in cur).items()],
                      key=lambda x: (-x[1], x[0]))
    if title == "Cost by plan tier":
        return sorted([[k, v] for k, v in led.group(lambda r: r["plan"], "cost", lambda r: r in cur).items()],
                      key=lambda x: (-x[1], x[0]))
    if title == "Daily cost":
        days = {}
        for r in led.rows:
            days[r["hour"].strftime("%Y-%m-%d")] = days.get(r["hour"].strftime("%Y-%m-%d"), Decimal(0)) + r["cost"]
        return sorted([[d, v] for d, v in days.items()])
    if title == "Cost per customer":
        out = []
        for c, v in ranked:
            rows = [r for r in cur if r["customer"] == c]
            out.append([c, NAMES.get(c, ""), v, tot("list", rows), tot("discount", rows), Decimal(len(rows))])
        return out
    if title == "Corrections to closed months":
        corr = {}
        for r in led.rows:
            if r["period"] == P and r["hour"].strftime("%Y-%m") != P:
                k = (r["hour"].strftime("%Y-%m"), r["customer"], r["product"])
                c0, n0 = corr.get(k, (Decimal(0), 0))
                corr[k] = (c0 + r["cost"], n0 + 1)
        return [[a, b, c, v, Decimal(n)] for (a, b, c), (v, n) in sorted(corr.items())]
    return None


def cells(row):
    out = []
    for v in row:
        try:
            out.append(Decimal(v))
        except Exception:  # noqa: BLE001
            out.append(v)
    return out


def same(got, want):
    if len(got) != len(want):
        return False
    for g, w in zip(got, want):
        if len(g) != len(w):
            return False
        for a, b in zip(g, w):
            if isinstance(b, tuple) and b[0] == "approx":
                if not isinstance(a, Decimal) or abs(a - b[1]) > abs(b[1]) * b[2]:
                    return False
            elif a != b:
                return False
    return True


def check_sql(svc, f):
    failures = []
    d = json.load(open(os.path.join(ROOT, "grafana", "dashboards", "costream-business.json")))
    for p in d["panels"]:
        for t in p.get("targets", []):
            if "rawSql" not in t:
                continue
            want = expected_sql(p["title"], f)
            if want is None:
                failures.append("no expectation for SQL panel %r" % p["title"])
                continue
            q = sql_subst(t["rawSql"], f)
            if p["title"] == "Daily cost":  # Grafana's time column: compare by UTC day
                q = "SELECT to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD'), cost FROM (%s) g" % q
            got = [cells(r) for r in svc.psql(q)]
            if not same(got, want):
                failures.append("SQL %r:\n  got  %s\n  want %s" % (p["title"], got, want))
    # one panel again with a single plan selected
    p = next(p for p in d["panels"] if p["title"] == "Cost by product")
    got = [cells(r) for r in svc.psql(sql_subst(p["targets"][0]["rawSql"], f, plan="pro"))]
    want = sorted([[k, v] for k, v in f.led.group(lambda r: r["product"], "cost",
                                                  lambda r: r["period"] == f.cur_p and r["plan"] == "pro").items()],
                  key=lambda x: (-x[1], x[0]))
    if not same(got, want):
        failures.append("SQL 'Cost by product' with plan=pro: got %s want %s" % (got, want))
    # the variables
    for v in d["templating"]["list"]:
        if v["type"] != "query":
            continue
        got = [r[0] for r in svc.psql(sql_subst(v["query"], f))]
        cur = [r for r in f.led.rows if r["period"] == f.cur_p]
        want = {"period": sorted({r["period"] for r in f.led.rows}, reverse=True),
                "customer": sorted({r["customer"] for r in cur}),
                "product": sorted({r["product"] for r in cur}),
                "plan": sorted({r["plan"] for r in cur})}[v["name"]]
        if got != want:
            failures.append("variable %s: got %s want %s" % (v["name"], got, want))
    return failures


# ---- PromQL ----------------------------------------------------------------

def scrape_all(f):
    return [urllib.request.urlopen("http://127.0.0.1:%s/metrics" % p, timeout=10).read().decode() for p in f.ports]


def exposition(texts, name, labels=None):
    """Sum over the workers' own /metrics of name's series matching labels."""
    total = 0.0
    for t in texts:
        for line in t.splitlines():
            m = re.match(r"^%s(\{[^}]*\})? (\S+)$" % re.escape(name), line)
            if not m:
                continue
            got = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1) or ""))
            if all(got.get(k) == v for k, v in (labels or {}).items()):
                total += float(m.group(2))
    return total


def expected_prom(title, ref, f, texts):
    """(kind, {labels tuple: value}) with kind "exact", "range" (phase-2
    amount, extrapolated), "bound" ((lo, hi) per series) or None."""
    led = f.led
    ph2 = [r for r in led.rows if r["phase"] == 2]

    def by(key, field, rows):
        out = {}
        for r in rows:
            out[key(r)] = out.get(key(r), 0) + float(r[field])
        return out
    cost2 = by(lambda r: (r["customer"],), "cost", ph2)
    if title == "Spend rate per customer (per hour)":
        return "rate", {k: v * 3600 for k, v in cost2.items()}
    if title == "Sandbox execution cost per customer":
        return "range", by(lambda r: (r["customer"],), "cost", [r for r in ph2 if r["product"] == "sandbox-execution"])
    if title == "API usage by plan tier":
        return "range", by(lambda r: (r["plan"],), "one", [dict(r, one=1) for r in ph2 if r["product"] == "api-gateway"])
    if title == "Agent runs by customer":
        return "range", by(lambda r: (r["customer"],), "one", [dict(r, one=1) for r in ph2 if r["meter"] == "agent_runs"])
    if title == "Usage per product meter":
        return "range", by(lambda r: (r["product"], r["meter"], r["unit"]), "qty", ph2)
    if title == "Month to date, top customers (live)":
        month = f.now.strftime("%Y-%m")
        mtd = by(lambda r: (r["customer"],), "cost", [r for r in led.rows if r["hour"].strftime("%Y-%m") == month])
        top = sorted(mtd.items(), key=lambda kv: -kv[1])[:10]
        return "exact", dict(top)
    if title == "Messages consumed and events accepted (per second)":
        n2 = len(ph2) + f.dups + sum(f.rejects.values())
        return "rate", {(): float(n2 if ref == "A" else len(ph2))}
    if title == "Rejects by reason":
        return "range", {(k,): float(v) for k, v in f.rejects.items()}
    if title == "Duplicates":
        return "range", {(): float(f.dups)}
    if title == "Lost and dropped messages":
        return "exact", {(): 0.0}
    if title == "Consumer lag per partition":
        return "exact", {(TOPIC, str(p)): 0.0 for p in range(3)} | {(METRICS, str(p)): 0.0 for p in range(2)}
    if title == "Freshness: produced to committed":
        return "bound", {(): (0.0, float(f.R) + 60.0)}
    if title == "Flush latency (p50, p99)":
        return "bound", {(): (0.0, 10.0)}
    if title == "Settlement watermark behind wall-clock time":
        behind = time.time() - (f.now - timedelta(seconds=600)).timestamp()
        return "bound", {(): (behind - 5, behind + 5)}
    if title == "Fenced flushes":
        return "exact", {(): 0.0}
    if title in ("Backend errors", "Backend reconnects"):
        return "exact", {("postgres",): 0.0, ("redis",): 0.0}
    if title == "Label cache hit ratio":
        vals = []
        for t in texts:
            m = re.search(r"^costream_label_cache_hit_ratio (\S+)$", t, re.M)
            vals.append(float(m.group(1)))
        return "bound", {(): (min(vals) - 1e-9, min(vals) + 0.02)}
    if title == "Workers up and ready":
        return "exact", {(): 2.0}
    if title == "Rules version in force":
        return "exact", {(RULES["version"], "USD"): 2.0}
    if title == "CPU per worker":
        return "bound", {("127.0.0.1:%s" % p,): (0.0, float(os.cpu_count())) for p in f.ports}
    if title == "Resident memory per worker":
        out = {}
        for w, p in zip(f.workers, f.ports):
            rss = int(re.search(r"VmRSS:\s+(\d+)", open("/proc/%d/status" % w.pid).read()).group(1)) * 1024
            out[("127.0.0.1:%s" % p,)] = (rss * 0.7, rss * 1.3)
        return "bound", out
    return None


KEYS = {"Spend rate per customer (per hour)": ("customer",), "Sandbox execution cost per customer": ("customer",),
        "API usage by plan tier": ("plan",), "Agent runs by customer": ("customer",),
        "Usage per product meter": ("product", "meter", "unit"),
        "Month to date, top customers (live)": ("customer",), "Rejects by reason": ("reason",),
        "Consumer lag per partition": ("topic", "partition"), "Backend errors": ("backend",),
        "Backend reconnects": ("backend",), "Rules version in force": ("version", "currency"),
        "CPU per worker": ("instance",), "Resident memory per worker": ("instance",)}


def check_prom(api, f):
    failures = []
    texts = scrape_all(f)
    at = time.time()
    for name in ("costream-business.json", "costream-operations.json"):
        d = json.load(open(os.path.join(ROOT, "grafana", "dashboards", name)))
        for p in d["panels"]:
            for t in p.get("targets", []):
                if "expr" not in t:
                    continue
                exp = expected_prom(p["title"], t["refId"], f, texts)
                if exp is None:
                    failures.append("no expectation for Prometheus panel %r" % p["title"])
                    continue
                kind, want = exp
                q = t["expr"]
                for k, v in (("$__rate_interval", "%ds" % f.R), ("$__range", "%ds" % f.R), ("$customer", ".*"),
                             ("$product", ".*"), ("$plan", ".*"), ("$job", "costream")):
                    q = q.replace(k, v)
                res = query(api, q, at)
                if isinstance(res, dict):
                    failures.append("PromQL %r (%s): %s" % (p["title"], q, res["error"]))
                    continue
                keys = KEYS.get(p["title"], ())
                got = {tuple(r["metric"].get(k, "") for k in keys): float(r["value"][1]) for r in res}
                if kind in ("range", "rate"):
                    want = {k: v for k, v in want.items() if v != 0}
                    got = {k: v for k, v in got.items() if v != 0}
                if set(got) != set(want):
                    failures.append("PromQL %r: series %s, want %s" % (p["title"], sorted(got), sorted(want)))
                    continue
                for k, w in want.items():
                    g = got[k]
                    if kind == "exact":
                        bad = abs(g - w) > 1e-9 * max(1.0, abs(w))
                    elif kind == "bound":
                        bad = not (w[0] <= g <= w[1])
                    else:
                        lo = w if kind == "range" else w / f.R
                        hi = lo * f.R / (f.R - 4.0)
                        bad = not (lo * (1 - 1e-9) <= g <= hi)
                    if bad:
                        failures.append("PromQL %r %s: got %s, want %s (%s, R=%ds)" % (p["title"], k, g, w, kind, f.R))
    return failures


# ---- alert rules ---------------------------------------------------------------

def expected_alert(name, f):
    """None: the condition must not hold; (lo, hi): it holds, with one series in range."""
    if name == "CostreamRejectsHigh":
        # phase 2's rejects over everything consumed in the window: at least
        # phase 2's messages, at most every message of the test
        n2 = len([r for r in f.led.rows if r["phase"] == 2]) + f.dups + sum(f.rejects.values())
        total = len(f.led.rows) + f.dups + sum(f.rejects.values()) + 4
        rej = sum(f.rejects.values())
        return (rej / total * 0.9, rej / n2 * 1.1)
    if name == "CostreamUnattributedShareHigh":
        # the increases Prometheus sees are phase 2's and part of phase 1's
        # (what came after a series' first scrape): the share lies between
        # the two phases' shares
        shares = []
        for ph in (1, 2):
            rows = [r for r in f.led.rows if r["phase"] == ph]
            un = sum(r["cost"] for r in rows if r["customer"] == "unattributed")
            shares.append(float(un / sum(r["cost"] for r in rows)))
        return (min(shares) * 0.95, max(shares) * 1.05)
    return None


def check_alerts(api, f):
    import yaml
    failures = []
    with open(os.path.join(ROOT, "grafana", "prometheus", "costream-alerts.yml")) as fh:
        groups = yaml.safe_load(fh)["groups"]
    at = time.time()
    for rule in (r for g in groups for r in g["rules"]):
        res = query(api, rule["expr"], at)
        if isinstance(res, dict):
            failures.append("alert %s: %s" % (rule["alert"], res["error"]))
            continue
        want = expected_alert(rule["alert"], f)
        if want is None and res:
            failures.append("alert %s holds on a healthy stream: %s" % (rule["alert"], res))
        elif want is not None and not (len(res) == 1 and want[0] <= float(res[0]["value"][1]) <= want[1]):
            failures.append("alert %s: %s, want one series in %s" % (rule["alert"], res, want))
    return failures


if __name__ == "__main__":
    main()

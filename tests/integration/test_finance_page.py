#!/usr/bin/env python3
"""The finance page of `costream serve`, rendered by a real browser.

A known dataset is stored (60 customers, one with a name that is HTML, an
unattributed share, three products, two months, corrections), `costream
serve` runs, and headless Chromium (Debian's package) opens the page with a
finance token and with a customer token (Basic auth in the URL; the page has
no subresources).  From the DOM Chromium returns, the test checks:

  * billed, list price, discount, unattributed, and the previous period
    (whole and up to the same point of its month) equal the stored amounts
    computed here (exact values in data-exact; the visible text rounded to
    cents);
  * the product chart and the top-customers chart are SVG with one bar per
    product, and the top 10 customers plus "other", with exact values;
  * the customers table shows page 1 of 2 (50 rows), largest first, and the
    link to page 2 gives the other 10;
  * the customer token sees only its own figures: no other customer's id,
    no unattributed amount, no top-customers chart;
  * the HTML name is shown as text, not markup.
With COSTREAM_SCREENSHOT=PATH it also saves a screenshot of the finance view
(scripts/finance-screenshot uses that for docs/finance-page.png).
"""
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
from datetime import datetime, timedelta, timezone
from decimal import Decimal, ROUND_HALF_EVEN
from html.parser import HTMLParser

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check  # noqa: E402

EVIL = "c-evil"
EVIL_NAME = "<b>Evil & Sons</b>"


def chromium():
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    harness.fail("Chromium is not installed (scripts/deps installs it)")


def browse(url, screenshot=None):
    profile = tempfile.mkdtemp(prefix="costream-chromium-")
    args = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--user-data-dir=" + profile, "--no-first-run", "--hide-scrollbars"]
    try:
        if screenshot:
            subprocess.run(args + ["--window-size=1200,1900", "--screenshot=" + screenshot, url],
                           check=True, capture_output=True, timeout=120)
        p = subprocess.run(args + ["--dump-dom", url], check=True, capture_output=True, timeout=120)
        return p.stdout.decode()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


class Dom(HTMLParser):
    """Elements by id, SVG bars, table rows, and all text."""

    def __init__(self):
        super().__init__()
        self.ids, self.bars, self.rows, self.text = {}, {}, {}, []
        self.svg = None
        self.table = None
        self.row = None

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids[a["id"]] = a
        if tag == "svg":
            self.svg = a.get("id")
            self.bars[self.svg] = []
        if tag == "g" and a.get("class") == "bar":
            self.bars[self.svg].append((a["data-label"], Decimal(a["data-value"])))
        if tag == "table":
            self.table = a.get("id")
            self.rows[self.table] = []
        if tag == "tr":
            self.row = []
        if tag == "span" and a.get("class") == "money" and self.row is not None:
            self.row[-1] = Decimal(a["data-exact"])  # the cell is its exact amount
        if tag == "td" and self.row is not None:
            self.row.append("")

    def handle_endtag(self, tag):
        if tag == "tr" and self.row is not None and self.table:
            self.rows[self.table].append(self.row)
            self.row = None
        if tag == "svg":
            self.svg = None

    def handle_data(self, data):
        self.text.append(data)
        if self.row is not None and self.row and self.row[-1] == "" and not isinstance(self.row[-1], Decimal):
            self.row[-1] = data


def q2(x):
    return x.quantize(Decimal("0.01"), ROUND_HALF_EVEN)


def main():
    rng = random.Random(3)
    svc = harness.Services(["usage-events:1"])
    server = None
    ok = False
    try:
        cfg = svc.write_config("c.conf", os.path.join(harness.ROOT, "rules", "example.json"),
                               {"group": "it-finance", "serve.listen": "127.0.0.1:0"})
        svc.costream("migrate", "-c", cfg)
        now = datetime.now(timezone.utc)
        cur = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
        prev = (cur - timedelta(days=1)).replace(day=1)
        elapsed = now - cur
        customers = ["c%03d" % i for i in range(60)] + [EVIL]
        names = {c: "Customer %s" % c for c in customers}
        names[EVIL] = EVIL_NAME
        rows = []
        for c in customers + ["unattributed"]:
            for k, product in enumerate(("agent-orchestration", "sandbox-execution", "api-gateway")):
                for month, hour in ((cur, cur + elapsed * rng.random()),
                                    (prev, prev + (cur - prev) * rng.random())):
                    cost = Decimal(rng.randrange(1, 10**9)) / Decimal(10**9) * (k + 1) * (700 if c == EVIL else 7)
                    disc = (cost * Decimal("0.1")).quantize(Decimal("1e-12"), ROUND_HALF_EVEN) if c != "unattributed" else Decimal(0)
                    rows.append(dict(period=month.strftime("%Y-%m"), hour=hour.replace(minute=0, second=0, microsecond=0),
                                     customer=c, product=product, list=cost + disc, discount=disc, cost=cost))
        # a correction: previous-month usage billed in this period
        rows.append(dict(period=cur.strftime("%Y-%m"), hour=prev + timedelta(hours=5), customer="c001",
                         product="api-gateway", list=Decimal("3.5"), discount=Decimal(0), cost=Decimal("3.5")))
        values = ",".join("('%s-01','%s','%s','%s','m','r','v1','pro','USD','u',1,0,1,%s,%s,%s,1)" % (
            r["period"], r["hour"].isoformat(), r["customer"], r["product"], r["list"], r["discount"], r["cost"])
            for r in rows)
        svc.psql("INSERT INTO usage_cost (billing_period, hour, customer, product, meter, rule_id, rules_version,"
                 " plan, currency, unit, unit_price, discount_rate, quantity, list_cost, discount, cost, events)"
                 " VALUES " + values)
        for c in customers:
            svc.psql("INSERT INTO customers (id, name, plan) VALUES ('%s', '%s', 'pro')"
                     % (c, names[c].replace("'", "''")))
        period = cur.strftime("%Y-%m")
        cur_rows = [r for r in rows if r["period"] == period]

        def total(field, rs):
            return sum((r[field] for r in rs), Decimal(0))
        prev_rows = [r for r in rows if r["period"] == prev.strftime("%Y-%m")]
        cut = prev + elapsed
        by_cust = {}
        for r in cur_rows:
            by_cust[r["customer"]] = by_cust.get(r["customer"], Decimal(0)) + r["cost"]
        ranked = sorted(by_cust.items(), key=lambda kv: (-kv[1], kv[0]))
        by_prod = {}
        for r in cur_rows:
            by_prod[r["product"]] = by_prod.get(r["product"], Decimal(0)) + r["cost"]

        fin = svc.costream("token", "create", "--scope", "finance", "--name", "finance", "-c", cfg).stdout.strip()
        cust = svc.costream("token", "create", "--scope", "customer", "--customer", EVIL, "--name", "evil",
                            "-c", cfg).stdout.strip()
        log = open(os.path.join(svc.dir, "serve.log"), "w")
        server = subprocess.Popen([harness.COSTREAM, "serve", "-c", cfg], stdout=log, stderr=subprocess.STDOUT)
        port = harness.wait_until(lambda: (re.findall(r'"port":(\d+)', open(log.name).read()) or [None])[0], 30, "serve")

        def url(token, query=""):
            return "http://token:%s@127.0.0.1:%s/%s" % (token, port, query)

        dom = Dom()
        dom.feed(browse(url(fin, "?period=" + period), os.environ.get("COSTREAM_SCREENSHOT")))
        exact = {k: Decimal(v["data-exact"]) for k, v in dom.ids.items() if "data-exact" in v}
        want = {"billed": total("cost", cur_rows), "list": total("list", cur_rows),
                "discount": total("discount", cur_rows),
                "unattributed": total("cost", [r for r in cur_rows if r["customer"] == "unattributed"]),
                "previous": total("cost", prev_rows),
                "previous-same-point": total("cost", [r for r in prev_rows if r["hour"] < cut])}
        want["change"] = want["billed"] - want["previous-same-point"]
        for k, v in want.items():
            check(exact.get(k) == v, "%s: page says %s, stored %s" % (k, exact.get(k), v))
        text = "".join(dom.text)
        check("{:,} USD".format(q2(want["billed"])) in text, "billed shown to the cent")
        check(dom.bars.get("chart-products") == sorted(by_prod.items(), key=lambda kv: (-kv[1], kv[0])),
              "product chart: %s" % dom.bars.get("chart-products"))
        top = ranked[:10] + [("other", sum((v for _, v in ranked[10:]), Decimal(0)))]
        check(dom.bars.get("chart-customers") == top, "top customers chart: %s" % dom.bars.get("chart-customers"))
        table = [r for r in dom.rows.get("customers", []) if r]
        check(len(table) == 50 and [(r[0], r[2]) for r in table] == [(c, v) for c, v in ranked[:50]],
              "customers table page 1 (%d rows): %s" % (len(table), table[:2]))
        check("page 1 of 2" in text and "next page" in text, "paging")
        check(EVIL_NAME in text, "an HTML name is shown as text, not markup")
        dom2 = Dom()
        dom2.feed(browse(url(fin, "?period=%s&page=2" % period)))
        table2 = [r for r in dom2.rows.get("customers", []) if r]
        check([(r[0], r[2]) for r in table2] == [(c, v) for c, v in ranked[50:]], "customers table page 2")

        mine = [r for r in cur_rows if r["customer"] == EVIL]
        dom3 = Dom()
        page = browse(url(cust, "?period=" + period))
        dom3.feed(page)
        got = {k: Decimal(v["data-exact"]) for k, v in dom3.ids.items() if "data-exact" in v}
        check(got.get("billed") == total("cost", mine) and got.get("list") == total("list", mine),
              "customer token: own totals")
        check("unattributed" not in got and "chart-customers" not in dom3.ids and "customers" not in dom3.rows,
              "customer token: no unattributed amount, no customer chart or table")
        others = [c for c in customers if c != EVIL and c in page]
        check(not others, "customer token sees other customers: %s" % others[:3])
        check(dom3.bars.get("chart-products") == sorted(
            [(p, total("cost", [r for r in mine if r["product"] == p])) for p in {r["product"] for r in mine}],
            key=lambda kv: (-kv[1], kv[0])), "customer token: own product chart")
        print("ok: the finance page in Chromium shows the stored totals, charts and pages; a customer sees only"
              " its own figures", flush=True)
        ok = True
    finally:
        if server:
            server.terminate()
            server.wait()
        sys.exit(harness.finish(svc, ok))


if __name__ == "__main__":
    main()

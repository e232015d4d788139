#!/usr/bin/env python3
"""The worker's HTTP endpoint against real tools.

A known stream (5 customers, 2 products, some unattributed and malformed
events, all in the current hour) goes through one worker.  Then:
  * `promtool check metrics` accepts the real /metrics output;
  * OpenMetrics is served when asked for, ending in "# EOF";
  * a real Prometheus scrapes the worker, and its query API returns the
    per-customer and per-product cost, and the month-to-date gauge, that the
    test computed itself (Python decimal);
  * /healthz is 200, /readyz is 200, and 503 naming PostgreSQL once the
    database is stopped; unknown paths are 404.
"""
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timezone
from decimal import Decimal, ROUND_HALF_EVEN

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check, dump  # noqa: E402

TOPIC, GROUP = "usage-events", "it-metrics"
Q12 = Decimal("0.000000000001")
PRICES = {("api", "calls"): Decimal("0.0035"), ("sandbox", "cpu"): Decimal("0.00024")}
PLANS = {"c1": "free", "c2": "pro", "c3": "pro", "c4": "free", "c5": "free"}
DISCOUNT = {"free": Decimal(0), "pro": Decimal("0.2"), "none": Decimal(0)}


def http_get(url, accept=None):
    req = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers.get("Content-Type"), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read().decode()
    except (urllib.error.URLError, ConnectionError):
        return 0, None, ""  # not listening (yet)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def main():
    svc = harness.Services(["%s:3" % TOPIC])
    prom = None
    ok = False
    try:
        rules_path = os.path.join(svc.dir, "rules.json")
        with open(rules_path, "w") as f:
            json.dump({"version": "m1", "currency": "USD", "plans": {"pro": {"discount": "0.2"}},
                       "rules": [{"id": "%s-%s" % k, "product": k[0], "meter": k[1], "unit": "u",
                                  "unit_price": str(v)} for k, v in PRICES.items()]}, f)
        cfg = svc.write_config("c.conf", rules_path, {"group": GROUP, "metrics.month_to_date_refresh_ms": "500"})
        svc.costream("migrate", "-c", cfg)
        for c, plan in PLANS.items():
            svc.redis("HSET", "costream:customer:" + c, "plan", plan)
        hour = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:00:00Z")
        prod = harness.producer(svc.bootstrap)
        cost_by_customer, cost_by_product = {}, {}
        for i in range(3000):
            product, meter = list(PRICES)[i % 2]
            qty = "%d.%03d" % (i % 17, i % 1000)
            ev = {"specversion": "1.0", "id": "m-%d" % i, "source": "//m", "type": "usage", "time": hour,
                  "data": {"product": product, "meter": meter, "quantity": qty, "labels": {}}}
            if i % 10 == 9:
                ev["data"]["labels"]["api_key"] = "unknown"
                cust = "unattributed"
            else:
                cust = "c%d" % (1 + i % 5)
                ev["subject"] = cust
            payload = dump(ev)
            if i % 50 == 0:
                payload = b"{not json"
            else:
                lst = (Decimal(qty) * PRICES[(product, meter)]).quantize(Q12, ROUND_HALF_EVEN)
                cost = lst - (lst * DISCOUNT[PLANS.get(cust, "none")]).quantize(Q12, ROUND_HALF_EVEN)
                cost_by_customer[cust] = cost_by_customer.get(cust, 0) + cost
                cost_by_product[product] = cost_by_product.get(product, 0) + cost
            prod.send(TOPIC, value=payload)
        prod.flush()

        w = svc.start_worker(cfg, "worker")
        port = harness.wait_until(lambda: (re.findall(r'"msg":"serving /metrics[^\n]*"port":(\d+)', open(w.log_path).read()) or [None])[0],
                                  30, "the HTTP endpoint")
        base = "http://127.0.0.1:%s" % port
        check(http_get(base + "/healthz")[0] == 200, "/healthz")
        check(http_get(base + "/nope")[0] == 404, "unknown path should be 404")
        harness.wait_until(lambda: http_get(base + "/readyz")[0] == 200, 60, "/readyz to be 200")
        ends = harness.end_offsets(svc.bootstrap, TOPIC)
        harness.wait_until(lambda: svc.stored_offsets(GROUP, TOPIC) == ends, 60, "the worker to catch up")
        time.sleep(1.5)  # counters published every second, month-to-date every 0.5 s

        status, ctype, text = http_get(base + "/metrics")
        check(status == 200 and ctype.startswith("text/plain; version=0.0.4"), "metrics content type %s" % ctype)
        p = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True)
        check(p.returncode == 0, "promtool check metrics failed:\n%s%s" % (p.stdout, p.stderr))
        check('costream_events_rejected_total{reason="malformed_json"} 60' in text, "rejected counter")
        status, ctype, om = http_get(base + "/metrics", "application/openmetrics-text; version=1.0.0")
        check(ctype.startswith("application/openmetrics-text") and om.endswith("# EOF\n"), "OpenMetrics")
        check("# TYPE costream_cost counter" in om, "OpenMetrics counter family name")

        prom_port = free_port()
        with open(os.path.join(svc.dir, "prometheus.yml"), "w") as f:
            f.write("global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: costream\n"
                    "    static_configs:\n      - targets: ['127.0.0.1:%s']\n" % port)
        prom = subprocess.Popen(["prometheus", "--config.file=" + os.path.join(svc.dir, "prometheus.yml"),
                                 "--storage.tsdb.path=" + os.path.join(svc.dir, "tsdb"),
                                 "--web.listen-address=127.0.0.1:%d" % prom_port],
                                stdout=subprocess.DEVNULL, stderr=open(os.path.join(svc.dir, "prometheus.log"), "w"))
        api = "http://127.0.0.1:%d" % prom_port

        def query(q):
            st, _, body = http_get(api + "/api/v1/query?" + urllib.parse.urlencode({"query": q}))
            if st != 200:
                return None
            res = json.loads(body)["data"]["result"]
            return res or None

        harness.wait_until(lambda: query("up{job='costream'} == 1"), 60, "Prometheus to scrape the worker")

        def compare(q, label, expected):
            res = harness.wait_until(lambda: query(q), 30, q)
            got = {r["metric"][label]: Decimal(r["value"][1]) for r in res}
            check(set(got) == set(expected), "%s: series %s, expected %s" % (q, sorted(got), sorted(expected)))
            for k, v in expected.items():
                check(abs(got[k] - v) <= Decimal("1e-9") * max(1, abs(v)), "%s{%s}: Prometheus says %s, expected %s" % (q, k, got[k], v))

        compare("sum by (customer) (costream_cost_total)", "customer", cost_by_customer)
        compare("sum by (product) (costream_cost_total)", "product", cost_by_product)
        compare("sum by (customer) (costream_customer_month_to_date_cost)", "customer", cost_by_customer)

        # readiness follows the database
        pg = ["runuser", "-u", open(os.path.join(svc.dir, "pg.owner")).read().strip(), "--"] if os.getuid() == 0 else []
        pgbin = sorted(os.listdir("/usr/lib/postgresql"))[-1]
        subprocess.run(pg + ["/usr/lib/postgresql/%s/bin/pg_ctl" % pgbin, "-D", os.path.join(svc.dir, "pg", "data"),
                             "-m", "fast", "-w", "stop"], check=True, capture_output=True)
        prod.send(TOPIC, value=dump({"specversion": "1.0", "id": "late", "source": "//m", "type": "usage", "time": hour,
                                     "subject": "c1", "data": {"product": "api", "meter": "calls", "quantity": "1"}}))
        prod.flush()
        harness.wait_until(lambda: http_get(base + "/readyz")[0] == 503, 30, "/readyz to report the outage")
        st, _, body = http_get(base + "/readyz")
        check("PostgreSQL" in body, "readyz reason: %s" % body)
        print("ok: promtool accepts /metrics; Prometheus returns exact per-customer, per-product and month-to-date costs;"
              " readyz %d (%s)" % (st, body.strip()), flush=True)
        ok = True
    finally:
        if prom:
            prom.terminate()
            prom.wait()
        svc.close(keep_logs=not ok)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Writes costream's Grafana dashboards (grafana/dashboards/*.json) from the
panel lists below: one place that names every query, so that the JSON files
stay consistent (uids, datasources, layout) and the tests can read the same
queries back from the JSON.  Run after editing:  grafana/generate.py

Money that finance quotes comes from PostgreSQL (the dash_* views of
sql/0007_dashboard_views.sql: exact, survives restarts); Prometheus is for
rates and live movement.  Variables: period (billing period, YYYY-MM),
customer, product, plan (multi-value; PromQL uses them as regexes, SQL as
PostgreSQL regexes), budget (optional monthly budget, 0 for none), job (the
Prometheus job that scrapes the workers)."""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
PROM = {"type": "prometheus", "uid": "costream-prometheus"}
PG = {"type": "grafana-postgresql-datasource", "uid": "costream-postgres"}

# SQL filters every business panel applies (PostgreSQL regex match on the
# Grafana variables; "All" is ".*")
F = ("customer ~ '^${customer:regex}$' AND product ~ '^${product:regex}$'"
     " AND plan ~ '^${plan:regex}$'")
# PromQL label matchers for the same variables
M = 'customer=~"$customer",product=~"$product",plan=~"$plan"'


def sql(title, query, kind="table", fmt="table", w=6, h=5, desc=""):
    return {"title": title, "type": kind, "ds": PG, "desc": desc, "w": w, "h": h,
            "targets": [{"refId": "A", "rawSql": query, "format": fmt}]}


def prom(title, exprs, kind="timeseries", w=12, h=8, desc="", unit=None):
    if isinstance(exprs, str):
        exprs = [exprs]
    return {"title": title, "type": kind, "ds": PROM, "desc": desc, "w": w, "h": h, "unit": unit,
            "targets": [{"refId": chr(65 + i), "expr": e} for i, e in enumerate(exprs)]}


BUSINESS = [
    ("Month at a glance (PostgreSQL, exact)", [
        sql("Billed in the period",
            "SELECT currency, cost AS billed FROM dash_period_totals WHERE period = '$period' ORDER BY currency",
            "stat", desc="Billed cost (after discounts) of the billing period, to the last stored digit."),
        sql("Run-rate forecast for the period",
            "SELECT currency, forecast, nullif(${budget}, 0) AS budget FROM dash_period_totals"
            " WHERE period = '$period' ORDER BY currency",
            "stat", desc="Billed so far / elapsed hours x the period's hours; the billed amount once the period is over. Budget: the dashboard's budget variable (0 hides it)."),
        sql("List price, discount and billed",
            "SELECT currency, list_cost, discount, cost FROM dash_period_totals WHERE period = '$period'"
            " ORDER BY currency", "table", w=6,
            desc="List price minus plan discounts equals billed."),
        sql("Change against the previous period",
            "SELECT currency, cost, previous_same_point, cost - previous_same_point AS change, previous_cost"
            " FROM dash_period_totals WHERE period = '$period' ORDER BY currency", "table", w=6,
            desc="This period so far against the previous one up to the same point of its month, and the previous period's whole cost."),
    ]),
    ("Unattributed", [
        sql("Unattributed cost and share",
            "SELECT currency, unattributed_cost, unattributed_share FROM dash_period_totals"
            " WHERE period = '$period' ORDER BY currency", "stat", w=12,
            desc="Usage no customer mapping claimed (Redis labels): billed to nobody until re-attributed."),
        sql("Active customers",
            "SELECT currency, active_customers FROM dash_period_totals WHERE period = '$period'"
            " ORDER BY currency", "stat", w=12,
            desc="Customers with at least one counted event in the period (unattributed excluded)."),
    ]),
    ("Who and what", [
        sql("Cost by customer (top 10 and other)",
            "SELECT CASE WHEN rk <= 10 THEN customer ELSE 'other' END AS customer, sum(cost) AS cost"
            " FROM (SELECT customer, sum(cost) AS cost, row_number() OVER (ORDER BY sum(cost) DESC, customer) AS rk"
            " FROM dash_cost WHERE period = '$period' AND " + F + " GROUP BY customer) t"
            " GROUP BY 1 ORDER BY 2 DESC, 1", "barchart", w=8, h=9),
        sql("Cost by product",
            "SELECT product, sum(cost) AS cost FROM dash_cost WHERE period = '$period' AND " + F +
            " GROUP BY product ORDER BY 2 DESC, 1", "barchart", w=8, h=9),
        sql("Cost by plan tier",
            "SELECT plan, sum(cost) AS cost FROM dash_cost WHERE period = '$period' AND " + F +
            " GROUP BY plan ORDER BY 2 DESC, 1", "piechart", w=8, h=9),
        sql("Daily cost",
            "SELECT day AS time, sum(cost) AS cost FROM dash_cost_daily WHERE $__timeFilter(day) AND " + F +
            " GROUP BY 1 ORDER BY 1", "timeseries", "time_series", w=12, h=8,
            desc="Cost per UTC day of usage (event time), in the dashboard's time range."),
        sql("Cost per customer",
            "SELECT customer, customer_name, sum(cost) AS cost, sum(list_cost) AS list_cost,"
            " sum(discount) AS discount, sum(events) AS events FROM dash_cost"
            " WHERE period = '$period' AND " + F + " GROUP BY customer, customer_name ORDER BY 3 DESC, 1",
            "table", w=12, h=8, desc="Every customer of the period (Grafana pages the table)."),
        sql("Corrections to closed months",
            "SELECT usage_month, customer, product, cost, events FROM dash_corrections"
            " WHERE period = '$period' ORDER BY usage_month, customer, product", "table", w=24, h=6,
            desc="Usage that arrived after its month was closed: billed in this period instead."),
    ]),
    ("Live (Prometheus)", [
        prom("Spend rate per customer (per hour)",
             "sum by (customer) (rate(costream_cost_total{job=\"$job\"," + M + "}[$__rate_interval])) * 3600",
             unit="currencyUSD"),
        prom("Sandbox execution cost per customer",
             "sum by (customer) (increase(costream_cost_total{job=\"$job\",product=\"sandbox-execution\","
             "customer=~\"$customer\",plan=~\"$plan\"}[$__range]))", "barchart", unit="currencyUSD"),
        prom("API usage by plan tier",
             "sum by (plan) (increase(costream_events_total{job=\"$job\",product=\"api-gateway\","
             "customer=~\"$customer\",plan=~\"$plan\"}[$__range]))", "barchart",
             desc="API gateway events per plan tier (free, pro, enterprise)."),
        prom("Agent runs by customer",
             "sum by (customer) (increase(costream_events_total{job=\"$job\",meter=\"agent_runs\","
             "customer=~\"$customer\",plan=~\"$plan\"}[$__range]))", "barchart",
             desc="Active agents: agent runs per customer in the time range."),
        prom("Usage per product meter",
             "sum by (product, meter, unit) (increase(costream_usage_total{job=\"$job\","
             "customer=~\"$customer\",product=~\"$product\"}[$__range]))", "table"),
        prom("Month to date, top customers (live)",
             "topk(10, max by (customer) (costream_customer_month_to_date_cost{job=\"$job\",customer=~\"$customer\"}))",
             "barchart", unit="currencyUSD",
             desc="Read from PostgreSQL by every worker every 30 s: max across workers, never sum."),
    ]),
]

OPERATIONS = [
    ("Throughput and correctness", [
        prom("Messages consumed and events accepted (per second)",
             ["sum(rate(costream_messages_consumed_total{job=\"$job\"}[$__rate_interval]))",
              "sum(rate(costream_events_accepted_total{job=\"$job\"}[$__rate_interval]))"]),
        prom("Rejects by reason", "sum by (reason) (increase(costream_events_rejected_total{job=\"$job\"}[$__range]))",
             "barchart"),
        prom("Duplicates", "sum(increase(costream_events_duplicate_total{job=\"$job\"}[$__range]))", "stat", w=6),
        prom("Lost and dropped messages",
             ["sum(increase(costream_messages_lost_total{job=\"$job\"}[$__range]))",
              "sum(increase(costream_messages_dropped_total{job=\"$job\"}[$__range]))"], "stat", w=6),
    ]),
    ("Latency", [
        prom("Consumer lag per partition", "max by (topic, partition) (costream_consumer_lag_messages{job=\"$job\"})"),
        prom("Freshness: produced to committed", "max(costream_freshness_seconds{job=\"$job\"})", unit="s"),
        prom("Flush latency (p50, p99)",
             ["histogram_quantile(0.5, sum by (le) (rate(costream_flush_duration_seconds_bucket{job=\"$job\",result=\"ok\"}[$__rate_interval])))",
              "histogram_quantile(0.99, sum by (le) (rate(costream_flush_duration_seconds_bucket{job=\"$job\",result=\"ok\"}[$__rate_interval])))"],
             unit="s"),
        prom("Settlement watermark behind wall-clock time",
             "time() - min(costream_metric_watermark_seconds{job=\"$job\"})", unit="s"),
    ]),
    ("Backends", [
        prom("Fenced flushes", "sum(increase(costream_flushes_total{job=\"$job\",result=\"fenced\"}[$__range]))", "stat", w=6),
        prom("Backend errors", "sum by (backend) (increase(costream_backend_errors_total{job=\"$job\"}[$__range]))",
             "barchart", w=6),
        prom("Backend reconnects",
             "sum by (backend) (increase(costream_backend_reconnects_total{job=\"$job\"}[$__range]))", "barchart", w=6),
        prom("Label cache hit ratio", "min(costream_label_cache_hit_ratio{job=\"$job\"})", "stat", w=6,
             unit="percentunit"),
    ]),
    ("Workers", [
        prom("Workers up and ready",
             ["count(up{job=\"$job\"} == 1)", "sum(costream_ready{job=\"$job\"})"], "stat", w=6),
        prom("Rules version in force", "count by (version, currency) (costream_rules_info{job=\"$job\"})",
             "table", w=6),
        prom("CPU per worker", "rate(process_cpu_seconds_total{job=\"$job\"}[$__rate_interval])", w=6),
        prom("Resident memory per worker", "process_resident_memory_bytes{job=\"$job\"}", w=6, unit="bytes"),
    ]),
]


def var_query(name, label, query, ds, multi=True):
    return {"name": name, "label": label, "type": "query", "datasource": ds, "query": query,
            "definition": query, "refresh": 2, "multi": multi, "includeAll": multi,
            "allValue": ".*" if multi else None, "current": {}, "sort": 1, "hide": 0}


def variables(business):
    v = [{"name": "job", "label": "Prometheus job", "type": "constant", "query": "costream", "hide": 2}]
    if business:
        v += [
            var_query("period", "Billing period", "SELECT period FROM dash_periods ORDER BY period DESC", PG, False),
            var_query("customer", "Customer", "SELECT DISTINCT customer FROM dash_cost WHERE period = '$period' ORDER BY 1", PG),
            var_query("product", "Product", "SELECT DISTINCT product FROM dash_cost WHERE period = '$period' ORDER BY 1", PG),
            var_query("plan", "Plan tier", "SELECT DISTINCT plan FROM dash_cost WHERE period = '$period' ORDER BY 1", PG),
            {"name": "budget", "label": "Monthly budget (0: none)", "type": "textbox", "query": "0", "hide": 0},
        ]
    return {"list": v}


def panel(p, pid, x, y):
    out = {"id": pid, "title": p["title"], "type": p["type"], "datasource": p["ds"],
           "description": p["desc"], "gridPos": {"x": x, "y": y, "w": p["w"], "h": p["h"]},
           "targets": [dict(t, datasource=p["ds"]) for t in p["targets"]],
           "fieldConfig": {"defaults": {}, "overrides": []}, "options": {}}
    for t in out["targets"]:
        if "rawSql" in t:
            t.update(editorMode="code", rawQuery=True)
    if p.get("unit"):
        out["fieldConfig"]["defaults"]["unit"] = p["unit"]
    return out


def dashboard(uid, title, rows, business):
    panels, pid, y = [], 1, 0
    for row_title, items in rows:
        panels.append({"id": pid, "type": "row", "title": row_title, "collapsed": False,
                       "gridPos": {"x": 0, "y": y, "w": 24, "h": 1}, "panels": []})
        pid, y, x, row_h = pid + 1, y + 1, 0, 0
        for p in items:
            if x + p["w"] > 24:
                x, y, row_h = 0, y + row_h, 0
            panels.append(panel(p, pid, x, y))
            pid, x, row_h = pid + 1, x + p["w"], max(row_h, p["h"])
        y += row_h
    return {"uid": uid, "title": title, "tags": ["costream"], "timezone": "utc", "schemaVersion": 39,
            "version": 1, "editable": True, "graphTooltip": 1, "refresh": "1m",
            "time": {"from": "now-30d" if business else "now-6h", "to": "now"},
            "templating": variables(business), "annotations": {"list": []}, "links": [],
            "panels": panels}


def main():
    out = os.path.join(HERE, "dashboards")
    os.makedirs(out, exist_ok=True)
    for name, d in (("costream-business.json", dashboard("costream-business", "costream: business", BUSINESS, True)),
                    ("costream-operations.json", dashboard("costream-operations", "costream: operations", OPERATIONS, False))):
        with open(os.path.join(out, name), "w") as f:
            json.dump(d, f, indent=2, sort_keys=True)
            f.write("\n")


if __name__ == "__main__":
    main()

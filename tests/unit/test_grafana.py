#!/usr/bin/env python3
"""grafana/ is sound without any service running:

  * the dashboards are what grafana/generate.py writes (no hand edits that
    the generator would lose), and each is a valid Grafana dashboard model:
    uid, title, schemaVersion, templating, panels with unique ids, a known
    datasource (by uid), targets of the datasource's kind, and grid positions
    inside the 24-column grid that do not overlap;
  * every SQL query names only dash_* views (sql/0007_dashboard_views.sql),
    never a raw table; every PromQL expression is accepted by promtool's
    parser (through a rules file) with the dashboard variables substituted;
  * the provisioning files name the datasource uids the dashboards use;
  * `promtool check rules` and `promtool test rules` pass on the alerts.
The queries' results are checked against real services in
tests/integration/test_dashboards.py."""
import json
import os
import re
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
G = os.path.join(ROOT, "grafana")
UIDS = {"prometheus": "costream-prometheus", "grafana-postgresql-datasource": "costream-postgres"}
VIEWS = {"dash_cost", "dash_period_totals", "dash_customer_period", "dash_product_period",
         "dash_plan_period", "dash_cost_daily", "dash_corrections", "dash_periods"}
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)


def promql_subst(e):
    for k, v in (("$__rate_interval", "5m"), ("$__range", "1h"), ("$customer", ".*"),
                 ("$product", ".*"), ("$plan", ".*"), ("$job", "costream")):
        e = e.replace(k, v)
    return e


def dashboard_ok(name, d, exprs):
    for k in ("uid", "title", "schemaVersion", "panels", "templating", "time"):
        check(k in d, "%s: no %s" % (name, k))
    check(isinstance(d.get("schemaVersion"), int) and d["schemaVersion"] >= 36, "%s: schemaVersion" % name)
    ids, cells = set(), set()
    for p in d["panels"]:
        check(p["id"] not in ids, "%s: duplicate panel id %s" % (name, p["id"]))
        ids.add(p["id"])
        g = p.get("gridPos", {})
        check(all(isinstance(g.get(k), int) for k in "xywh") and g["x"] + g["w"] <= 24 and g["w"] > 0 and g["h"] > 0,
              "%s: %s: gridPos %s" % (name, p["title"], g))
        for x in range(g["x"], g["x"] + g["w"]):
            for y in range(g["y"], g["y"] + g["h"]):
                check((x, y) not in cells, "%s: %s overlaps another panel at %d,%d" % (name, p["title"], x, y))
                cells.add((x, y))
        if p["type"] == "row":
            continue
        ds = p.get("datasource") or {}
        check(UIDS.get(ds.get("type")) == ds.get("uid"), "%s: %s: datasource %s" % (name, p["title"], ds))
        check(p.get("targets"), "%s: %s: no targets" % (name, p["title"]))
        for t in p.get("targets", []):
            check(t.get("datasource") == ds and t.get("refId"), "%s: %s: target datasource/refId" % (name, p["title"]))
            if ds.get("type") == "prometheus":
                check("expr" in t, "%s: %s: Prometheus target without expr" % (name, p["title"]))
                exprs.append(promql_subst(t.get("expr", "")))
            else:
                q = t.get("rawSql", "")
                used = set(re.findall(r"\b(?:FROM|JOIN)\s+([a-z_]+)", q, re.I))
                check(used and used <= VIEWS, "%s: %s: reads %s, not only dash_* views" % (name, p["title"], used))
    for v in d["templating"]["list"]:
        if v["type"] == "query" and v["datasource"]["type"] == "grafana-postgresql-datasource":
            used = set(re.findall(r"\bFROM\s+([a-z_]+)", v["query"], re.I))
            check(used <= VIEWS, "%s: variable %s reads %s" % (name, v["name"], used))


def main():
    with tempfile.TemporaryDirectory() as tmp:
        # the committed JSON is the generator's output
        env = dict(os.environ)
        gen = os.path.join(tmp, "g")
        os.makedirs(gen)
        subprocess.run(["cp", "-r", os.path.join(G, "generate.py"), gen], check=True)
        subprocess.run([sys.executable, os.path.join(gen, "generate.py")], check=True, env=env)
        exprs = []
        for name in ("costream-business.json", "costream-operations.json"):
            with open(os.path.join(G, "dashboards", name)) as f:
                committed = f.read()
            with open(os.path.join(gen, "dashboards", name)) as f:
                check(f.read() == committed, "%s differs from grafana/generate.py's output: run it" % name)
            dashboard_ok(name, json.loads(committed), exprs)
        # every expression parses (promtool checks rules' expressions)
        rules = os.path.join(tmp, "exprs.yml")
        with open(rules, "w") as f:
            f.write("groups:\n  - name: dashboard-expressions\n    rules:\n")
            for i, e in enumerate(exprs):
                f.write("      - record: dashboard:expr%d\n        expr: %s\n" % (i, json.dumps(e)))
        p = subprocess.run(["promtool", "check", "rules", rules], capture_output=True, text=True)
        check(p.returncode == 0, "promtool rejects a dashboard expression:\n%s%s" % (p.stdout, p.stderr))
    prov = open(os.path.join(G, "provisioning", "datasources", "costream.yaml")).read()
    for uid in UIDS.values():
        check("uid: %s" % uid in prov, "provisioning lacks datasource uid %s" % uid)
    alerts = os.path.join(G, "prometheus")
    for args in (["check", "rules", "costream-alerts.yml"], ["test", "rules", "costream-alerts.test.yml"]):
        p = subprocess.run(["promtool"] + args, cwd=alerts, capture_output=True, text=True)
        check(p.returncode == 0, "promtool %s:\n%s%s" % (" ".join(args), p.stdout, p.stderr))
    if failures:
        for m in failures:
            print("FAIL:", m)
        sys.exit(1)
    print("ok: 2 dashboards valid and generated; %d PromQL expressions parse; alerts checked and tested" % len(exprs))


if __name__ == "__main__":
    main()

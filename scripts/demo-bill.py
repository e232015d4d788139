#!/usr/bin/env python3
"""Writes a realistic FOCUS bill for the demo: what a platform like the one
costream serves pays AWS in a month (about $180K), for the month so far.

  scripts/demo-bill.py OUT.csv

Compute nodes for the sandboxes (tagged cluster=sandbox, and a CI cluster
no pool selects), a managed database and streaming for the data pipeline,
load balancers and egress for the API gateway, model inference for agent
orchestration, the Kubernetes control plane and the observability stack
(shared), a support plan no pool selects, and a credit."""
import csv
import json
import sys
from datetime import datetime, timedelta, timezone
from decimal import Decimal


def iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def main():
    now = datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    start = now.replace(day=1, hour=0)
    end = (start + timedelta(days=32)).replace(day=1)
    cols = ["BilledCost", "EffectiveCost", "ListCost", "BillingCurrency", "BillingPeriodStart", "BillingPeriodEnd",
            "ChargeCategory", "ChargePeriodStart", "ChargePeriodEnd", "ServiceName", "ServiceCategory",
            "ProviderName", "RegionId", "ResourceId", "Tags"]
    rows = []

    def line(cost, s, e, service, category, resource="", tags=None, charge="Usage"):
        c = str(Decimal(cost).quantize(Decimal("0.000001")))
        rows.append([c, c, c, "USD", iso(start), iso(end), charge, iso(s), iso(e), service, category, "AWS",
                     "us-east-1", resource, json.dumps(tags or {})])
    h = start
    while h < max(now, start + timedelta(hours=1)):
        n = h + timedelta(hours=1)
        for node in range(2):
            line(Decimal("47.512345") + node, h, n, "Amazon EC2", "Compute", "i-sbx-%d" % node, {"cluster": "sandbox"})
        line("8.04", h, n, "Amazon EC2", "Compute", "i-ci-0", {"cluster": "ci"})
        line("18.1", h, n, "Amazon MSK", "Analytics", "msk-pipeline")
        line("11.93", h, n, "Elastic Load Balancing", "Networking", "alb-api")
        line("9.02", h, n, "Amazon EKS", "Management and Governance", "eks-main")
        if h.hour == 0:
            d = h + timedelta(days=1)
            line("419.88", h, d, "Amazon RDS", "Databases", "rds-pipeline")
            line("601.5", h, d, "AWS Data Transfer", "Networking", "egress")
            line("1498.25", h, d, "Amazon Bedrock", "AI and Machine Learning", "bedrock")
        h = n
    line("2200", start, end, "Observability stack", "Management and Governance", "grafana-prometheus")
    line("3000", start, end, "AWS Support", "Other", "support", charge="Purchase")
    line("-500", start, end, "Amazon EC2", "Compute", "", {"cluster": "sandbox"}, charge="Credit")
    with open(sys.argv[1], "w", newline="") as f:
        w = csv.writer(f, lineterminator="\r\n")
        w.writerow(cols)
        w.writerows(rows)
    print("   %d bill lines, %s USD so far this month" % (len(rows), sum(Decimal(r[0]) for r in rows)))


if __name__ == "__main__":
    main()

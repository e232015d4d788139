#!/usr/bin/env python3
"""`costream spend import`: a FOCUS bill into PostgreSQL, exactly.

A generated bill (FOCUS 1.0-style and 1.4-style column sets, hourly compute
lines with tags, monthly database and support lines, a credit, a tax line, a
correction, costs with exponents and more than 12 decimals, provider
columns) is imported and compared with this test's own sums (Python
decimal, rounded half to even at 12 places like the import) per billing
period, service and charge category, line by line, including every column
kept as JSON. Then:
  * the same file again, and its gzip, change nothing ("already imported");
  * a restated October is version 2: bill_lines_current holds the new
    amounts, version 1 stays queryable;
  * a file without BilledCost, and a file with a non-numeric cost and an
    unknown currency, fail with file:line: column: reason and import
    nothing; with --keep-bad-rows the rest is imported and the bad lines
    are kept with their raw bytes.
"""
import csv
import gzip
import resource
import time
import zlib
import io
import json
import os
import random
import subprocess
import sys
from decimal import Decimal, ROUND_HALF_EVEN

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check  # noqa: E402

Q12 = Decimal("0.000000000001")
COLUMNS_10 = ["BilledCost", "EffectiveCost", "ListCost", "BillingCurrency", "BillingPeriodStart",
              "ChargeCategory", "ChargeClass", "ChargePeriodStart", "ChargePeriodEnd", "ServiceName",
              "ServiceCategory", "ResourceId", "RegionId", "ProviderName", "Tags"]
COLUMNS_14 = COLUMNS_10 + ["BillingAccountId", "SubAccountId", "ResourceName", "x_Discounts"]


def q12(x):
    return x.quantize(Q12, ROUND_HALF_EVEN)


def amount_text(x, rng):
    """A FOCUS cost as exports write it: sometimes with an exponent."""
    if rng.random() < 0.2 and x != 0:
        return "%.15E" % x
    return str(x)


def make_bill(rng, month, restated=False):
    rows = []
    start = {"2026-10": "2026-10-01T00:00:00Z", "2026-11": "2026-11-01T00:00:00Z"}[month]
    day = int(month[-2:])
    for d in range(1, 4):
        for h in range(24):
            for node in ("n1", "n2"):
                cost = Decimal(rng.randrange(1, 10**16)) / Decimal(10**16) * 3
                if restated:
                    cost = cost * Decimal("1.01")
                rows.append({"BilledCost": cost, "EffectiveCost": cost * Decimal("0.9"), "ListCost": "",
                             "BillingCurrency": "USD", "BillingPeriodStart": start, "ChargeCategory": "Usage",
                             "ChargeClass": "", "ChargePeriodStart": "%s-%02dT%02d:00:00Z" % (month, d, h),
                             "ChargePeriodEnd": "%s-%02dT%02d:00:00Z" % (month, d, h + 1) if h < 23 else "%s-%02dT00:00:00Z" % (month, d + 1),
                             "ServiceName": "Amazon EC2", "ServiceCategory": "Compute", "ResourceId": "i-%s" % node,
                             "RegionId": "us-east-1", "ProviderName": "AWS",
                             "Tags": json.dumps({"cluster": "sandbox", "node": node}),
                             "BillingAccountId": "111", "SubAccountId": "222", "ResourceName": node, "x_Discounts": "none"})
    end = {"2026-10": "2026-11-01T00:00:00Z", "2026-11": "2026-12-01T00:00:00Z"}[month]
    for service, category, charge, cost in (("Amazon RDS", "Databases", "Usage", Decimal("812.123456789012345")),
                                            ("Support (Business)", "Other", "Purchase", Decimal("1000")),
                                            ("Amazon EC2", "Compute", "Credit", Decimal("-150.5")),
                                            ("Tax", "Other", "Tax", Decimal("77.07"))):
        rows.append({"BilledCost": cost, "EffectiveCost": cost, "ListCost": cost, "BillingCurrency": "USD",
                     "BillingPeriodStart": start, "ChargeCategory": charge, "ChargeClass": "",
                     "ChargePeriodStart": start, "ChargePeriodEnd": end, "ServiceName": service,
                     "ServiceCategory": category, "ResourceId": "", "RegionId": "", "ProviderName": "AWS",
                     "Tags": "", "BillingAccountId": "111", "SubAccountId": "", "ResourceName": "",
                     "x_Discounts": ""})
    rows[-1]["ChargeClass"] = "Correction" if day == 11 else ""
    return rows


def write(path, rows, columns, rng):
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=columns, extrasaction="ignore", lineterminator="\r\n")
    w.writeheader()
    for r in rows:
        out = dict(r)
        for k in ("BilledCost", "EffectiveCost", "ListCost"):
            if isinstance(out[k], Decimal):
                out[k] = amount_text(out[k], rng)
        w.writerow(out)
    data = buf.getvalue().encode()
    with open(path, "wb") as f:
        f.write(data)
    return data


def expected(rows):
    """(period, service, category) -> (billed, effective, lines) as stored."""
    out = {}
    for r in rows:
        k = (r["BillingPeriodStart"][:10], r["ServiceName"], r["ChargeCategory"])
        b, e, n = out.get(k, (Decimal(0), Decimal(0), 0))
        billed = q12(Decimal(r["BilledCost"]))
        eff = q12(Decimal(r["EffectiveCost"])) if r["EffectiveCost"] != "" else billed
        out[k] = (b + billed, e + eff, n + 1)
    return out


def stored(svc, view="bill_lines_current", where="true"):
    rows = svc.psql("SELECT billing_period, service_name, charge_category, sum(billed_cost), sum(effective_cost),"
                    " count(*) FROM %s WHERE %s GROUP BY 1, 2, 3" % (view, where))
    return {(p, s, c): (Decimal(b), Decimal(e), int(n)) for p, s, c, b, e, n in rows}


def main():
    rng = random.Random(7)
    svc = harness.Services(["usage-events:1"])
    ok = False
    try:
        cfg = svc.write_config("c.conf", os.path.join(harness.ROOT, "rules", "example.json"), {"group": "it-spend"})
        svc.costream("migrate", "-c", cfg)
        d = svc.dir
        oct_rows, nov_rows = make_bill(rng, "2026-10"), make_bill(rng, "2026-11")
        oct_data = write(os.path.join(d, "oct.csv"), oct_rows, COLUMNS_10, rng)
        write(os.path.join(d, "nov.csv"), nov_rows, COLUMNS_14, rng)
        # the amounts as the files hold them (exponents included) are what the test sums
        oct_rows = list(csv.DictReader(io.StringIO(oct_data.decode())))
        nov_rows = list(csv.DictReader(io.StringIO(open(os.path.join(d, "nov.csv")).read())))
        p = svc.costream("spend", "import", os.path.join(d, "oct.csv"), os.path.join(d, "nov.csv"),
                         "--source", "aws", "-c", cfg)
        check("import 1 for source aws: %d lines, 0 rejected, 1 billing period" % len(oct_rows) in p.stdout, p.stdout)
        want = expected(oct_rows + nov_rows)
        check(stored(svc) == want, "stored sums per period, service and category:\n%s\n%s" % (sorted(stored(svc).items())[:3], sorted(want.items())[:3]))
        # line by line: every column kept, tags as JSON
        line = svc.psql("SELECT columns->>'x_Discounts', tags->>'node', resource_name, billing_account_id"
                        " FROM bill_lines WHERE source = 'aws' AND billing_period = '2026-11-01' AND line = 2")[0]
        check(line == ["none", "n1", "n1", "111"], "columns kept: %s" % line)
        check(svc.psql("SELECT charge_class FROM bill_lines WHERE charge_class <> ''")[0][0] == "Correction", "ChargeClass")

        # the same file, and its gzip, again: nothing changes
        with open(os.path.join(d, "oct.csv.gz"), "wb") as f:
            f.write(gzip.compress(oct_data))
        p = svc.costream("spend", "import", os.path.join(d, "oct.csv"), os.path.join(d, "oct.csv.gz"),
                         "--source", "aws", "-c", cfg)
        check(p.stdout.count("already imported for source aws (import 1)") == 2, p.stdout)
        check(svc.psql("SELECT count(*) FROM bill_imports")[0][0] == "2", "no new import")

        # a restated October: version 2 in force, version 1 kept
        restated = make_bill(random.Random(7), "2026-10", restated=True)
        data = write(os.path.join(d, "oct-restated.csv.gz"), restated, COLUMNS_10, rng)
        with open(os.path.join(d, "oct-restated.csv.gz"), "wb") as f:
            f.write(gzip.compress(data))
        restated = list(csv.DictReader(io.StringIO(data.decode())))
        p = svc.costream("spend", "import", os.path.join(d, "oct-restated.csv.gz"), "--source", "aws", "-c", cfg)
        check("import 3" in p.stdout, p.stdout)
        check(stored(svc, where="billing_period = '2026-10-01'") == expected(restated), "restated October in force")
        check(stored(svc, "bill_lines", "billing_period = '2026-10-01' AND version = 1") == expected(oct_rows),
              "the first October version stays queryable")
        check(stored(svc, where="billing_period = '2026-11-01'") == expected(nov_rows), "November untouched")

        # bad files import nothing
        before = svc.psql("SELECT count(*) FROM bill_lines")[0][0]
        with open(os.path.join(d, "nocost.csv"), "w") as f:
            f.write("ServiceName,BillingCurrency,ChargeCategory,ChargePeriodStart,ChargePeriodEnd\r\nx,USD,Usage,a,b\r\n")
        p = svc.costream("spend", "import", os.path.join(d, "nocost.csv"), "--source", "aws", "-c", cfg, check_rc=False)
        check(p.returncode == 1 and "nocost.csv:1: missing mandatory FOCUS column: BilledCost" in p.stderr, p.stderr)
        bad = [dict(r) for r in nov_rows[:5]]
        bad[1]["BilledCost"] = "12,50"
        bad[3]["BillingCurrency"] = "US$"
        write(os.path.join(d, "bad.csv"), bad, COLUMNS_14, rng)
        p = svc.costream("spend", "import", os.path.join(d, "bad.csv"), "--source", "misc", "-c", cfg, check_rc=False)
        check(p.returncode == 1 and "bad.csv:3: BilledCost: \"12,50\" is not a decimal amount" in p.stderr
              and "bad.csv:5: BillingCurrency: \"US$\" is not an ISO 4217 currency code" in p.stderr
              and "nothing was imported" in p.stderr, p.stderr)
        check(svc.psql("SELECT count(*) FROM bill_lines")[0][0] == before, "nothing imported half-way")
        p = svc.costream("spend", "import", os.path.join(d, "bad.csv"), "--source", "misc", "--keep-bad-rows",
                         "-c", cfg)
        check("3 lines, 2 rejected" in p.stdout, p.stdout)
        rej = svc.psql("SELECT line, column_name, convert_from(raw, 'UTF8') FROM bill_rejects ORDER BY line")
        raw_lines = open(os.path.join(d, "bad.csv")).read().split("\n")
        check([r[0] for r in rej] == ["3", "5"] and rej[0][1] == "BilledCost"
              and rej[0][2].rstrip("\r\n") == raw_lines[2].rstrip("\r"), "rejects with raw bytes: %s" % rej)
        # invalid UTF-8 at every cut point of a Japanese name: in the file's name
        # (stored escaped, the import goes through) and in a line (a reject)
        jp = "請求書".encode()
        header = b"BilledCost,BillingCurrency,ChargeCategory,ChargePeriodStart,ChargePeriodEnd,ServiceName\r\n"
        for k in range(1, len(jp)):
            path = os.path.join(d, "cut").encode() + jp[:k] + b".csv"
            with open(path, "wb") as f:
                f.write(header + b"1,USD,Usage,2026-08-01T00:00:00Z,2026-08-02T00:00:00Z,svc-" + jp[:k] + b"\r\n"
                        + b"2,USD,Usage,2026-08-01T00:00:00Z,2026-08-02T00:00:00Z,plain-%d\r\n" % k)
            p = subprocess.run([harness.COSTREAM, "spend", "import", path, "--source", "cut-%d" % k,
                                "--keep-bad-rows", "-c", cfg], capture_output=True)
            valid = k % 3 == 0
            check(p.returncode == 0 and (b"2 lines, 0 rejected" if valid else b"1 lines, 1 rejected") in p.stdout,
                  "cut %d: %s %s" % (k, p.stdout, p.stderr))
            name = svc.psql("SELECT file_name FROM bill_imports WHERE source = 'cut-%d'" % k)[0][0]
            check(name.endswith(".csv") and name.startswith(os.path.join(d, "cut")) and
                  (valid and name == path.decode() or not valid and "\\x" in name),
                  "cut %d: file name stored as %r (from %r)" % (k, name, path))
            if not valid:
                rej = svc.psql("SELECT column_name, reason, length(raw) FROM bill_rejects b JOIN bill_imports i"
                               " ON i.id = b.import_id WHERE i.source = 'cut-%d'" % k)
                check(rej == [["ServiceName", "not valid UTF-8", str(len(b"1,USD,Usage,2026-08-01T00:00:00Z,"
                                                                        b"2026-08-02T00:00:00Z,svc-") + k + 2)]],
                      "cut %d: the bad line kept with its raw bytes: %s" % (k, rej))
        p = subprocess.run([harness.COSTREAM, "spend", "import", os.path.join(d, "nocost.csv").encode(),
                            "--source", b"bad-\xe8", "-c", cfg], capture_output=True)
        check(p.returncode != 0 and b"source name must be" in p.stderr, "a source that is not UTF-8: %s" % p.stderr)

        # a gzip bomb stops at spend.max_import_mb, without decompressing the rest
        small = svc.write_config("small.conf", os.path.join(harness.ROOT, "rules", "example.json"),
                                 {"group": "it-spend", "spend.max_import_mb": "16"})
        bomb = os.path.join(d, "bomb.csv.gz")
        zc = zlib.compressobj(9, zlib.DEFLATED, 31)
        with open(bomb, "wb") as f:
            f.write(zc.compress(header))
            zero_block = b"0" * (1 << 20)
            for _ in range(128):  # 128 MiB once decompressed, 128 KB on disk
                f.write(zc.compress(zero_block))
            f.write(zc.flush())
        t0 = time.monotonic()
        p = subprocess.run([harness.COSTREAM, "spend", "import", bomb, "--source", "bomb", "-c", small],
                           capture_output=True, text=True)
        took = time.monotonic() - t0
        peak_kb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        check(p.returncode == 1 and "larger than allowed" in p.stderr and "spend.max_import_mb" in p.stderr,
              "gzip bomb: %d %s" % (p.returncode, p.stderr))
        check(took < 30 and peak_kb < 200 * 1024, "gzip bomb: %.1fs, %d KB at most" % (took, peak_kb))
        # a bad line of 1 MB with --keep-bad-rows: kept as its first 64 KiB, said so
        with open(os.path.join(d, "wide.csv"), "wb") as f:
            f.write(header + b"1,USD,Usage,2026-08-01T00:00:00Z,2026-08-02T00:00:00Z,ok\r\n"
                    + b"x" * (1 << 20) + b",USD,Usage,2026-08-01T00:00:00Z,2026-08-02T00:00:00Z,wide\r\n")
        p = svc.costream("spend", "import", os.path.join(d, "wide.csv"), "--source", "wide", "--keep-bad-rows",
                         "-c", cfg)
        check("1 lines, 1 rejected" in p.stdout, p.stdout)
        rej = svc.psql("SELECT length(raw), reason FROM bill_rejects b JOIN bill_imports i ON i.id = b.import_id"
                       " WHERE i.source = 'wide'")
        check(rej[0][0] == "65536" and "its first 65536 kept" in rej[0][1], "a 1 MB bad line kept: %s" % rej)
        # a bill from a pipe, gzip or not, is read like the file
        for name, data in (("pipe", oct_data), ("pipe-gz", gzip.compress(oct_data))):
            with open(os.path.join(d, name), "wb") as f:
                f.write(data)
            p = subprocess.run(["sh", "-c", 'cat "$1" | "$2" spend import /dev/stdin --source "$3" -c "$4"', "sh",
                                os.path.join(d, name), harness.COSTREAM, name, cfg], capture_output=True, text=True)
            check(p.returncode == 0 and "%d lines, 0 rejected" % len(oct_rows) in p.stdout,
                  "%s: %s %s" % (name, p.stdout, p.stderr))

        # a pool holding two currencies cannot be allocated: said, nothing stored
        with open(os.path.join(d, "mixed.csv"), "w") as f:
            f.write("BilledCost,BillingCurrency,ChargeCategory,ChargePeriodStart,ChargePeriodEnd,ServiceName\r\n"
                    "10,USD,Usage,2026-09-01T00:00:00Z,2026-09-02T00:00:00Z,Amazon Bedrock\r\n"
                    "9,EUR,Usage,2026-09-01T00:00:00Z,2026-09-02T00:00:00Z,Amazon Bedrock\r\n")
        svc.costream("spend", "import", os.path.join(d, "mixed.csv"), "--source", "mixed", "-c", cfg)
        p = svc.costream("spend", "allocate", "--period", "2026-09", "-c", cfg, check_rc=False)
        check(p.returncode == 2 and 'pool "model-inference" holds lines in USD and EUR' in p.stderr, p.stderr)
        check(svc.psql("SELECT count(*) FROM spend_allocations")[0][0] == "0", "nothing allocated")
        print("ok: %d bill lines imported exactly; re-import and gzip are no-ops; a restatement is version 2;"
              " bad files import nothing, or the rest with --keep-bad-rows" % (len(oct_rows) + len(nov_rows)), flush=True)
        ok = True
    finally:
        sys.exit(harness.finish(svc, ok))


if __name__ == "__main__":
    main()

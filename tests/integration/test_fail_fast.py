#!/usr/bin/env python3
"""Permanent misconfiguration stops `costream run` at once, with one line
that says what to do; a passing outage is waited for, and /readyz names it.

  - a wrong PostgreSQL password              -> exit 1, "credentials"
  - a database that does not exist           -> exit 1, "does not exist"
  - a database never migrated                -> exit 1, "costream migrate"
  - a rules file that does not exist         -> exit 1, names the file
  - PostgreSQL not listening (an outage)     -> keeps running; /readyz 503
                                                "PostgreSQL is unreachable"
  - PostgreSQL frozen (SIGSTOP) mid-flush    -> /readyz names the blocked call
                                                and /metrics keeps moving
                                                (costream_worker_blocked_seconds,
                                                costream_partitions_assigned);
                                                after SIGCONT every event is billed
"""
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check  # noqa: E402

RULES = {"version": "ff-1", "currency": "USD", "plans": {},
         "rules": [{"id": "calls", "product": "api", "meter": "calls", "unit": "call", "unit_price": "0.003"}]}


def run_until_exit(svc, cfg, seconds=15):
    t0 = time.monotonic()
    p = subprocess.run([harness.COSTREAM, "run", "-c", cfg], capture_output=True, text=True, timeout=seconds)
    return p.returncode, p.stdout + p.stderr, time.monotonic() - t0


def error_lines(out):
    return [r for r in harness.log_records(out) if r.get("level") == "error"]


def main():
    svc = harness.Services(["usage-events:2"])
    ok = False
    try:
        rules_path = os.path.join(svc.dir, "rules.json")
        with open(rules_path, "w") as f:
            json.dump(RULES, f)
        host, port = svc.env["PGHOST"], svc.env["PGPORT"]
        # a role that must give a password (the throwaway server trusts everyone else)
        svc.psql("CREATE ROLE billing LOGIN PASSWORD 'right'; CREATE DATABASE fresh;")
        hba = os.path.join(svc.dir, "pg", "data", "pg_hba.conf")
        with open(hba) as f:
            rest = f.read()
        with open(hba, "w") as f:
            f.write("host all billing 127.0.0.1/32 scram-sha-256\n" + rest)
        svc.psql("SELECT pg_reload_conf()")
        time.sleep(0.5)

        cases = [
            ("wrong password", "host=%s port=%s dbname=costream user=billing password=wrong" % (host, port),
             rules_path, r"credentials"),
            ("missing database", "host=%s port=%s dbname=nosuch user=costream" % (host, port),
             rules_path, r"does not exist: create it"),
            ("unmigrated database", "host=%s port=%s dbname=fresh user=costream" % (host, port),
             rules_path, r"costream migrate"),
            ("missing rules file", svc.conninfo(), "/nonexistent/rules.json", r"/nonexistent/rules.json: cannot open"),
        ]
        for name, conninfo, rules, want in cases:
            cfg = svc.write_config(name.replace(" ", "_") + ".conf", rules,
                                   {"postgres": conninfo, "group": "ff"})
            rc, out, took = run_until_exit(svc, cfg)
            errs = error_lines(out)
            check(rc != 0, "%s: exit status %d, expected non-zero\n%s" % (name, rc, out))
            check(took < 10, "%s: took %.1fs to give up" % (name, took))
            check(len(errs) == 1, "%s: %d error lines, expected one:\n%s" % (name, len(errs), out))
            line = errs[0]["msg"] + " " + errs[0].get("error", "")
            check(re.search(want, line), "%s: the error line %r does not say %r" % (name, line, want))
            print("%s: exit %d after %.1fs: %s" % (name, rc, took, errs[0]["msg"]))

        # an outage is not a misconfiguration: wait, and say so on /readyz
        svc.costream("migrate", "-c", svc.write_config("ok.conf", rules_path))
        down = svc.write_config("down.conf", rules_path, {"postgres": "host=127.0.0.1 port=1 dbname=x user=x connect_timeout=1"})
        w = svc.start_worker(down, "down")
        port_ = harness.wait_until(
            lambda: (re.findall(r'"port":(\d+)', open(w.log_path).read()) or [None])[0], 20, "HTTP port")

        def readyz():
            try:
                urllib.request.urlopen("http://127.0.0.1:%s/readyz" % port_, timeout=2)
                return None
            except urllib.error.HTTPError as e:
                return (e.code, e.read().decode())

        got = harness.wait_until(lambda: (lambda r: r if r and "unreachable" in r[1] else None)(readyz()),
                                 20, "/readyz to name the outage")
        check(got[0] == 503, "/readyz status %s" % got[0])
        check(w.poll() is None, "the worker exited during an outage (it must wait)")
        svc.stop_worker(w)
        print("outage: still running, /readyz %d %s" % got)

        # a server that does not answer at all: the worker's call blocks
        good = svc.write_config("good.conf", rules_path, {"group": "ff-frozen"})
        w = svc.start_worker(good, "frozen")
        port_ = harness.wait_until(
            lambda: (re.findall(r'"port":(\d+)', open(w.log_path).read()) or [None])[0], 20, "HTTP port")
        prod = harness.producer(svc.bootstrap)
        ev = {"specversion": "1.0", "source": "//ff", "type": "t", "subject": "acme",
              "time": "2026-11-05T10:00:00Z", "data": {"product": "api", "meter": "calls", "quantity": "1"}}
        for i in range(50):
            prod.send("usage-events", harness.dump(dict(ev, id="a%d" % i)), partition=i % 2)
        prod.flush()
        harness.wait_until(lambda: sum(svc.stored_offsets("ff-frozen", "usage-events").values()) == 50, 30, "50 stored")
        pids = [int(open(os.path.join(svc.dir, "pg", "data", "postmaster.pid")).readline())]
        pids += [int(x) for x in subprocess.run(["ps", "-o", "pid=", "--ppid", str(pids[0])],
                                                capture_output=True, text=True).stdout.split()]
        for pid in pids:
            try:
                os.kill(pid, signal.SIGSTOP)
            except ProcessLookupError:
                pass  # a short-lived child (an autovacuum worker) ended meanwhile: nothing to freeze
        try:
            for i in range(50, 80):
                prod.send("usage-events", harness.dump(dict(ev, id="a%d" % i)), partition=i % 2)
            prod.flush()

            def metric(name):
                body = urllib.request.urlopen("http://127.0.0.1:%s/metrics" % port_, timeout=3).read().decode()
                m = re.search(r"^%s (\S+)$" % name, body, re.M)
                return float(m.group(1)) if m else None

            blocked = harness.wait_until(lambda: (lambda r: r if r and "blocked" in r[1] else None)(readyz()),
                                         40, "/readyz to name the blocked call")
            check("PostgreSQL" in blocked[1], "/readyz says what it is blocked on: %s" % blocked[1])
            b1 = metric("costream_worker_blocked_seconds")
            time.sleep(2)
            b2 = metric("costream_worker_blocked_seconds")
            check(b1 and b2 and b2 > b1, "blocked seconds move while blocked: %s then %s" % (b1, b2))
            check(metric("costream_partitions_assigned") == 2, "partitions still shown while blocked")
            check(metric("costream_ready") == 0, "costream_ready is 0 while blocked")
        finally:
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGCONT)
                except ProcessLookupError:
                    pass
        harness.wait_until(lambda: sum(svc.stored_offsets("ff-frozen", "usage-events").values()) == 80, 60,
                           "80 stored after the thaw")
        billed = svc.psql("SELECT sum(events) FROM usage_cost WHERE customer = 'acme'")[0][0]
        check(int(billed) == 80, "billed %s events of 80" % billed)
        harness.wait_until(lambda: readyz() is None, 30, "/readyz 200 again")
        svc.stop_worker(w)
        print("frozen PostgreSQL: /readyz %d %s; blocked seconds %s -> %s; all 80 events billed after the thaw"
              % (blocked[0], blocked[1], b1, b2))
        ok = True
    finally:
        status = harness.finish(svc, ok)
    return status


if __name__ == "__main__":
    sys.exit(main())

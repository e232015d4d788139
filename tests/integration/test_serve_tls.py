#!/usr/bin/env python3
"""costream serve over HTTPS, and never plain HTTP off loopback by default.

  - serve.tls_cert / serve.tls_key (a certificate made here with openssl):
    a report downloads over HTTPS, verified against that certificate, and is
    byte for byte the command line's; plain HTTP on the same port gets no
    report;
  - serve.listen on a non-loopback address without TLS: exit 2 at once,
    naming the clear-text tokens and the three ways out; with
    serve.allow_plaintext = yes it serves;
  - only one of the two files, or a key that is not PEM: exit 2 / 1 with a
    message, never a plain-HTTP fallback.
"""
import os
import re
import socket
import ssl
import subprocess
import sys
import time
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check  # noqa: E402


def serve(svc, cfg, name):
    log = open(os.path.join(svc.dir, name + ".log"), "w")
    p = subprocess.Popen([harness.COSTREAM, "serve", "-c", cfg], stdout=log, stderr=subprocess.STDOUT)
    svc.workers.append(p)
    p.log_path = log.name
    return p


def port_of(p):
    return harness.wait_until(lambda: (re.findall(r'"port":(\d+)', open(p.log_path).read()) or [None])[0]
                              or (p.poll() is not None and "exited"), 30, "serve to listen")


def non_loopback_ip():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("192.0.2.1", 9))  # no packet is sent: only the route's source address
        return s.getsockname()[0]
    finally:
        s.close()


def main():
    svc = harness.Services(["usage-events:1"])
    ok = False
    try:
        rules = os.path.join(harness.ROOT, "rules", "example.json")
        cfg = svc.write_config("plain.conf", rules, {"serve.listen": "127.0.0.1:0"})
        svc.costream("migrate", "-c", cfg)
        svc.psql("INSERT INTO usage_cost (billing_period, hour, customer, product, meter, rule_id, rules_version,"
                 " plan, currency, unit, unit_price, discount_rate, quantity, list_cost, discount, cost, events)"
                 " VALUES ('2026-10-01', '2026-10-03 10:00+00', 'acme', 'api-gateway', 'requests', 'r', 'v', 'pro',"
                 " 'USD', 'request', 0.0000035, 0.1, 1000, 0.0035, 0.00035, 0.00315, 1)")
        token = svc.costream("token", "create", "--scope", "finance", "--name", "f", "-c", cfg).stdout.strip()
        want = svc.costream("report", "-c", cfg, "--period", "2026-10", "--format", "csv").stdout

        cert, key = os.path.join(svc.dir, "cert.pem"), os.path.join(svc.dir, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                        "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, capture_output=True)
        tls = svc.write_config("tls.conf", rules, {"serve.listen": "127.0.0.1:0", "serve.tls_cert": cert,
                                                   "serve.tls_key": key})
        p = serve(svc, tls, "tls")
        port = port_of(p)
        check(port != "exited", "TLS serve exited:\n" + open(p.log_path).read())
        ctx = ssl.create_default_context(cafile=cert)
        req = urllib.request.Request("https://127.0.0.1:%s/reports/chargeback?period=2026-10" % port,
                                     headers={"Authorization": "Bearer " + token})
        body = urllib.request.urlopen(req, context=ctx, timeout=30).read().decode()
        check(body.replace("\r\n", "\n") == want, "the HTTPS report differs from the command line's")
        plain_failed = False
        try:
            urllib.request.urlopen(req.full_url.replace("https:", "http:"), timeout=5).read()
        except Exception:
            plain_failed = True
        check(plain_failed, "plain HTTP was answered on the TLS port")
        check('"tls":"on"' in open(p.log_path).read(), "the start line says tls on")
        p.terminate()
        p.wait(timeout=20)

        ip = non_loopback_ip()
        check(not ip.startswith("127."), "this machine has no non-loopback address: %s" % ip)
        open_cfg = svc.write_config("open.conf", rules, {"serve.listen": "%s:0" % ip})
        r = subprocess.run([harness.COSTREAM, "serve", "-c", open_cfg], capture_output=True, text=True, timeout=20)
        check(r.returncode == 2 and "clear text" in r.stdout + r.stderr and "serve.allow_plaintext" in r.stdout + r.stderr,
              "plain HTTP off loopback: exit %d %s" % (r.returncode, r.stdout + r.stderr))
        trusted = svc.write_config("trusted.conf", rules, {"serve.listen": "%s:0" % ip, "serve.allow_plaintext": "yes"})
        p = serve(svc, trusted, "trusted")
        port = port_of(p)
        check(port != "exited", "serve.allow_plaintext = yes did not serve:\n" + open(p.log_path).read())
        st = urllib.request.urlopen("http://%s:%s/healthz" % (ip, port), timeout=10).status
        check(st == 200, "healthz over the trusted network: %d" % st)
        p.terminate()
        p.wait(timeout=20)

        half = svc.write_config("half.conf", rules, {"serve.listen": "127.0.0.1:0", "serve.tls_cert": cert})
        r = subprocess.run([harness.COSTREAM, "serve", "-c", half], capture_output=True, text=True, timeout=20)
        check(r.returncode == 2 and "both serve.tls_cert and serve.tls_key" in r.stdout + r.stderr,
              "only a certificate: exit %d %s" % (r.returncode, r.stdout + r.stderr))
        bad = svc.write_config("bad.conf", rules, {"serve.listen": "127.0.0.1:0", "serve.tls_cert": cert,
                                                   "serve.tls_key": cfg})
        r = subprocess.run([harness.COSTREAM, "serve", "-c", bad], capture_output=True, text=True, timeout=20)
        check(r.returncode != 0 and "TLS" in r.stdout + r.stderr, "a key that is not PEM: exit %d %s"
              % (r.returncode, r.stdout + r.stderr))
        print("ok: HTTPS report equals the CLI's (%d bytes); plain HTTP refused on the TLS port; "
              "%s without TLS refused (exit 2), served with serve.allow_plaintext; half or bad TLS refused" % (len(body), ip))
        ok = True
    finally:
        svc.close(keep_logs=not ok)


if __name__ == "__main__":
    main()

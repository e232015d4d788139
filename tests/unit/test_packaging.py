#!/usr/bin/env python3
"""meson install puts a working installation in place: the three binaries,
the systemd units (their ExecStart naming the installed binary, every
directive known to systemd, exposure at most 2.0 by systemd-analyze
security), the sample configuration (which the installed binary reads
without a configuration error), the example rules (valid), the Grafana
files and the documentation.

  test_packaging.py BUILD_DIR
"""
import os
import re
import subprocess
import sys
import tempfile


def check(cond, msg):
    if not cond:
        print("FAIL: " + msg)
        sys.exit(1)


def main():
    build = sys.argv[1]
    dest = tempfile.mkdtemp(prefix="cs-install-")
    subprocess.run(["meson", "install", "-C", build, "--destdir", dest, "--no-rebuild", "--quiet"],
                   check=True, capture_output=True)
    prefix = subprocess.run(["meson", "introspect", build, "--buildoptions"], check=True,
                            capture_output=True, text=True).stdout
    prefix = re.search(r'"name": "prefix", "value": "([^"]+)"', prefix).group(1)
    root = dest + prefix
    for b in ("costream", "costream-loadgen", "costream-kafka-mock"):
        check(os.access(os.path.join(root, "bin", b), os.X_OK), "bin/%s installed" % b)
    units = os.path.join(root, "lib", "systemd", "system")
    for unit, verb in (("costream@.service", "run"), ("costream-serve.service", "serve")):
        text = open(os.path.join(units, unit)).read()
        check("ExecStart=%s/bin/costream %s\n" % (prefix, verb) in text, "%s: ExecStart" % unit)
        p = subprocess.run(["systemd-analyze", "security", "--offline=true", "--threshold=20",
                            "--root=" + dest, os.path.join(units, unit)], capture_output=True, text=True)
        exposure = re.search(r"Overall exposure level for \S+: ([\d.]+)", p.stdout)
        check(p.returncode == 0 and exposure, "%s: systemd-analyze security failed\n%s%s" % (unit, p.stdout, p.stderr))
        check(not re.search(r"Unknown|ignoring|Failed", p.stderr), "%s: %s" % (unit, p.stderr))
        print("%s: exposure %s" % (unit, exposure.group(1)))
    share = os.path.join(root, "share", "costream")
    sample = os.path.join(share, "costream.conf.example")
    costream = os.path.join(root, "bin", "costream")
    p = subprocess.run([costream, "report", "-c", sample, "--period", "not-a-month"], capture_output=True, text=True)
    check(p.returncode == 2 and "--period" in p.stderr and "costream.conf.example:" not in p.stderr,
          "the sample configuration does not load: %s" % p.stderr)
    p = subprocess.run([costream, "rules", "check", os.path.join(share, "rules", "example.json")],
                       capture_output=True, text=True)
    check(p.returncode == 0, "installed example rules: %s" % p.stderr)
    for f in ("grafana/dashboards/costream-business.json", "grafana/prometheus/costream-alerts.yml"):
        check(os.path.exists(os.path.join(share, f)), f)
    check(os.path.exists(os.path.join(root, "share", "doc", "costream", "operations.md")), "docs")
    print("ok: installed under %s%s" % (dest, prefix))
    subprocess.run(["rm", "-rf", dest])


if __name__ == "__main__":
    main()

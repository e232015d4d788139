#!/usr/bin/env python3
"""The command line a new operator meets, without any service:

  * every command answers --help, -h and `costream help COMMAND` with its
    options and an example, exit 0, nothing on standard error; the
    top-level help lists every command and the load generator's options,
    and the load generator prints the same text;
  * without -c the configuration comes from $COSTREAM_CONFIG (said so; an
    error in it names the file and line), and with neither that nor
    /etc/costream/costream.conf the command says that none was read."""
import os
import subprocess
import sys
import tempfile

COSTREAM = os.environ["COSTREAM"]
LOADGEN = os.path.join(os.path.dirname(COSTREAM), "costream-loadgen")
COMMANDS = ["run", "migrate", "rules", "report", "serve", "period", "token", "spend", "version"]
failures = []


def check(cond, msg):
    if not cond:
        failures.append(msg)


def run(*args, env=None):
    return subprocess.run(list(args), capture_output=True, text=True, env=env, timeout=30)


def main():
    top = run(COSTREAM, "--help")
    check(top.returncode == 0 and not top.stderr, "costream --help: %d %s" % (top.returncode, top.stderr))
    for cmd in COMMANDS:
        for args in ([cmd, "--help"], [cmd, "-h"], ["help", cmd]):
            p = run(COSTREAM, *args)
            check(p.returncode == 0 and not p.stderr and p.stdout.startswith("costream " + cmd),
                  "costream %s: exit %d, stderr %r" % (" ".join(args), p.returncode, p.stderr))
        check("costream " + cmd in top.stdout, "top-level help lists %s" % cmd)
    check("Example:" in run(COSTREAM, "report", "--help").stdout, "an example in report --help")
    check("--config FILE" in run(COSTREAM, "run", "--help").stdout, "run --help lists -c")
    lg = run(LOADGEN, "--help")
    check(lg.returncode == 0 and lg.stdout in top.stdout and "--metrics-topic" in lg.stdout,
          "the load generator's help is in costream --help")

    env = {k: v for k, v in os.environ.items() if k != "COSTREAM_CONFIG"}
    with tempfile.TemporaryDirectory() as d:
        conf = os.path.join(d, "c.conf")
        with open(conf, "w") as f:
            f.write("flush.interval_ms = soon\n")
        p = run(COSTREAM, "period", "list", env=dict(env, COSTREAM_CONFIG=conf))
        check(p.returncode == 2 and "using the configuration %s (from COSTREAM_CONFIG)" % conf in p.stderr
              and "%s:1: flush.interval_ms" % conf in p.stderr, "COSTREAM_CONFIG: %s" % p.stderr)
        if not os.path.exists("/etc/costream/costream.conf"):
            p = run(COSTREAM, "period", "list", "--set", "postgres=host=/nonexistent", env=env)
            check("no configuration read" in p.stderr and p.returncode == 1, "no configuration: %s" % p.stderr)
    if failures:
        for m in failures:
            print("FAIL:", m)
        sys.exit(1)
    print("ok: --help for %d commands three ways; configuration discovery said" % len(COMMANDS))


if __name__ == "__main__":
    main()

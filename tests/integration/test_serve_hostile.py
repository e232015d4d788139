#!/usr/bin/env python3
"""Slow-header floods do not silence the report server or a worker's
/metrics port (issue 21, finding 2).

The attackers connect from other loopback addresses (127.0.0.2 and up) and
send one header line a second, never finishing their request; the
legitimate clients (the health check, the finance page, Prometheus'
scrape, the orchestrator's /readyz) come from 127.0.0.1 and must be
answered while the attack runs:

  1. `costream serve` (its defaults, but a 4 s header deadline): 300
     trickling connections from one address.  At most
     serve.max_connections_per_ip (32) are taken, the rest refused at once,
     and the taken ones are shut down by the header deadline although they
     never fall silent.
  2. The same server: 300 trickling connections spread over 40 addresses,
     more than serve.max_connections less its reserve.  The oldest trickler
     makes room for every new connection past the reserve line, so the
     legitimate requests still get in.
  3. A worker's /metrics port (http.max_connections 128): 600 trickling
     connections from 75 addresses; /metrics and /readyz still answer.

The bound asserted for an answer (5 s) is generous; the time measured is
printed, and docs/reliability.md records it.
"""
import json
import os
import re
import socket
import sys
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from harness import check  # noqa: E402

HEADER_TIMEOUT = 4


class Trickle:
    """n connections to port from the given source addresses, each sending
    one header line a second until closed by the server or stop()."""

    def __init__(self, port, sources, n):
        self.socks = []
        self.opened = 0
        for i in range(n):
            s = socket.socket()
            s.bind((sources[i % len(sources)], 0))
            s.settimeout(5)
            try:
                s.connect(("127.0.0.1", port))
                s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
                self.opened += 1
            except OSError:
                s.close()
                continue
            s.setblocking(False)
            self.socks.append([s, time.monotonic(), None])  # socket, opened, closed at
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run)
        self.thread.start()

    def run(self):
        while not self.stopping.wait(1.0):
            for entry in self.socks:
                s, _, closed = entry
                if closed is not None:
                    continue
                try:
                    if s.recv(4096) == b"":
                        entry[2] = time.monotonic()
                        continue
                except BlockingIOError:
                    pass
                except OSError:
                    entry[2] = time.monotonic()
                    continue
                try:
                    s.send(b"X-Trickle: 1\r\n")
                except OSError:
                    entry[2] = time.monotonic()

    def alive(self):
        return sum(1 for e in self.socks if e[2] is None)

    def lifetimes(self):
        return [e[2] - e[1] for e in self.socks if e[2] is not None]

    def stop(self):
        self.stopping.set()
        self.thread.join(10)
        for s, _, _ in self.socks:
            s.close()


def timed_get(url, token=None):
    """(status, seconds) of one GET from 127.0.0.1."""
    headers = {"Authorization": "Bearer " + token} if token else {}
    t0 = time.monotonic()
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=5) as r:
            r.read()
            st = r.status
    except urllib.error.HTTPError as e:
        st = e.code
    except OSError as e:
        st = "error: %s" % e
    return st, time.monotonic() - t0


def probe(urls, seconds):
    """GETs each (url, token) every 0.25 s for seconds; the worst time."""
    worst = 0.0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for url, token in urls:
            st, took = timed_get(url, token)
            check(st == 200, "%s answered %s after %.2fs during the attack" % (url, st, took))
            worst = max(worst, took)
        time.sleep(0.25)
    return worst


def main():
    svc = harness.Services(["usage-events:1"])
    ok = False
    try:
        rules_path = svc.simple_rules()
        cfg = svc.write_config("c.conf", rules_path, {
            "serve.listen": "127.0.0.1:0", "serve.header_timeout_s": str(HEADER_TIMEOUT),
            "http.header_timeout_s": str(HEADER_TIMEOUT), "topics": "usage-events"})
        svc.costream("migrate", "-c", cfg)
        svc.insert_usage("SELECT '2026-11-01', '2026-11-01'::timestamptz + (i % 720) * interval '1 hour',"
                         " 'c' || (i % 7), 'api', 'm', 'r', 'v', 'pro', 'USD', 'call', 0.01, 0, 1, 0.01, 0, 0.01, 1"
                         " FROM generate_series(1, 5000) i")
        fin = svc.costream("token", "create", "--scope", "finance", "--name", "fin", "-c", cfg).stdout.strip()
        server, port = svc.start_serve(cfg)
        base = "http://127.0.0.1:%d" % port
        legit = [(base + "/healthz", None), (base + "/?period=2026-11", fin)]

        # 1. one address, 300 tricklers
        t = Trickle(port, ["127.0.0.2"], 300)
        # the refused ones are closed at once: seen within the trickler's next round
        harness.wait_until(lambda: t.alive() <= 32, 10, "the connections past the cap per address to close")
        taken = t.alive()
        worst1 = probe(legit, HEADER_TIMEOUT)
        harness.wait_until(lambda: t.alive() == 0, HEADER_TIMEOUT + 10, "the header deadline to close the tricklers")
        longest = max(t.lifetimes())
        t.stop()
        print("one address: %d of 300 taken (cap 32), all closed within %.1fs though trickling;"
              " healthz and finance page at worst %.2fs" % (taken, longest, worst1))
        check(taken == 32, "%d connections from one address were kept, the cap is 32" % taken)
        check(longest < HEADER_TIMEOUT + 3, "a trickler lived %.1fs past a %ds header deadline" % (longest, HEADER_TIMEOUT))

        # 2. forty addresses, 300 tricklers: more than max_connections less its reserve
        t = Trickle(port, ["127.0.0.%d" % i for i in range(3, 43)], 300)
        worst2 = probe(legit, 2)
        peak = t.alive()
        t.stop()
        print("40 addresses: %d of 300 still open after 2 s; healthz and finance page at worst %.2fs" % (peak, worst2))
        check(peak <= 256, "%d open connections, the cap is 256" % peak)
        server.terminate()
        server.wait(30)
        stopped = [json.loads(l) for l in open(server.log_path) if '"report server stopped"' in l]
        check(stopped and stopped[0]["header_timeouts"] >= taken and stopped[0]["evicted"] > 0,
              "the guard's counts: %s" % stopped)

        # 3. a worker's /metrics port
        worker = svc.start_worker(cfg, "worker")
        mport = int(harness.wait_until(
            lambda: (re.findall(r'"msg":"serving /metrics[^\n]*"port":(\d+)', open(worker.log_path).read()) or [None])[0],
            60, "the worker's /metrics port"))
        mbase = "http://127.0.0.1:%d" % mport
        harness.wait_until(lambda: timed_get(mbase + "/readyz")[0] == 200, 60, "the worker to be ready")
        t = Trickle(mport, ["127.0.%d.%d" % (1 + i // 200, 2 + i % 200) for i in range(75)], 600)
        worst3 = probe([(mbase + "/metrics", None), (mbase + "/readyz", None)], HEADER_TIMEOUT + 1)
        peak = t.alive()
        t.stop()
        print("worker: 600 tricklers from 75 addresses, %d open at the end; /metrics and /readyz at worst %.2fs"
              % (peak, worst3))
        check(peak <= 128, "%d open connections on /metrics, the cap is 128" % peak)
        ok = True
    finally:
        status = harness.finish(svc, ok)
    return status


if __name__ == "__main__":
    sys.exit(main())

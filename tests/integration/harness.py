"""Shared helpers for costream's integration tests.

Every test gets its own throwaway PostgreSQL, Redis and Kafka (librdkafka's
mock cluster) from scripts/services, on loopback, removed afterwards.  The
tests talk to them with real clients: psql, redis-cli, kafka-python.
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COSTREAM = os.environ.get("COSTREAM", os.path.join(ROOT, "build", "src", "costream"))


def fail(msg):
    print("FAIL: " + msg, flush=True)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def wait_until(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.25)
    fail("timed out after %ds waiting for %s" % (timeout, what))


class Services:
    """PostgreSQL + Redis + Kafka for one test."""

    def __init__(self, topics):
        self.dir = tempfile.mkdtemp(prefix="costream-it-")
        subprocess.run([os.path.join(ROOT, "scripts", "services"), "start", self.dir] + topics,
                       check=True, env=dict(os.environ, COSTREAM=COSTREAM))
        self.env = {}
        with open(os.path.join(self.dir, "env")) as f:
            for line in f:
                k, _, v = line.strip().partition("=")
                self.env[k] = v
        self.bootstrap = self.env["KAFKA_BOOTSTRAP"]
        self.workers = []

    def conninfo(self):
        return "host=%s port=%s dbname=costream user=costream" % (self.env["PGHOST"], self.env["PGPORT"])

    def psql(self, sql):
        """Runs sql (sent on standard input, so any length works); rows as lists."""
        out = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-F", "|", "-d", self.conninfo()],
                             input=sql, check=True, capture_output=True, text=True).stdout
        return [line.split("|") for line in out.splitlines() if line]

    def redis(self, *args):
        return subprocess.run(["redis-cli", "-p", self.env["REDIS_PORT"]] + list(args),
                              check=True, capture_output=True, text=True).stdout.strip()

    def write_config(self, name, rules_path, extra=None):
        path = os.path.join(self.dir, name)
        lines = {
            "kafka.bootstrap.servers": self.bootstrap,
            "kafka.session.timeout.ms": "6000",
            "kafka.heartbeat.interval.ms": "500",
            "kafka.topic.metadata.refresh.interval.ms": "1000",
            "postgres": self.conninfo(),
            "redis.port": self.env["REDIS_PORT"],
            "rules": rules_path,
            "flush.interval_ms": "300",
            "labels.cache_ttl_ms": "1000",
            "http.listen": "127.0.0.1:0",
        }
        lines.update(extra or {})
        with open(path, "w") as f:
            for k, v in lines.items():
                f.write("%s = %s\n" % (k, v))
        return path

    def costream(self, *args, check_rc=True):
        p = subprocess.run([COSTREAM] + list(args), capture_output=True, text=True)
        if check_rc and p.returncode != 0:
            fail("costream %s: exit %d\n%s%s" % (" ".join(args), p.returncode, p.stdout, p.stderr))
        return p

    def start_worker(self, config, name):
        log = open(os.path.join(self.dir, name + ".log"), "a")
        p = subprocess.Popen([COSTREAM, "run", "-c", config], stdout=log, stderr=subprocess.STDOUT)
        p.log_path = log.name
        self.workers.append(p)
        return p

    def stop_worker(self, p, sig=signal.SIGTERM, timeout=30):
        p.send_signal(sig)
        try:
            return p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            fail("worker did not stop within %ds after signal %d" % (timeout, sig))

    def stored_offsets(self, group, topic):
        rows = self.psql("SELECT partition, next_offset FROM consumer_offsets WHERE group_id = '%s' AND topic = '%s'" % (group, topic))
        return {int(p): int(o) for p, o in rows}

    def consumed_all(self, group, *topics):
        """Whether PostgreSQL holds the group's offset at the end of every
        non-empty partition of the topics (everything produced is stored)."""
        for topic in topics:
            ends = end_offsets(self.bootstrap, topic)
            if self.stored_offsets(group, topic) != {p: o for p, o in ends.items() if o > 0}:
                return False
        return True

    def simple_rules(self):
        """A rules file of one flat price (api calls at 0.01 USD); its path."""
        path = os.path.join(self.dir, "rules.json")
        with open(path, "w") as f:
            json.dump({"version": "v", "currency": "USD", "plans": {},
                       "rules": [{"id": "r", "product": "api", "meter": "calls", "unit": "call",
                                  "unit_price": "0.01"}]}, f)
        return path

    def insert_usage(self, select):
        """Stores usage_cost rows straight from a SELECT of (billing_period,
        hour, customer, product, meter, rule_id, rules_version, plan,
        currency, unit, unit_price, discount_rate, quantity, list_cost,
        discount, cost, events), as the report tests need them."""
        self.psql("INSERT INTO usage_cost (billing_period, hour, customer, product, meter, rule_id,"
                  " rules_version, plan, currency, unit, unit_price, discount_rate, quantity, list_cost,"
                  " discount, cost, events) " + select)

    def start_serve(self, config, name="serve"):
        """Starts `costream serve -c config` (logging to NAME.log in the
        test's directory) and waits for its port; returns (process, port).
        close() stops it, as it does the workers."""
        import re
        p = subprocess.Popen([COSTREAM, "serve", "-c", config], stdout=open(os.path.join(self.dir, name + ".log"), "w"),
                             stderr=subprocess.STDOUT)
        p.log_path = os.path.join(self.dir, name + ".log")
        self.workers.append(p)
        port = wait_until(lambda: (re.findall(r'"port":(\d+)', open(p.log_path).read()) or [None])[0], 60,
                          "costream serve to listen")
        return p, int(port)

    def rollups_match(self):
        """Whether the finance page's rollups (sql/0019_usage_rollups.sql),
        with the changes not folded in yet, equal usage_cost summed here:
        per period, customer, product and currency, and per period, hour
        and currency, to the last digit.  Returns (ok, first difference)."""
        checks = [
            ("SELECT billing_period, customer, product, currency, sum(cost), sum(list_cost), sum(discount),"
             " sum(events) FROM usage_cost GROUP BY 1, 2, 3, 4",
             "SELECT billing_period, customer, product, currency, sum(cost), sum(list_cost), sum(discount),"
             " sum(events) FROM (SELECT billing_period, customer, product, currency, cost, list_cost, discount,"
             " events FROM usage_period UNION ALL SELECT billing_period, customer, product, currency, cost,"
             " list_cost, discount, events FROM usage_rollup_delta WHERE hour IS NULL) x GROUP BY 1, 2, 3, 4"
             " HAVING sum(cost) <> 0 OR sum(list_cost) <> 0 OR sum(discount) <> 0 OR sum(events) <> 0"),
            ("SELECT billing_period, hour, currency, sum(cost), sum(list_cost), sum(discount), sum(events)"
             " FROM usage_cost GROUP BY 1, 2, 3",
             "SELECT billing_period, hour, currency, sum(cost), sum(list_cost), sum(discount), sum(events)"
             " FROM (SELECT billing_period, hour, currency, cost, list_cost, discount, events FROM usage_hour"
             " UNION ALL SELECT billing_period, hour, currency, cost, list_cost, discount, events"
             " FROM usage_rollup_delta WHERE hour IS NOT NULL) x GROUP BY 1, 2, 3"
             " HAVING sum(cost) <> 0 OR sum(list_cost) <> 0 OR sum(discount) <> 0 OR sum(events) <> 0"),
        ]
        from decimal import Decimal
        for raw_sql, rollup_sql in checks:
            def norm(rows):
                return {tuple(r[:-4]): tuple(Decimal(v) for v in r[-4:]) for r in rows}
            raw, rolled = norm(self.psql(raw_sql)), norm(self.psql(rollup_sql))
            if raw != rolled:
                diff = sorted(set(raw.items()) ^ set(rolled.items()))[:2]
                return False, "rollups differ from usage_cost: %s" % diff
        return True, ""

    def close(self, keep_logs=False):
        for p in self.workers:
            if p.poll() is None:
                p.kill()
                p.wait()
        if os.environ.get("COSTREAM_KEEP_LOGS") or keep_logs:
            for p in self.workers:
                print("---- %s" % p.log_path)
                with open(p.log_path) as f:
                    sys.stdout.write(f.read()[-4000:])
        subprocess.run([os.path.join(ROOT, "scripts", "services"), "stop", self.dir], check=False)


def finish(svc, ok):
    """Stops svc (printing the workers' logs when the test failed) and
    prints the closing line; returns the exit status."""
    svc.close(keep_logs=not ok)
    print("1 passed, 0 failed" if ok else "0 passed, 1 failed")
    return 0 if ok else 1


def log_records(text):
    """The JSON records of a worker's log text (other lines skipped)."""
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def scrape(worker):
    """The /metrics text of a running worker (its port from its log)."""
    import re
    import urllib.request
    port = re.findall(r'"msg":"serving /metrics[^\n]*"port":(\d+)', open(worker.log_path).read())[-1]
    return urllib.request.urlopen("http://127.0.0.1:%s/metrics" % port, timeout=10).read().decode()


def metric_value(text, name, labels=""):
    """The value of one series in a /metrics text (0 when absent)."""
    import re
    m = re.search(r"^%s%s (\S+)$" % (re.escape(name), re.escape(labels)), text, re.M)
    return float(m.group(1)) if m else 0.0


def producer(bootstrap):
    from kafka import KafkaProducer
    return KafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5,
                         api_version=(2, 5, 0), max_in_flight_requests_per_connection=1)


def end_offsets(bootstrap, topic):
    from kafka import KafkaConsumer, TopicPartition
    c = KafkaConsumer(bootstrap_servers=bootstrap, api_version=(2, 5, 0))
    parts = [TopicPartition(topic, p) for p in c.partitions_for_topic(topic)]
    ends = c.end_offsets(parts)
    c.close()
    return {tp.partition: off for tp, off in ends.items()}


def dump(obj):
    return json.dumps(obj, separators=(",", ":")).encode()

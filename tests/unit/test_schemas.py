#!/usr/bin/env python3
"""The JSON Schemas in schemas/ agree with what costream accepts: the shipped
rules validate against rules.schema.json and `costream rules check` accepts
them; a broken copy fails both; events the load generator makes validate
against usage-event.schema.json (produced by `costream-loadgen` into a real
mock Kafka and read back, JSON and MessagePack) and a broken one does not."""
import copy
import json
import os
import subprocess
import sys
import tempfile

import jsonschema

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
COSTREAM = os.environ["COSTREAM"]


def load(p):
    with open(os.path.join(ROOT, p)) as f:
        return json.load(f)


rules_schema = load("schemas/rules.schema.json")
event_schema = load("schemas/usage-event.schema.json")
example = load("rules/example.json")
jsonschema.Draft202012Validator.check_schema(rules_schema)
jsonschema.Draft202012Validator.check_schema(event_schema)
jsonschema.validate(example, rules_schema)
assert subprocess.run([COSTREAM, "rules", "check", os.path.join(ROOT, "rules/example.json")]).returncode == 0

broken = copy.deepcopy(example)
broken["rules"][0]["unit_price"] = "one cent"
broken["rules"][1]["match"][0]["op"] = "~"
try:
    jsonschema.validate(broken, rules_schema)
    sys.exit("schema accepted a broken rules file")
except jsonschema.ValidationError:
    pass
with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
    json.dump(broken, f, indent=2)
p = subprocess.run([COSTREAM, "rules", "check", f.name], capture_output=True, text=True)
os.unlink(f.name)
assert p.returncode == 1, p
assert "rules[0].unit_price" in p.stderr and "rules[1].match[0].op" in p.stderr, p.stderr



def loadgen_events(fmt, count=300):
    """Messages `costream-loadgen` produces, read back from `costream-kafka-mock`."""
    from kafka import KafkaConsumer, TopicPartition
    import msgpack
    import time
    tmp = tempfile.mkdtemp()
    boot = os.path.join(tmp, "bootstrap")
    tools = os.path.dirname(COSTREAM)
    mock = subprocess.Popen([os.path.join(tools, "costream-kafka-mock"), "--bootstrap-file", boot, "--topic", "ev:1"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if os.path.exists(boot) and os.path.getsize(boot):
                break
            time.sleep(0.1)
        brokers = open(boot).read().strip()
        p = subprocess.run([os.path.join(tools, "costream-loadgen"), "--brokers", brokers, "--topic", "ev",
                            "--count", str(count), "--format", fmt, "--malformed-permille", "0", "--seed", "5"],
                           check=True, capture_output=True, text=True)
        # not a terminal: no progress lines, one summary line at the end
        assert p.stderr.startswith("costream-loadgen: produced %d events to ev in " % count) and \
            p.stderr.count("\n") == 1 and "\r" not in p.stderr, "loadgen's summary: %r" % p.stderr
        c = KafkaConsumer(bootstrap_servers=brokers, api_version=(2, 5, 0), consumer_timeout_ms=5000,
                          auto_offset_reset="earliest")
        c.assign([TopicPartition("ev", 0)])
        out = []
        for m in c:
            out.append(json.loads(m.value) if fmt == "json" else msgpack.unpackb(m.value, raw=False))
            if len(out) == count:
                break
        c.close()
        return out
    finally:
        mock.kill()
        mock.wait()


for fmt in ("json", "msgpack"):
    produced = loadgen_events(fmt)
    assert len(produced) == 300, "loadgen %s: read back %d of 300" % (fmt, len(produced))
    for ev in produced:
        if fmt == "msgpack" and isinstance(ev["data"].get("quantity"), int):
            ev["data"]["quantity"] = str(ev["data"]["quantity"])  # JSON Schema speaks JSON
        jsonschema.validate(ev, event_schema)

event = {"specversion": "1.0", "id": "e1", "source": "//p", "type": "usage", "subject": "cus_1",
         "time": "2026-11-03T10:15:00Z",
         "data": {"product": "api-gateway", "meter": "requests", "quantity": "12.5", "labels": {"region": "eu"}}}
jsonschema.validate(event, event_schema)
event["data"]["quantity"] = 3
jsonschema.validate(event, event_schema)
for bad in ("NaN", "-1", "1,5"):
    event["data"]["quantity"] = bad
    try:
        jsonschema.validate(event, event_schema)
        sys.exit("schema accepted quantity %r" % bad)
    except jsonschema.ValidationError:
        pass
sample_schema = load("schemas/metric-sample.schema.json")
jsonschema.Draft202012Validator.check_schema(sample_schema)
jsonschema.validate({"timestamp": "2026-11-03T10:15:00Z", "value": "1234.5", "name": "c_total",
                     "labels": {"__name__": "c_total", "pod": "p"}}, sample_schema)
for v in ("NaN", "+Inf", "-Inf", "1e3"):
    jsonschema.validate({"timestamp": "2026-11-03T10:15:00Z", "value": v, "name": "g"}, sample_schema)
for bad in ("-1", "1,5", 3):
    try:
        jsonschema.validate({"timestamp": "2026-11-03T10:15:00Z", "value": bad, "name": "g"}, sample_schema)
        sys.exit("schema accepted sample value %r" % (bad,))
    except jsonschema.ValidationError:
        pass
print("schemas: ok")

#!/usr/bin/env python3
"""Fails the build when a pure module (src/meson.build's core_sources)
includes a service library's header or an adapter's, so that the pure
domain stays testable without Kafka, Redis, PostgreSQL or HTTP.

  check_purity.py STAMP FILE.c...
"""
import os
import re
import sys

FORBIDDEN = re.compile(r'#\s*include\s*[<"](librdkafka/|hiredis/|libpq-fe\.h|libpq/|microhttpd\.h|'
                       r'(store|store_internal|labels|consumer|reportdb|http|serve|pool|worker|chargeback|'
                       r'log|loadgen|mockcluster)\.h)')

stamp, files = sys.argv[1], sys.argv[2:]
bad = []
for path in files:
    for paths in (path, path[:-2] + ".h"):
        if not os.path.exists(paths):
            continue
        with open(paths, encoding="utf-8") as f:
            for n, line in enumerate(f, 1):
                if FORBIDDEN.search(line):
                    bad.append("%s:%d: a pure module includes %s" % (paths, n, line.strip()))
if bad:
    sys.stderr.write("\n".join(bad) + "\n(pure modules may not use service libraries: see docs/architecture.md)\n")
    sys.exit(1)
with open(stamp, "w") as f:
    f.write("pure\n")

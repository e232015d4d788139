#!/usr/bin/env python3
"""Runs a test program with throwaway services: starts PostgreSQL, Redis and
Kafka (scripts/services), exports COSTREAM_TEST_PG (a libpq conninfo),
COSTREAM_TEST_REDIS_PORT and COSTREAM_TEST_KAFKA, runs the program, and
removes the services.  Usage: with_services.py PROGRAM [ARGS...]"""
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402

svc = harness.Services(["usage-events:2"])
try:
    env = dict(os.environ, COSTREAM_TEST_PG=svc.conninfo(), COSTREAM_TEST_REDIS_PORT=svc.env["REDIS_PORT"],
               COSTREAM_TEST_KAFKA=svc.bootstrap)
    rc = subprocess.run(sys.argv[1:], env=env).returncode
finally:
    svc.close()
sys.exit(rc)

#!/bin/sh
# run-fuzz.sh TARGET SEEDS SECONDS: runs a libFuzzer target from its seed
# corpus for SECONDS, new inputs going to a scratch directory (never into
# the source tree); prints libFuzzer's final lines (exec count) and fails
# when libFuzzer found something.
set -u
target=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
seeds=$(cd "$2" && pwd) seconds=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
mkdir corpus
"$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
  -max_len=65536 -print_final_stats=1 corpus "$seeds" >log 2>&1
rc=$?
tail -n 14 log
exit $rc

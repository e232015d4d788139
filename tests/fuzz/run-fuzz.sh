#!/bin/sh
# run-fuzz.sh TARGET SEEDS SECONDS: runs a libFuzzer target from its seed
# corpus for SECONDS, new inputs going to a scratch directory (never into
# the source tree); prints libFuzzer's final lines (exec count) and fails
# when libFuzzer found something, keeping the input that did it in
# fuzz-artifacts/ of the directory it was run from (meson: the build
# directory).  libFuzzer's own exit code for a finding is 77, which meson
# reads as "skipped": every finding exits 1 here instead.
set -u
target=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
seeds=$(cd "$2" && pwd) seconds=$3
here=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work" || exit 1
mkdir corpus
"$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=1024 \
  -max_len=65536 -print_final_stats=1 -error_exitcode=1 -timeout_exitcode=1 \
  corpus "$seeds" >log 2>&1
rc=$?
if [ "$rc" -ne 0 ]; then
  grep -E "ERROR|SUMMARY|assert|^ +#[0-9]+ .* in [A-Za-z_]+ .*/(src|tests)/" log | head -n 20
  for f in crash-* leak-* timeout-* oom-* slow-unit-*; do
    [ -e "$f" ] || continue
    mkdir -p "$here/fuzz-artifacts"
    cp "$f" "$here/fuzz-artifacts/$(basename "$target")-$f"
    echo "finding kept: $here/fuzz-artifacts/$(basename "$target")-$f"
  done
  rc=1
fi
tail -n 14 log
exit $rc

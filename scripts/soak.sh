#!/usr/bin/env bash
# The long soak (issue 16, item 3): the mixed workload of `it::soak` for 30 minutes (or
# --minutes N) against gannet, then against nats-server 2.15.1 when it is installed, each
# printing its resource samples (`soak:` lines) and failing on an upward trend.
#
#   scripts/soak.sh [--minutes N] [--gannet-only]
set -euo pipefail
cd "$(dirname "$0")/.."
minutes=30
reference=1
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) minutes="$2"; shift 2 ;;
    --gannet-only) reference=0; shift ;;
    -h|--help) sed -n 2,6p "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done
secs=$((minutes * 60))
# Built once, then run directly: no cargo process holds the build directory during the
# long runs, so other builds can go on beside them.
itbin=$(cargo test --release -p gannet --test it --no-run --message-format=json 2>/dev/null |
  grep -o '"executable":"[^"]*"' | tail -1 | cut -d'"' -f4)
[ -x "$itbin" ] || { echo "could not build the release test binary" >&2; exit 1; }
run() {
  GANNET_SOAK_SECS=$secs "$itbin" soak:: --nocapture 2>&1 |
    grep -E '^soak:|test result|panicked'
}
echo "== gannet, $minutes min"
run
if [ "$reference" = 1 ]; then
  ref=$(pyenv which nats-server 2>/dev/null || command -v nats-server || true)
  if [ -n "$ref" ] && "$ref" --version 2>&1 | grep -q 'v2\.15\.'; then
    echo "== nats-server $("$ref" --version 2>&1 | head -1), $minutes min"
    GANNET_TEST_BIN="$ref" run
  else
    echo "nats-server 2.15 not found: reference run skipped"
  fi
fi

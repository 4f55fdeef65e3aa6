#!/usr/bin/env bash
# Builds the benchmarks in release mode and prints their markdown tables.
#
#   bench/run.sh            full counts, median of 5 runs per throughput figure
#                           and of 3 for the others (about sixteen minutes,
#                           most of it the 10,000-endpoint runs)
#   bench/run.sh --quick    smaller counts, one run per figure (under two minutes)
#
# Every server runs in-process on 127.0.0.1; every loop is bounded.
set -euo pipefail
cd "$(dirname "$0")/.."

args=()
if [ "${1:-}" = "--quick" ]; then
    args+=(--quick)
fi
# Scale figures need many descriptors; raise the soft limit where allowed.
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

cargo build --release --examples --quiet

echo "## actix-tether benchmarks"
echo
echo "$(date -u +%Y-%m-%d), $(nproc) cores, ${args[*]:-full run}; ratios are against raw awc (raw actix-codec for TCP) measured in the same run."
echo
for bench in bench_inbound bench_tcp bench_outbound bench_dead_peer bench_scale; do
    runs=()
    # Throughput runs take seconds and move a lot between runs on a shared
    # 2-core machine: their figures are medians of five.
    if [ ${#args[@]} -eq 0 ] && [[ $bench == bench_inbound || $bench == bench_tcp || $bench == bench_outbound ]]; then
        runs=(--runs 5)
    fi
    "target/release/examples/$bench" "${args[@]}" "${runs[@]}" 2>/dev/null
    echo
done
# Runs a benchmark with FULL arguments in a full run, QUICK ones with
# --quick: bench NAME "FULL ARGS" "QUICK ARGS".
bench() {
    local name=$1 full=$2 quick=$3
    if [ ${#args[@]} -eq 0 ]; then
        # shellcheck disable=SC2086
        "target/release/examples/$name" $full 2>/dev/null
    else
        # shellcheck disable=SC2086
        "target/release/examples/$name" $quick 2>/dev/null
    fi
}

bench bench_latency "" "--quick"
echo
echo "Backpressure (a slow consumer; RSS and the server's send rate per overflow policy):"
echo
bench bench_backpressure "--secs 20" "--quick" | tail -n +3
echo
echo "Groups (router overhead):"
echo
bench bench_group "--runs 5" "--quick"
echo
echo "Group failover (a failover group of two; the primary goes half-open or resets):"
echo
bench bench_failover "" "--quick"
echo
echo "SSE per HTTP framing (server in its own process):"
echo
bench bench_sse "--runs 5" "--quick"
echo
echo "SSE parser alone (no network):"
echo
target/release/examples/bench_sse_parser
echo
echo "Cluster (feature cluster; 3 instances as processes, a real etcd):"
echo
if command -v etcd >/dev/null 2>&1; then
    cargo build --release --quiet --features cluster --example cluster_node --example bench_cluster
    bench bench_cluster "" "--quick"
else
    echo "etcd is not installed (Debian: etcd-server): cluster figures not measured"
fi

#!/usr/bin/env bash
# Builds the benchmarks in release mode and prints their markdown tables.
#
#   bench/run.sh            full counts, median of 3 runs per figure (about
#                           eleven minutes, most of it the 10,000-endpoint runs)
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
echo "$(date -u +%Y-%m-%d), $(nproc) cores, ${args[*]:-full run}; ratios are against raw awc measured in the same run."
echo
for bench in bench_inbound bench_outbound bench_dead_peer bench_scale; do
    "target/release/examples/$bench" "${args[@]}" 2>/dev/null
    echo
done
echo "SSE parser alone (no network):"
echo
target/release/examples/bench_sse_parser

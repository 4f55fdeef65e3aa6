#!/usr/bin/env bash
# The long chaos run: 200 endpoints (100 WebSocket, 100 SSE), each behind
# its own fault-injecting proxy, 60 s of random latency, throttling,
# 1-byte slicing, resets, blackholes and refusals, then healing. Prints the
# figures: time to all connected and flowing after healing, half-open
# detection times, connections lost and regained, SSE events checked (no
# gap, no repeat), send outcomes, descriptors before/after, peak RSS.
#
#   bench/chaos.sh                       200 endpoints x 60 s, seed 1
#   CHAOS_ENDPOINTS=100 CHAOS_SECS=30 CHAOS_SEED=7 bench/chaos.sh
#
# Every server and proxy runs in-process on 127.0.0.1 (tests/chaos.rs);
# the run fails, printing why, if any check of the test fails.
set -euo pipefail
cd "$(dirname "$0")/.."

export CHAOS_ENDPOINTS="${CHAOS_ENDPOINTS:-200}"
export CHAOS_SECS="${CHAOS_SECS:-60}"
export CHAOS_SEED="${CHAOS_SEED:-1}"
export CHAOS_RECOVERY_SECS="${CHAOS_RECOVERY_SECS:-30}"
export CHAOS_REPORT=1
# Four descriptors per endpoint (client, two proxy sides, server).
ulimit -n 20000 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

cargo test --release --quiet --test chaos --no-run
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
echo "$(date -u +%Y-%m-%d), $(nproc) cores, release build"
if ! cargo test --release --quiet --test chaos -- --nocapture >"$out" 2>&1; then
    tail -n 40 "$out"
    exit 1
fi
sed -n '/^## chaos figures/,/^wall time/p' "$out"

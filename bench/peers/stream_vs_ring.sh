#!/bin/sh
# stream_vs_ring.sh BUILD -- Tina's cross-shard stream against DPDK's bare
# rte_ring with 128-byte elements, in one run: ROUNDS (default 3)
# interleaved rounds of bench/cross_shard and bench/peers/rte_ring_stream,
# then the medians and
#
#   cross_shard_vs_rte_ring_ratio: Tina's msgs/s over rte_ring's
#
# Run by `make bench` after `make bench-peers`; if the DPDK program was not
# built (libdpdk-dev could not be installed) it says so and exits 0.
set -u
build=${1:-build}
rounds=${ROUNDS:-3}
ring=$build/bench/peers/rte_ring_stream
tina=$build/bench/cross_shard
if [ ! -x "$ring" ]; then
    echo "stream_vs_ring: $ring not built (libdpdk-dev missing): no ratio"
    exit 0
fi
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR) print v[int((NR + 1) / 2)] }'; }
: > /tmp/tina-svr.$$.t
: > /tmp/tina-svr.$$.r
trap 'rm -f /tmp/tina-svr.$$.*' EXIT
for _ in $(seq "$rounds"); do
    "$tina" 2>/dev/null | sed -n 's/^cross_shard_msgs_per_s: \([0-9.]*\).*/\1/p' >> /tmp/tina-svr.$$.t
    "$ring" 2>/dev/null | sed -n 's/^rte_ring_msgs_per_s: \([0-9.]*\).*/\1/p' >> /tmp/tina-svr.$$.r
done
t=$(median < /tmp/tina-svr.$$.t)
r=$(median < /tmp/tina-svr.$$.r)
[ -n "$t" ] && [ -n "$r" ] || { echo "stream_vs_ring: a run printed nothing"; exit 1; }
echo "stream_vs_ring: $rounds interleaved rounds, each side pinned to the first two allowed CPUs"
echo "cross_shard_stream_msgs_per_s: $t msgs/s"
echo "rte_ring_stream_msgs_per_s: $r msgs/s"
awk -v t="$t" -v r="$r" 'BEGIN { printf "cross_shard_vs_rte_ring_ratio: %.2f x\n", t / r }'

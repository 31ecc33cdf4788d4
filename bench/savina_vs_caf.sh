#!/bin/sh
# bench/savina_vs_caf.sh [BUILD] -- Savina on Tina and on CAF side by side
# (run by `make bench` after `make bench-peers`; DESIGN.md, "Savina").
#
# ROUNDS rounds (default 3; SAVINA_ROUNDS overrides), each running every
# benchmark once on Tina (build/bench/savina) and once on CAF
# (build/bench/peers/savina_caf), alternating which goes first, so that a
# slow drift of the host lands on both.  Two placements: Tina's one shard
# against CAF's one scheduler thread, both pinned to the first allowed CPU;
# Tina's all shards (one per core) against CAF's all threads, as many as
# Tina has shards (unpinned within the allowed CPUs: CAF 0.17 cannot pin a
# scheduled actor).  Prints
# the medians of this script's runs and, per benchmark,
#
#   savina_<name>_caf_ratio: x        CAF's median / Tina's median, one
#                                     shard against one thread (> 1: Tina
#                                     is faster)
#   savina_<name>_all_caf_ratio: x    the same for all shards / all threads
#
# for pingpong, counting (Tina's retry-on-full variant: CAF's mailboxes are
# unbounded, so the sized one has no counterpart), fjthrput, big, chameneos.
# Without CAF it says why and exits 0.
BUILD=${1:-build}
ROUNDS=${SAVINA_ROUNDS:-3}
TINA=$BUILD/bench/savina
CAF=$BUILD/bench/peers/savina_caf
WHY=$BUILD/bench/peers/caf-unavailable
NAMES="pingpong counting fjthrput big chameneos"

[ -x "$TINA" ] || { echo "savina: $TINA is not built" >&2; exit 1; }
if [ ! -x "$CAF" ]; then
    why="not built (make bench-peers)"
    [ -f "$WHY" ] && why=$(cat "$WHY")
    echo "savina: CAF not available: $why"
    exit 0
fi
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

# one PROGRAM NAME PLACEMENT FILE: one run, its ms appended to FILE.  CAF's
# all-threads run gets as many threads as Tina's all-shards run has shards.
one() {
    threads=$(sed -n 's/.*all shards: \([0-9]*\) on.*/\1/p' "$tmp/placement.savina" 2>/dev/null)
    out=$("$1" "$2" "$3" 1 ${threads:-0} 2>"$tmp/err") || {
        cat "$tmp/err" >&2; echo "savina: $1 $2 $3 failed" >&2; exit 1; }
    grep -m1 'placement' "$tmp/err" >"$tmp/placement.$(basename "$1")"
    echo "$out" | sed -n 's/^[a-z_]*: \([0-9.]*\) ms$/\1/p' >>"$4"
}

median() { sort -g "$1" | awk '{ v[NR] = $1 } END {
    if (NR == 0) exit 1
    printf "%.2f\n", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

round=0
while [ $round -lt "$ROUNDS" ]; do
    for name in $NAMES; do
        for p in one all; do
            if [ $((round % 2)) = 0 ]; then
                one "$TINA" "$name" "$p" "$tmp/tina.$name.$p"
                one "$CAF" "$name" "$p" "$tmp/caf.$name.$p"
            else
                one "$CAF" "$name" "$p" "$tmp/caf.$name.$p"
                one "$TINA" "$name" "$p" "$tmp/tina.$name.$p"
            fi
        done
    done
    round=$((round + 1))
done

sed 's/^/  /' "$tmp/placement.savina" "$tmp/placement.savina_caf" >&2
for name in $NAMES; do
    for p in one all; do
        t=$(median "$tmp/tina.$name.$p"); c=$(median "$tmp/caf.$name.$p")
        suffix=; [ $p = all ] && suffix=_all
        echo "savina_${name}${suffix}_paired_tina_ms: $t ms"
        echo "savina_${name}${suffix}_paired_caf_ms: $c ms"
        echo "savina_${name}${suffix}_caf_ratio: $(awk -v c="$c" -v t="$t" 'BEGIN { printf "%.2f", c / t }') x"
    done
done

#!/usr/bin/env bash
# tools/graph.sh [BUILD] -- the module graph of tina/ and sim/, drawn twice:
#
#   include graph  a -> b: a file of a has  #include "..."  resolving to b
#   link graph     a -> b: an object of a uses a symbol an object of b
#                  defines (nm: U in a, T/D/B/R/... in b); this one sees a
#                  lower layer calling up through a hand-written prototype
#
# A module is a file's path without extension (tina/timer.c and tina/timer.h
# are tina/timer), except that each of tina/shard/, tina/os/ and sim/ is one
# module.  A quoted include resolves as the compiler's does with
# -Iinclude -Itina -Isim: the including file's folder, then tina/, sim/,
# include/; include/tina.h (the public API) and system headers are no edge,
# nor is a module to itself.  Cycles are found by tsort.
#
# Prints the edges, one `a -> b` a line, and a verdict per graph.  Exit 0:
# no cycle; 1: a cycle; 2: the link graph is incomplete (objects missing:
# make BUILD=... lib; it is drawn from the objects there are).  BUILD defaults to build, as in the Makefile.
#
# tools/lint.sh sources this file for include_edges, link_edges and cycles.

# The awk helper both graphs share: a path's module.
MODULE_AWK='
function module(p) {
    if (p ~ /^tina\/shard\//) return "tina/shard"
    if (p ~ /^tina\/os\//) return "tina/os"
    if (p ~ /^sim\//) return "sim"
    sub(/\.[^.\/]*$/, "", p)
    return p
}'

# One line per quoted include in tina/ and sim/:  from to file:line spelled
# (to is ? when the include resolves to no file of the tree).
include_edges() {
    local known
    known=$(find tina sim include -type f -name '*.[ch]')
    find tina sim -type f -name '*.[ch]' | LC_ALL=C sort | xargs awk -v known="$known" "$MODULE_AWK"'
    function norm(p,   n, a, st, k, i, out) {   # drop "." and "x/.." from p
        n = split(p, a, "/"); k = 0
        for (i = 1; i <= n; i++) {
            if (a[i] == "" || a[i] == ".") continue
            if (a[i] == ".." && k > 0 && st[k] != "..") { k--; continue }
            st[++k] = a[i]
        }
        out = st[1]
        for (i = 2; i <= k; i++) out = out "/" st[i]
        return out
    }
    BEGIN { n = split(known, k, "\n"); for (i = 1; i <= n; i++) have[k[i]] = 1 }
    match($0, /^[ \t]*#[ \t]*include[ \t]*"[^"]+"/) {
        s = substr($0, RSTART, RLENGTH); sub(/^[^"]*"/, "", s); sub(/"$/, "", s)
        dir = FILENAME; sub(/\/[^\/]*$/, "", dir)
        split(dir " tina sim include", cand, " ")
        to = "?"
        for (i = 1; i <= 4; i++) if (norm(cand[i] "/" s) in have) { to = norm(cand[i] "/" s); break }
        if (to == "include/tina.h") next
        print module(FILENAME), (to == "?" ? "?" : module(to)), FILENAME ":" FNR, s
    }'
}

# One line per symbol an object uses that another module's object defines:
#   from to file:line symbol   (file:line: the symbol's first mention there)
# $1: the build folder.  Returns 2 if an object is missing (the records
# are then those of the objects there are).
link_edges() {
    local build=$1 src obj srcs missing=0 stale=0 first_missing first_stale
    srcs=$(find tina sim -type f -name '*.c' | LC_ALL=C sort)
    for src in $srcs; do
        obj=$build/obj/${src%.c}.o
        if [ ! -f "$obj" ]; then
            missing=$((missing + 1)); first_missing=${first_missing:-$obj}
        elif [ "$src" -nt "$obj" ]; then
            stale=$((stale + 1)); first_stale=${first_stale:-$obj}
        fi
    done
    [ $missing = 0 ] || echo "graph: $missing objects missing ($first_missing ...): make BUILD=$build lib" >&2
    [ $stale = 0 ] || echo "graph: $stale objects older than their source ($first_stale ...): make BUILD=$build lib" >&2
    # nm -A: "object: symbol type ..."; the object named back as its source.
    (cd "$build/obj" 2>/dev/null && for src in $srcs; do [ -f "${src%.c}.o" ] && echo "${src%.c}.o"; done |
        xargs -r nm -A -P) |
        sed "s|\.o: |.c |" | awk "$MODULE_AWK"'
    function where(src, sym,   i) {      # src:line of the first mention of sym
        if (!(src in lines)) { lines[src] = 0; while ((getline l < src) > 0) text[src, ++lines[src]] = l; close(src) }
        for (i = 1; i <= lines[src]; i++)
            if (text[src, i] !~ /^[ \t]*(\/\*|\*|\/\/)/ && text[src, i] ~ ("(^|[^A-Za-z0-9_])" sym "([^A-Za-z0-9_]|$)")) return src ":" i
        return src ":1"
    }
    $3 == "U" || $3 == "w" || $3 == "v" { use[++n] = $1 " " $2; next }  # undefined (or weak)
    $3 ~ /^[A-Z]$/ { def[$2] = module($1) }                           # a global definition
    END {
        for (i = 1; i <= n; i++) {
            split(use[i], u, " "); from = module(u[1])
            if ((u[2] in def) && def[u[2]] != from) print from, def[u[2]], where(u[1], u[2]), u[2]
        }
    }'
    [ $missing = 0 ] || return 2
}

# The edges of records "from to ...", one `from -> to` a line, without
# self-edges or unresolved ends.  $1: the records file.
edges() { awk '$1 != $2 && $2 != "?" { print $1 " -> " $2 }' "$1" | LC_ALL=C sort -u; }

# $1: the graph's name, $2: its records file.  Prints "NAME: no cycle", or
# "NAME: cycle a -> b -> a (witness; witness)" per loop tsort finds, each
# witness the file:line making that edge.  Returns 1 on a cycle.
cycles() {
    local loops
    loops=$(awk '$1 != $2 && $2 != "?" { print $1, $2 }' "$2" | LC_ALL=C sort -u | LC_ALL=C tsort 2>&1 >/dev/null)
    if [ -z "$loops" ]; then echo "$1: no cycle"; return 0; fi
    printf '%s\n' "$loops" | awk -v name="$1" -v recs="$2" '
    function out(   i, a, b, s, w) {     # the loop m[1..k], closed, with witnesses
        s = m[1]; w = ""
        for (i = 1; i <= k; i++) {
            a = m[i]; b = m[i % k + 1]; s = s " -> " b
            w = w (i > 1 ? "; " : "") ((a SUBSEP b) in wit ? wit[a, b] : a " -> " b "?")
        }
        print name ": cycle " s " (" w ")"
    }
    BEGIN { while ((getline r < recs) > 0) { split(r, f, " "); if (!((f[1], f[2]) in wit)) wit[f[1], f[2]] = f[3] " " f[4] } }
    /input contains a loop/ { if (k) out(); k = 0; next }
    { sub(/^tsort: /, ""); m[++k] = $0 }
    END { if (k) out() }'
    return 1
}

main() {
    local build=${1:-build} tmp status=0 missing
    tmp=$(mktemp -d) || exit 2
    trap 'rm -rf "$tmp"' EXIT
    include_edges > "$tmp/include"
    echo "include graph (a -> b: a includes a header of b):"
    edges "$tmp/include" | sed 's/^/  /'
    awk '$2 == "?" { print "  (unresolved: " $3 " \"" $4 "\")" }' "$tmp/include"
    cycles "include graph" "$tmp/include" || status=1
    echo "link graph (a -> b: an object of a uses a symbol b defines; objects in $build/obj):"
    link_edges "$build" > "$tmp/link"
    missing=$?
    edges "$tmp/link" | sed 's/^/  /'
    cycles "link graph" "$tmp/link" || status=1
    if [ $missing != 0 ]; then
        echo "link graph: incomplete: objects missing (make BUILD=$build lib)"
        [ $status = 1 ] || status=2
    fi
    exit $status
}

# Run, unless sourced (by tools/lint.sh).
if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    cd "$(dirname "$0")/.." || exit 2
    main "$@"
fi

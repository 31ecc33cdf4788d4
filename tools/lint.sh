#!/usr/bin/env bash
# tools/lint.sh [BUILD] -- what the compiler cannot check (run by `make lint`,
# which first builds the library's objects into BUILD, default build).
#
#  1. no function in tina/ or sim/ (.c, and static inline ones in .h) over
#     70 lines, counted from the line holding the `{` that opens its body to
#     the `}` at column 0 that closes it, both included; reported at the
#     first line of its signature
#  2. no file under tina/ over 500 lines
#  3. no cycle in the include graph nor in the link graph (tools/graph.sh)
#  4. the lower layers know neither the shard, the runtime, the platform
#     (tina/os) nor the simulator: not by #include, not by link
#  5. no allocator call on a post-boot path (every file of tina/ but the
#     create/destroy-time functions of a few files)
#  6. tina/shard/ has no liburing and no #if; include/tina.h spells its C11
#     for C++ too; no Criterion gt() in tests/
#
# One line per violation, "lint: file:line: what"; exit 1 if any, else 0.
# Needs bash, coreutils, awk (mawk or gawk), binutils (nm) and tsort.

cd "$(dirname "$0")/.." || exit 2
BUILD=${1:-build}
. tools/graph.sh
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT
status=0
# report CMD...: print what CMD prints; any line is a violation, and so is
# CMD failing (an awk it cannot run must not pass for a clean tree).
report() {
    "$@" > "$tmp/out" || { echo "lint: a check did not run: $1 failed"; status=1; }
    [ -s "$tmp/out" ] && { cat "$tmp/out"; status=1; }
    return 0
}

SRCS=$(find tina sim -type f -name '*.[ch]' | LC_ALL=C sort)
TINA=$(find tina -type f -name '*.[ch]' | LC_ALL=C sort)

# ---- the parser: functions and allocator calls ------------------------------
# A function is a block opened at file level by a line ending in `{` whose
# declaration (the lines since the last `;`, `}` or blank line, with
# __attribute__((...)) taken out) ends in `) {` and has no `=`; it ends at
# the next `}` at column 0 (so does a struct, enum or initializer, which is
# no function).  Comments and literals are blanked first; preprocessor
# lines are left out.  Prints
#   F file sigline openline closeline name      for every function
#   A file line function call                   for every allocator call
# (function - outside any).
parse() {
    awk '
    function strip(s,   out, i, n, c, q) {     # s without comments, literals emptied
        out = ""; n = length(s)
        for (i = 1; i <= n; i++) {
            c = substr(s, i, 2)
            if (incomment) { if (c == "*/") { incomment = 0; i++ }; continue }
            if (c == "/*") { incomment = 1; i++; out = out " "; continue }
            if (c == "//") break
            c = substr(s, i, 1)
            if (c == "\"" || c == "\047") {
                q = c
                for (i++; i <= n && substr(s, i, 1) != q; i++) if (substr(s, i, 1) == "\\") i++
                c = q q
            }
            out = out c
        }
        return out
    }
    function is_function(d) {                 # d, up to its first {, ends in ) and has no =
        gsub(/__attribute__[ \t]*\(\([^()]*(\([^()]*\)[^()]*)*\)\)/, "", d)
        if (index(d, "{") == 0) return 0
        d = substr(d, 1, index(d, "{") - 1)
        return d ~ /\)[ \t]*$/ && d !~ /=/
    }
    function name_of(d) {                     # the identifier before the first (
        gsub(/__attribute__[ \t]*\(\([^()]*(\([^()]*\)[^()]*)*\)\)/, "", d)
        d = substr(d, 1, index(d, "(") - 1); sub(/[ \t*]+$/, "", d)
        return match(d, /[A-Za-z_][A-Za-z0-9_]*$/) ? substr(d, RSTART) : "?"
    }
    function alloc(code, in_func,   call) {  # an allocator call on this line?
        if (!match(code, /(^|[^A-Za-z0-9_.>])(malloc|calloc|realloc|free|aligned_alloc|posix_memalign|strdup|mmap)[ \t]*\(/)) return
        call = substr(code, RSTART, RLENGTH); sub(/^[^a-z]/, "", call); sub(/[ \t]*\($/, "", call)
        print "A", FILENAME, FNR, (in_func == "" ? "-" : in_func), call
    }
    FNR == 1 { incomment = 0; continued = 0; decl = ""; inblock = 0 }
    {
        code = strip($0); here = inblock ? fn : ""     # the function this line is in
        if (continued || code ~ /^[ \t]*#/) { continued = ($0 ~ /\\$/); alloc(code, here); next }  # preprocessor
        if (inblock) {
            alloc(code, here)
            if (code ~ /^}/) { if (fn != "") print "F", FILENAME, declline, open, FNR, fn; inblock = 0; decl = "" }
            next
        }
        if ($0 ~ /^[ \t]*$/) { decl = ""; next }
        if (code ~ /^[ \t]*$/) next                                      # a comment
        if (decl == "") declline = FNR
        decl = decl " " code
        if (code ~ /\{[ \t]*$/) { inblock = 1; open = FNR; fn = here = is_function(decl) ? name_of(decl) : "" }
        else if (code ~ /[;}][ \t]*$/) { here = is_function(decl) ? name_of(decl) : ""; decl = "" }  # a one-liner?
        alloc(code, here)
    }' "$@"
}
parse $SRCS > "$tmp/parse" || { echo "lint: the parser did not run"; exit 2; }

# ---- 1, 2: lengths ----------------------------------------------------------
report awk '$1 == "F" && $5 - $4 + 1 > 70 {
    printf "lint: %s:%d: %s is %d lines (max 70)\n", $2, $3, $6, $5 - $4 + 1 }' "$tmp/parse"
report awk 'function check() { if (n > 500) printf "lint: %s:501: file is %d lines (max 500)\n", f, n }
    FNR == 1 && NR > 1 { check() } { f = FILENAME; n = FNR } END { check() }' $TINA

# ---- 3: no cycle in either graph -------------------------------------------
include_edges > "$tmp/include"
cycles "include graph" "$tmp/include" > "$tmp/out" || { sed 's/^/lint: /' "$tmp/out"; status=1; }
link_edges "$BUILD" > "$tmp/link" ||
    { echo "lint: link graph incomplete: objects missing in $BUILD/obj (make BUILD=$BUILD lib)"; status=1; }
cycles "link graph" "$tmp/link" > "$tmp/out" || { sed 's/^/lint: /' "$tmp/out"; status=1; }

# ---- 4: layering ------------------------------------------------------------
LOWER="tina/base tina/ring tina/random tina/slot tina/pool tina/timer tina/monitor tina/token tina/tree
       tina/log tina/io tina/trap tina/error tina/platform tina/channel tina/world
       tina/inbox tina/callers"
LAYER_AWK='BEGIN { n = split(lower, l, /[ \t\n]+/); for (i = 1; i <= n; i++) low[l[i]] = 1
        know["tina/shard"] = "the shard"; know["tina/runtime"] = "the runtime"; know["tina/spec"] = "the runtime"
        know["tina/os"] = "the platform (tina/os)"; know["sim"] = "the simulator" }'
# By include: what the include resolves to, or how it is spelled.
report awk -v lower="$LOWER" "$LAYER_AWK"'
    { base = $4; sub(/.*\//, "", base); up = $2 }
    base == "shard.h" { up = "tina/shard" } base == "runtime.h" { up = "tina/runtime" }
    base == "os.h" { up = "tina/os" } base == "sim.h" { up = "sim" }
    ($1 in low) && (up in know) {
        printf "lint: %s: includes %s: a lower layer must not know %s\n", $3, $4, know[up] }' "$tmp/include"
# By link: a symbol used by a lower module and defined above it.
report awk -v lower="$LOWER" "$LAYER_AWK"'
    ($1 in low) && ($2 in know) {
        printf "lint: %s: %s uses %s, defined in %s: a lower layer must not call up into %s\n", $3, $1, $4, $2, know[$2] }' "$tmp/link"

# ---- 5: no allocator call after boot ---------------------------------------
# Files that allocate at create/destroy time, and the functions of theirs
# that may (by name); in every other file of tina/ no allocator call at all.
# io_uring*.c and io_epoll*.c: the backends, split over several files.
report awk '
    function allowed(file) {
        if (file == "tina/os/watchdog.c") return "start|stop"    # its thread
        if (file == "tina/io.c") return "create|destroy"
        if (file ~ /^tina\/(runtime|spec)\.c$/ || file ~ /^tina\/os\/(topology|io_uring.*|io_epoll.*)\.c$/)
            return "create|destroy|setup|teardown|alloc|free|open|close|map|unmap|start|stop|quit|init"
        return ""
    }
    $1 == "A" && $2 ~ /^tina\// {
        ok = allowed($2); where = ($4 == "-" ? "outside any function" : "in " $4)
        if (ok == "") printf "lint: %s:%d: %s() %s: no allocation on a post-boot path\n", $2, $3, $5, where
        else if ($4 !~ ok) {
            ok = (ok ~ /setup/ ? "set-up functions (create, setup, init, ... in the name)" : ok " functions"); gsub(/\|/, "/", ok)
            printf "lint: %s:%d: %s() %s: in this file only %s may allocate\n", $2, $3, $5, where, ok
        }
    }' "$tmp/parse"

# ---- 6: the rest ------------------------------------------------------------
report awk '/^[ \t]*(\/\*|\*|\/\/)/ { next }
    /liburing/ { printf "lint: %s:%d: tina/shard/ must not include liburing\n", FILENAME, FNR }
    /^[ \t]*#[ \t]*if/ && !(FILENAME ~ /\.h$/ && /^#ifndef TINA_[A-Z0-9_]*_H[ \t]*$/) {
        printf "lint: %s:%d: tina/shard/ must not use #if: %s\n", FILENAME, FNR, $0 }' tina/shard/*.[ch]
report awk '/_Static_assert|_Alignas|= *\{0\}/ && !/define TINA__/ {
    printf "lint: %s:%d: include/tina.h is C++ too: TINA__STATIC_ASSERT, TINA__ALIGNAS, TINA__ZERO\n", FILENAME, FNR }' include/tina.h
report awk '/(^|[^A-Za-z0-9_])gt\(/ {
    printf "lint: %s:%d: Criterion 2.4.1'\''s gt() passes on equal values: write ge(T, a, b + 1)\n", FILENAME, FNR }' tests/*.c

[ $status = 0 ] && echo "lint: clean"
exit $status

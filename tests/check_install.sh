#!/bin/sh
# check_install.sh -- `make install` gives users what they expect, checked
# in a temporary prefix (nothing outside it is touched):
#
#   - the header, libtina.a, libtina.so.VERSION with its SONAME, the links
#     libtina.so.0 and libtina.so, and tina.pc land in PREFIX;
#   - the README's own example (its ```c block) built by the README's own
#     commands (each `cc app.c $(pkg-config ...)` it shows, static and
#     dynamic), with PKG_CONFIG_PATH pointing at PREFIX, starts and exits 0
#     (LD_LIBRARY_PATH stands in for ldconfig, which only system prefixes
#     get; -ltina finds libtina.so first, so both need it);
#   - the dynamic one asks for libtina.so.0, not for a file name;
#   - DESTDIR stages the same files under itself, with PREFIX in tina.pc;
#   - `make uninstall` removes every file `make install` put there.
#
# Run by `make test` through $(BUILD)/tests/check_install, which sets BUILD,
# CC and OPT so that `make install` finds the library up to date.  Prints each
# failing check (--verbose: every check), then a Criterion-style
# synthesis line; exits 1 if a check failed.
set -u
verbose=0
[ "${1:-}" = --verbose ] && verbose=1
passed() { [ "$verbose" = 0 ] || echo "[PASS] $1"; } # failures print always
build=${BUILD:-build}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tina-install.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT
prefix=$tmp/prefix
tested=0 failing=0

check() { # check NAME COMMAND...: one test, passing when COMMAND succeeds
    name=$1
    shift
    tested=$((tested + 1))
    if "$@" >"$tmp/out" 2>&1; then
        passed "install::$name"
    else
        failing=$((failing + 1))
        echo "[FAIL] install::$name"
        sed 's/^/    /' "$tmp/out" | tail -n 20
    fi
}

# `make install` from within `make test`: no jobserver to share, and this
# build's settings spelled out.
run_make() {
    env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL ${MAKE:-make} --no-print-directory \
        BUILD="$build" CC="${CC:-cc}" OPT="${OPT:--O2 -g}" SANITIZE="${SANITIZE:-}" "$@"
}

installs() { run_make install PREFIX="$prefix"; }
check make_install installs

files_are_there() {
    test -f "$prefix/include/tina.h" && test -f "$prefix/lib/libtina.a" &&
        test -f "$prefix/lib/libtina.so.0.1.0" && ! test -L "$prefix/lib/libtina.so.0.1.0" &&
        test -f "$prefix/lib/pkgconfig/tina.pc" &&
        test "$(readlink "$prefix/lib/libtina.so.0")" = libtina.so.0.1.0 &&
        test "$(readlink "$prefix/lib/libtina.so")" = libtina.so.0 &&
        cmp include/tina.h "$prefix/include/tina.h"
}
check files_and_links files_are_there

soname_is_set() {
    readelf -d "$prefix/lib/libtina.so.0.1.0" | grep 'SONAME' | grep -F '[libtina.so.0]'
}
check soname soname_is_set

# The README's example and commands, from the README itself.
awk '/^```c$/ { inside = 1; next } /^```/ { if (inside) exit } inside' README.md >"$tmp/app.c"
grep -o '`cc app\.c [^`]*`' README.md | tr -d '`' >"$tmp/commands"
static_cmd=$(grep -e '--static' "$tmp/commands" | head -n 1)
dynamic_cmd=$(grep -v -e '--static' "$tmp/commands" | head -n 1)
readme_has_both() {
    grep -q 'int main' "$tmp/app.c" && test -n "$static_cmd" && test -n "$dynamic_cmd"
}
check readme_example_and_commands readme_has_both

# build_and_run NAME COMMAND: in a folder of its own, as a user would.
build_and_run() {
    mkdir -p "$tmp/$1" && cp "$tmp/app.c" "$tmp/$1/app.c" && (
        cd "$tmp/$1" && echo "$ $2" &&
            PKG_CONFIG_PATH="$prefix/lib/pkgconfig" sh -c "$2" &&
            LD_LIBRARY_PATH="$prefix/lib" ./a.out
    )
}
check "static_build_runs ($static_cmd)" build_and_run static "$static_cmd"
check "dynamic_build_runs ($dynamic_cmd)" build_and_run dynamic "$dynamic_cmd"

needs_soname() { readelf -d "$tmp/dynamic/a.out" | grep 'NEEDED' | grep -F '[libtina.so.0]'; }
check dynamic_build_needs_soname needs_soname

stages() {
    run_make install DESTDIR="$tmp/stage" PREFIX=/usr/local &&
        test -f "$tmp/stage/usr/local/lib/libtina.so.0.1.0" &&
        test "$(readlink "$tmp/stage/usr/local/lib/libtina.so")" = libtina.so.0 &&
        grep -qx 'prefix=/usr/local' "$tmp/stage/usr/local/lib/pkgconfig/tina.pc"
}
check destdir_stages stages

uninstalls() {
    run_make uninstall PREFIX="$prefix" &&
        test -z "$(find "$prefix" ! -type d)"
}
check make_uninstall uninstalls

echo "[====] Synthesis: Tested: $tested | Passing: $((tested - failing)) | Failing: $failing | Crashing: 0"
test "$failing" = 0

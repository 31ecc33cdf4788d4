#!/bin/sh
# check_flags.sh -- every example takes its flags the same way, run for real
# against $(BUILD)/examples:
#
#   - every example the README lists is built, and every examples/*.c is
#     listed;
#   - --help exits 0 and lists, on stdout, every flag including --help;
#   - a bad flag exits 2 and is named on stderr: for each number flag, an
#     empty value, a negative one, one that is not a number, one with
#     trailing characters, one past the range and one past 2^64;
#     --port=70000 (which must not wrap to 4464); an unknown flag;
#   - two bad flags on one line exit 2 and both are named;
#   - good flags still run (exit 0), at the ends of their ranges where that
#     is cheap;
#   - echo and http exit non-zero, with a message naming the port, when
#     another socket listens on it.
#
# Run by `make test` through $(BUILD)/tests/check_flags.  Prints each
# failing check (--verbose: every check), then a Criterion-style
# synthesis line; exits 1 if a check failed.
set -u
verbose=0
[ "${1:-}" = --verbose ] && verbose=1
passed() { [ "$verbose" = 0 ] || echo "[PASS] $1"; } # failures print always
examples=${BUILD:-build}/examples
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tina-flags.XXXXXX") || exit 1
holder=
trap '[ -n "$holder" ] && kill "$holder" 2>/dev/null; rm -rf "$tmp"' EXIT
tested=0 failing=0

fail() { # fail NAME WHY
    failing=$((failing + 1))
    echo "[FAIL] flags::$1: $2"
    sed 's/^/    stderr: /' "$tmp/err" | head -n 8
}

# run EXAMPLE ARGS...: runs it (a bad flag that slips through would run the
# example: the timeout ends that), leaving the status in $status.
run() {
    program=$1
    shift
    timeout 30 "$examples/$program" "$@" >"$tmp/out" 2>"$tmp/err"
    status=$?
}

# rejects NAME EXAMPLE 'FLAG...' ARGS...: exits 2, each FLAG named on stderr.
rejects() {
    name=$1 program=$2 named=$3
    shift 3
    tested=$((tested + 1))
    run "$program" "$@"
    if [ "$status" != 2 ]; then fail "$name" "$program $* exited $status, not 2"; return; fi
    for flag in $named; do
        if ! grep -qF -e "$flag" "$tmp/err"; then
            fail "$name" "$program $*: stderr does not name $flag"
            return
        fi
    done
    passed "flags::$name"
}

# accepts NAME EXAMPLE ARGS...: exits 0.
accepts() {
    name=$1 program=$2
    shift 2
    tested=$((tested + 1))
    run "$program" "$@"
    if [ "$status" != 0 ]; then fail "$name" "$program $* exited $status, not 0"; return; fi
    passed "flags::$name"
}

# helps EXAMPLE 'FLAG...': --help exits 0 and its stdout names every FLAG.
helps() {
    program=$1 listed="$2 --help"
    tested=$((tested + 1))
    run "$program" --help
    if [ "$status" != 0 ]; then fail "$program.help" "exited $status, not 0"; return; fi
    for flag in $listed; do
        if ! grep -qF -e "$flag" "$tmp/out"; then
            fail "$program.help" "--help does not list $flag"
            return
        fi
    done
    passed "flags::$program.help"
}

# bad_numbers EXAMPLE FLAG PAST: every kind of bad value of a number flag;
# PAST is the first value past its range.
bad_numbers() {
    for value in "" -1 abc 1x "$3" 99999999999999999999999; do
        rejects "$1.${2#--}=$value" "$1" "$2" "$2=$value"
    done
}

# Every example the README lists is one of examples/*.c and is built (so
# `make test` built them all), and every examples/*.c is in the list.
readme_examples_built() {
    listed=$(awk '/^\* \[examples\/\]/ { inside = 1 } /^\* \[include/ { inside = 0 } inside' README.md |
        grep -o '`[a-z]*`' | tr -d '`' | sort -u)
    for source in examples/*.c; do
        name=$(basename "$source" .c)
        echo "$listed" | grep -qx "$name" || { echo "README does not list $name" >&2; return 1; }
    done
    for name in $listed; do
        if [ -f "examples/$name.c" ] && ! [ -x "$examples/$name" ]; then
            echo "$examples/$name is not built" >&2
            return 1
        fi
    done
}
tested=$((tested + 1))
if readme_examples_built 2>"$tmp/err"; then passed flags::readme_examples_built
else fail readme_examples_built "$(cat "$tmp/err")"; fi

# The flags of each example, as its --help must list them.
helps pingpong "--messages --shards"
helps loadshed "--seconds"
helps dispatcher "--seconds --workers --sim --seed --seeds --faults"
helps bank "--seed --seeds --broken"
helps echo "--port --shards --seconds --epoll --reuseport"
helps http "--port --shards --seconds --epoll --reuseport"
helps kv "--port --shards --seconds --selftest"

bad_numbers pingpong --messages 18446744073709551616
bad_numbers pingpong --shards 3
bad_numbers loadshed --seconds 3601
bad_numbers dispatcher --seconds 3601
bad_numbers dispatcher --workers 65
bad_numbers dispatcher --seed 4294967296
bad_numbers dispatcher --seeds 1000001
bad_numbers bank --seed 18446744073709551616
bad_numbers bank --seeds 1000001
for server in echo http kv; do
    bad_numbers $server --port 65536
    bad_numbers $server --shards 65
    bad_numbers $server --seconds 86401
done

for program in pingpong loadshed dispatcher bank echo http kv; do
    rejects "$program.port=70000" "$program" --port --port=70000
    rejects "$program.unknown" "$program" --frobnicate --frobnicate
done
rejects dispatcher.faults=bogus dispatcher --faults --faults=bogus
rejects dispatcher.faults_bare dispatcher --faults --faults
rejects bank.broken=1 bank --broken --broken=1
rejects echo.port_bare echo --port --port
rejects echo.epoll=yes echo --epoll --epoll=yes
rejects echo.reuseport=1 echo --reuseport --reuseport=1
rejects http.reuseport=yes http --reuseport --reuseport=yes

rejects pingpong.two_bad pingpong "--messages --shards" --messages=0 --shards=3
rejects loadshed.two_bad loadshed "--seconds --speed" --seconds=abc --speed=2
rejects dispatcher.two_bad dispatcher "--workers --seconds" --workers=0 --seconds=x
rejects bank.two_bad bank "--seeds --seed" --seeds=0 --seed=-5
rejects echo.two_bad echo "--shards --seconds" --shards=65 --seconds=abc
rejects http.two_bad http "--port --shards" --port=70000 --shards=

accepts pingpong.good pingpong --messages=1000 --shards=2
accepts loadshed.good loadshed --seconds=1
accepts dispatcher.good dispatcher --sim --seed=4294967295 --workers=2 --faults=none
accepts bank.good bank --seed=0x2a
accepts echo.good echo --port=0 --shards=1 --seconds=1
accepts http.good http --port=0 --shards=1 --seconds=1 --epoll
accepts echo.reuseport echo --port=0 --shards=2 --seconds=1 --reuseport
accepts http.reuseport http --port=0 --shards=2 --seconds=1 --reuseport
accepts kv.selftest kv --selftest --shards=2
rejects kv.selftest=1 kv --selftest --selftest=1

# A port another socket listens on: echo itself holds one (port 0 picks it).
"$examples/echo" --port=0 --shards=1 --seconds=60 >"$tmp/holder" 2>&1 &
holder=$!
port=
for _ in $(seq 100); do
    port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\),.*/\1/p' "$tmp/holder")
    [ -n "$port" ] && break
    sleep 0.1
done
for server in echo http kv; do
    tested=$((tested + 1))
    : >"$tmp/err"
    if [ -z "$port" ]; then fail "$server.port_taken" "the holder did not listen"; continue; fi
    run $server --port="$port" --shards=1
    if [ "$status" = 0 ] || [ "$status" = 124 ]; then
        fail "$server.port_taken" "exited $status with port $port taken"
    elif ! grep -qF "cannot listen on 127.0.0.1:$port" "$tmp/err"; then
        fail "$server.port_taken" "no message naming port $port"
    else
        passed "flags::$server.port_taken"
    fi
done
kill "$holder" 2>/dev/null
wait "$holder" 2>/dev/null
holder=

echo "[====] Synthesis: Tested: $tested | Passing: $((tested - failing)) | Failing: $failing | Crashing: 0"
test "$failing" = 0

#!/bin/sh
# http_nginx.sh -- examples/http on two shards against nginx with two
# worker processes, both driven by wrk on 127.0.0.1 (run by `make bench`
# after the C benches; BUILD says where examples/http is).
#
# nginx answers every request with the same body as the example,
# "Hello, World!" (13 bytes, text/plain, keep-alive, no access log); its
# head is not byte for byte the example's: nginx always adds Server, Date
# and Connection headers (about 80 bytes more per answer).  Tina runs in
# both of tina_serve's modes: handoff (shard 0 accepts and deals) and
# --reuseport (every shard accepts for itself), on two shards; and on one
# shard, which leaves wrk a core of its own (shards are pinned, so on two
# cores shared with the client one shard always shares its core with
# wrk, while nginx's two workers float).
#
# Each round runs every configuration -- wrk -c64 and -c256, one request
# in flight per connection or 16 pipelined (a Lua script) -- against each
# of the three servers in turn; rounds alternate so that a noisy moment
# hits all of them.  Printed, as `name: value unit`:
#
#   http_tina_<conf>_req_per_s            median over the rounds, handoff
#   http_tina_reuseport_<conf>_req_per_s  median, --reuseport
#   http_tina_1shard_<conf>_req_per_s     median, handoff on one shard
#   http_nginx_<conf>_req_per_s           median, nginx
#   http_nginx_ratio_<conf>               median of the rounds' Tina / nginx (handoff)
#   http_nginx_ratio_reuseport_<conf>     the same for --reuseport
#   http_nginx_ratio_1shard_<conf>        the same for one shard
#   http_wrk_errors                       wrk's socket errors and non-2xx answers, all
#                                         runs (each run with any also printed)
#   http_<server>_<conf>_user_us_per_req  for c64 and c256: the server's CPU time per
#   http_<server>_<conf>_sys_us_per_req   request in user code and in the kernel,
#                                         medians (/proc/PID/task/*/stat)
#   http_wrk_<conf>_us_per_req            for c64 and c256: wrk's own CPU time
#                                         (user + system) per request, median of
#                                         all its runs (the shell's `times`)
#
# <conf> is c64, c256, c64_pipelined, c256_pipelined.  nginx and wrk are
# installed with apt-get when missing (as root); when that cannot be done
# the bench says why and skips (exit 0): it never prints a figure it did
# not measure.  Environment: HTTP_NGINX_SECONDS (per wrk run, default 3),
# HTTP_NGINX_ROUNDS (default 3), HTTP_NGINX_THREADS (wrk -t, default 1).
# At the defaults: 3 rounds x 4 configurations x 4 servers x 3 s, about
# two and a half minutes.
set -u
BUILD=${BUILD:-build}
seconds=${HTTP_NGINX_SECONDS:-3}
rounds=${HTTP_NGINX_ROUNDS:-3}
threads=${HTTP_NGINX_THREADS:-1}
http=$BUILD/examples/http
confs="c64 c256 c64_pipelined c256_pipelined"
servers="tina tina_reuseport tina_1shard nginx"

skip() {
    echo "http_nginx: skipped: $*"
    exit 0
}

# ---- tools ---------------------------------------------------------------------
[ -x "$http" ] || { echo "http_nginx: $http is not built (make examples)"; exit 1; }
missing=""
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || missing="$missing nginx"
command -v wrk >/dev/null || missing="$missing wrk"
if [ -n "$missing" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "  APT     installing:$missing"
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing) \
            >/dev/null 2>&1 || skip "apt-get install$missing failed"
    else
        skip "not installed:$missing, and not root with apt-get (sudo apt-get install$missing)"
    fi
fi
nginx_bin=$(command -v nginx || echo /usr/sbin/nginx)

tmp=$(mktemp -d "${TMPDIR:-/tmp}/tina-http-nginx.XXXXXX") || exit 1
tina_pid='' reuse_pid='' one_pid='' nginx_pid=''
cleanup() {
    for pid in $tina_pid $reuse_pid $one_pid $nginx_pid; do kill "$pid" 2>/dev/null; done
    for pid in $tina_pid $reuse_pid $one_pid $nginx_pid; do wait "$pid" 2>/dev/null; done
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

# wrk sends the same request 16 times in one write: 16 pipelined.
cat >"$tmp/pipeline.lua" <<'EOF'
init = function(args)
    local depth = tonumber(args[1]) or 16
    local r = {}
    for i = 1, depth do r[i] = wrk.format() end
    req = table.concat(r)
end
request = function() return req end
EOF

# ---- servers -----------------------------------------------------------------------
# Each *_start runs its server as this shell's child (so that cleanup can
# wait for it) and sets pid and port.
# tina_start SHARDS FLAGS...: the example on SHARDS shards, port 0.
tina_start() {
    shards=$1
    shift
    out=$tmp/tina.$shards.$#.out
    "$http" --port=0 --shards="$shards" "$@" >"$out" 2>&1 &
    pid=$!
    for _ in $(seq 100); do
        port=$(sed -n 's/.*listening on 127\.0\.0\.1:\([0-9]*\),.*/\1/p' "$out")
        [ -n "$port" ] && return 0
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill "$pid" 2>/dev/null
    echo "http_nginx: examples/http $* did not listen:" >&2
    cat "$out" >&2
    return 1
}

nginx_conf() { # nginx_conf PORT
    cat >"$tmp/nginx.conf" <<EOF
worker_processes 2;
daemon off;
pid $tmp/nginx.pid;
error_log $tmp/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    server_tokens off;
    keepalive_timeout 65;
    keepalive_requests 100000000;
    client_body_temp_path $tmp/body;
    proxy_temp_path $tmp/proxy;
    fastcgi_temp_path $tmp/fastcgi;
    uwsgi_temp_path $tmp/uwsgi;
    scgi_temp_path $tmp/scgi;
    server {
        listen 127.0.0.1:$1;
        location / {
            default_type text/plain;
            return 200 "Hello, World!";
        }
    }
}
EOF
}

# A free port for nginx: a random one, another if it is taken (10 tries).
nginx_start() {
    for _ in $(seq 10); do
        port=$((20000 + $(od -An -N2 -tu2 /dev/urandom) % 40000))
        nginx_conf "$port"
        "$nginx_bin" -p "$tmp" -c "$tmp/nginx.conf" -e "$tmp/error.log" >"$tmp/nginx.out" 2>&1 &
        pid=$!
        for _ in $(seq 50); do
            kill -0 "$pid" 2>/dev/null || break
            if wrk -t1 -c1 -d1s "http://127.0.0.1:$port/" 2>/dev/null | grep -q "Requests/sec" &&
                kill -0 "$pid" 2>/dev/null; then
                return 0
            fi
            sleep 0.1
        done
        kill "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    echo "http_nginx: nginx did not start:" >&2
    cat "$tmp/nginx.out" "$tmp/error.log" >&2 2>/dev/null
    return 1
}

tina_start 2 || exit 1
tina_pid=$pid tina_port=$port
tina_start 2 --reuseport || exit 1
reuse_pid=$pid tina_reuseport_port=$port
tina_start 1 || exit 1
one_pid=$pid tina_1shard_port=$port
nginx_start || skip "nginx did not start (its log is above)"
nginx_pid=$pid nginx_port=$port

# ---- runs -----------------------------------------------------------------------------
# cpu_ticks SERVER: user and system clock ticks of all its threads (nginx:
# the master and its workers).
cpu_ticks() {
    case $1 in
    tina) pids=$tina_pid ;;
    tina_reuseport) pids=$reuse_pid ;;
    tina_1shard) pids=$one_pid ;;
    nginx) pids="$nginx_pid $(pgrep -P "$nginx_pid" | tr '\n' ' ')" ;;
    esac
    for p in $pids; do cat /proc/"$p"/task/*/stat 2>/dev/null; done |
        awk '{ u += $14; s += $15 } END { print u + 0, s + 0 }'
}
hz=$(getconf CLK_TCK)

# run SERVER CONF ROUND: one wrk run; its rate goes to $tmp/SERVER.CONF,
# the server's CPU per request to $tmp/SERVER.CONF.cpu, its errors (if
# any) are printed and counted.
errors_total=0
run() {
    eval "port=\$${1}_port"
    before=$(cpu_ticks "$1")
    times >"$tmp/times" # in this shell: a pipe would run it in a subshell with no children
    client_before=$(tail -n 1 "$tmp/times")
    conns=${2%%_*}
    conns=${conns#c}
    script=""
    case $2 in *_pipelined) script="-s $tmp/pipeline.lua" ;; esac
    timeout $((seconds + 20)) wrk -t"$threads" -c"$conns" -d"${seconds}s" $script \
        "http://127.0.0.1:$port/" ${script:+-- 16} >"$tmp/wrk.out" 2>&1
    rate=$(sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' "$tmp/wrk.out")
    [ -n "$rate" ] || { echo "http_${1}_$2: wrk failed (round $3):"; sed 's/^/    /' "$tmp/wrk.out"; rate=0; }
    echo "$rate" >>"$tmp/$1.$2"
    n=$(sed -n 's/^ *\([0-9]*\) requests in .*/\1/p' "$tmp/wrk.out")
    echo "$before $(cpu_ticks "$1") ${n:-0}" | awk -v hz="$hz" \
        '$5 > 0 { printf "%.3f %.3f\n", ($3 - $1) / hz * 1e6 / $5, ($4 - $2) / hz * 1e6 / $5 }' \
        >>"$tmp/$1.$2.cpu"
    times >"$tmp/times"
    echo "$client_before $(tail -n 1 "$tmp/times") ${n:-0}" | tr 'ms' '  ' | awk '$9 > 0 {
            before = $1 * 60 + $2 + $3 * 60 + $4; after = $5 * 60 + $6 + $7 * 60 + $8
            printf "%.3f\n", (after - before) * 1e6 / $9 }' >>"$tmp/wrk.$2.cpu"
    errs=$(awk '/Socket errors:/ { gsub(/,/, ""); n += $4 + $6 + $8 + $10 }
                /Non-2xx or 3xx responses:/ { n += $5 } END { print n + 0 }' "$tmp/wrk.out")
    if [ "$errs" != 0 ]; then
        echo "http_${1}_$2_errors: $errs (round $3): $(grep -E 'Socket errors|Non-2xx' "$tmp/wrk.out" | tr -s ' ' | tr '\n' ' ')"
        errors_total=$((errors_total + errs))
    fi
}

for round in $(seq "$rounds"); do
    for conf in $confs; do
        for server in $servers; do run "$server" "$conf" "$round"; done
    done
done

# ---- medians --------------------------------------------------------------------------
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
ratios() { # ratios A B: each round's A / B, one a line
    paste "$tmp/$1" "$tmp/$2" | awk '{ print ($2 > 0 ? $1 / $2 : 0) }'
}
for conf in $confs; do
    printf 'http_tina_%s_req_per_s: %.0f requests/s\n' "$conf" "$(median <"$tmp/tina.$conf")"
    printf 'http_tina_reuseport_%s_req_per_s: %.0f requests/s\n' "$conf" \
        "$(median <"$tmp/tina_reuseport.$conf")"
    printf 'http_tina_1shard_%s_req_per_s: %.0f requests/s\n' "$conf" \
        "$(median <"$tmp/tina_1shard.$conf")"
    printf 'http_nginx_%s_req_per_s: %.0f requests/s\n' "$conf" "$(median <"$tmp/nginx.$conf")"
    printf 'http_nginx_ratio_%s: %.2f x\n' "$conf" "$(ratios "tina.$conf" "nginx.$conf" | median)"
    printf 'http_nginx_ratio_reuseport_%s: %.2f x\n' "$conf" \
        "$(ratios "tina_reuseport.$conf" "nginx.$conf" | median)"
    printf 'http_nginx_ratio_1shard_%s: %.2f x\n' "$conf" \
        "$(ratios "tina_1shard.$conf" "nginx.$conf" | median)"
done
for conf in c64 c256; do
    printf 'http_wrk_%s_us_per_req: %.2f us\n' "$conf" "$(median <"$tmp/wrk.$conf.cpu")"
    for server in $servers; do
        printf 'http_%s_%s_user_us_per_req: %.2f us\n' "$server" "$conf" \
            "$(cut -d' ' -f1 "$tmp/$server.$conf.cpu" | median)"
        printf 'http_%s_%s_sys_us_per_req: %.2f us\n' "$server" "$conf" \
            "$(cut -d' ' -f2 "$tmp/$server.$conf.cpu" | median)"
    done
done
echo "http_wrk_errors: $errors_total"

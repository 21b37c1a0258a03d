#!/usr/bin/env bash
# bench/reload-vs-pm2.sh: one reload of a 2-instance cluster app under `wrk -t2 -c50` keep-alive
# load, with pm2ctl and with PM2 7 cluster mode, and print side by side the socket errors, non-2xx
# responses, requests/s and p99 latency wrk saw during it, and the crash-to-serving time after a
# `kill -9` of one instance (median of RUNS runs); beside it the same load with no reload, the
# p99 the app shows anyway. Then the same under load for a deploy through
# the file: an env value changed, `pm2ctl apply` against `pm2 startOrReload ecosystem.config.js
# --update-env`.
#
#   sudo bench/reload-vs-pm2.sh                 # RUNS = 5, DURATION = 6 s per run
#   RUNS=3 sudo bench/reload-vs-pm2.sh
#   PM2CTL=target/debug/pm2ctl sudo bench/reload-vs-pm2.sh   # an already built binary
#
# The app is tests/fixtures/http.js, unmodified. pm2ctl runs inside a sandbox
# (tests/sandbox/pm2ctl-sandbox: a real systemd as PID 1) with its Node shim, and so does wrk
# (the sandbox has its own network). PM2 is installed from npm under the build tree (never
# globally), runs with PM2_HOME under the build tree, and is killed at the end. In each run wrk
# starts, the reload starts one second later, and wrk runs DURATION seconds in all.
# Needs root (the sandbox), node, npm and wrk (Debian: apt-get install wrk).
set -euo pipefail

source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh" reload-vs-pm2
RUNS=${RUNS:-5}
DURATION=${DURATION:-6}
APP=$REPO/tests/fixtures/http.js
SHIM=$REPO/shim/node/pm2ctl-shim.js
PORT=${PORT:-43300}

need_root
need_commands node npm
command -v wrk >/dev/null || die "wrk is not installed (apt-get install wrk)"
positive RUNS
positive DURATION
((DURATION >= 3)) || die "DURATION must be at least 3 (seconds)"

mkdir -p "$BENCH/reload"
DIR=$BENCH/reload
build_pm2ctl
install_pm2 || die "cannot install pm2@$PM2_VERSION"

# The same app for both tools, with MARK=$1 in its environment.
write_files() {
  cat >"$DIR/ecosystem.toml" <<EOF
[[apps]]
name = "web"
script = "$APP"
user = "root"
exec_mode = "cluster"
instances = 2
port = $PORT
env = { MARK = "$1" }
EOF
  cat >"$DIR/ecosystem.config.js" <<EOF
module.exports = { apps: [
  { name: "web", script: "$APP", exec_mode: "cluster", instances: 2, env: { PORT: "$PORT", MARK: "$1" } },
] };
EOF
}

# Inside the sandbox with the Node shim's path (lib.sh's, plus PM2CTL_SHIM).
sb_exec() { PM2CTL_SHIM=$SHIM "$SANDBOX" exec --env PM2CTL_SHIM "$SB" -- "$@"; }

# "errors non2xx requests_per_s p99_ms" from wrk's output on stdin.
parse_wrk() {
  awk '
    function ms(v) {
      if (v ~ /us$/) return v / 1000; if (v ~ /ms$/) return v + 0
      if (v ~ /m$/) return v * 60000; if (v ~ /s$/) return v * 1000; return v + 0
    }
    /Socket errors:/ { gsub(",", ""); errors = $4 + $6 + $8 + $10 }
    /Non-2xx or 3xx responses:/ { non2xx = $NF }
    /^ +99%/ { p99 = ms($2) }
    /^Requests\/sec:/ { rps = $2 }
    END { printf "%d %d %d %.2f\n", errors, non2xx, rps, p99 }'
}

# One run: wrk for DURATION s, `reload` after 1 s. $1 runs a command where wrk runs,
# $2... is the reload command.
load_and_reload() {
  local where=$1; shift
  local out=$DIR/wrk.out
  $where wrk -t2 -c50 -d"${DURATION}s" --latency "http://127.0.0.1:$PORT/" >"$out" 2>&1 &
  local wrk_pid=$!
  sleep 1
  "$@" >"$DIR/reload.out" 2>&1 || { cat "$DIR/reload.out" >&2; die "reload failed: $*"; }
  wait "$wrk_pid" || die "wrk failed: $(cat "$out")"
  parse_wrk <"$out"
}

wait_serving() {
  local where=$1 i
  for ((i = 0; i < 100; i++)); do
    $where curl -sf -o /dev/null "http://127.0.0.1:$PORT/" && return 0
    sleep 0.1
  done
  die "the app does not answer on port $PORT"
}

host() { "$@"; }

# Milliseconds from `kill -9 $2` until the port answers from a process that is not $2 nor $3
# (the other instance): the killed instance's replacement is serving. $1 runs commands where
# the app runs. The kill and the polling run in one shell there, so entering the sandbox for
# each poll (tens of ms) is not counted against pm2ctl.
crash_to_serving() {
  local where=$1 victim=$2 other=$3
  $where bash -c '
    victim=$1 other=$2 port=$3
    start=$(date +%s%N)
    kill -9 "$victim"
    while :; do
      pid=$(curl -s --max-time 1 "http://127.0.0.1:$port/" | sed -n "s/.*\"pid\":\([0-9]*\).*/\1/p")
      if [[ -n $pid && $pid != "$victim" && $pid != "$other" ]]; then break; fi
      (( ($(date +%s%N) - start) < 30000000000 )) || { echo "no new instance served within 30 s of the kill" >&2; exit 1; }
    done
    echo $(( ($(date +%s%N) - start) / 1000000 ))
  ' crash-to-serving "$victim" "$other" "$PORT" || die "crash-to-serving failed"
}

# The two instances' PIDs as answered on the port (the kernel spreads connections over both).
serving_pids() {
  local where=$1 pids=() pid i
  for ((i = 0; i < 200 && ${#pids[@]} < 2; i++)); do
    pid=$($where curl -s --max-time 1 "http://127.0.0.1:$PORT/" | sed -n 's/.*"pid":\([0-9]*\).*/\1/p')
    [[ -z $pid || " ${pids[*]} " == *" $pid "* ]] || pids+=("$pid")
  done
  ((${#pids[@]} == 2)) || die "did not see two instances answering on port $PORT"
  echo "${pids[@]}"
}

boot_sandbox
"$PM2" kill >/dev/null 2>&1 || true

ours=() theirs=() ours_apply=() theirs_apply=() ours_steady=() theirs_steady=()
for ((r = 1; r <= RUNS; r++)); do
  log "run $r/$RUNS: pm2ctl"
  write_files "r$r"
  sb_exec "$PM2CTL" apply "$DIR/ecosystem.toml" >/dev/null 2>&1 || die "pm2ctl apply failed (run it by hand in a sandbox to see why)"
  wait_serving sb_exec
  ours_steady+=("$(load_and_reload sb_exec true)")
  ours+=("$(load_and_reload sb_exec sb_exec "$PM2CTL" reload web)")
  read -r a b <<<"$(serving_pids sb_exec)"
  ours[-1]+=" $(crash_to_serving sb_exec "$a" "$b")"
  wait_serving sb_exec
  write_files "r$r-changed"
  ours_apply+=("$(load_and_reload sb_exec sb_exec "$PM2CTL" apply "$DIR/ecosystem.toml")")
  sb_exec "$PM2CTL" delete all >/dev/null 2>&1 || die "pm2ctl delete all failed"

  log "run $r/$RUNS: PM2"
  write_files "r$r"
  "$PM2" start "$DIR/ecosystem.config.js" >/dev/null 2>&1 || die "pm2 start failed"
  wait_serving host
  theirs_steady+=("$(load_and_reload host true)")
  theirs+=("$(load_and_reload host "$PM2" reload web)")
  read -r a b <<<"$(serving_pids host)"
  theirs[-1]+=" $(crash_to_serving host "$a" "$b")"
  wait_serving host
  write_files "r$r-changed"
  theirs_apply+=("$(load_and_reload host "$PM2" startOrReload "$DIR/ecosystem.config.js" --update-env)")
  "$PM2" delete all >/dev/null 2>&1 || true
done

# Column $1 (1-based) of every run's figures, median.
column() { local i=$1; shift; printf '%s\n' "$@" | awk -v i="$i" '{ print $i }' | median; }

echo
echo "One reload of a 2-instance cluster app (tests/fixtures/http.js) under wrk -t2 -c50 keep-alive load, ${DURATION} s runs,"
echo "median of $RUNS runs, $(nproc) CPUs. pm2ctl: systemd $(sb_exec systemctl --version | awk 'NR==1{print $2}') in a sandbox, Node shim; PM2 $("$PM2" --version 2>/dev/null | tail -1) cluster mode."
echo
# table OURS THEIRS N: one row per tool, the medians of the first N figures of its runs (the
# arrays named OURS and THEIRS hold one line of figures per run), then each run's socket errors.
table() {
  local -n ours_runs=$1 theirs_runs=$2
  local columns=$3 tool runs per_run row c
  for tool in pm2ctl pm2; do
    if [[ $tool == pm2ctl ]]; then runs=("${ours_runs[@]}"); else runs=("${theirs_runs[@]}"); fi
    per_run=$(printf '%s\n' "${runs[@]}" | awk '{ print $1 }' | paste -sd, -)
    row="| $tool"
    for ((c = 1; c <= columns; c++)); do row+=" | $(column "$c" "${runs[@]}")"; done
    echo "$row | $per_run |"
  done
}

echo "| tool   | socket errors | non-2xx | requests/s | p99 latency (ms) | crash-to-serving (ms) | errors per run    |"
echo "|--------|--------------:|--------:|-----------:|-----------------:|----------------------:|-------------------|"
table ours theirs 5
echo
echo "The same load with no reload (what the app shows anyway, on the same machine at the same time):"
echo
echo "| tool   | socket errors | non-2xx | requests/s | p99 latency (ms) | errors per run    |"
echo "|--------|--------------:|--------:|-----------:|-----------------:|-------------------|"
table ours_steady theirs_steady 4
echo
echo "socket errors: wrk's connect + read + write + timeout errors; requests/s and p99 cover the whole run, reload included."
echo "crash-to-serving: from kill -9 of one instance until its replacement answers on the port (curl polling)."

echo
echo "A deploy through the file under the same load: one env value changed, then"
echo "\`pm2ctl apply ecosystem.toml\` (it rolls the app) against \`pm2 startOrReload ecosystem.config.js --update-env\`."
echo
echo "| tool   | socket errors | non-2xx | requests/s | p99 latency (ms) | errors per run    |"
echo "|--------|--------------:|--------:|-----------:|-----------------:|-------------------|"
table ours_apply theirs_apply 4

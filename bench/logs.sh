#!/usr/bin/env bash
# Logging cost and loss: an app writes LINES lines (default 200,000) to stdout as fast as it
# can (tests/fixtures/chatty.js); how many reach storage, and how much CPU is spent outside
# the app to store them:
#   * pm2ctl: `pm2ctl exec-wrap` (then nothing: the app writes straight to journald), with the
#     rate limit pm2ctl sets, with journald's default one, and with none; the CPU outside the
#     app is journald's;
#   * PM2 7 (installed with npm into the build tree on first use, bench/lib.sh): its daemon reads the
#     app's pipe and appends to its log file; the CPU outside the app is the daemon's.
# Everything runs in a sandbox (a real systemd 252 as PID 1, tests/sandbox/pm2ctl-sandbox),
# one after the other. Needs root.
#   sudo bench/logs.sh           # builds this checkout in release mode first
#   sudo LINES=500000 PM2CTL=path bench/logs.sh
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
lines=${LINES:-200000}

if [[ ${1:-} != --inside ]]; then
  source "$repo/bench/lib.sh" bench/logs.sh
  need_root
  build_pm2ctl
  install_pm2 || log "could not install PM2; its row is skipped"
  boot_sandbox
  "$SANDBOX" exec --env LINES --env BENCH_PM2CTL --env BENCH_PM2 "$SB" -- \
    env LINES="$lines" BENCH_PM2CTL="$PM2CTL" BENCH_PM2="$PM2" \
    bash "$repo/bench/logs.sh" --inside
  exit
fi

# ---- inside the sandbox ----
hz=$(getconf CLK_TCK)
chatty=$repo/tests/fixtures/chatty.js
# utime + stime of a process, in clock ticks. The command name (field 2) may hold spaces
# ("PM2 v7.0.3: God"), so fields are counted after its closing parenthesis.
ticks() { sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $12 + $13}' || echo 0; }
seconds() { awk -v t="$1" -v hz="$hz" 'BEGIN { printf "%.2f", t / hz }'; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }
# Polls COMMAND (which prints a count) until it stops changing for 3 s; prints the count.
settle() {
  local last=-1 same=0 n
  for _ in $(seq 1 300); do
    n=$("$@")
    if [[ $n == "$last" ]]; then same=$((same + 1)); else same=0; last=$n; fi
    [[ $same -ge 6 ]] && break
    sleep 0.5
  done
  echo "$last"
}
journal_count() { journalctl --no-pager -o cat "PM2_APP=$1" | grep -c '^chatty [0-9]' || true; }
file_count() { grep -c '^chatty [0-9]' "$1" 2>/dev/null || echo 0; }

printf '| %-44s | %9s | %9s | %7s | %17s | %8s | %11s |\n' \
  setup written stored lost "CPU outside app s" "app CPU s" "to stored s"
printf '|%s|%s|%s|%s|%s|%s|%s|\n' "$(printf -- '-%.0s' {1..46})" -----------  ----------- \
  --------- ------------------- ---------- -------------
journald=$(systemctl show -P MainPID systemd-journald.service)

run_pm2ctl() { # label app rate-limit properties...
  local label=$1 app=$2; shift 2
  local props=()
  for p in "$@"; do props+=(-p "$p"); done
  local before start app_pid app_cpu stored end
  before=$(ticks "$journald"); start=$(now)
  systemd-run --quiet --unit="pm2ctl-$app@0.service" -p "SyslogIdentifier=$app" \
    -p "LogExtraFields=PM2_APP=$app" -p LogExtraFields=PM2_INSTANCE=0 "${props[@]}" \
    -E "CHATTY_LINES=$lines" -E CHATTY_LATER_MS=1000 \
    "$BENCH_PM2CTL" exec-wrap -- "$(command -v node)" "$chatty"
  stored=$(settle journal_count "$app"); end=$(now)
  app_pid=$(systemctl show -P MainPID "pm2ctl-$app@0.service")
  app_cpu=$(ticks "$app_pid")
  printf '| %-44s | %9d | %9d | %7d | %17s | %9s | %11s |\n' "$label" "$lines" "$stored" \
    $((lines - stored)) "$(seconds $(($(ticks "$journald") - before)))" "$(seconds "$app_cpu")" \
    "$(elapsed "$start" "$end")"
  systemctl stop "pm2ctl-$app@0.service"
}

run_pm2ctl "pm2ctl, its limit (100,000 / 30 s)" raised \
  LogRateLimitIntervalSec=30s LogRateLimitBurst=100000
# How fast `pm2ctl logs` reads them back (journalctl -o json plus parsing and rendering).
read_start=$(now)
read_lines=$("$BENCH_PM2CTL" logs raised --nostream --lines "$((lines + 10))" | wc -l)
read_time=$(elapsed "$read_start" "$(now)")
run_pm2ctl "pm2ctl, journald's default (10,000 / 30 s)" default
run_pm2ctl "pm2ctl, log_rate_limit = false" unlimited \
  LogRateLimitIntervalSec=1s LogRateLimitBurst=50000000

if [[ -x $BENCH_PM2 ]]; then
  export PM2_HOME=/tmp/pm2-home
  logs=/tmp/pm2-logs
  mkdir -p "$logs"
  "$BENCH_PM2" ping >/dev/null
  god=$(cat "$PM2_HOME/pm2.pid")
  before=$(ticks "$god"); start=$(now)
  CHATTY_LINES=$lines CHATTY_LATER_MS=1000 "$BENCH_PM2" start "$chatty" --name chatty \
    --no-autorestart -o "$logs/out.log" -e "$logs/err.log" >/dev/null
  stored=$(settle file_count "$logs/out.log"); end=$(now)
  app_pid=$("$BENCH_PM2" pid chatty | tail -1)
  printf '| %-44s | %9d | %9d | %7d | %17s | %9s | %11s |\n' "PM2 $("$BENCH_PM2" --version | tail -1), daemon appending to its file" \
    "$lines" "$stored" $((lines - stored)) "$(seconds $(($(ticks "$god") - before)))" \
    "$(seconds "$(ticks "$app_pid")")" "$(elapsed "$start" "$end")"
  "$BENCH_PM2" kill >/dev/null 2>&1 || true
fi
echo
echo "pm2ctl logs --nostream read back $read_lines lines in $read_time s."
echo "\"to stored\" includes the 3 s this script waits to see the count settle."
echo "journald's burst grows with the free space of the journal's disk (here a tmpfs), so its"
echo "default limit lets more than 10,000 lines through."

#!/usr/bin/env bash
# bench/list.sh: the wall time of `pm2ctl list` (and `jlist`) with N instances running, side by
# side with `pm2 list` (and `pm2 jlist`) on the same N processes; medians of RUNS runs. At the
# largest N, `restart all` too (median of RESTART_RUNS runs).
#
#   sudo bench/list.sh                     # N = 10, 100, 400; RUNS = 11; RESTART_RUNS = 3
#   COUNTS="10" RUNS=5 sudo bench/list.sh
#   PM2CTL=target/debug/pm2ctl sudo bench/list.sh   # an already built binary
#
# pm2ctl runs inside a sandbox (tests/sandbox/pm2ctl-sandbox: a real systemd as PID 1), timed
# inside it so entering the namespaces is not counted. PM2 7 is installed from npm under the
# build tree (never globally), with PM2_HOME under the build tree, its daemon warm (`pm2 ping`
# first), and `pm2 kill` at the end (bench/lib.sh).
#
# Wall time depends on what else the machine runs, so the CPU each `pm2ctl list` costs is shown
# too: its own, systemd's (PID 1) and the bus daemon's, from /proc over the RUNS runs.
#
# The processes are `/bin/sleep infinity`, one app with N instances in fork mode for both tools,
# so the figures are the tools' own cost, not the apps'. Targets: pm2ctl list at 100 under 0.1×
# pm2 list, and under 15 ms of CPU across pm2ctl, systemd and the bus.
# Needs root (the sandbox), node and npm.
set -euo pipefail

source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh" bench/list
RUNS=${RUNS:-11}
COUNTS=${COUNTS:-"10 100 400"}
RESTART_RUNS=${RESTART_RUNS:-3}

need_root
need_commands node npm
positive RUNS
positive RESTART_RUNS
build_pm2ctl
install_pm2 || die "cannot install pm2@$PM2_VERSION"

# One app of N sleeping instances, in both formats.
write_files() {
  local n=$1 dir=$BENCH/list-$1
  mkdir -p "$dir"
  sleep_app_toml sleepers 'exec_mode = "fork"' "instances = $n" >"$dir/ecosystem.toml"
  {
    echo "module.exports = { apps: ["
    sleep_app_js sleepers "exec_mode: \"fork\", instances: $n"
    echo "] };"
  } >"$dir/ecosystem.config.js"
}

# Median ms of `pm2ctl VERB` inside the sandbox, output discarded.
time_pm2ctl() {
  local verb=$1 r times=()
  for ((r = 0; r < RUNS; r++)); do
    times+=("$(sb_exec bash -c 's=$(date +%s%N); "$1" "$2" >/dev/null || exit 1; e=$(date +%s%N); echo $(((e - s) / 1000000))' _ "$PM2CTL" "$verb")")
  done
  printf '%s\n' "${times[@]}" | median
}

# CPU ms per `pm2ctl list` inside the sandbox, "total (pm2ctl + systemd + bus)": pm2ctl's own
# (its children's times, in clock ticks over RUNS lists), systemd's and dbus-daemon's (their
# schedstat run times, in ns).
cpu_pm2ctl() {
  sb_exec bash -c '
    ns() { cut -d" " -f1 "/proc/$1/schedstat"; }
    bus=$(pidof dbus-daemon)
    systemd_before=$(ns 1) bus_before=$(ns "$bus")
    for ((r = 0; r < $3; r++)); do "$1" "$2" >/dev/null || exit 1; done
    systemd_ns=$(($(ns 1) - systemd_before)) bus_ns=$(($(ns "$bus") - bus_before))
    read -r own < <(sed "s/.*) //" /proc/$$/stat | awk "{ print \$14 + \$15 }")
    awk -v own="$own" -v hz="$(getconf CLK_TCK)" -v systemd="$systemd_ns" -v bus="$bus_ns" -v n="$3" \
      "BEGIN { o = own * 1000 / hz / n; s = systemd / 1e6 / n; b = bus / 1e6 / n;
               printf \"%.0f (%.1f + %.1f + %.1f)\", o + s + b, o, s, b }"' _ "$PM2CTL" list "$RUNS"
}

# Median ms of `pm2 ARGS...` over RUNS runs (or $TIMES runs).
time_pm2() {
  local r s times=()
  for ((r = 0; r < ${TIMES:-$RUNS}; r++)); do
    s=$(now_ms)
    "$PM2" "$@" >/dev/null 2>&1 || die "pm2 $* failed"
    times+=("$(($(now_ms) - s))")
  done
  printf '%s\n' "${times[@]}" | median
}

# Median ms of `pm2ctl restart all` inside the sandbox over RESTART_RUNS runs.
time_pm2ctl_restart() {
  local r times=()
  for ((r = 0; r < RESTART_RUNS; r++)); do
    times+=("$(sb_exec bash -c 's=$(date +%s%N); "$1" restart all >/dev/null 2>&1 || exit 1; e=$(date +%s%N); echo $(((e - s) / 1000000))' _ "$PM2CTL")") ||
      die "pm2ctl restart all failed"
  done
  printf '%s\n' "${times[@]}" | median
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f×", a / b; else print "-" }'; }

boot_sandbox
"$PM2" kill >/dev/null 2>&1 || true
"$PM2" ping >/dev/null

rows=()
largest=$(printf '%s\n' $COUNTS | sort -n | tail -1)
restart_row=
for n in $COUNTS; do
  write_files "$n"
  dir=$BENCH/list-$n
  log "N=$n: starting $n instances under each tool"
  sb_exec "$PM2CTL" apply "$dir/ecosystem.toml" >/dev/null 2>&1 || die "pm2ctl apply failed for N=$n"
  listed=$(sb_exec "$PM2CTL" list --json | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).filter(p=>p.status==="online").length))')
  ((listed == n)) || log "warning: pm2ctl lists $listed of $n online"
  "$PM2" start "$dir/ecosystem.config.js" >/dev/null 2>&1 || die "pm2 start failed for N=$n"

  log "N=$n: timing ($RUNS runs each)"
  ours_list=$(time_pm2ctl list)
  ours_cpu=$(cpu_pm2ctl)
  ours_jlist=$(time_pm2ctl jlist)
  theirs_list=$(time_pm2 list)
  theirs_jlist=$(time_pm2 jlist)
  rows+=("$(printf '| %9d | %16s | %13s | %5s | %17s | %14s | %5s | %24s |' "$n" \
    "$ours_list" "$theirs_list" "$(ratio "$ours_list" "$theirs_list")" \
    "$ours_jlist" "$theirs_jlist" "$(ratio "$ours_jlist" "$theirs_jlist")" "$ours_cpu")")
  if ((n == largest)); then
    log "N=$n: timing restart all ($RESTART_RUNS runs each)"
    ours_restart=$(time_pm2ctl_restart)
    theirs_restart=$(TIMES=$RESTART_RUNS time_pm2 restart all)
    restart_row=$(printf '| %9d | %24s | %20s | %5s |' "$n" "$ours_restart" "$theirs_restart" "$(ratio "$ours_restart" "$theirs_restart")")
  fi

  sb_exec "$PM2CTL" delete all >/dev/null 2>&1 || die "pm2ctl delete all failed"
  "$PM2" delete all >/dev/null 2>&1 || true
done

echo
echo "$(basename "$(dirname "$PM2CTL_FROM")") pm2ctl (sandboxed systemd $(sb_exec systemctl --version | awk 'NR==1{print $2}')) vs PM2 $("$PM2" --version 2>/dev/null | tail -1) (warm daemon); median of $RUNS runs, $(nproc) CPUs"
echo
echo "| instances | pm2ctl list (ms) | pm2 list (ms) | ratio | pm2ctl jlist (ms) | pm2 jlist (ms) | ratio | CPU per pm2ctl list (ms): total (pm2ctl + systemd + bus) |"
echo "|----------:|-----------------:|--------------:|------:|------------------:|---------------:|------:|----------------------------------------------------------:|"
printf '%s\n' "${rows[@]}"
if [[ -n $restart_row ]]; then
  echo
  echo "| instances | pm2ctl restart all (ms) | pm2 restart all (ms) | ratio |"
  echo "|----------:|------------------------:|---------------------:|------:|"
  echo "$restart_row"
  echo
  echo "restart all: median of $RESTART_RUNS runs; both return once every process is started again."
fi
echo
echo "CPU per pm2ctl list: pm2ctl's own + systemd's + dbus-daemon's. Load average: $(cut -d' ' -f1-3 /proc/loadavg)."
echo "Targets: pm2ctl list at 100 ≤ 0.1× pm2 list and ≤ 15 ms of CPU."

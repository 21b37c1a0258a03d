#!/usr/bin/env bash
# bench/apply-vs-pm2.sh: start the same N Node apps with `pm2ctl apply` and with PM2, and print,
# side by side, the wall time each takes (median of RUNS runs) and the resident memory each tool
# leaves behind while the apps run.
#
#   sudo bench/apply-vs-pm2.sh            # N = 1, 10, 50; RUNS = 5
#   COUNTS="1 10" RUNS=3 sudo bench/apply-vs-pm2.sh
#   PM2CTL=target/debug/pm2ctl sudo bench/apply-vs-pm2.sh   # an already built binary
#
# pm2ctl runs inside a sandbox (tests/sandbox/pm2ctl-sandbox: a real systemd as PID 1), timed
# inside it so entering the namespaces is not counted. PM2 7 is installed from npm under the
# build tree (never globally), runs with PM2_HOME under the build tree, and is killed at the end.
# Its daemon is started before timing (`pm2 ping`), so PM2's figures are for a warm daemon, its
# best case; the daemon's first spawn is shown on its own line.
#
# The app is tests/fixtures/http.js, one instance per app (fork mode), each on its own port.
# Both tools return once systemd (or PM2's daemon) has launched every process.
# Needs root (the sandbox), node and npm.
set -euo pipefail

source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh" apply-vs-pm2
RUNS=${RUNS:-5}
COUNTS=${COUNTS:-"1 10 50"}
APP=$REPO/tests/fixtures/http.js
BASE_PORT=42000

need_root
need_commands node npm
positive RUNS
build_pm2ctl
install_pm2 || die "cannot install pm2@$PM2_VERSION"

# The same N apps in both formats.
write_files() {
  local n=$1 dir=$BENCH/apps-$1 i
  mkdir -p "$dir"
  : >"$dir/ecosystem.toml"
  {
    echo "module.exports = { apps: ["
    for ((i = 0; i < n; i++)); do
      printf '[[apps]]\nuser = "root"\nname = "bench-%d"\nscript = "%s"\nenv = { PORT = "%d" }\n\n' \
        "$i" "$APP" $((BASE_PORT + i)) >>"$dir/ecosystem.toml"
      printf '  { name: "bench-%d", script: "%s", env: { PORT: "%d" } },\n' \
        "$i" "$APP" $((BASE_PORT + i))
    done
    echo "] };"
  } >"$dir/ecosystem.config.js"
}

# Milliseconds `pm2ctl apply FILE` takes inside the sandbox.
time_pm2ctl() {
  sb_exec bash -c 's=$(date +%s%N); "$1" apply "$2" >/dev/null 2>&1 || exit 1; e=$(date +%s%N); echo $(((e - s) / 1000000))' \
    _ "$PM2CTL" "$1"
}

time_pm2() {
  local s e
  s=$(now_ms)
  "$PM2" start "$1" >/dev/null 2>&1 || die "pm2 start $1 failed"
  e=$(now_ms)
  echo $((e - s))
}

rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }

boot_sandbox

"$PM2" kill >/dev/null 2>&1 || true
s=$(now_ms)
"$PM2" ping >/dev/null
pm2_spawn_ms=$(($(now_ms) - s))

rows=()
for n in $COUNTS; do
  write_files "$n"
  dir=$BENCH/apps-$n
  ours=() theirs=()
  for ((r = 1; r <= RUNS; r++)); do
    log "N=$n run $r/$RUNS"
    t=$(time_pm2ctl "$dir/ecosystem.toml") || die "pm2ctl apply failed for N=$n (run it by hand in a sandbox to see why)"
    ours+=("$t")
    if ((r == RUNS)); then
      # While the apps run: pm2ctl keeps no process of its own.
      left=$(sb_exec pgrep -c -x pm2ctl || true)
      running=$(sb_exec bash -c "systemctl list-units --state=active --plain --no-legend 'pm2ctl-bench*.service' | wc -l")
      ((running == n)) || log "warning: $running of $n pm2ctl apps active"
      ours_left=${left:-0}
    fi
    sb_exec "$PM2CTL" delete all >/dev/null 2>&1 || die "pm2ctl delete all failed"

    t=$(time_pm2 "$dir/ecosystem.config.js")
    theirs+=("$t")
    if ((r == RUNS)); then
      daemon=$(cat "$PM2_HOME/pm2.pid")
      theirs_rss=$(rss_kb "$daemon")
      online=$("$PM2" jlist 2>/dev/null | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).filter(p=>p.pm2_env.status==="online").length))')
      ((online == n)) || log "warning: $online of $n PM2 apps online"
    fi
    "$PM2" delete all >/dev/null 2>&1 || true
  done
  ours_ms=$(printf '%s\n' "${ours[@]}" | median)
  theirs_ms=$(printf '%s\n' "${theirs[@]}" | median)
  if ((ours_left == 0)); then ours_mem="0 (no process)"; else ours_mem="$ours_left pm2ctl left!"; fi
  rows+=("$(printf '| %4d | %17s | %14s | %16s | %18s |' "$n" "$ours_ms" "$theirs_ms" \
    "$ours_mem" "$((theirs_rss / 1024)) MiB (daemon)")")
done

echo
echo "$(basename "$(dirname "$PM2CTL_FROM")") pm2ctl apply (sandboxed systemd $(sb_exec systemctl --version | awk 'NR==1{print $2}')) vs pm2 start ($("$PM2" --version 2>/dev/null | tail -1), warm daemon); median of $RUNS runs, $(nproc) CPUs"
echo
echo "| apps | pm2ctl apply (ms) | pm2 start (ms) | pm2ctl RSS left  | PM2 RSS left       |"
echo "|-----:|------------------:|---------------:|-----------------:|-------------------:|"
printf '%s\n' "${rows[@]}"
echo
echo "PM2's daemon spawn (first \`pm2 ping\`): ${pm2_spawn_ms} ms, not included above."
echo "RSS left: resident memory of the tool's own processes while the apps run."

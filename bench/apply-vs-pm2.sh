#!/usr/bin/env bash
# bench/apply-vs-pm2.sh: start the same N Node apps with `pm2ctl apply` and with PM2, then
# restart them all (and have systemd restart them, for reference), and print side by side the
# wall time each takes (median of RUNS runs), per app, pm2ctl's own peak resident memory during
# the apply, and the resident memory each tool leaves
# behind while the apps run.
#
#   sudo bench/apply-vs-pm2.sh            # N = 1, 10, 50, 200; RUNS = 5
#   COUNTS="1 10" RUNS=3 sudo bench/apply-vs-pm2.sh
#   PM2CTL=target/debug/pm2ctl sudo bench/apply-vs-pm2.sh   # an already built binary
#   APP=sleep sudo bench/apply-vs-pm2.sh   # `/bin/sleep infinity` apps: the tools' cost alone
#
# pm2ctl runs inside a sandbox (tests/sandbox/pm2ctl-sandbox: a real systemd as PID 1), timed
# inside it so entering the namespaces is not counted. PM2 7 is installed from npm under the
# build tree (never globally), runs with PM2_HOME under the build tree, and is killed at the end.
# Its daemon is started before timing (`pm2 ping`), so PM2's figures are for a warm daemon, its
# best case; the daemon's first spawn is shown on its own line.
#
# The app is tests/fixtures/http.js, one instance per app (fork mode), each on its own port
# (APP=node, the default), or `/bin/sleep infinity` (APP=sleep), which costs next to nothing to
# start, so what is left is the tools' own cost.
# Both tools return once systemd (or PM2's daemon) has launched every process. pm2ctl applies the
# same apps once more with `sandbox = false`, to show what systemd's per-service sandbox costs.
# Needs root (the sandbox), node, npm and GNU time (/usr/bin/time).
set -euo pipefail

source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh" apply-vs-pm2
RUNS=${RUNS:-5}
COUNTS=${COUNTS:-"1 10 50 200"}
APP=${APP:-node}
SCRIPT=$REPO/tests/fixtures/http.js
[[ $APP == node || $APP == sleep ]] || die "APP is node or sleep"
BASE_PORT=42000

need_root
need_commands node npm
[[ -x /usr/bin/time ]] || die "GNU time is not installed (apt-get install time)"
positive RUNS
build_pm2ctl
install_pm2 || die "cannot install pm2@$PM2_VERSION"

# The same N apps in both formats.
write_files() {
  local n=$1 dir=$BENCH/apps-$APP-$1 i
  mkdir -p "$dir"
  : >"$dir/ecosystem.toml"
  {
    echo "module.exports = { apps: ["
    for ((i = 0; i < n; i++)); do
      if [[ $APP == sleep ]]; then
        sleep_app_toml "bench-$i" >>"$dir/ecosystem.toml"
        sleep_app_js "bench-$i"
      else
        printf '[[apps]]\nuser = "root"\nname = "bench-%d"\nscript = "%s"\nenv = { PORT = "%d" }\n\n' \
          "$i" "$SCRIPT" $((BASE_PORT + i)) >>"$dir/ecosystem.toml"
        printf '  { name: "bench-%d", script: "%s", env: { PORT: "%d" } },\n' \
          "$i" "$SCRIPT" $((BASE_PORT + i))
      fi
    done
    echo "] };"
  } >"$dir/ecosystem.config.js"
  # The same apps without systemd's sandboxing: what the per-service sandbox costs.
  sed 's/^\[\[apps\]\]$/[[apps]]\nsandbox = false/' "$dir/ecosystem.toml" >"$dir/unsandboxed.toml"
}

# "ms peak_kb": the milliseconds `pm2ctl ARGS...` takes inside the sandbox, and its peak RSS
# (GNU time's %M).
time_pm2ctl() { time_in_sandbox "$PM2CTL" "$@"; }

# "ms peak_kb" of any command inside the sandbox.
time_in_sandbox() {
  local rss=$BENCH/pm2ctl-rss
  sb_exec bash -c 's=$(date +%s%N); /usr/bin/time -f %M -o "$1" "${@:2}" >/dev/null 2>&1 || exit 1; e=$(date +%s%N); echo $(((e - s) / 1000000)) $(tail -1 "$1")' \
    _ "$rss" "$@"
}

# Milliseconds `pm2 ARGS...` takes.
time_pm2() {
  local s e
  s=$(now_ms)
  "$PM2" "$@" >/dev/null 2>&1 || die "pm2 $* failed"
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
  dir=$BENCH/apps-$APP-$n
  ours=() theirs=() ours_restart=() theirs_restart=() ours_rss=() ours_bare=() systemd_restart=()
  for ((r = 1; r <= RUNS; r++)); do
    log "N=$n run $r/$RUNS"
    read -r t kb <<<"$(time_pm2ctl apply "$dir/ecosystem.toml")" || die "pm2ctl apply failed for N=$n (run it by hand in a sandbox to see why)"
    ours+=("$t") ours_rss+=("$kb")
    read -r t _ <<<"$(time_pm2ctl restart all)" || die "pm2ctl restart all failed for N=$n"
    ours_restart+=("$t")
    # systemd's own restart of the same units: what `restart all` cannot go below.
    read -r t _ <<<"$(time_in_sandbox systemctl restart 'pm2ctl-bench*.service')" || die "systemctl restart failed for N=$n"
    systemd_restart+=("$t")
    if ((r == RUNS)); then
      # While the apps run: pm2ctl keeps no process of its own. An instance's `pm2ctl
      # exec-wrap` (what systemd executes, which then executes the app) may not have
      # executed the app yet right after the restart: only what stays counts.
      for _ in {1..20}; do
        left=$(sb_exec pgrep -c -x pm2ctl || true)
        [[ ${left:-0} != 0 ]] || break
        sleep 0.1
      done
      running=$(sb_exec bash -c "systemctl list-units --state=active --plain --no-legend 'pm2ctl-bench*.service' | wc -l")
      ((running == n)) || log "warning: $running of $n pm2ctl apps active"
      ours_left=${left:-0}
    fi
    sb_exec "$PM2CTL" delete all >/dev/null 2>&1 || die "pm2ctl delete all failed"
    read -r t _ <<<"$(time_pm2ctl apply "$dir/unsandboxed.toml")" || die "pm2ctl apply (sandbox = false) failed for N=$n"
    ours_bare+=("$t")
    sb_exec "$PM2CTL" delete all >/dev/null 2>&1 || die "pm2ctl delete all failed"

    theirs+=("$(time_pm2 start "$dir/ecosystem.config.js")")
    theirs_restart+=("$(time_pm2 restart all)")
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
  ours_rs=$(printf '%s\n' "${ours_restart[@]}" | median)
  systemd_rs=$(printf '%s\n' "${systemd_restart[@]}" | median)
  theirs_rs=$(printf '%s\n' "${theirs_restart[@]}" | median)
  peak=$(printf '%s\n' "${ours_rss[@]}" | median)
  bare_ms=$(printf '%s\n' "${ours_bare[@]}" | median)
  if ((ours_left == 0)); then ours_mem="0 (no process)"; else ours_mem="$ours_left pm2ctl left!"; fi
  per_app() { awk -v t="$1" -v n="$2" 'BEGIN { printf "%.1f", t / n }'; }
  ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f×", a / b; else print "-" }'; }
  rows+=("$(printf '| %4d | %8s | %6s | %8s | %6s | %6s | %8s | %6s | %8s | %8s | %8s | %6s | %9s | %14s | %13s |' "$n" \
    "$ours_ms" "$(per_app "$ours_ms" "$n")" "$theirs_ms" "$(per_app "$theirs_ms" "$n")" \
    "$(ratio "$ours_ms" "$theirs_ms")" "$bare_ms" "$(ratio "$bare_ms" "$theirs_ms")" \
    "$ours_rs" "$systemd_rs" "$theirs_rs" "$(ratio "$ours_rs" "$theirs_rs")" \
    "$((peak / 1024)) MiB" "$ours_mem" "$((theirs_rss / 1024)) MiB")")
done

echo
echo "$(basename "$(dirname "$PM2CTL_FROM")") pm2ctl apply of $APP apps (sandboxed systemd $(sb_exec systemctl --version | awk 'NR==1{print $2}')) vs pm2 start ($("$PM2" --version 2>/dev/null | tail -1), warm daemon); median of $RUNS runs, $(nproc) CPUs"
echo
echo "| apps | pm2ctl apply (ms) | ms/app | pm2 start (ms) | ms/app | ratio | pm2ctl apply, sandbox = false (ms) | ratio | pm2ctl restart all (ms) | systemctl restart (ms) | pm2 restart all (ms) | ratio | pm2ctl peak RSS | pm2ctl RSS left | PM2 RSS left (daemon) |"
echo "|-----:|---------:|-------:|---------:|-------:|-------:|---------:|-------:|---------:|---------:|---------:|-------:|----------:|---------------:|--------------:|"
printf '%s\n' "${rows[@]}"
echo
echo "PM2's daemon spawn (first \`pm2 ping\`): ${pm2_spawn_ms} ms, not included above."
echo "sandbox = false: the same apps without systemd's per-service sandboxing (mount namespace, seccomp):"
echo "  the difference is what systemd spends building each service's sandbox, not pm2ctl."
echo "systemctl restart: systemd's own restart of the same units, timed like pm2ctl's."
echo "peak RSS: pm2ctl's own maximum resident memory during the apply (GNU time %M)."
echo "RSS left: resident memory of the tool's own processes while the apps run."

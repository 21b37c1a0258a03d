#!/usr/bin/env bash
# bench/soak.sh: for DURATION seconds, in a sandboxed systemd, kill random instances of a cluster
# app, reload it and re-apply its file, all at the same time and under HTTP load through its
# socket-activated port; then print the requests sent, failed and non-2xx, what each actor did,
# and any drift between the file and what runs. Target: 0 failed, 0 non-2xx, no drift; with
# KILL_SIGNAL=KILL, failures within a second after a kill (requests the killed process had
# accepted, which die with it) are shown apart and the target is 0 failed at any other time.
#
#   sudo bench/soak.sh                              # 180 s, 4 instances, 16 connections
#   DURATION=300 KILL_SIGNAL=TERM sudo bench/soak.sh
#   PM2CTL=target/debug/pm2ctl sudo bench/soak.sh   # an already built binary (else a release build)
#
# Knobs (environment): DURATION (s, default 180), INSTANCES (4), CONNECTIONS (16 concurrent
# requests), KEEPALIVE (0: a new connection per request, the default; 1: keep-alive connections),
# KILL_SIGNAL (KILL, the default: a crash; TERM: a stop the app drains), KILL_EVERY (s between
# kills, 2), RELOAD_EVERY (s between reloads, 1), APPLY_EVERY (s between applies, 2), PORT (4400),
# KEEP (set: keep the work directory with the actors' logs and the kill and failure times).
#
# The app is tests/fixtures/http.js, unmodified, behind pm2ctl's Node shim; the load client is
# tests/fixtures/keepalive-client.js. Everything runs inside the sandbox (its network has only
# `lo`). Sleeps here only pace the actors; nothing waits on them for correctness.
# Needs root (the sandbox) and node. Not part of CI: it runs for minutes on purpose.
set -euo pipefail

source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh" soak
DURATION=${DURATION:-180}
INSTANCES=${INSTANCES:-4}
CONNECTIONS=${CONNECTIONS:-16}
KEEPALIVE=${KEEPALIVE:-0}
KILL_SIGNAL=${KILL_SIGNAL:-KILL}
KILL_EVERY=${KILL_EVERY:-2}
RELOAD_EVERY=${RELOAD_EVERY:-1}
APPLY_EVERY=${APPLY_EVERY:-2}
PORT=${PORT:-4400}

need_root
need_commands node
for n in DURATION INSTANCES CONNECTIONS KILL_EVERY RELOAD_EVERY APPLY_EVERY PORT; do positive "$n"; done
build_pm2ctl

# Under the build tree: the sandbox shares the root filesystem but has its own /tmp.
WORK=$BUILD/soak/$$
mkdir -p "$WORK"
# KEEP=1 keeps the logs for a look afterwards.
at_exit 'if [[ -n ${KEEP:-} ]]; then log "kept $WORK"; else rm -rf "$WORK"; fi'
cp "$PM2CTL" "$WORK/pm2ctl"

cat >"$WORK/ecosystem.toml" <<EOF
[[apps]]
name = "web"
script = "$REPO/tests/fixtures/http.js"
user = "root"
exec_mode = "cluster"
instances = $INSTANCES
port = $PORT
listen_address = "127.0.0.1"
EOF

# The soak itself, run inside the sandbox: three actors and the load client, side by side.
cat >"$WORK/inside.sh" <<'EOF'
set -u
cd "$WORK"
pm2ctl=$WORK/pm2ctl
end=$(($(date +%s) + DURATION))
running() { [ "$(date +%s)" -lt "$end" ]; }

URL=http://127.0.0.1:$PORT/ CONNECTIONS=$CONNECTIONS KEEPALIVE=$KEEPALIVE STOP_FILE=$WORK/stop \
  FAILURES_FILE=$WORK/failures \
  node "$REPO/tests/fixtures/keepalive-client.js" >load.json 2>load.err &
load=$!

killer() {
  local n=0 i pid
  while running; do
    i=$((RANDOM % INSTANCES))
    pid=$(systemctl show -P MainPID "pm2ctl-web@$i.service")
    # The time is taken before the kill: the killed process's requests fail at once.
    at=$(date +%s%3N)
    if [ "${pid:-0}" -gt 0 ] && kill "-$KILL_SIGNAL" "$pid" 2>/dev/null; then
      n=$((n + 1))
      echo "$at" >>kill-times
    fi
    sleep "$KILL_EVERY"
  done
  echo "$n" >kills
}
repeat() { # NAME EVERY COMMAND...: counts the runs that succeeded and failed
  local name=$1 every=$2 ok=0 failed=0
  shift 2
  while running; do
    echo "@$(date +%s%3N) start" >>"$name.log"
    if "$@" >>"$name.log" 2>&1; then ok=$((ok + 1)); else failed=$((failed + 1)); echo "^ failed" >>"$name.log"; fi
    sleep "$every"
  done
  echo "$ok $failed" >"$name.count"
}

killer &
actors=$!
repeat reload "$RELOAD_EVERY" "$pm2ctl" reload web &
actors="$actors $!"
repeat apply "$APPLY_EVERY" "$pm2ctl" apply "$WORK/ecosystem.toml" &
actors="$actors $!"
wait $actors
touch "$WORK/stop"
wait "$load"
EOF

boot_sandbox
sb_exec "$WORK/pm2ctl" apply "$WORK/ecosystem.toml" >/dev/null 2>&1 || die "the first apply failed"
sb_exec bash -c 'for _ in $(seq 600); do curl -sf "http://127.0.0.1:$1/" >/dev/null && exit 0; sleep 0.05; done; exit 1' \
  _ "$PORT" || die "the app never answered on port $PORT"

log "soaking for ${DURATION}s: kill -$KILL_SIGNAL every ${KILL_EVERY}s, reload every ${RELOAD_EVERY}s, apply every ${APPLY_EVERY}s, $CONNECTIONS concurrent requests"
sb_exec env WORK="$WORK" REPO="$REPO" DURATION="$DURATION" INSTANCES="$INSTANCES" \
  CONNECTIONS="$CONNECTIONS" KEEPALIVE="$KEEPALIVE" KILL_SIGNAL="$KILL_SIGNAL" \
  KILL_EVERY="$KILL_EVERY" RELOAD_EVERY="$RELOAD_EVERY" APPLY_EVERY="$APPLY_EVERY" PORT="$PORT" \
  bash "$WORK/inside.sh"

# Drift: once systemd has restarted what was killed last, the file and what runs must agree.
log "checking for drift"
sb_exec bash -c 'for _ in $(seq 600); do
    [ -z "$(systemctl list-units "pm2ctl-web@*" --all --plain --no-legend | awk "\$3 != \"active\"")" ] && exit 0
    sleep 0.05; done; exit 1' || true
drift=()
dry=$(sb_exec "$WORK/pm2ctl" apply "$WORK/ecosystem.toml" --dry-run 2>&1) || drift+=("apply --dry-run failed: $dry")
grep -q "nothing to change" <<<"$dry" || drift+=("apply --dry-run: $(tr '\n' ' ' <<<"$dry")")
online=$(sb_exec "$WORK/pm2ctl" jlist | node -e '
  const procs = JSON.parse(require("fs").readFileSync(0, "utf8"));
  console.log(procs.filter((p) => p.name === "web" && p.pm2_env.status === "online").length);')
[[ $online == "$INSTANCES" ]] || drift+=("jlist: $online of $INSTANCES instances online")
units=$(sb_exec systemctl list-units "pm2ctl-*" --all --plain --no-legend | grep -v pm2ctl-sandbox.target || true)
expected=$((1 + 2 * INSTANCES)) # the slice, and a socket and a service per instance
[[ $(grep -c . <<<"$units") == "$expected" ]] || drift+=("systemd has $(grep -c . <<<"$units") pm2ctl units, the file $expected")
bad=$(awk '$3 != "active"' <<<"$units")
[[ -z $bad ]] || drift+=("units not active: $(tr '\n' ' ' <<<"$bad")")

load=$(cat "$WORK/load.json")
field() { node -e 'const r = JSON.parse(process.argv[1]); const v = r[process.argv[2]]; console.log(Array.isArray(v) ? v.join("; ") : v);' "$load" "$1"; }
ok=$(field ok) non2xx=$(field non2xx) failed=$(field failed)
read -r reload_ok reload_failed <"$WORK/reload.count"
read -r apply_ok apply_failed <"$WORK/apply.count"

printf '\n%-28s %s\n' "duration" "${DURATION}s, $INSTANCES instances, $CONNECTIONS concurrent requests, keep-alive=$KEEPALIVE"
printf '%-28s %s\n' "requests sent" "$((ok + non2xx + failed))"
printf '%-28s %s\n' "failed" "$failed"
# A SIGKILLed process takes the requests it had accepted with it (no supervisor can answer
# them): failures within a second after a kill are counted apart from the others.
after_kill=$(node -e '
  const fs = require("fs");
  const lines = (f) => (fs.existsSync(f) ? fs.readFileSync(f, "utf8").split("\n").filter(Boolean).map(Number) : []);
  const kills = lines(process.argv[1]);
  const failures = lines(process.argv[2]);
  console.log(failures.filter((t) => kills.some((k) => t >= k && t - k <= 1000)).length);' \
  "$WORK/kill-times" "$WORK/failures")
printf '%-28s %s\n' "  within 1 s after a kill" "$after_kill"
printf '%-28s %s\n' "  any other time" "$((failed - after_kill))"
printf '%-28s %s\n' "non-2xx" "$non2xx"
printf '%-28s %s\n' "instances killed (-$KILL_SIGNAL)" "$(cat "$WORK/kills")"
printf '%-28s %s\n' "reloads ok / failed" "$reload_ok / $reload_failed"
printf '%-28s %s\n' "applies ok / failed" "$apply_ok / $apply_failed"
printf '%-28s %s\n' "applies that changed units" "$(grep -c '^web: ' "$WORK/apply.log" || true)"
printf '%-28s %s\n' "drift" "${#drift[@]}"
for d in "${drift[@]}"; do printf '  %s\n' "$d"; done
[[ $failed == 0 ]] || printf 'first errors: %s\n' "$(field errors)"
# Why reloads and applies failed: the instance lines that say so (one reload stops at the
# first instance that does not come back, e.g. one killed while it was being reloaded).
why() { grep -h -A2 -e '✗' -e '^pm2ctl' -e 'FAILED' "$WORK/$1.log" | grep -v -e 'not reloaded' -e 'failed for some' -e '^--' | sort | uniq -c | sort -rn | head -8; }
[[ $reload_failed == 0 ]] || { echo "why reloads failed (count, line):"; why reload; }
[[ $apply_failed == 0 ]] || { echo "why applies failed (count, line):"; why apply; }
# Exit 0 on target: no drift, no non-2xx, and no failed request, except those a SIGKILL took.
lost=$failed
[[ $KILL_SIGNAL != KILL && $KILL_SIGNAL != 9 ]] || lost=$((failed - after_kill))
[[ $lost == 0 && $non2xx == 0 && ${#drift[@]} == 0 ]]

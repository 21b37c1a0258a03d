#!/usr/bin/env bash
# bench/list.sh: the wall time of `pm2ctl list` (and `jlist`) with N instances running, side by
# side with `pm2 list` (and `pm2 jlist`) on the same N processes; medians of RUNS runs.
#
#   sudo bench/list.sh                     # N = 10, 100; RUNS = 11
#   COUNTS="10" RUNS=5 sudo bench/list.sh
#   PM2CTL=target/debug/pm2ctl sudo bench/list.sh   # an already built binary
#
# pm2ctl runs inside a sandbox (tests/sandbox/pm2ctl-sandbox: a real systemd as PID 1), timed
# inside it so entering the namespaces is not counted. Its time includes the CPU sample window
# (two CPUUsageNSec/schedstat readings 20 ms apart). PM2 7 is installed from npm under the build
# tree (never globally), with PM2_HOME under the build tree, its daemon warm (`pm2 ping` first),
# and `pm2 kill` at the end.
#
# The processes are `/bin/sleep infinity`, one app with N instances in fork mode for both tools,
# so the figures are the tools' own cost, not the apps'. Target: pm2ctl list under 50 ms at 100.
# Needs root (the sandbox), node and npm.
set -euo pipefail

SELF=$(readlink -f "${BASH_SOURCE[0]}")
REPO=$(cd "$(dirname "$SELF")/.." && pwd)
BUILD=${CARGO_TARGET_DIR:-$REPO/target}
BENCH=$BUILD/bench
RUNS=${RUNS:-11}
COUNTS=${COUNTS:-"10 100"}
PM2_VERSION=${PM2_VERSION:-7}
SANDBOX=$REPO/tests/sandbox/pm2ctl-sandbox

die() { echo "bench/list: $*" >&2; exit 1; }
log() { echo "bench/list: $*" >&2; }

[[ $(id -u) == 0 ]] || die "needs root (the sandbox boots systemd in namespaces): sudo $0"
command -v node >/dev/null || die "node is not installed"
command -v npm >/dev/null || die "npm is not installed"
[[ $RUNS =~ ^[1-9][0-9]*$ ]] || die "RUNS must be a positive number"
mkdir -p "$BENCH"

if [[ -z ${PM2CTL:-} ]]; then
  log "building pm2ctl (release)"
  (cd "$REPO" && cargo build --release --quiet)
  PM2CTL=$BUILD/release/pm2ctl
fi
[[ -x $PM2CTL ]] || die "no pm2ctl at $PM2CTL"
PM2CTL=$(readlink -f "$PM2CTL")

PM2=$BENCH/node_modules/.bin/pm2
if [[ ! -x $PM2 ]]; then
  log "installing pm2@$PM2_VERSION under $BENCH"
  npm install --silent --no-audit --no-fund --prefix "$BENCH" "pm2@$PM2_VERSION" >&2
fi
export PM2_HOME=$BENCH/pm2-home
mkdir -p "$PM2_HOME"

SB=
cleanup() {
  "$PM2" kill >/dev/null 2>&1 || true
  [[ -z $SB ]] || PM2CTL_SANDBOX_ROOT=$BUILD/sandbox "$SANDBOX" stop "$SB" >/dev/null 2>&1 || true
}
trap cleanup EXIT

sb_exec() { PM2CTL_SANDBOX_ROOT=$BUILD/sandbox "$SANDBOX" exec "$SB" -- "$@"; }
median() { sort -n | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print int((v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
now_ms() { echo $(($(date +%s%N) / 1000000)); }

# One app of N sleeping instances, in both formats.
write_files() {
  local n=$1 dir=$BENCH/list-$1
  mkdir -p "$dir"
  printf '[[apps]]\nname = "sleepers"\nscript = "/bin/sleep"\nargs = "infinity"\ninterpreter = "none"\nexec_mode = "fork"\ninstances = %d\n' \
    "$n" >"$dir/ecosystem.toml"
  printf 'module.exports = { apps: [{ name: "sleepers", script: "/bin/sleep", args: "infinity", interpreter: "none", exec_mode: "fork", instances: %d }] };\n' \
    "$n" >"$dir/ecosystem.config.js"
}

# Median ms of `pm2ctl VERB` inside the sandbox, output discarded.
time_pm2ctl() {
  local verb=$1 r times=()
  for ((r = 0; r < RUNS; r++)); do
    times+=("$(sb_exec bash -c 's=$(date +%s%N); "$1" "$2" >/dev/null || exit 1; e=$(date +%s%N); echo $(((e - s) / 1000000))' _ "$PM2CTL" "$verb")")
  done
  printf '%s\n' "${times[@]}" | median
}

time_pm2() {
  local verb=$1 r s times=()
  for ((r = 0; r < RUNS; r++)); do
    s=$(now_ms)
    "$PM2" "$verb" >/dev/null 2>&1 || die "pm2 $verb failed"
    times+=("$(($(now_ms) - s))")
  done
  printf '%s\n' "${times[@]}" | median
}

log "booting a sandbox"
SB=$(PM2CTL_SANDBOX_ROOT=$BUILD/sandbox "$SANDBOX" boot --owner $$)
"$PM2" kill >/dev/null 2>&1 || true
"$PM2" ping >/dev/null

rows=()
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
  ours_jlist=$(time_pm2ctl jlist)
  theirs_list=$(time_pm2 list)
  theirs_jlist=$(time_pm2 jlist)
  rows+=("$(printf '| %9d | %16d | %14d | %17d | %15d |' "$n" "$ours_list" "$theirs_list" "$ours_jlist" "$theirs_jlist")")

  sb_exec "$PM2CTL" delete all >/dev/null 2>&1 || die "pm2ctl delete all failed"
  "$PM2" delete all >/dev/null 2>&1 || true
done

echo
echo "$(basename "$(dirname "$PM2CTL")") pm2ctl (sandboxed systemd $(sb_exec systemctl --version | awk 'NR==1{print $2}')) vs PM2 $("$PM2" --version 2>/dev/null | tail -1) (warm daemon); median of $RUNS runs, $(nproc) CPUs"
echo
echo "| instances | pm2ctl list (ms) | pm2 list (ms) | pm2ctl jlist (ms) | pm2 jlist (ms) |"
echo "|----------:|-----------------:|--------------:|------------------:|---------------:|"
printf '%s\n' "${rows[@]}"
echo
echo "pm2ctl's figures include its 20 ms CPU sampling window. Target: pm2ctl list < 50 ms at 100."

# bench/lib.sh: the setup every benchmark script shares; sourced, never run:
#
#   source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh" my-bench
#
# It sets REPO (the checkout), BUILD (the cargo target directory), BENCH (scratch space under
# it), SANDBOX (tests/sandbox/pm2ctl-sandbox) and PM2CTL_SANDBOX_ROOT, defines `die` and `log`
# (prefixed with the script's name), and one EXIT trap that runs what `at_exit` registered, last
# registered first. The functions below build pm2ctl, install PM2 and boot a sandbox on demand,
# each registering its own cleanup.

BENCH_NAME=${1:?bench/lib.sh takes the script name}
REPO=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
# Absolute: the sandbox shares the filesystem, not the working directory.
BUILD=$(realpath -m "${CARGO_TARGET_DIR:-$REPO/target}")
BENCH=$BUILD/bench
SANDBOX=$REPO/tests/sandbox/pm2ctl-sandbox
PM2_VERSION=${PM2_VERSION:-7}
export PM2CTL_SANDBOX_ROOT=${PM2CTL_SANDBOX_ROOT:-$BUILD/sandbox}
mkdir -p "$BENCH"

die() { echo "$BENCH_NAME: $*" >&2; exit 1; }
log() { echo "$BENCH_NAME: $*" >&2; }

BENCH_AT_EXIT=()
# at_exit COMMAND: run COMMAND (one string, evaluated) when the script exits, however it ends.
at_exit() { BENCH_AT_EXIT=("$1" "${BENCH_AT_EXIT[@]}"); }
bench_exit() {
  local cmd
  for cmd in "${BENCH_AT_EXIT[@]}"; do eval "$cmd" || true; done
}
trap bench_exit EXIT

need_root() {
  [[ $(id -u) == 0 ]] || die "needs root (the sandbox boots systemd in namespaces): sudo $0"
}

# need_commands CMD...: each must be on PATH.
need_commands() {
  local cmd
  for cmd in "$@"; do
    command -v "$cmd" >/dev/null || die "$cmd is not installed"
  done
}

# positive NAME: the variable NAME holds a whole number above zero.
positive() {
  [[ ${!1} =~ ^[1-9][0-9]*$ ]] || die "$1 must be a positive number"
}

# build_pm2ctl [BIN]: sets PM2CTL to a private copy of $PM2CTL if set (an already built binary),
# else of a fresh release build of BIN (default pm2ctl). Private, so another build in the same
# target directory cannot swap the binary mid-run. PM2CTL_FROM keeps where it came from.
build_pm2ctl() {
  local bin=${1:-pm2ctl} copy
  if [[ -z ${PM2CTL:-} ]]; then
    log "building $bin (release)"
    (cd "$REPO" && cargo build --release --quiet --bin "$bin")
    PM2CTL=$BUILD/release/$bin
  fi
  [[ -x $PM2CTL ]] || die "no $bin at $PM2CTL"
  PM2CTL_FROM=$(readlink -f "$PM2CTL")
  copy=$(mktemp -d "$BENCH/bin.XXXXXX")
  at_exit "rm -rf '$copy'"
  cp "$PM2CTL" "$copy/$bin"
  PM2CTL=$copy/$bin
}

# install_pm2: sets PM2 to PM2 (pm2@$PM2_VERSION, installed from npm under $BENCH, never
# globally) with PM2_HOME under $BENCH, and kills its daemon at exit. Fails (without exiting)
# when npm cannot install it.
install_pm2() {
  need_commands node npm
  PM2=$BENCH/node_modules/.bin/pm2
  if [[ ! -x $PM2 ]]; then
    log "installing pm2@$PM2_VERSION under $BENCH"
    npm install --silent --no-audit --no-fund --prefix "$BENCH" "pm2@$PM2_VERSION" >&2 || return 1
  fi
  export PM2_HOME=$BENCH/pm2-home
  mkdir -p "$PM2_HOME"
  at_exit '"$PM2" kill >/dev/null 2>&1'
}

# boot_sandbox: sets SB to a freshly booted sandbox (a real systemd as PID 1), stopped at exit.
boot_sandbox() {
  log "booting a sandbox"
  SB=$("$SANDBOX" boot --owner $$)
  at_exit '"$SANDBOX" stop "$SB" >/dev/null 2>&1'
}

# sb_exec CMD...: runs CMD inside the sandbox.
sb_exec() { "$SANDBOX" exec "$SB" -- "$@"; }

# median: the median of the numbers on stdin, one a line (the mean of the two middle ones for
# an even count).
median() {
  sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# sleep_app_toml NAME [LINE...]: one `/bin/sleep infinity` app run as root, which costs next
# to nothing to start, as a table of ecosystem.toml, with each LINE added to it.
sleep_app_toml() {
  printf '[[apps]]\nuser = "root"\nname = "%s"\nscript = "/bin/sleep"\nargs = "infinity"\ninterpreter = "none"\n' "$1"
  shift
  [[ $# -eq 0 ]] || printf '%s\n' "$@"
  echo
}

# sleep_app_js NAME [FIELDS]: the same app as an entry of ecosystem.config.js's `apps`, with
# FIELDS (`key: value, …`) added to it.
sleep_app_js() {
  printf '  { name: "%s", script: "/bin/sleep", args: "infinity", interpreter: "none"%s },\n' \
    "$1" "${2:+, $2}"
}

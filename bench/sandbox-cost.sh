#!/usr/bin/env bash
# bench/sandbox-cost.sh: what each part of the default sandbox costs when many apps start at
# once. Applies N `/bin/sleep infinity` apps (which cost next to nothing to start, so what is
# left is the tools' and systemd's own work) with the default sandbox, with one option (or one
# group of options) turned off, and with `sandbox = false`; and starts the same apps with PM2 in
# the same run. Prints, for each, the median wall time of RUNS applies and the ratio to
# `pm2 start`.
#
#   sudo bench/sandbox-cost.sh                        # N = 50, RUNS = 5, the host's systemd
#   N=200 RUNS=3 sudo bench/sandbox-cost.sh
#   PM2CTL_TEST_SYSTEMD=trixie sudo bench/sandbox-cost.sh   # another release's systemd (one
#                                                     # whose C library runs the host's build)
#
# pm2ctl runs inside a sandbox (tests/sandbox/pm2ctl-sandbox: a real systemd as PID 1), timed
# inside it. PM2 7 is installed from npm under the build tree, with its daemon started before
# timing (its best case), and killed at the end. Needs root, node and npm.
set -euo pipefail

source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh" sandbox-cost
RUNS=${RUNS:-5}
N=${N:-50}

need_root
positive RUNS
positive N
build_pm2ctl
install_pm2 || die "cannot install pm2@$PM2_VERSION"

# The variants: a label, then the `sandbox` value every app gets ("" for the default).
MOUNT_OFF='{ private_tmp = false, private_devices = false, protect_system = "false", protect_home = "false", protect_kernel_tunables = false, protect_kernel_modules = false, protect_kernel_logs = false, protect_control_groups = false, protect_clock = false, protect_hostname = false }'
SECCOMP_OFF='{ system_call_filter = false, restrict_address_families = false, system_call_architectures = false, restrict_namespaces = false, lock_personality = false, restrict_realtime = false, restrict_suid_sgid = false }'
VARIANTS=(
  "default" ""
  "protect_kernel_tunables = false" "{ protect_kernel_tunables = false }"
  "protect_kernel_modules, _logs = false" "{ protect_kernel_modules = false, protect_kernel_logs = false }"
  "protect_control_groups = false" "{ protect_control_groups = false }"
  "private_devices = false" "{ private_devices = false }"
  "private_tmp = false" "{ private_tmp = false }"
  "protect_system = \"false\"" '{ protect_system = "false" }'
  "protect_home = \"false\"" '{ protect_home = "false" }'
  "no mount namespace (every option that needs one off)" "$MOUNT_OFF"
  "no seccomp (every seccomp-based option off)" "$SECCOMP_OFF"
  "sandbox = false" "false"
)

dir=$BENCH/sandbox-cost-$N
mkdir -p "$dir"
# write_toml FILE SANDBOX: the N apps, each with `sandbox = SANDBOX` unless it is empty.
write_toml() {
  local i
  for ((i = 0; i < N; i++)); do
    if [[ -z $2 ]]; then sleep_app_toml "bench-$i"; else sleep_app_toml "bench-$i" "sandbox = $2"; fi
  done >"$1"
}
{
  echo "module.exports = { apps: ["
  for ((i = 0; i < N; i++)); do
    sleep_app_js "bench-$i"
  done
  echo "] };"
} >"$dir/ecosystem.config.js"

boot_sandbox
"$PM2" kill >/dev/null 2>&1 || true
"$PM2" ping >/dev/null

# Milliseconds one `pm2ctl apply FILE` takes inside the sandbox; deletes the apps afterwards.
time_apply() {
  sb_exec bash -c 's=$(date +%s%N); "$1" apply "$2" >/dev/null 2>&1 || exit 1; e=$(date +%s%N); echo $(((e - s) / 1000000)); "$1" delete all >/dev/null 2>&1' \
    _ "$PM2CTL" "$1"
}

# The runs interleave the variants, so a slower stretch of a shared machine hits all of them.
declare -A times
pm2_times=()
for ((r = 1; r <= RUNS; r++)); do
  log "run $r/$RUNS"
  for ((v = 0; v < ${#VARIANTS[@]}; v += 2)); do
    file=$dir/variant-$((v / 2)).toml
    [[ -f $file ]] || write_toml "$file" "${VARIANTS[v + 1]}"
    t=$(time_apply "$file") || die "pm2ctl apply failed for '${VARIANTS[v]}' (run $file by hand in a sandbox to see why)"
    times[$v]+="$t "
  done
  s=$(now_ms)
  "$PM2" start "$dir/ecosystem.config.js" >/dev/null 2>&1 || die "pm2 start failed"
  pm2_times+=($(($(now_ms) - s)))
  "$PM2" delete all >/dev/null 2>&1 || true
done

pm2_ms=$(printf '%s\n' "${pm2_times[@]}" | median)
default_ms=$(printf '%s\n' ${times[0]} | median)
echo
echo "$(basename "$(dirname "$PM2CTL_FROM")") pm2ctl apply of $N sleep apps (sandboxed systemd $(sb_exec systemctl --version | awk 'NR==1{print $2}')) by sandbox option, vs pm2 start ($("$PM2" --version 2>/dev/null | tail -1), warm daemon); median of $RUNS runs, $(nproc) CPUs"
echo
echo "| sandbox | apply (ms) | ms/app | saved vs default | ratio to pm2 start |"
echo "|---|---:|---:|---:|---:|"
for ((v = 0; v < ${#VARIANTS[@]}; v += 2)); do
  ms=$(printf '%s\n' ${times[$v]} | median)
  awk -v label="${VARIANTS[v]}" -v ms="$ms" -v n="$N" -v d="$default_ms" -v p="$pm2_ms" \
    'BEGIN { printf "| %s | %d | %.1f | %d%% | %.2f× |\n", label, ms, ms / n, (d - ms) * 100 / d, ms / p }'
done
printf '| `pm2 start` (PM2) | %d | %s | | 1.00× |\n' "$pm2_ms" "$(awk -v t="$pm2_ms" -v n="$N" 'BEGIN { printf "%.1f", t / n }')"

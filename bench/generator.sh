#!/usr/bin/env bash
# How long pm2ctl-generator takes at boot: it plans and renders a saved file of N apps (each a
# cluster app with 2 instances and a socket, the biggest common case) into an empty directory,
# RUNS times per size; prints the median and the worst wall time. No systemd is needed: the
# generator talks to no process. A boot waits for every generator, so this is boot time.
#   bench/generator.sh                      # builds this checkout in release mode first
#   RUNS=50 GENERATOR=path bench/generator.sh
set -euo pipefail
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh" bench/generator.sh
runs=${RUNS:-20}
PM2CTL=${GENERATOR:-}
build_pm2ctl pm2ctl-generator
gen=$PM2CTL
work=$(mktemp -d "$BENCH/generator.XXXXXX")
# The output goes to a tmpfs, as systemd's /run/systemd/generator is one (on a disk
# filesystem the .wants/ symlinks alone can take a second for 200 apps).
shm=$(mktemp -d /dev/shm/pm2ctl-bench-generator.XXXXXX)
at_exit 'rm -rf "$work" "$shm"'

printf '%-6s %-10s %-12s %-12s\n' apps units "median ms" "max ms"
for apps in 1 10 50 200; do
  config=$work/config-$apps
  mkdir -p "$config"
  : > "$config/dump.toml"
  for ((i = 0; i < apps; i++)); do
    printf '[[apps]]\nuser = "root"\nname = "app%d"\nscript = "/bin/sleep"\nargs = "1000"\ninterpreter = "none"\nexec_mode = "cluster"\ninstances = 2\nport = %d\n\n' \
      "$i" $((20000 + i)) >> "$config/dump.toml"
  done
  times=()
  for ((r = 0; r < runs; r++)); do
    out=$shm/out
    rm -rf "$out"; mkdir -p "$out"
    start=$(date +%s%N)
    PM2CTL_CONFIG_DIR=$config PM2CTL_BIN=/usr/bin/pm2ctl SYSTEMD_SCOPE=system "$gen" "$out" "$out" "$out"
    end=$(date +%s%N)
    times+=($(((end - start) / 1000)))
  done
  units=$(find "$out" -maxdepth 1 -type f | wc -l)
  sorted=($(printf '%s\n' "${times[@]}" | sort -n))
  median=${sorted[$((runs / 2))]}
  max=${sorted[$((runs - 1))]}
  printf '%-6s %-10s %-12s %-12s\n' "$apps" "$units" \
    "$(awk "BEGIN{printf \"%.1f\", $median/1000}")" "$(awk "BEGIN{printf \"%.1f\", $max/1000}")"
done

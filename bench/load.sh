#!/usr/bin/env bash
# How long `pm2ctl validate` takes on ecosystem files of growing size, per format.
# Prints a table of the median wall time over RUNS runs (default 15).
#   bench/load.sh            # builds this checkout in release mode first
#   PM2CTL=path RUNS=30 bench/load.sh
set -euo pipefail
source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh" bench/load.sh
runs=${RUNS:-15}
work=$(mktemp -d)
at_exit 'rm -rf "$work"'
build_pm2ctl
bin=$PM2CTL

gen_toml() { # N apps, each with the common options and an env table
  for i in $(seq 1 "$1"); do
    printf '[[apps]]\nuser = "root"\nname = "app-%d"\nscript = "server.js"\ninstances = 2\nmax_memory_restart = "300M"\n' "$i"
    printf 'min_uptime = "10s"\nkill_timeout = 5000\nargs = "--port %d --verbose"\n' "$((3000 + i))"
    printf '[apps.env]\nNODE_ENV = "production"\nPORT = "%d"\n\n' "$((3000 + i))"
  done
}
gen_json() {
  printf '{"apps": [\n'
  for i in $(seq 1 "$1"); do
    [ "$i" -gt 1 ] && printf ',\n'
    printf '{"name": "app-%d", "script": "server.js", "instances": 2, "max_memory_restart": "300M",' "$i"
    printf ' "min_uptime": "10s", "kill_timeout": 5000, "args": "--port %d --verbose",' "$((3000 + i))"
    printf ' "env": {"NODE_ENV": "production", "PORT": "%d"}}' "$((3000 + i))"
  done
  printf '\n]}\n'
}

median_ms() { # command...; prints the median wall time in ms
  local times=()
  for _ in $(seq 1 "$runs"); do
    local start end
    start=$(date +%s%N)
    "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }
    end=$(date +%s%N)
    times+=($(( (end - start) / 1000 )))
  done
  printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)]/1000}'
}

printf '%-8s %6s %10s %12s\n' format apps bytes "median ms"
for n in 1 10 100 1000; do
  gen_toml "$n" > "$work/ecosystem-$n.toml"
  gen_json "$n" > "$work/ecosystem-$n.json"
  { printf 'module.exports = '; gen_json "$n"; } > "$work/ecosystem-$n.config.js"
  for f in "ecosystem-$n.toml" "ecosystem-$n.json" "ecosystem-$n.config.js"; do
    case $f in *.toml) fmt=toml ;; *.json) fmt=json ;; *) command -v node >/dev/null || continue; fmt=js ;; esac
    printf '%-8s %6d %10d %12s\n' "$fmt" "$n" "$(wc -c < "$work/$f")" "$(median_ms "$bin" validate "$work/$f")"
  done
done

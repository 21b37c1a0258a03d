#!/usr/bin/env bash
# bench/ansible.sh: the wall time of a rolling reload of a cluster app (2 instances) over three
# hosts with Ansible (`serial: 1`, tests/ansible/reload.yml, the pm2ctl.pm2ctl.app module), each
# host under keep-alive load; median of RUNS runs (default 3), with the slowest and fastest.
#
#   sudo bench/ansible.sh
#   RUNS=5 sudo bench/ansible.sh
#
# Each run is tests/integration/ansible.rs' three-host test (three sandboxes, each a real systemd with sshd
# on a veth link to one client namespace, ansible-core as tests/prerequisites pins it), which
# writes the reload playbook's wall time (ansible-playbook started to ended) to
# PM2CTL_ANSIBLE_TIMINGS; the test's own checks (no request lost on any host) hold for every
# run measured. Needs root and what tests/prerequisites installs.
set -euo pipefail

source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh" bench/ansible
RUNS=${RUNS:-3}
need_root
positive RUNS
cd "$REPO"
tests/prerequisites >&2

times=()
for ((r = 1; r <= RUNS; r++)); do
  log "run $r of $RUNS"
  out=$BENCH/ansible-rollout
  rm -f "$out"
  PM2CTL_ANSIBLE_TIMINGS=$out cargo nextest run --locked --profile ci \
    ansible::a_playbook_applies_checks_and_reloads_a_cluster_app_on_three_hosts >&2 ||
    die "the three-host test failed (run $r)"
  times+=("$(cat "$out")")
  rm -f "$out"
done
sorted=$(printf '%s\n' "${times[@]}" | sort -n)

echo
echo "Rolling reload over 3 hosts with Ansible (serial: 1), each a sandboxed systemd $("$SANDBOX" version) on a veth link; $RUNS runs, $(nproc) CPUs"
echo
echo "| hosts | instances per host | median (s) | fastest (s) | slowest (s) |"
echo "|------:|-------------------:|-----------:|------------:|------------:|"
printf '| %5d | %18d | %10s | %11s | %11s |\n' 3 2 \
  "$(sed -n "$(((RUNS + 1) / 2))p" <<<"$sorted")" "$(head -1 <<<"$sorted")" "$(tail -1 <<<"$sorted")"
echo
echo "Load average: $(cut -d' ' -f1-3 /proc/loadavg)."

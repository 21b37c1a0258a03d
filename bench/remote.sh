#!/usr/bin/env bash
# bench/remote.sh: the wall time of `pm2ctl -H` (list, and apply of an unchanged file) with one
# ssh login per run (the run's own ControlMaster, the default) and with a login per ssh session
# (PM2CTL_SSH_MULTIPLEX=no, as before); medians of RUNS runs, with the logins each run made.
#
#   sudo bench/remote.sh                        # RUNS = 7
#   RUNS=3 PM2CTL=target/debug/pm2ctl sudo bench/remote.sh
#
# The other host is a sandbox (tests/sandbox/pm2ctl-sandbox: a real systemd as PID 1) running
# sshd on a veth link to a client network namespace, as tests/integration/remote_host.rs sets it up; keys,
# known_hosts and configs live under the build tree, never ~/.ssh. Logins are counted from the
# sshd's journal ("Accepted publickey"). Needs root, sshd, ssh-keygen, nsenter, unshare, ip.
set -euo pipefail

source "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/lib.sh" bench/remote
RUNS=${RUNS:-7}
ADDRESS=10.199.0.2

need_root
need_commands ssh sshd ssh-keygen nsenter unshare ip
[[ -x /usr/sbin/sshd ]] || die "no /usr/sbin/sshd"
positive RUNS
build_pm2ctl
boot_sandbox

dir=$(mktemp -d "$BENCH/remote.XXXXXX")
at_exit "rm -rf '$dir'"
ssh-keygen -q -t ed25519 -N '' -C client -f "$dir/client_key"
ssh-keygen -q -t ed25519 -N '' -C host -f "$dir/host_key"
cp "$dir/client_key.pub" "$dir/authorized_keys"
echo "$ADDRESS $(cat "$dir/host_key.pub")" >"$dir/known_hosts"
sandbox_dir=$PM2CTL_SANDBOX_ROOT/$SB
cat >"$dir/sshd_config" <<EOF
ListenAddress $ADDRESS
HostKey $dir/host_key
AuthorizedKeysFile $dir/authorized_keys
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile none
SetEnv PM2CTL_STATE_DIR=$sandbox_dir/state PM2CTL_CONFIG_DIR=$sandbox_dir/config
EOF
cat >"$dir/ssh_config" <<EOF
Host *
  IdentityFile $dir/client_key
  IdentitiesOnly yes
  UserKnownHostsFile $dir/known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  BatchMode yes
  LogLevel ERROR
EOF

# The client's network namespace lives as long as this sleep.
unshare --net -- sleep 3600 &
client_ns=$!
at_exit "kill $client_ns"
for _ in $(seq 100); do
  [[ $(readlink /proc/$client_ns/ns/net) != "$(readlink /proc/self/ns/net)" ]] && break
  sleep 0.02
done
ip link add veth-c netns "$client_ns" type veth peer name veth-s netns "$(cat "$sandbox_dir/systemd.pid")"
in_client() { nsenter --net=/proc/$client_ns/ns/net -- "$@"; }
in_client sh -c "ip addr add 10.199.0.1/24 dev veth-c && ip link set veth-c up && ip link set lo up"
sb_exec sh -c "ip addr add $ADDRESS/24 dev veth-s && ip link set veth-s up && mkdir -p /run/sshd \
  && systemd-run --quiet --unit=bench-sshd /usr/sbin/sshd -D -e -f $dir/sshd_config"
for _ in $(seq 200); do
  in_client ssh -F "$dir/ssh_config" "root@$ADDRESS" true 2>/dev/null && break
  sleep 0.1
done
export PM2CTL_SSH="ssh -F $dir/ssh_config"

logins() {
  sb_exec journalctl --sync
  sb_exec journalctl --no-pager -u bench-sshd -o cat | grep -c '^Accepted publickey' || true
}

printf '[[apps]]\nuser = "root"\nname = "faraway"\nscript = "/bin/sleep"\nargs = "infinity"\ninterpreter = "none"\ninstances = 2\n' \
  >"$dir/ecosystem.toml"
in_client "$PM2CTL" -H "root@$ADDRESS" apply "$dir/ecosystem.toml" >/dev/null 2>&1 ||
  die "pm2ctl -H apply failed"

# time_remote MULTIPLEX VERB...: "median-ms logins-per-run" of `pm2ctl -H root@ADDRESS VERB...`.
time_remote() {
  local multiplex=$1 r s times=() before after
  shift
  before=$(logins)
  for ((r = 0; r < RUNS; r++)); do
    s=$(now_ms)
    PM2CTL_SSH_MULTIPLEX=$multiplex in_client "$PM2CTL" -H "root@$ADDRESS" "$@" >/dev/null 2>&1 ||
      die "pm2ctl -H $* failed"
    times+=("$(($(now_ms) - s))")
  done
  after=$(logins)
  echo "$(printf '%s\n' "${times[@]}" | median) $(((after - before) / RUNS))"
}

rows=()
for verb in list "apply $dir/ecosystem.toml"; do
  log "timing -H $verb ($RUNS runs each way)"
  # shellcheck disable=SC2086 # the verb's words
  read -r before before_logins < <(time_remote no $verb)
  # shellcheck disable=SC2086
  read -r after after_logins < <(time_remote yes $verb)
  rows+=("$(printf '| %-12s | %22s | %14s | %14s | %14s |' "-H ${verb%% *}" "$before" "$before_logins" "$after" "$after_logins")")
done

echo
echo "pm2ctl -H over ssh to a sandboxed systemd $(sb_exec systemctl --version | awk 'NR==1{print $2}') on a veth link; median of $RUNS runs, $(nproc) CPUs"
echo
echo "| command      | login per session (ms) | logins per run | one login (ms) | logins per run |"
echo "|--------------|-----------------------:|---------------:|---------------:|---------------:|"
printf '%s\n' "${rows[@]}"
echo
echo "login per session: PM2CTL_SSH_MULTIPLEX=no (each ssh session logs in); one login: the run's"
echo "own ControlMaster (the default). Load average: $(cut -d' ' -f1-3 /proc/loadavg)."

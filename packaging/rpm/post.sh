# %post (install: $1 = 1, upgrade: $1 = 2). pm2ctl has no service of its own, so this starts,
# stops and restarts nothing; running apps pick up the new files when next restarted.
# The state directory with the owner and mode from its tmpfiles.d entry:
systemd-tmpfiles --create pm2ctl.conf >/dev/null 2>&1 || :
# systemd's own file triggers reload for unit directories, not for generators: reload here,
# and only where systemd runs (not in a chroot, container or image build).
if [ -d /run/systemd/system ]; then
  systemctl --system daemon-reload >/dev/null 2>&1 || :
fi

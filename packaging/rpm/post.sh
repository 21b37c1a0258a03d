# %post (install: $1 = 1, upgrade: $1 = 2). pm2ctl has no service of its own, so this starts,
# stops and restarts nothing; running apps pick up the new files when next restarted.
# The state directory with the owner and mode from its tmpfiles.d entry:
systemd-tmpfiles --create pm2ctl.conf >/dev/null 2>&1 || :
# systemd's own file triggers reload for unit directories, not for generators: reload here,
# and only where systemd runs (not in a chroot, container or image build).
if [ -d /run/systemd/system ]; then
  systemctl --system daemon-reload >/dev/null 2>&1 || :
fi
# `pm2` as a name for pm2ctl, only where no other pm2 is installed (see the .deb's postinst).
if [ -L /usr/bin/pm2 ] && [ "$(readlink /usr/bin/pm2)" = /etc/alternatives/pm2 ]; then
  alternatives --install /usr/bin/pm2 pm2 /usr/bin/pm2ctl 10 >/dev/null 2>&1 || :
elif [ ! -e /usr/bin/pm2 ] && [ ! -L /usr/bin/pm2 ] && [ ! -e /usr/local/bin/pm2 ] && [ ! -L /usr/local/bin/pm2 ]; then
  alternatives --install /usr/bin/pm2 pm2 /usr/bin/pm2ctl 10 >/dev/null 2>&1 || :
fi

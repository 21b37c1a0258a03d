# %postun (erase: $1 = 0, upgrade: $1 = 1). Apps keep running, and /var/lib/pm2ctl stays
# (RPM has no purge; remove it by hand to forget every app).
if [ "$1" -eq 0 ]; then
  alternatives --remove pm2 /usr/bin/pm2ctl >/dev/null 2>&1 || :
fi
if [ "$1" -eq 0 ] && [ -d /run/systemd/system ]; then
  systemctl --system daemon-reload >/dev/null 2>&1 || :
fi

//! Talking to systemd over D-Bus: proxies, transient units, job waiting, unit state.

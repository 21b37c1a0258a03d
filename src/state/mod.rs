//! What systemd cannot hold for transient units: stopped apps, ids, counters,
//! the config each app was started from.

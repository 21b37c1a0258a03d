//! The sandboxing and capability vocabulary systemd understands, as tables: the on/off
//! switches an ecosystem file's `sandbox` table may set, the values of `ProtectSystem=` and
//! `ProtectHome=`, and capability sets as bitmasks. The ecosystem loader validates against
//! these tables, the plan chooses from them and `render` writes them; none of them decides
//! what an app gets (that is `plan::sandbox`).

/// One on/off option of `sandbox`.
pub struct Switch {
    /// Its key in the ecosystem file's `sandbox` table.
    pub key: &'static str,
    /// The D-Bus property it sets.
    pub property: &'static str,
    /// Whether it is on when the file does not say.
    pub default: bool,
    /// It needs a mount namespace (not available to a user's own systemd).
    pub namespaced: bool,
}

const fn switch(
    key: &'static str,
    property: &'static str,
    default: bool,
    namespaced: bool,
) -> Switch {
    Switch {
        key,
        property,
        default,
        namespaced,
    }
}

/// Every on/off option, in the order the properties are set. The versions that introduced
/// the newer ones are in `gate`.
pub const SWITCHES: &[Switch] = &[
    switch("no_new_privileges", "NoNewPrivileges", true, false),
    switch("private_tmp", "PrivateTmp", true, true),
    switch("private_devices", "PrivateDevices", true, true),
    switch(
        "protect_kernel_tunables",
        "ProtectKernelTunables",
        true,
        true,
    ),
    switch("protect_kernel_modules", "ProtectKernelModules", true, true),
    switch("protect_kernel_logs", "ProtectKernelLogs", true, true),
    switch("protect_control_groups", "ProtectControlGroups", true, true),
    switch("protect_clock", "ProtectClock", true, true),
    switch("protect_hostname", "ProtectHostname", true, true),
    switch("restrict_suid_sgid", "RestrictSUIDSGID", true, false),
    switch("lock_personality", "LockPersonality", true, false),
    switch("restrict_realtime", "RestrictRealtime", true, false),
    // The value is the set of namespace types still allowed: none.
    switch("restrict_namespaces", "RestrictNamespaces", true, false),
    switch(
        "system_call_architectures",
        "SystemCallArchitectures",
        true,
        false,
    ),
    // V8's JIT writes and then executes code pages: on, node aborts at start.
    switch(
        "memory_deny_write_execute",
        "MemoryDenyWriteExecute",
        false,
        false,
    ),
    // `@system-service`: what Node, npm and their native modules call. A call outside it
    // fails with EPERM (`SystemCallErrorNumber`) rather than killing the app, so code that
    // probes for a newer call (libuv tries io_uring) falls back.
    switch("system_call_filter", "SystemCallFilter", true, false),
    // Local, IPv4 and IPv6 sockets, and netlink (`os.networkInterfaces()` asks the kernel
    // over it); no raw packet sockets or the rest.
    switch(
        "restrict_address_families",
        "RestrictAddressFamilies",
        true,
        false,
    ),
];

/// `protect_system` values (systemd's), the default first.
pub const PROTECT_SYSTEM: &[&str] = &["strict", "full", "true", "false"];
/// `protect_home` values (systemd's), the default first.
pub const PROTECT_HOME: &[&str] = &["read-only", "tmpfs", "true", "false"];

/// The bitmask of capability names (already validated; an unknown one adds nothing).
pub fn mask(names: &[String]) -> u64 {
    names
        .iter()
        .filter_map(|n| n.parse::<caps::Capability>().ok())
        .fold(0, |m, c| m | c.bitmask())
}

/// Whether a capability bitmask holds `cap`.
pub fn holds(mask: u64, cap: caps::Capability) -> bool {
    mask & cap.bitmask() != 0
}

/// The names of the capabilities in `mask`, in kernel order (for unit files and messages).
pub fn names(mask: u64) -> Vec<String> {
    let mut all: Vec<caps::Capability> = caps::all().into_iter().collect();
    all.sort_by_key(|c| c.index());
    all.into_iter()
        .filter(|c| holds(mask, *c))
        .map(|c| c.to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capability_masks_round_trip() {
        let m = mask(&["CAP_NET_BIND_SERVICE".into(), "CAP_CHOWN".into()]);
        assert_eq!(m, (1 << 10) | 1);
        assert_eq!(names(m), vec!["CAP_CHOWN", "CAP_NET_BIND_SERVICE"]);
        assert!(holds(m, caps::Capability::CAP_CHOWN));
        assert!(!holds(m, caps::Capability::CAP_SYS_ADMIN));
        assert_eq!(names(0), Vec::<String>::new());
    }
}

//! The pm2ctl-generator inside a sandbox, for tests of what survives a reboot.

use super::sandbox::{Sandbox, PM2CTL};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

/// The generator cargo built for these tests.
pub const GENERATOR: &str = env!("CARGO_BIN_EXE_pm2ctl-generator");

/// Installs the generator where systemd looks for it (/run/systemd/system-generators). systemd
/// gives generators none of the manager's DefaultEnvironment, so a wrapper names the sandbox's
/// config directory and the pm2ctl under test (the packaged layout needs neither), and sends
/// the generator's messages to [`log`] rather than the host's kernel log.
pub fn install(sb: &Sandbox) {
    let dir = PathBuf::from(format!(
        "/proc/{}/root/run/systemd/system-generators",
        sb.pid()
    ));
    std::fs::create_dir_all(&dir).expect("create the generator directory");
    let wrapper = dir.join("pm2ctl-generator");
    std::fs::write(
        &wrapper,
        format!(
            "#!/bin/sh\nexport PM2CTL_CONFIG_DIR='{}' PM2CTL_BIN='{PM2CTL}' PM2CTL_GENERATOR_LOG='{}'\n\
             exec '{GENERATOR}' \"$@\"\n",
            sb.config_dir().display(),
            LOG_INSIDE,
        ),
    )
    .expect("write the generator wrapper");
    std::fs::set_permissions(&wrapper, std::fs::Permissions::from_mode(0o755))
        .expect("make the wrapper executable");
}

/// Where the generator installed by [`install`] writes its messages, as a path inside the
/// sandbox: under /run, since systemd 257 runs generators with every other file system
/// read-only (as on a real host).
pub const LOG_INSIDE: &str = "/run/pm2ctl-generator-test.log";

/// [`LOG_INSIDE`] as the host reaches it.
pub fn log(sb: &Sandbox) -> PathBuf {
    PathBuf::from(format!("/proc/{}/root{LOG_INSIDE}", sb.pid()))
}

/// The units the generator wired to `target`, sorted: pm2ctl's only, since systemd's own
/// generators write there too (257's ssh generator adds `sshd-unix-local.socket` where
/// openssh-server is installed).
pub fn wanted(sb: &Sandbox, target: &str) -> Vec<String> {
    let dir = PathBuf::from(format!(
        "/proc/{}/root/run/systemd/generator/{target}.wants",
        sb.pid()
    ));
    let mut units: Vec<String> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|name| name.starts_with("pm2ctl-"))
                .collect()
        })
        .unwrap_or_default();
    units.sort();
    units
}

/// Why the generator cannot be tested from this build tree on this release, if so: systemd 257
/// and newer run generators with a private /tmp, so a build tree under /tmp (where the test
/// generator, its saved file and the fixtures live) is out of their reach. A real host's
/// generator and saved state live in /usr/lib and /etc or /var/lib, which they see.
pub fn skip_reason() -> Option<String> {
    let tree = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let private_tmp = matches!(super::sandbox::release().as_str(), "trixie" | "sid");
    (private_tmp && tree.starts_with("/tmp")).then(|| {
        format!(
            "systemd on {} runs generators with a private /tmp, and this build tree is under /tmp",
            super::sandbox::release()
        )
    })
}

//! Unit names: systemd's unit-name escaping (what `systemd-escape` does) and the
//! fixed `pm2ctl-<esc>…` names every other part of pm2ctl relies on.

/// systemd refuses unit names longer than this (`UNIT_NAME_MAX - 1`).
pub const UNIT_NAME_MAX: usize = 255;

/// The prefix that marks a unit as owned by pm2ctl.
pub const PREFIX: &str = "pm2ctl-";

/// What follows the escaped app name in its companion units' names.
pub const CRON_SUFFIX: &str = "-cron";
pub const WATCH_SUFFIX: &str = "-watch";
pub const MEMORY_SUFFIX: &str = "-memory";

/// The escaped app name of a companion unit (`pm2ctl-<esc>-cron.timer`,
/// `pm2ctl-<esc>-cron.service`, `pm2ctl-<esc>-watch.service`, `pm2ctl-<esc>-memory.timer`,
/// `pm2ctl-<esc>-memory.service`); `None` for any other unit.
/// An escaped name may hold `-` (from `/`), but an app's own units all end in `@<i>.…` or
/// `.slice`, so these suffixes are unambiguous.
pub fn companion_owner(unit: &str) -> Option<&str> {
    let rest = unit.strip_prefix(PREFIX)?;
    if rest.contains('@') {
        return None;
    }
    let owner = rest
        .strip_suffix(".timer")
        .and_then(|s| {
            s.strip_suffix(CRON_SUFFIX)
                .or_else(|| s.strip_suffix(MEMORY_SUFFIX))
        })
        .or_else(|| {
            let stem = rest.strip_suffix(".service")?;
            stem.strip_suffix(CRON_SUFFIX)
                .or_else(|| stem.strip_suffix(WATCH_SUFFIX))
                .or_else(|| stem.strip_suffix(MEMORY_SUFFIX))
        })?;
    (!owner.is_empty()).then_some(owner)
}

/// Escapes a string the way `systemd-escape` (and `unit_name_escape()`) does:
/// `/` becomes `-`; ASCII letters, digits, `:`, `_` and `.` (except a leading
/// `.`) stay; every other byte, `-` and `\` included, becomes `\xNN`.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for (i, &b) in s.as_bytes().iter().enumerate() {
        let keep = b.is_ascii_alphanumeric() || b == b':' || b == b'_' || (b == b'.' && i > 0);
        if b == b'/' {
            out.push('-');
        } else if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

/// The names of one app's units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppUnitNames {
    escaped: String,
}

impl AppUnitNames {
    /// Fails when the longest name (a service with the highest instance index, or a companion)
    /// would exceed systemd's limit, or the app name is empty.
    pub fn new(app_name: &str, max_index: u32) -> Result<AppUnitNames, String> {
        if app_name.is_empty() {
            return Err("an app name cannot be empty".into());
        }
        let names = AppUnitNames {
            escaped: escape(app_name),
        };
        let longest = [names.service(max_index), names.memory_service()]
            .into_iter()
            .max_by_key(String::len)
            .unwrap_or_default();
        if longest.len() > UNIT_NAME_MAX {
            return Err(format!(
                "the unit name `{longest}` is {} characters long, systemd allows {UNIT_NAME_MAX}; \
                 use a shorter app name",
                longest.len()
            ));
        }
        Ok(names)
    }

    pub fn slice(&self) -> String {
        format!("{PREFIX}{}.slice", self.escaped)
    }

    pub fn service(&self, index: u32) -> String {
        format!("{PREFIX}{}@{index}.service", self.escaped)
    }

    pub fn socket(&self, index: u32) -> String {
        format!("{PREFIX}{}@{index}.socket", self.escaped)
    }

    /// `cron_restart`'s timer, and the service it triggers (a timer triggers the service
    /// of its own name). Companion names carry no `@`, so no instance name can match one.
    pub fn cron_timer(&self) -> String {
        format!("{PREFIX}{}{CRON_SUFFIX}.timer", self.escaped)
    }

    pub fn cron_service(&self) -> String {
        format!("{PREFIX}{}{CRON_SUFFIX}.service", self.escaped)
    }

    /// The watch agent's service (`watch`).
    pub fn watch_agent(&self) -> String {
        format!("{PREFIX}{}{WATCH_SUFFIX}.service", self.escaped)
    }

    /// The graceful memory check's timer (`max_memory_restart`).
    pub fn memory_timer(&self) -> String {
        format!("{PREFIX}{}{MEMORY_SUFFIX}.timer", self.escaped)
    }

    /// The service the memory timer starts.
    pub fn memory_service(&self) -> String {
        format!("{PREFIX}{}{MEMORY_SUFFIX}.service", self.escaped)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_systemd() {
        assert_eq!(escape("api v2/beta"), "api\\x20v2-beta");
        assert_eq!(escape("my-app"), "my\\x2dapp");
        assert_eq!(escape(".hidden.app"), "\\x2ehidden.app");
        assert_eq!(escape("a@b"), "a\\x40b");
        assert_eq!(escape("héllo"), "h\\xc3\\xa9llo");
        assert_eq!(escape("ns:app_1"), "ns:app_1");
    }

    #[test]
    fn names_carry_prefix_and_index() {
        let n = AppUnitNames::new("api v2/beta", 3).unwrap();
        assert_eq!(n.slice(), "pm2ctl-api\\x20v2-beta.slice");
        assert_eq!(n.service(3), "pm2ctl-api\\x20v2-beta@3.service");
        assert_eq!(n.socket(0), "pm2ctl-api\\x20v2-beta@0.socket");
    }

    #[test]
    fn companions_name_their_app() {
        let n = AppUnitNames::new("api/cron", 0).unwrap();
        assert_eq!(n.cron_timer(), "pm2ctl-api-cron-cron.timer");
        assert_eq!(companion_owner(&n.cron_timer()), Some("api-cron"));
        assert_eq!(companion_owner(&n.cron_service()), Some("api-cron"));
        assert_eq!(companion_owner(&n.watch_agent()), Some("api-cron"));
        assert_eq!(n.memory_timer(), "pm2ctl-api-cron-memory.timer");
        assert_eq!(companion_owner(&n.memory_timer()), Some("api-cron"));
        assert_eq!(companion_owner(&n.memory_service()), Some("api-cron"));
        // The app `api/cron`'s own units are not companions of `api`.
        assert_eq!(companion_owner(&n.service(0)), None);
        assert_eq!(companion_owner(&n.slice()), None);
        assert_eq!(companion_owner("pm2ctl--cron.timer"), None);
        assert_eq!(companion_owner("pm2ctl-api-watch.timer"), None);
    }

    #[test]
    fn over_long_names_are_refused() {
        let long = "é".repeat(60);
        let err = AppUnitNames::new(&long, 0).unwrap_err();
        assert!(err.contains("systemd allows 255"), "{err}");
        assert!(AppUnitNames::new("", 0).is_err());
    }

    /// The real `systemd-escape`, when installed, must agree with ours.
    #[test]
    fn agrees_with_systemd_escape_binary() {
        let samples = [
            "api v2/beta",
            "my-app",
            ".dot",
            "ünï cödé/ü",
            "a\\b",
            "tab\there",
            "x@y%z$w",
            "ns:app_1.2",
        ];
        for s in samples {
            let Ok(out) = std::process::Command::new("systemd-escape")
                .arg("--")
                .arg(s)
                .output()
            else {
                eprintln!("systemd-escape not installed; skipping");
                return;
            };
            let theirs = String::from_utf8_lossy(&out.stdout).trim_end().to_string();
            assert_eq!(escape(s), theirs, "escaping {s:?}");
        }
    }
}

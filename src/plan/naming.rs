//! Unit names: systemd's unit-name escaping (what `systemd-escape` does) and the
//! fixed `pm2ctl-<esc>…` names every other part of pm2ctl relies on.

/// systemd refuses unit names longer than this (`UNIT_NAME_MAX - 1`).
pub const UNIT_NAME_MAX: usize = 255;

/// The prefix that marks a unit as owned by pm2ctl.
pub const PREFIX: &str = "pm2ctl-";

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
    /// Fails when the longest name (a service with the highest instance index)
    /// would exceed systemd's limit, or the app name is empty.
    pub fn new(app_name: &str, max_index: u32) -> Result<AppUnitNames, String> {
        if app_name.is_empty() {
            return Err("an app name cannot be empty".into());
        }
        let names = AppUnitNames {
            escaped: escape(app_name),
        };
        let longest = names.service(max_index);
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

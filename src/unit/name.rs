//! Unit names, their one home: systemd's unit-name escaping and unescaping (what
//! `systemd-escape` does), the fixed `pm2ctl-<esc>…` names every other part of pm2ctl relies
//! on, and reading an app, an instance or a companion back out of a name.

/// systemd refuses unit names longer than this (`UNIT_NAME_MAX - 1`).
pub const UNIT_NAME_MAX: usize = 255;

/// The prefix that marks a unit as owned by pm2ctl.
pub const PREFIX: &str = "pm2ctl-";

/// The glob matching every unit pm2ctl owns (`ListUnitsByPatterns`).
pub const OWNED_PATTERN: &str = "pm2ctl-*";

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

/// The app part of an owned unit's name: `api` for `pm2ctl-api@0.service`,
/// `pm2ctl-api.slice` and its companions `pm2ctl-api-cron.timer`… (still escaped; `@`
/// cannot occur in an escaped name).
pub fn owner_of(unit: &str) -> Option<&str> {
    if let Some(owner) = companion_owner(unit) {
        return Some(owner);
    }
    let rest = unit.strip_prefix(PREFIX)?;
    let owner = match rest.split_once('@') {
        Some((owner, _)) => owner,
        None => rest.strip_suffix(".slice")?,
    };
    (!owner.is_empty()).then_some(owner)
}

/// The parts of an instance unit name: `pm2ctl-<esc>@<i>.<suffix>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceUnit<'a> {
    pub escaped: &'a str,
    pub index: u32,
    pub suffix: &'a str,
}

/// Splits `pm2ctl-<esc>@<i>.service` (or `.socket`); `None` for any other unit.
pub fn parse_instance_unit(unit: &str) -> Option<InstanceUnit<'_>> {
    let rest = unit.strip_prefix(PREFIX)?;
    let (stem, suffix) = rest.rsplit_once('.')?;
    if !matches!(suffix, "service" | "socket") {
        return None;
    }
    let (escaped, index) = stem.rsplit_once('@')?;
    if escaped.is_empty() || index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(InstanceUnit {
        escaped,
        index: index.parse().ok()?,
        suffix,
    })
}

/// Undoes [`escape`] (`systemd-escape --unescape`): `-` is `/`, `\xNN` a byte. `None` when
/// the text is not an escaped name: a `\` not followed by `x` and two hex digits, or bytes
/// that are not UTF-8.
pub fn unescape(escaped: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(escaped.len());
    let mut rest = escaped.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        match b {
            b'-' => {
                bytes.push(b'/');
                rest = tail;
            }
            b'\\' => {
                if tail.first() != Some(&b'x') {
                    return None;
                }
                let hex = std::str::from_utf8(tail.get(1..3)?).ok()?;
                bytes.push(u8::from_str_radix(hex, 16).ok()?);
                rest = &tail[3..];
            }
            _ => {
                bytes.push(b);
                rest = tail;
            }
        }
    }
    String::from_utf8(bytes).ok()
}

/// The app name an escaped name stands for, to show: its unescaped form, or the text as
/// written when it is not a well-formed escaped name (a unit someone else named).
pub fn app_name(escaped: &str) -> String {
    unescape(escaped).unwrap_or_else(|| escaped.to_string())
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

/// Why an app name cannot name units.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("an app name cannot be empty")]
    Empty,
    #[error(
        "the unit name `{longest}` is {} characters long, systemd allows {UNIT_NAME_MAX}; \
         use a shorter app name",
        longest.len()
    )]
    TooLong { longest: String },
}

/// The names of one app's units.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppUnitNames {
    escaped: String,
}

impl AppUnitNames {
    /// Fails when the longest name (a service with the highest instance index, or a companion)
    /// would exceed systemd's limit, or the app name is empty.
    pub fn new(app_name: &str, max_index: u32) -> Result<AppUnitNames, NameError> {
        if app_name.is_empty() {
            return Err(NameError::Empty);
        }
        let names = AppUnitNames {
            escaped: escape(app_name),
        };
        let longest = [names.service(max_index), names.memory_service()]
            .into_iter()
            .max_by_key(String::len)
            .unwrap_or_default();
        if longest.len() > UNIT_NAME_MAX {
            return Err(NameError::TooLong { longest });
        }
        Ok(names)
    }

    /// The names of an app known only by its units' (escaped) names, as systemd lists them.
    pub fn from_escaped(escaped: &str) -> AppUnitNames {
        AppUnitNames {
            escaped: escaped.to_string(),
        }
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
        assert!(matches!(err, NameError::TooLong { .. }), "{err}");
        assert!(err.to_string().contains("systemd allows 255"), "{err}");
        assert_eq!(AppUnitNames::new("", 0).err(), Some(NameError::Empty));
    }

    #[test]
    fn unescape_reverses_escape_and_refuses_malformed_names() {
        assert_eq!(unescape("api\\x20v2-beta").as_deref(), Some("api v2/beta"));
        assert_eq!(unescape("my\\x2dapp").as_deref(), Some("my-app"));
        assert_eq!(unescape("h\\xc3\\xa9llo").as_deref(), Some("héllo"));
        assert_eq!(unescape("bad\\xzz"), None);
        assert_eq!(unescape("end\\x"), None);
        assert_eq!(unescape("lone\\"), None);
        assert_eq!(unescape("\\xff"), None, "not UTF-8");
        assert_eq!(app_name("bad\\xzz"), "bad\\xzz");
    }

    #[test]
    fn instance_units_parse_and_others_do_not() {
        assert_eq!(
            parse_instance_unit("pm2ctl-api@3.service"),
            Some(InstanceUnit {
                escaped: "api",
                index: 3,
                suffix: "service"
            })
        );
        assert_eq!(
            parse_instance_unit("pm2ctl-a\\x40b@0.socket"),
            Some(InstanceUnit {
                escaped: "a\\x40b",
                index: 0,
                suffix: "socket"
            })
        );
        assert_eq!(parse_instance_unit("pm2ctl-api.slice"), None);
        assert_eq!(parse_instance_unit("pm2ctl-api@x.service"), None);
        assert_eq!(parse_instance_unit("pm2ctl-@1.service"), None);
        assert_eq!(parse_instance_unit("other-api@1.service"), None);
        assert_eq!(parse_instance_unit("pm2ctl-api@1.timer"), None);
    }

    #[test]
    fn owners_come_from_unit_names() {
        assert_eq!(owner_of("pm2ctl-api@0.service"), Some("api"));
        assert_eq!(owner_of("pm2ctl-api@12.socket"), Some("api"));
        assert_eq!(owner_of("pm2ctl-my\\x2dapi.slice"), Some("my\\x2dapi"));
        assert_eq!(owner_of("pm2ctl-api-cron.timer"), Some("api"));
        assert_eq!(owner_of("pm2ctl.slice"), None);
        assert_eq!(owner_of("other-api@0.service"), None);
        assert_eq!(owner_of("pm2ctl-@0.service"), None);
    }

    proptest::proptest! {
        /// Any app name short enough for systemd survives escaping and unescaping, and its
        /// units name it.
        #[test]
        fn escape_then_unescape_is_the_name(name in "\\PC{1,12}") {
            proptest::prop_assert_eq!(unescape(&escape(&name)), Some(name.clone()));
            let names = AppUnitNames::new(&name, 3)
                .map_err(|e| proptest::test_runner::TestCaseError::fail(e.to_string()))?;
            let service = names.service(3);
            let parsed = parse_instance_unit(&service).ok_or_else(|| {
                proptest::test_runner::TestCaseError::fail("the service name does not parse")
            })?;
            proptest::prop_assert_eq!(parsed.index, 3);
            proptest::prop_assert_eq!(app_name(parsed.escaped), name.clone());
            let (slice, timer) = (names.slice(), names.cron_timer());
            proptest::prop_assert_eq!(owner_of(&slice), Some(parsed.escaped));
            proptest::prop_assert_eq!(owner_of(&timer), Some(parsed.escaped));
        }
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

//! One journal entry as `journalctl -o json` prints it, reduced to what `logs` shows.

use serde_json::Value;

/// `SD_MESSAGE_JOURNAL_DROPPED`: journald's "Suppressed N messages from UNIT" entries,
/// written when a unit exceeds its rate limit.
pub const DROPPED_MESSAGE_ID: &str = "a596d6fe7bfa4994828e72309e95d61e";

/// The journal fields `logs` reads; journalctl adds `__CURSOR` and `__REALTIME_TIMESTAMP`.
pub const FIELDS: &[&str] = &[
    "MESSAGE",
    "PRIORITY",
    "MESSAGE_ID",
    "PM2_APP",
    "PM2_INSTANCE",
    "PM2_NAMESPACE",
    "PM2_LOG_DATE_FORMAT",
    "OBJECT_SYSTEMD_UNIT",
    "_SYSTEMD_USER_UNIT",
    "_PID",
    "UNIT",
];

/// Which stream a line came from, as `exec-wrap` encodes it in the priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Out,
    Err,
}

impl Stream {
    /// stderr is priority 3; anything more severe is an error too (`logs --err` is PRIORITY≤3).
    pub fn of_priority(priority: u8) -> Stream {
        if priority <= 3 {
            Stream::Err
        } else {
            Stream::Out
        }
    }

    /// PM2's `type` in `--json` output.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Out => "out",
            Stream::Err => "err",
        }
    }
}

/// A line of an app, or journald's notice that some were dropped.
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Microseconds since the Unix epoch (journald's receive time).
    pub realtime_usec: u64,
    pub message: String,
    pub stream: Stream,
    pub app: Option<String>,
    pub instance: Option<u32>,
    pub namespace: Option<String>,
    /// The app's `log_date_format`, when its unit carries one.
    pub date_format: Option<String>,
    /// journald's "Suppressed N messages from UNIT": the unit named in it.
    pub dropped_from: Option<String>,
    /// The unit of a user's manager the line came from (`_SYSTEMD_USER_UNIT`).
    pub user_unit: Option<String>,
    /// The unit a line of the system manager's own is about (`UNIT=`, set when `_PID=1`):
    /// "Starting …", "Started …", "Deactivated successfully", a failure. Such a line is an
    /// event of the app, never its output. systemd 257 gives it the unit's `LogExtraFields`
    /// (so it matches `PM2_APP=`); 252 does not.
    pub event_unit: Option<String>,
}

/// Parses one line of `journalctl -o json`; `None` for a line that is not an entry.
pub fn parse(line: &str) -> Option<Record> {
    let value: Value = serde_json::from_str(line).ok()?;
    let object = value.as_object()?;
    let text = |name: &str| object.get(name).and_then(field_text);
    let message = text("MESSAGE").unwrap_or_default();
    let priority = text("PRIORITY")
        .and_then(|p| p.parse::<u8>().ok())
        .unwrap_or(6);
    // journald names the unit in OBJECT_SYSTEMD_UNIT (and, for older versions, in the text).
    let dropped_from = (text("MESSAGE_ID").as_deref() == Some(DROPPED_MESSAGE_ID))
        .then(|| text("OBJECT_SYSTEMD_UNIT").or_else(|| dropped_unit(&message)))
        .flatten();
    Some(Record {
        realtime_usec: text("__REALTIME_TIMESTAMP")
            .and_then(|t| t.parse().ok())
            .unwrap_or(0),
        stream: Stream::of_priority(priority),
        app: text("PM2_APP"),
        instance: text("PM2_INSTANCE").and_then(|i| i.parse().ok()),
        namespace: text("PM2_NAMESPACE"),
        date_format: text("PM2_LOG_DATE_FORMAT"),
        dropped_from,
        user_unit: text("_SYSTEMD_USER_UNIT"),
        event_unit: (text("_PID").as_deref() == Some("1"))
            .then(|| text("UNIT"))
            .flatten(),
        message,
    })
}

/// A field's value as text. journalctl prints text fields as strings, binary ones (invalid
/// UTF-8, control characters) as arrays of bytes, and fields set more than once as arrays
/// of either; the first value is kept.
fn field_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Array(items) if items.iter().all(Value::is_u64) => {
            let bytes: Vec<u8> = items
                .iter()
                .filter_map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
                .collect();
            Some(String::from_utf8_lossy(&bytes).into_owned())
        }
        Value::Array(items) => items.first().and_then(field_text),
        _ => None,
    }
}

/// `Suppressed 1234 messages from pm2ctl-api@0.service` → `pm2ctl-api@0.service`.
fn dropped_unit(message: &str) -> Option<String> {
    let unit = message.rsplit(" from ").next()?.trim();
    (!unit.is_empty() && message.starts_with("Suppressed ")).then(|| unit.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_app_line_keeps_its_fields() {
        let line = r#"{"__CURSOR":"s=1","__REALTIME_TIMESTAMP":"1795426053266614","PRIORITY":"3","MESSAGE":"err line 14","PM2_APP":"printer","PM2_INSTANCE":"2","PM2_NAMESPACE":"default","_SYSTEMD_UNIT":"pm2ctl-printer@2.service"}"#;
        let record = parse(line).unwrap();
        assert_eq!(record.realtime_usec, 1_795_426_053_266_614);
        assert_eq!(record.message, "err line 14");
        assert_eq!(record.stream, Stream::Err);
        assert_eq!(record.app.as_deref(), Some("printer"));
        assert_eq!(record.instance, Some(2));
        assert_eq!(record.namespace.as_deref(), Some("default"));
        assert_eq!(record.dropped_from, None);
    }

    #[test]
    fn binary_and_repeated_fields_become_text() {
        // "héllo\x1b" as bytes: journalctl prints messages with control characters this way.
        let line = r#"{"MESSAGE":[104,195,169,108,108,111,27],"PRIORITY":"6","PM2_APP":["a","b"]}"#;
        let record = parse(line).unwrap();
        assert_eq!(record.message, "héllo\u{1b}");
        assert_eq!(record.stream, Stream::Out);
        assert_eq!(record.app.as_deref(), Some("a"));
        // Invalid UTF-8 does not lose the line.
        let record = parse(r#"{"MESSAGE":[255,65]}"#).unwrap();
        assert_eq!(record.message, "\u{fffd}A");
    }

    #[test]
    fn priorities_split_into_out_and_err() {
        for (priority, stream) in [
            ("0", Stream::Err),
            ("3", Stream::Err),
            ("4", Stream::Out),
            ("6", Stream::Out),
        ] {
            let line = format!(r#"{{"MESSAGE":"m","PRIORITY":"{priority}"}}"#);
            assert_eq!(parse(&line).unwrap().stream, stream, "priority {priority}");
        }
    }

    #[test]
    fn suppression_notices_name_their_unit() {
        let line = r#"{"MESSAGE":"Suppressed 8812 messages from pm2ctl-chatty@0.service","MESSAGE_ID":"a596d6fe7bfa4994828e72309e95d61e","PRIORITY":"5"}"#;
        let record = parse(line).unwrap();
        assert_eq!(
            record.dropped_from.as_deref(),
            Some("pm2ctl-chatty@0.service")
        );
        let line = r#"{"MESSAGE":"Suppressed 3 messages from x","MESSAGE_ID":"a596d6fe7bfa4994828e72309e95d61e","OBJECT_SYSTEMD_UNIT":"pm2ctl-a@1.service"}"#;
        assert_eq!(
            parse(line).unwrap().dropped_from.as_deref(),
            Some("pm2ctl-a@1.service")
        );
        // The same text from an app is just a line.
        let line = r#"{"MESSAGE":"Suppressed 1 messages from x","PM2_APP":"a"}"#;
        assert_eq!(parse(line).unwrap().dropped_from, None);
    }

    #[test]
    fn the_managers_lines_about_a_unit_are_events() {
        // As systemd 257 writes them: the unit's LogExtraFields included.
        let line = r#"{"MESSAGE":"Started pm2ctl-chatty@0.service - pm2ctl app chatty (instance 0).","_PID":"1","UNIT":"pm2ctl-chatty@0.service","PM2_APP":"chatty","PM2_INSTANCE":"0","PRIORITY":"6"}"#;
        let record = parse(line).unwrap();
        assert_eq!(
            record.event_unit.as_deref(),
            Some("pm2ctl-chatty@0.service")
        );
        assert_eq!(record.app.as_deref(), Some("chatty"));
        // The app's own line, even one that says the same, is not.
        let line = r#"{"MESSAGE":"Started x","_PID":"412","PM2_APP":"chatty"}"#;
        assert_eq!(parse(line).unwrap().event_unit, None);
    }

    #[test]
    fn garbage_is_not_a_record() {
        assert_eq!(parse("not json"), None);
        assert_eq!(parse("[1,2]"), None);
        assert_eq!(parse(""), None);
    }
}

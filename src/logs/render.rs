//! Journal records as `pm2 logs` shows them: `0|api  | line`, one color per app and
//! instance on a terminal, PM2's `--json` objects, or the bare line with `--raw`.

use super::record::{Record, Stream};
use super::timefmt;
use std::collections::HashMap;

/// How lines are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// `<id>|<name> | <line>`.
    Pm2,
    /// The line only.
    Raw,
    /// PM2's `{"message","timestamp","type","process_id","app_name"}`, one per line.
    Json,
}

/// A rendered record and where it goes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Output {
    pub text: String,
    /// Notices that are not app lines go to stderr with `--raw`, so the output stays the
    /// app's own.
    pub to_stderr: bool,
}

/// Renders records for one `logs` invocation.
#[derive(Debug, Clone)]
pub struct Renderer {
    pub format: Format,
    pub colors: bool,
    /// `--timestamp[=FORMAT]`; when `None`, an app's own `log_date_format` (carried by its
    /// journal entries) is used, if it has one.
    pub timestamp: Option<String>,
    /// Names are padded to this width, as PM2 does, so lines align.
    pub name_width: usize,
    /// PM2 ids of instances, by (app, instance index); the index is shown when unknown.
    pub pm_ids: HashMap<(String, u32), u32>,
}

const RESET: &str = "\x1b[0m";
const RED: &str = "\x1b[31m";
const YELLOW: &str = "\x1b[33m";
const DIM: &str = "\x1b[2m";
/// What stands before systemd's lines about an app, where an app's `id|name` would.
pub const EVENT_PREFIX: &str = "pm2ctl";
/// Prefix colors, one per app and instance.
const PALETTE: &[&str] = &[
    "\x1b[36m", "\x1b[32m", "\x1b[35m", "\x1b[34m", "\x1b[33m", "\x1b[96m", "\x1b[92m", "\x1b[95m",
    "\x1b[94m", "\x1b[93m",
];

impl Renderer {
    pub fn render(&self, record: &Record) -> Output {
        if let Some(unit) = &record.dropped_from {
            return self.render_notice(record, unit);
        }
        let app = record.app.as_deref().unwrap_or("");
        let index = record.instance.unwrap_or(0);
        let id = self
            .pm_ids
            .get(&(app.to_string(), index))
            .copied()
            .unwrap_or(index);
        if let Some(unit) = &record.event_unit {
            return self.render_event(record, unit, app, id);
        }
        let text = match self.format {
            Format::Raw => record.message.clone(),
            Format::Json => serde_json::json!({
                "message": record.message,
                "timestamp": iso_time(record.realtime_usec),
                "type": record.stream.as_str(),
                "process_id": id,
                "app_name": app,
            })
            .to_string(),
            Format::Pm2 => {
                let prefix = format!("{id}|{app:<width$} | ", width = self.name_width);
                let time = self
                    .timestamp
                    .as_deref()
                    .or(record.date_format.as_deref())
                    .map(|f| format!("{}: ", timefmt::format_usec(record.realtime_usec, f)))
                    .unwrap_or_default();
                if self.colors {
                    let color = PALETTE[palette_index(app, index)];
                    let message = match record.stream {
                        Stream::Err => format!("{RED}{}{RESET}", record.message),
                        Stream::Out => record.message.clone(),
                    };
                    format!("{color}{prefix}{RESET}{time}{message}")
                } else {
                    format!("{prefix}{time}{}", record.message)
                }
            }
        };
        Output {
            text,
            to_stderr: false,
        }
    }

    /// systemd's own line about an app's unit, under pm2ctl's prefix as PM2 shows its own
    /// (`PM2 | App [api:0] starting`): never as the app's output, and on stderr with `--raw`.
    fn render_event(&self, record: &Record, unit: &str, app: &str, id: u32) -> Output {
        let text = match self.format {
            Format::Json => serde_json::json!({
                "message": record.message,
                "timestamp": iso_time(record.realtime_usec),
                "type": "event",
                "process_id": id,
                "app_name": app,
                "unit": unit,
            })
            .to_string(),
            Format::Raw | Format::Pm2 => {
                let time = self
                    .timestamp
                    .as_deref()
                    .map(|f| format!("{}: ", timefmt::format_usec(record.realtime_usec, f)))
                    .unwrap_or_default();
                let text = format!("{EVENT_PREFIX} | App [{app}:{id}] {time}{}", record.message);
                if self.colors {
                    format!("{DIM}{text}{RESET}")
                } else {
                    text
                }
            }
        };
        Output {
            text,
            to_stderr: self.format == Format::Raw,
        }
    }

    /// journald's "Suppressed N messages from UNIT": lines were lost; say so where the
    /// lines would have been.
    fn render_notice(&self, record: &Record, unit: &str) -> Output {
        let text = match self.format {
            Format::Json => serde_json::json!({
                "message": record.message,
                "timestamp": iso_time(record.realtime_usec),
                "type": "suppressed",
                "unit": unit,
            })
            .to_string(),
            Format::Raw | Format::Pm2 => {
                let text = format!(
                    "journald: {} (rate limit reached: lines were lost; see log_rate_limit)",
                    record.message
                );
                if self.colors {
                    format!("{YELLOW}{text}{RESET}")
                } else {
                    text
                }
            }
        };
        Output {
            text,
            to_stderr: self.format == Format::Raw,
        }
    }
}

/// RFC 3339 with milliseconds in UTC, as JavaScript's `toISOString` (PM2's JSON timestamps).
fn iso_time(realtime_usec: u64) -> String {
    let micros = i64::try_from(realtime_usec).unwrap_or(i64::MAX);
    chrono::DateTime::from_timestamp_micros(micros)
        .map(|t| t.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string())
        .unwrap_or_default()
}

/// A stable color slot for an app instance (FNV-1a: std's hasher may change between runs).
fn palette_index(app: &str, instance: u32) -> usize {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in app.bytes().chain(instance.to_le_bytes()) {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    hash as usize % PALETTE.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(app: &str, instance: u32, stream: Stream, message: &str) -> Record {
        Record {
            // 2026-11-23T10:00:00.250Z
            realtime_usec: 1_795_428_000_250_000,
            message: message.into(),
            stream,
            app: Some(app.into()),
            instance: Some(instance),
            namespace: Some("default".into()),
            date_format: None,
            dropped_from: None,
            user_unit: None,
            event_unit: None,
        }
    }

    fn renderer(format: Format) -> Renderer {
        Renderer {
            format,
            colors: false,
            timestamp: None,
            name_width: 6,
            pm_ids: HashMap::new(),
        }
    }

    #[test]
    fn pm2_prefix_pads_names_and_shows_the_pm_id_when_known() {
        let mut r = renderer(Format::Pm2);
        let line = r.render(&record("api", 1, Stream::Out, "listening"));
        assert_eq!(line.text, "1|api    | listening");
        r.pm_ids.insert(("api".into(), 1), 7);
        let line = r.render(&record("api", 1, Stream::Err, "boom"));
        assert_eq!(line.text, "7|api    | boom");
        assert!(!line.to_stderr);
    }

    #[test]
    fn colors_only_when_asked_and_stable_per_instance() {
        let mut r = renderer(Format::Pm2);
        r.colors = true;
        let a = r.render(&record("api", 0, Stream::Out, "x")).text;
        let b = r.render(&record("api", 0, Stream::Out, "y")).text;
        assert!(a.starts_with("\x1b["), "{a:?}");
        assert_eq!(a[..5], b[..5], "same instance, same color");
        let err = r.render(&record("api", 0, Stream::Err, "bad")).text;
        assert!(err.ends_with("\x1b[31mbad\x1b[0m"), "{err:?}");
        assert!(!renderer(Format::Pm2)
            .render(&record("api", 0, Stream::Err, "bad"))
            .text
            .contains('\x1b'));
    }

    #[test]
    fn json_is_pm2s_shape() {
        let line = renderer(Format::Json).render(&record("api", 2, Stream::Err, "a \"q\""));
        let value: serde_json::Value = serde_json::from_str(&line.text).unwrap();
        assert_eq!(
            value,
            serde_json::json!({
                "message": "a \"q\"",
                "timestamp": "2026-11-23T10:00:00.250Z",
                "type": "err",
                "process_id": 2,
                "app_name": "api",
            })
        );
    }

    #[test]
    fn raw_is_the_line_alone() {
        let line = renderer(Format::Raw).render(&record("api", 0, Stream::Out, "just this"));
        assert_eq!(line.text, "just this");
    }

    #[test]
    fn timestamps_come_from_the_option_or_the_apps_format() {
        let mut r = renderer(Format::Pm2);
        let mut rec = record("api", 0, Stream::Out, "hi");
        rec.date_format = Some("[at] X".into());
        assert_eq!(r.render(&rec).text, "0|api    | at 1795428000: hi");
        r.timestamp = Some("x".into());
        assert_eq!(r.render(&rec).text, "0|api    | 1795428000250: hi");
    }

    #[test]
    fn systemds_lines_about_an_app_carry_pm2ctls_prefix() {
        let mut r = renderer(Format::Pm2);
        r.pm_ids.insert(("chatty".into(), 0), 4);
        let event = Record {
            event_unit: Some("pm2ctl-chatty@0.service".into()),
            ..record(
                "chatty",
                0,
                Stream::Out,
                "Started pm2ctl-chatty@0.service - pm2ctl app chatty (instance 0).",
            )
        };
        let line = r.render(&event);
        assert_eq!(
            line.text,
            "pm2ctl | App [chatty:4] Started pm2ctl-chatty@0.service - pm2ctl app chatty (instance 0)."
        );
        assert!(!line.to_stderr);
        assert!(renderer(Format::Raw).render(&event).to_stderr);
        let json = renderer(Format::Json).render(&event);
        let value: serde_json::Value = serde_json::from_str(&json.text).unwrap();
        assert_eq!(value["type"], "event");
        assert_eq!(value["unit"], "pm2ctl-chatty@0.service");
    }

    #[test]
    fn suppression_notices_are_visible_in_every_format() {
        let notice = Record {
            app: None,
            instance: None,
            dropped_from: Some("pm2ctl-api@0.service".into()),
            ..record(
                "",
                0,
                Stream::Out,
                "Suppressed 42 messages from pm2ctl-api@0.service",
            )
        };
        let pm2 = renderer(Format::Pm2).render(&notice);
        assert!(pm2.text.contains("Suppressed 42 messages"), "{}", pm2.text);
        assert!(pm2.text.contains("lines were lost"));
        let raw = renderer(Format::Raw).render(&notice);
        assert!(raw.to_stderr, "raw output stays the app's own");
        let json = renderer(Format::Json).render(&notice);
        let value: serde_json::Value = serde_json::from_str(&json.text).unwrap();
        assert_eq!(value["type"], "suppressed");
        assert_eq!(value["unit"], "pm2ctl-api@0.service");
    }
}

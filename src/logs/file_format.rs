//! The shape of each line written to an app's log files when PM2's formatting options ask
//! for one: `log_date_format` prefixes `<time>: `, `log_type = "json"` writes PM2's object
//! `{"message","timestamp","type","process_id","app_name"}` (its `message` keeps the line's
//! newline, as PM2's does for a `console.log` line; its `timestamp` is ISO 8601 in UTC, or the
//! `log_date_format` when one is set). PM2 formats each chunk its pipe hands over; here each
//! line is formatted, so a line is never split between two prefixes or two objects.
//!
//! Pure: the caller gives the time. `wrap` runs the copying process that uses it.

use super::timefmt;
use chrono::{DateTime, Local, SecondsFormat, Utc};

/// Which stream a line came from: PM2's `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Out,
    Err,
}

impl Stream {
    fn pm2_type(self) -> &'static str {
        match self {
            Stream::Out => "out",
            Stream::Err => "err",
        }
    }
}

/// How lines are written to the files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LineFormat {
    /// `log_date_format` (dayjs tokens), in local time.
    pub date_format: Option<String>,
    /// `log_type = "json"`: the app name and process id its objects carry.
    pub json: Option<JsonFields>,
}

/// The fields of PM2's JSON lines that are the same for every line of an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JsonFields {
    pub app_name: String,
    pub process_id: u32,
}

impl LineFormat {
    /// Whether lines are written as the app wrote them.
    pub fn is_raw(&self) -> bool {
        self.date_format.is_none() && self.json.is_none()
    }

    /// One line (with its newline, if it had one) as it goes to the file, at `now`.
    pub fn format(&self, now: DateTime<Utc>, stream: Stream, line: &[u8]) -> Vec<u8> {
        let stamp = |format: &str| timefmt::format_time(&now.with_timezone(&Local), format);
        match (&self.json, &self.date_format) {
            (Some(fields), date_format) => {
                let timestamp = match date_format {
                    Some(format) => stamp(format),
                    None => now.to_rfc3339_opts(SecondsFormat::Millis, true),
                };
                let object = JsonLine {
                    message: &String::from_utf8_lossy(line),
                    timestamp: &timestamp,
                    r#type: stream.pm2_type(),
                    process_id: fields.process_id,
                    app_name: &fields.app_name,
                };
                // Serialising borrowed strings and an integer cannot fail.
                let mut out = serde_json::to_vec(&object).unwrap_or_default();
                out.push(b'\n');
                out
            }
            (None, Some(format)) => {
                let mut out = stamp(format).into_bytes();
                out.extend_from_slice(b": ");
                out.extend_from_slice(line);
                out
            }
            (None, None) => line.to_vec(),
        }
    }
}

/// PM2's JSON log line, its fields in PM2's order.
#[derive(serde::Serialize)]
struct JsonLine<'a> {
    message: &'a str,
    timestamp: &'a str,
    r#type: &'static str,
    process_id: u32,
    app_name: &'a str,
}

/// Splits what arrived on a stream into whole lines: complete ones are handed out at once,
/// the rest waits for its newline (or for [`LineBuffer::take_partial`]).
#[derive(Debug, Default)]
pub struct LineBuffer {
    pending: Vec<u8>,
}

/// Beyond this, a line without newline is written as it is, so one endless line cannot
/// grow the copying process without bound.
pub const MAX_LINE: usize = 64 * 1024;

impl LineBuffer {
    /// Adds `data`; returns the complete lines it finished, each with its newline.
    pub fn push(&mut self, data: &[u8]) -> Vec<Vec<u8>> {
        self.pending.extend_from_slice(data);
        let mut lines = Vec::new();
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            lines.push(self.pending.drain(..=end).collect());
        }
        if self.pending.len() >= MAX_LINE {
            lines.push(std::mem::take(&mut self.pending));
        }
        lines
    }

    /// Whether the start of a line waits for its newline.
    pub fn has_partial(&self) -> bool {
        !self.pending.is_empty()
    }

    /// The start of a line still waiting for its newline (written when the stream goes
    /// quiet or ends, as PM2 writes whatever chunk it got).
    pub fn take_partial(&mut self) -> Option<Vec<u8>> {
        (!self.pending.is_empty()).then(|| std::mem::take(&mut self.pending))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 4, 5, 6, 7).unwrap() + chrono::Duration::milliseconds(89)
    }

    fn json(date_format: Option<&str>) -> LineFormat {
        LineFormat {
            date_format: date_format.map(String::from),
            json: Some(JsonFields {
                app_name: "api".into(),
                process_id: 2,
            }),
        }
    }

    #[test]
    fn raw_lines_are_left_as_written() {
        let raw = LineFormat::default();
        assert!(raw.is_raw());
        assert_eq!(raw.format(at(), Stream::Out, b"hi\n"), b"hi\n");
    }

    #[test]
    fn a_date_format_prefixes_each_line_in_local_time() {
        let format = LineFormat {
            date_format: Some("YYYY-MM-DD HH:mm:ss.SSS".into()),
            json: None,
        };
        let local = at().with_timezone(&Local).format("%Y-%m-%d %H:%M:%S%.3f");
        assert_eq!(
            String::from_utf8(format.format(at(), Stream::Err, b"boom\n")).unwrap(),
            format!("{local}: boom\n")
        );
    }

    #[test]
    fn json_lines_have_pm2s_fields_in_pm2s_order() {
        let line = json(None).format(at(), Stream::Out, b"hello \"world\"\n");
        assert_eq!(
            String::from_utf8(line).unwrap(),
            "{\"message\":\"hello \\\"world\\\"\\n\",\"timestamp\":\"2026-03-04T05:06:07.089Z\",\
             \"type\":\"out\",\"process_id\":2,\"app_name\":\"api\"}\n"
        );
        let err = json(None).format(at(), Stream::Err, b"x");
        assert!(err.ends_with(b"\"type\":\"err\",\"process_id\":2,\"app_name\":\"api\"}\n"));
    }

    #[test]
    fn json_lines_take_the_date_format_as_their_timestamp() {
        let line = json(Some("[year] YYYY")).format(at(), Stream::Out, b"a\n");
        let value: serde_json::Value = serde_json::from_slice(&line).unwrap();
        let year = at().with_timezone(&Local).format("%Y").to_string();
        assert_eq!(value["timestamp"], format!("year {year}"));
        assert_eq!(value["message"], "a\n");
    }

    #[test]
    fn bytes_that_are_not_utf8_still_give_valid_json() {
        let line = json(None).format(at(), Stream::Out, b"\xff\xfe ok\n");
        let value: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(value["message"], "\u{fffd}\u{fffd} ok\n");
    }

    #[test]
    fn the_buffer_hands_out_whole_lines_only() {
        let mut buffer = LineBuffer::default();
        assert!(buffer.push(b"one\ntw").len() == 1);
        assert_eq!(
            buffer.push(b"o\nthree\nfo"),
            [b"two\n".to_vec(), b"three\n".to_vec()]
        );
        assert_eq!(buffer.take_partial(), Some(b"fo".to_vec()));
        assert_eq!(buffer.take_partial(), None);
        let long = vec![b'x'; MAX_LINE];
        assert_eq!(buffer.push(&long), [long]);
    }
}

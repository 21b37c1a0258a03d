//! Timestamps in the dayjs/moment format PM2 users write in `log_date_format` and
//! `logs --timestamp` (e.g. `YYYY-MM-DD HH:mm:ss Z`), in the local time zone.

use chrono::{DateTime, Datelike, Local, TimeZone, Timelike};

/// PM2's format for `logs --timestamp` without a value.
pub const PM2_DEFAULT: &str = "YYYY-MM-DD-HH:mm:ss";

/// The tokens dayjs formats without plugins, longest first so `YYYY` wins over `YY`.
const TOKENS: &[&str] = &[
    "YYYY", "SSS", "YY", "MM", "DD", "HH", "hh", "mm", "ss", "ZZ", "M", "D", "H", "h", "m", "s",
    "A", "a", "Z", "X", "x",
];

/// Formats `realtime_usec` (µs since the Unix epoch) with `format` in local time.
pub fn format_usec(realtime_usec: u64, format: &str) -> String {
    let micros = i64::try_from(realtime_usec).unwrap_or(i64::MAX);
    match Local.timestamp_micros(micros).single() {
        Some(time) => format_time(&time, format),
        None => realtime_usec.to_string(),
    }
}

/// Formats `time` with a dayjs format; text in `[brackets]` is literal, as in dayjs.
pub fn format_time<Tz: TimeZone>(time: &DateTime<Tz>, format: &str) -> String
where
    Tz::Offset: std::fmt::Display,
{
    let mut out = String::with_capacity(format.len() + 8);
    let mut rest = format;
    while let Some(c) = rest.chars().next() {
        if c == '[' {
            if let Some(end) = rest.find(']') {
                out.push_str(&rest[1..end]);
                rest = &rest[end + 1..];
                continue;
            }
        }
        match TOKENS.iter().find(|t| rest.starts_with(**t)) {
            Some(token) => {
                out.push_str(&token_value(time, token));
                rest = &rest[token.len()..];
            }
            None => {
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    out
}

fn token_value<Tz: TimeZone>(time: &DateTime<Tz>, token: &str) -> String
where
    Tz::Offset: std::fmt::Display,
{
    let hour12 = match time.hour() % 12 {
        0 => 12,
        h => h,
    };
    match token {
        "YYYY" => format!("{:04}", time.year()),
        "YY" => format!("{:02}", time.year().rem_euclid(100)),
        "MM" => format!("{:02}", time.month()),
        "M" => time.month().to_string(),
        "DD" => format!("{:02}", time.day()),
        "D" => time.day().to_string(),
        "HH" => format!("{:02}", time.hour()),
        "H" => time.hour().to_string(),
        "hh" => format!("{hour12:02}"),
        "h" => hour12.to_string(),
        "mm" => format!("{:02}", time.minute()),
        "m" => time.minute().to_string(),
        "ss" => format!("{:02}", time.second()),
        "s" => time.second().to_string(),
        "SSS" => format!("{:03}", time.timestamp_subsec_millis().min(999)),
        "A" => if time.hour() < 12 { "AM" } else { "PM" }.to_string(),
        "a" => if time.hour() < 12 { "am" } else { "pm" }.to_string(),
        "Z" => time.format("%:z").to_string(),
        "ZZ" => time.format("%z").to_string(),
        "X" => time.timestamp().to_string(),
        "x" => time.timestamp_millis().to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::FixedOffset;

    fn at() -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339("2026-03-07T09:05:04.062+01:00").unwrap()
    }

    #[test]
    fn pm2s_formats() {
        assert_eq!(format_time(&at(), PM2_DEFAULT), "2026-03-07-09:05:04");
        assert_eq!(
            format_time(&at(), "YYYY-MM-DDTHH:mm:ss"),
            "2026-03-07T09:05:04"
        );
        assert_eq!(
            format_time(&at(), "YYYY-MM-DD HH:mm:ss.SSS Z"),
            "2026-03-07 09:05:04.062 +01:00"
        );
    }

    #[test]
    fn short_tokens_twelve_hours_and_literals() {
        let evening = DateTime::parse_from_rfc3339("2026-11-23T21:05:04+00:00").unwrap();
        assert_eq!(format_time(&evening, "D/M/YY h:m:s A"), "23/11/26 9:5:4 PM");
        assert_eq!(format_time(&evening, "hh a ZZ"), "09 pm +0000");
        assert_eq!(
            format_time(&evening, "[Today is] YYYY [YYYY]"),
            "Today is 2026 YYYY"
        );
        assert_eq!(format_time(&evening, "X"), "1795467904");
        // An unclosed bracket and unknown letters are kept as written.
        assert_eq!(format_time(&evening, "[YY q"), "[26 q");
    }
}

//! PM2's value notations: sizes (`"500M"`), durations (`"10s"`), shell-style argument
//! strings and signal names. Pure functions returning a message on failure.

use super::tree::quote_short;
use std::time::Duration;

/// The longest duration accepted anywhere: a century is far beyond any sensible
/// timeout, and keeps millisecond arithmetic exact in an f64.
pub const MAX_DURATION: Duration = Duration::from_millis(100 * 365 * 86_400_000);

/// Parses a size: a number of bytes, or a number with `K`, `M`, `G` or `T`
/// (1024-based, as PM2; an optional trailing `B` is allowed, case does not matter).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    if t.starts_with('-') {
        return Err("a size cannot be negative".to_string());
    }
    let (number, unit) = split_number(t);
    if number.is_empty() {
        return Err("expected a size like \"512M\", \"1G\" or a number of bytes".to_string());
    }
    let unit_upper = unit.trim().to_ascii_uppercase();
    let multiplier: u64 = match unit_upper.trim_end_matches('B') {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        "T" => 1 << 40,
        _ => {
            return Err(format!(
                "unknown size unit {} (use K, M, G or T; 1024-based)",
                quote_short(unit.trim())
            ))
        }
    };
    const TOO_LARGE: &str = "size is too large";
    // Whole numbers exactly (an f64 would round big byte counts); fractions via f64.
    if let Ok(whole) = number.parse::<u64>() {
        return whole
            .checked_mul(multiplier)
            .ok_or_else(|| TOO_LARGE.to_string());
    }
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{} is not a number", quote_short(number)))?;
    let bytes = value * multiplier as f64;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(TOO_LARGE.to_string());
    }
    Ok(bytes.round() as u64)
}

/// Parses a duration: a number of milliseconds, or a number with `ms`, `s`, `m`, `h`
/// or `d`. Fractions are allowed (`"1.5s"`); the result is rounded to milliseconds.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let t = text.trim();
    if t.starts_with('-') {
        return Err("a duration cannot be negative".to_string());
    }
    let (number, unit) = split_number(t);
    if number.is_empty() {
        return Err(
            "expected a duration like \"500ms\", \"10s\", \"5m\", \"1h\" or a number of milliseconds"
                .to_string(),
        );
    }
    let millis_per_unit: f64 = match unit.trim() {
        "" | "ms" => 1.0,
        "s" | "sec" => 1_000.0,
        "m" | "min" => 60_000.0,
        "h" => 3_600_000.0,
        "d" => 86_400_000.0,
        other => {
            return Err(format!(
                "unknown duration unit {} (use ms, s, m, h or d)",
                quote_short(other)
            ))
        }
    };
    let value: f64 = number
        .parse()
        .map_err(|_| format!("{} is not a number", quote_short(number)))?;
    let millis = value * millis_per_unit;
    if !millis.is_finite() || millis > MAX_DURATION.as_millis() as f64 {
        return Err(too_long());
    }
    Ok(Duration::from_millis(millis.round() as u64))
}

pub fn too_long() -> String {
    format!(
        "duration is too long (at most {} days)",
        MAX_DURATION.as_secs() / 86_400
    )
}

/// Splits `"12.5G"` into `("12.5", "G")`.
fn split_number(t: &str) -> (&str, &str) {
    let end = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    t.split_at(end)
}

/// Splits an argument string the way a POSIX shell would (quotes respected, no
/// expansion), which is what PM2 users expect from `args = "--port 3000 'a b'"`.
pub fn split_args(text: &str) -> Result<Vec<String>, String> {
    shlex::split(text).ok_or_else(|| "unbalanced quote or trailing backslash".to_string())
}

/// Validates a signal given as `"SIGINT"`, `"INT"`, `"sigint"` or a number and
/// returns its canonical name (`"SIGINT"`).
pub fn canonical_signal(text: &str) -> Result<String, String> {
    use nix::sys::signal::Signal;
    use std::str::FromStr;
    let t = text.trim();
    if let Ok(number) = t.parse::<i32>() {
        return signal_by_number(number);
    }
    let upper = t.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    Signal::from_str(&name)
        .map(|s| s.as_str().to_string())
        .map_err(|_| {
            format!(
                "unknown signal {} (e.g. \"SIGINT\", \"SIGTERM\", \"SIGQUIT\")",
                quote_short(t)
            )
        })
}

pub fn signal_by_number(number: i32) -> Result<String, String> {
    nix::sys::signal::Signal::try_from(number)
        .map(|s| s.as_str().to_string())
        .map_err(|_| format!("{number} is not a signal number"))
}

/// Formats milliseconds the shortest exact way, for `import` output.
pub fn format_duration(d: Duration) -> String {
    let ms = d.as_millis();
    for (unit, size) in [("h", 3_600_000), ("m", 60_000), ("s", 1_000)] {
        if ms != 0 && ms.is_multiple_of(size) {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

/// Formats bytes the shortest exact way with PM2's units, for `import` output.
pub fn format_size(bytes: u64) -> String {
    for (unit, size) in [("G", 1u64 << 30), ("M", 1 << 20), ("K", 1 << 10)] {
        if bytes != 0 && bytes.is_multiple_of(size) {
            return format!("{}{unit}", bytes / size);
        }
    }
    bytes.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_1024_based_and_bare_numbers_are_bytes() {
        assert_eq!(parse_size("1G"), Ok(1 << 30));
        assert_eq!(parse_size("500M"), Ok(500 << 20));
        assert_eq!(parse_size("10K"), Ok(10 << 10));
        assert_eq!(parse_size("10k"), Ok(10 << 10));
        assert_eq!(parse_size("1.5G"), Ok(3 << 29));
        assert_eq!(parse_size("512MB"), Ok(512 << 20));
        assert_eq!(parse_size("2048"), Ok(2048));
    }

    #[test]
    fn bad_sizes_say_why() {
        assert!(parse_size("-1G").unwrap_err().contains("negative"));
        assert!(parse_size("1X").unwrap_err().contains("unknown size unit"));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("").is_err());
        assert!(parse_size("1.2.3M").is_err());
        assert!(parse_size("99999999999999T")
            .unwrap_err()
            .contains("too large"));
    }

    #[test]
    fn durations_accept_pm2_units_and_bare_milliseconds() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("5m"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("1500"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration(" 2d "), Ok(Duration::from_secs(172_800)));
    }

    #[test]
    fn bad_durations_say_why() {
        assert!(parse_duration("-5s").unwrap_err().contains("negative"));
        assert!(parse_duration("10 parsecs")
            .unwrap_err()
            .contains("unknown duration unit"));
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("1e300h").is_err());
    }

    #[test]
    fn args_split_like_a_shell() {
        assert_eq!(
            split_args("--port 3000 --name 'a b' \"c d\""),
            Ok(vec![
                "--port".into(),
                "3000".into(),
                "--name".into(),
                "a b".into(),
                "c d".into()
            ])
        );
        assert_eq!(split_args(""), Ok(vec![]));
        assert!(split_args("'unterminated").is_err());
    }

    #[test]
    fn signals_have_one_canonical_name() {
        assert_eq!(canonical_signal("INT").as_deref(), Ok("SIGINT"));
        assert_eq!(canonical_signal("SIGTERM").as_deref(), Ok("SIGTERM"));
        assert_eq!(canonical_signal("sigquit").as_deref(), Ok("SIGQUIT"));
        assert_eq!(canonical_signal("15").as_deref(), Ok("SIGTERM"));
        assert!(canonical_signal("SIGFOO").is_err());
        assert!(canonical_signal("999").is_err());
    }

    #[test]
    fn formatting_is_exact_and_short() {
        assert_eq!(format_duration(Duration::from_millis(1600)), "1600ms");
        assert_eq!(format_duration(Duration::from_secs(120)), "2m");
        assert_eq!(format_duration(Duration::ZERO), "0ms");
        assert_eq!(format_size(1 << 30), "1G");
        assert_eq!(format_size(1000), "1000");
        for ms in [0u64, 1, 999, 1000, 60_000, 3_723_000] {
            let d = Duration::from_millis(ms);
            assert_eq!(parse_duration(&format_duration(d)), Ok(d));
        }
        for b in [1u64, 1024, 1536, 5 << 20, 3 << 30] {
            assert_eq!(parse_size(&format_size(b)), Ok(b));
        }
    }
}

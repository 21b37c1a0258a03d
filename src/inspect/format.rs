//! PM2's spellings of uptimes, sizes and CPU shares (`lib/tools/Utility.js`'s `timeSince`
//! and `bytesToSize`), so a table reads the same as `pm2 list`'s.

/// Time since `since_ms` at `now_ms`, as PM2 prints uptime: the largest unit of which there
/// are more than one (`2m`, not `1m`: PM2 shows `90s`, then `2m`), down to seconds.
pub fn uptime(since_ms: u64, now_ms: u64) -> String {
    let seconds = now_ms.saturating_sub(since_ms) / 1000;
    for (unit_seconds, suffix) in [
        (31_536_000, "Y"),
        (2_592_000, "M"),
        (86_400, "D"),
        (3_600, "h"),
        (60, "m"),
    ] {
        let count = seconds / unit_seconds;
        if count > 1 {
            return format!("{count}{suffix}");
        }
    }
    format!("{seconds}s")
}

/// Bytes as PM2 prints memory: `512b`, `40.2kb`, `54.3mb`, `1.2gb` (1024-based, one decimal).
pub fn memory(bytes: u64) -> String {
    const KB: u64 = 1024;
    const MB: u64 = KB * 1024;
    const GB: u64 = MB * 1024;
    const TB: u64 = GB * 1024;
    let scaled = |unit: u64, suffix: &str| format!("{:.1}{suffix}", bytes as f64 / unit as f64);
    match bytes {
        b if b < KB => format!("{b}b"),
        b if b < MB => scaled(KB, "kb"),
        b if b < GB => scaled(MB, "mb"),
        b if b < TB => scaled(GB, "gb"),
        _ => scaled(TB, "tb"),
    }
}

/// A CPU share as PM2 prints it: `0%`, `12.5%`.
pub fn cpu(percent: f64) -> String {
    format!("{}%", super::js::Js::Float(percent).to_json())
}

/// A duration in µs as people read it: `0`, `250ms`, `1.5s`, `2min`.
pub fn micros(us: u64) -> String {
    match us {
        0 => "0".to_string(),
        u64::MAX => "infinity".to_string(),
        us if us < 1_000_000 => format!("{}ms", us / 1000),
        us if us < 60_000_000 => format!("{}s", us as f64 / 1e6),
        us => format!("{}min", us as f64 / 6e7),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_follows_pm2s_time_since() {
        let now = 1_000_000_000_000;
        assert_eq!(uptime(now, now), "0s");
        assert_eq!(uptime(now - 59_999, now), "59s");
        assert_eq!(uptime(now - 90_000, now), "90s");
        assert_eq!(uptime(now - 120_000, now), "2m");
        assert_eq!(uptime(now - 2 * 3_600_000 - 5, now), "2h");
        assert_eq!(uptime(now - 3 * 86_400_000, now), "3D");
        assert_eq!(uptime(now - 70 * 86_400_000, now), "2M");
        assert_eq!(uptime(now - 800 * 86_400_000, now), "2Y");
        // A start time after now (clock skew) is no time at all.
        assert_eq!(uptime(now + 5000, now), "0s");
    }

    #[test]
    fn memory_follows_pm2s_bytes_to_size() {
        assert_eq!(memory(0), "0b");
        assert_eq!(memory(1023), "1023b");
        assert_eq!(memory(1024), "1.0kb");
        assert_eq!(memory(54_984_704), "52.4mb");
        assert_eq!(memory(3 * 1024 * 1024 * 1024 / 2), "1.5gb");
        assert_eq!(memory(u64::MAX), "16777216.0tb");
    }

    #[test]
    fn cpu_and_durations() {
        assert_eq!(cpu(0.0), "0%");
        assert_eq!(cpu(12.5), "12.5%");
        assert_eq!(micros(0), "0");
        assert_eq!(micros(250_000), "250ms");
        assert_eq!(micros(1_500_000), "1.5s");
        assert_eq!(micros(120_000_000), "2min");
        assert_eq!(micros(u64::MAX), "infinity");
    }
}

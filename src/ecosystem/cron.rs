//! `cron_restart` patterns: parsing PM2's dialect and translating it to systemd's
//! `OnCalendar=` (systemd.time(7)).
//!
//! PM2 hands the pattern to `croner` 4.1 (the version every PM2 release pins). Its dialect:
//! 5 fields (`min hour dom month dow`) or 6 with seconds first; `*`, lists, ranges, steps
//! (`*/n`, `a/n`, and here also `a-b/n`); month and weekday names in any case; weekday 0
//! and 7 are Sunday; `L` alone in day-of-month is the month's last day.
//!
//! Where the dialects meet and part:
//! * croner 4 **ANDs** day-of-month with day-of-week (`0 0 1 * MON` runs on Mondays that are
//!   the 1st), as `OnCalendar` does, so every such pattern translates exactly. Classic (Vixie)
//!   cron and later croner releases OR them instead; pm2ctl follows what PM2 runs.
//! * `?` is taken as `*` (croner 4 replaced it with the current time's value, which no
//!   file-based plan can reproduce).
//! * `@yearly` … `@hourly` are accepted (croner 4 rejects them; later releases and Vixie cron
//!   do not); `@reboot` is not: apps start at boot anyway.
//! * `L` in a list (`1,L`) becomes two `OnCalendar` values, the last day being `~01`.
//! * `nL`, `n#k` and `W` (croner 4 rejects them too) are refused with a message.
//! * A pattern that can never fire (`0 0 31 2 *`) is refused; croner accepts it silently.

use std::fmt;

/// A pattern that cannot be translated, with an optional hint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CronError {
    pub message: String,
    pub help: Option<String>,
}

impl CronError {
    fn new(message: impl Into<String>) -> CronError {
        CronError {
            message: message.into(),
            help: None,
        }
    }

    fn with_help(mut self, help: impl Into<String>) -> CronError {
        self.help = Some(help.into());
        self
    }
}

impl fmt::Display for CronError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.message)?;
        if let Some(help) = &self.help {
            write!(f, " ({help})")?;
        }
        Ok(())
    }
}

impl std::error::Error for CronError {}

const EXAMPLE: &str = "e.g. \"0 3 * * *\" restarts every day at 03:00";

/// The shorthands pm2ctl accepts and the 5-field pattern each stands for.
pub const SHORTHANDS: &[(&str, &str)] = &[
    ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"),
    ("@monthly", "0 0 1 * *"),
    ("@weekly", "0 0 * * 0"),
    ("@daily", "0 0 * * *"),
    ("@midnight", "0 0 * * *"),
    ("@hourly", "0 * * * *"),
];

/// A set of values of one field, as a bit mask (bit n = value n).
type Values = u64;

/// A parsed pattern: the values each field allows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    seconds: Values,
    minutes: Values,
    hours: Values,
    /// Days of the month 1–31 (without `L`).
    days: Values,
    /// `L` in the day-of-month field: the last day of the month.
    last_day: bool,
    months: Values,
    /// 0 = Sunday … 6 = Saturday.
    weekdays: Values,
}

/// One field's name, bounds and value names.
struct Field {
    name: &'static str,
    min: u32,
    max: u32,
    names: &'static [&'static str],
    /// Index of the first name (months are named from 1).
    names_from: u32,
}

const SECOND: Field = Field {
    name: "second",
    min: 0,
    max: 59,
    names: &[],
    names_from: 0,
};
const MINUTE: Field = Field {
    name: "minute",
    ..SECOND
};
const HOUR: Field = Field {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
    names_from: 0,
};
const DAY: Field = Field {
    name: "day-of-month",
    min: 1,
    max: 31,
    names: &[],
    names_from: 0,
};
const MONTH: Field = Field {
    name: "month",
    min: 1,
    max: 12,
    names: &[
        "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
    ],
    names_from: 1,
};
const WEEKDAY: Field = Field {
    name: "day-of-week",
    min: 0,
    max: 7,
    names: &["sun", "mon", "tue", "wed", "thu", "fri", "sat"],
    names_from: 0,
};

/// Parses a pattern as `cron_restart` holds it (already known not to be `0`).
pub fn parse(pattern: &str) -> Result<Schedule, CronError> {
    let trimmed = pattern.trim();
    if trimmed.starts_with('@') {
        let lower = trimmed.to_ascii_lowercase();
        if lower == "@reboot" {
            return Err(CronError::new("`@reboot` is not supported").with_help(
                "apps start at boot when they are applied with `autostart` (the default)",
            ));
        }
        return match SHORTHANDS.iter().find(|(name, _)| *name == lower) {
            Some((_, expanded)) => parse(expanded),
            None => {
                let names: Vec<&str> = SHORTHANDS.iter().map(|(n, _)| *n).collect();
                Err(
                    CronError::new(format!("unknown cron shorthand `{trimmed}`"))
                        .with_help(format!("one of {}", names.join(", "))),
                )
            }
        };
    }
    let fields: Vec<&str> = trimmed.split_whitespace().collect();
    let (seconds, rest) = match fields.len() {
        5 => ("0", &fields[..]),
        6 => (fields[0], &fields[1..]),
        n => {
            return Err(
                CronError::new(format!("a cron pattern has 5 or 6 fields, found {n}"))
                    .with_help(EXAMPLE),
            )
        }
    };
    // Field by field, in the written order, so the first bad field is the one reported.
    let seconds = field(seconds, &SECOND)?;
    let minutes = field(rest[0], &MINUTE)?;
    let hours = field(rest[1], &HOUR)?;
    let (days, last_day) = day_field(rest[2])?;
    let months = field(rest[3], &MONTH)?;
    let mut weekdays = field(rest[4], &WEEKDAY)?;
    // 7 is Sunday too.
    if weekdays & (1 << 7) != 0 {
        weekdays = (weekdays & !(1 << 7)) | 1;
    }
    let schedule = Schedule {
        seconds,
        minutes,
        hours,
        days,
        last_day,
        months,
        weekdays,
    };
    schedule.check_reachable()?;
    Ok(schedule)
}

/// Parses and translates in one step: the `OnCalendar=` values, in order.
pub fn on_calendar(pattern: &str) -> Result<Vec<String>, CronError> {
    parse(pattern).map(|s| s.on_calendar())
}

/// The day-of-month field: like any field, plus `L` (the last day) as a list item.
fn day_field(text: &str) -> Result<(Values, bool), CronError> {
    let mut last = false;
    let mut rest = Vec::new();
    for item in text.split(',') {
        if item.eq_ignore_ascii_case("l") {
            last = true;
        } else {
            rest.push(item);
        }
    }
    if rest.is_empty() {
        return Ok((0, last));
    }
    Ok((field(&rest.join(","), &DAY)?, last))
}

/// One field: a comma-separated list of `*`, `?`, `v`, `a-b`, each optionally `/step`.
fn field(text: &str, f: &Field) -> Result<Values, CronError> {
    let mut values: Values = 0;
    for item in text.split(',') {
        values |= item_values(item, f)?;
    }
    Ok(values)
}

fn item_values(item: &str, f: &Field) -> Result<Values, CronError> {
    let bad = |why: &str| CronError::new(format!("`{item}` in the {} field: {why}", f.name));
    if item.is_empty() {
        return Err(bad("empty list item").with_help(EXAMPLE));
    }
    // Names contain L and W (`jul`, `wed`): a letter is special after a digit, or in a
    // field without names.
    let special = item.contains('#')
        || (f.names.is_empty() && item.contains(['L', 'l', 'W', 'w']))
        || item
            .as_bytes()
            .windows(2)
            .any(|w| w[0].is_ascii_digit() && matches!(w[1], b'L' | b'l' | b'W' | b'w'));
    if special {
        return Err(bad("`L`, `W` and `#` are not supported here").with_help(
            "`L` alone in the day-of-month field means the last day of the month; \
             PM2's croner accepts nothing more",
        ));
    }
    let (range, step) = match item.split_once('/') {
        Some((range, step)) => {
            let step: u32 = step
                .parse()
                .map_err(|_| bad("the step after `/` must be a number"))?;
            if step == 0 {
                return Err(bad("a step of 0 never advances"));
            }
            (range, Some(step))
        }
        None => (item, None),
    };
    let (from, to) = if range == "*" || range == "?" {
        (f.min, f.max)
    } else if let Some((a, b)) = range.split_once('-') {
        let (a, b) = (value(a, f, item)?, value(b, f, item)?);
        if a > b {
            return Err(bad(&format!(
                "the range runs backwards ({a} is after {b}); cron ranges do not wrap"
            )));
        }
        (a, b)
    } else {
        let a = value(range, f, item)?;
        // `a/n` runs from a to the end of the field, as in Vixie cron and croner.
        (a, if step.is_some() { f.max } else { a })
    };
    let step = step.unwrap_or(1);
    let mut values: Values = 0;
    let mut v = from;
    while v <= to {
        values |= 1 << v;
        match v.checked_add(step) {
            Some(next) => v = next,
            None => break,
        }
    }
    Ok(values)
}

/// A number or a name within the field's bounds.
fn value(text: &str, f: &Field, item: &str) -> Result<u32, CronError> {
    let lower = text.to_ascii_lowercase();
    let n = match f.names.iter().position(|n| *n == lower) {
        Some(i) => i as u32 + f.names_from,
        None => text.parse::<u32>().map_err(|_| {
            let names = if f.names.is_empty() {
                String::new()
            } else {
                format!(" or a name ({})", f.names.join(", "))
            };
            CronError::new(format!(
                "`{item}` in the {} field: `{text}` is not a number{names}",
                f.name
            ))
            .with_help(EXAMPLE)
        })?,
    };
    if n < f.min || n > f.max {
        return Err(CronError::new(format!(
            "`{item}` in the {} field: {n} is outside {}-{}",
            f.name, f.min, f.max
        )));
    }
    Ok(n)
}

/// Days in each month, February counted with its leap day.
const MONTH_DAYS: [u32; 12] = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

impl Schedule {
    /// Refuses patterns that never fire: every allowed day is past the end of every
    /// allowed month (`31 2`, `30,31 2`).
    fn check_reachable(&self) -> Result<(), CronError> {
        if self.last_day {
            return Ok(());
        }
        let reachable = (1..=12u32)
            .filter(|m| self.months & (1 << m) != 0)
            .any(|m| (1..=MONTH_DAYS[(m - 1) as usize]).any(|d| self.days & (1 << d) != 0));
        if reachable {
            Ok(())
        } else {
            Err(CronError::new(
                "this pattern never fires: none of its days exists in its months",
            ))
        }
    }

    /// The `OnCalendar=` values whose union is exactly this schedule: one, or two when the
    /// day-of-month field lists both days and `L`.
    pub fn on_calendar(&self) -> Vec<String> {
        let weekdays = weekday_list(self.weekdays);
        let prefix = if weekdays.is_empty() {
            String::new()
        } else {
            format!("{weekdays} ")
        };
        let months = component(self.months, 1, 12);
        let time = format!(
            "{}:{}:{}",
            component(self.hours, 0, 23),
            component(self.minutes, 0, 59),
            component(self.seconds, 0, 59)
        );
        let mut out = Vec::new();
        if self.days != 0 {
            let days = component(self.days, 1, 31);
            out.push(format!("{prefix}*-{months}-{days} {time}"));
        }
        if self.last_day {
            out.push(format!("{prefix}*-{months}~01 {time}"));
        }
        out
    }
}

/// One date or time component in `OnCalendar` syntax: `*` when every value is allowed,
/// `a/n` for a step that runs to the end, else runs as `a..b` and single values, all
/// zero-padded to two digits.
fn component(values: Values, min: u32, max: u32) -> String {
    let list: Vec<u32> = (min..=max).filter(|v| values & (1 << v) != 0).collect();
    if list.len() as u32 == max - min + 1 {
        return "*".to_string();
    }
    if let [first, second, ..] = list[..] {
        let step = second - first;
        let stepped = list.len() >= 3
            && step > 1
            && list.windows(2).all(|w| w[1] - w[0] == step)
            && list[list.len() - 1] + step > max;
        if stepped {
            return format!("{first:02}/{step}");
        }
    }
    let mut parts = Vec::new();
    let mut i = 0;
    while i < list.len() {
        let mut j = i;
        while j + 1 < list.len() && list[j + 1] == list[j] + 1 {
            j += 1;
        }
        if j >= i + 2 {
            parts.push(format!("{:02}..{:02}", list[i], list[j]));
        } else {
            parts.extend(list[i..=j].iter().map(|v| format!("{v:02}")));
        }
        i = j + 1;
    }
    parts.join(",")
}

/// Weekdays in systemd's spelling, Monday first; empty when every day is allowed.
fn weekday_list(values: Values) -> String {
    const NAMES: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    // Monday-first positions: cron's 1..6 then 0.
    let days: Vec<usize> = (0..7)
        .filter(|&i| values & (1 << ((i + 1) % 7)) != 0)
        .collect();
    if days.len() == 7 {
        return String::new();
    }
    let mut parts = Vec::new();
    let mut i = 0;
    while i < days.len() {
        let mut j = i;
        while j + 1 < days.len() && days[j + 1] == days[j] + 1 {
            j += 1;
        }
        if j >= i + 2 {
            parts.push(format!("{}..{}", NAMES[days[i]], NAMES[days[j]]));
        } else {
            parts.extend(days[i..=j].iter().map(|&d| NAMES[d].to_string()));
        }
        i = j + 1;
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cal(pattern: &str) -> Vec<String> {
        on_calendar(pattern).unwrap_or_else(|e| panic!("{pattern}: {e}"))
    }

    fn err(pattern: &str) -> String {
        match on_calendar(pattern) {
            Ok(v) => panic!("{pattern} translated to {v:?}"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn five_fields_start_on_the_minute() {
        assert_eq!(cal("0 3 * * *"), ["*-*-* 03:00:00"]);
        assert_eq!(cal("*/5 * * * *"), ["*-*-* *:00/5:00"]);
        assert_eq!(cal("  30   2 * *   * "), ["*-*-* 02:30:00"]);
    }

    #[test]
    fn six_fields_carry_seconds() {
        assert_eq!(cal("*/20 * * * * *"), ["*-*-* *:*:00/20"]);
        assert_eq!(cal("0 0 12 * * MON-FRI"), ["Mon..Fri *-*-* 12:00:00"]);
        assert_eq!(cal("* * * * * *"), ["*-*-* *:*:*"]);
    }

    #[test]
    fn lists_ranges_and_steps() {
        assert_eq!(cal("0 8-18 * * *"), ["*-*-* 08..18:00:00"]);
        assert_eq!(cal("0,30 9,12,17 * * *"), ["*-*-* 09,12,17:00,30:00"]);
        assert_eq!(cal("5-50/20 * * * *"), ["*-*-* *:05/20:00"]);
        assert_eq!(cal("5-30/10 * * * *"), ["*-*-* *:05,15,25:00"]);
        assert_eq!(cal("10/15 * * * *"), ["*-*-* *:10/15:00"]);
        assert_eq!(cal("0 0 */7 * *"), ["*-*-01/7 00:00:00"]);
        assert_eq!(cal("0 0 1-3,5 * *"), ["*-*-01..03,05 00:00:00"]);
        assert_eq!(cal("0 0 1 1,7 *"), ["*-01,07-01 00:00:00"]);
    }

    #[test]
    fn names_in_any_case_and_sunday_twice() {
        assert_eq!(cal("0 0 * JAN,jul *"), ["*-01,07-* 00:00:00"]);
        assert_eq!(cal("0 0 * * sun"), ["Sun *-*-* 00:00:00"]);
        assert_eq!(cal("0 0 * * 7"), ["Sun *-*-* 00:00:00"]);
        assert_eq!(cal("0 0 * * 0,6"), ["Sat,Sun *-*-* 00:00:00"]);
        assert_eq!(cal("0 0 * * mon-5"), ["Mon..Fri *-*-* 00:00:00"]);
        assert_eq!(cal("0 0 * * 0-7"), ["*-*-* 00:00:00"]);
    }

    /// PM2's croner 4 ANDs day-of-month and day-of-week, exactly as OnCalendar does; Vixie
    /// cron would run `0 0 1 * MON` on every 1st *and* every Monday.
    #[test]
    fn day_of_month_and_day_of_week_both_hold() {
        assert_eq!(cal("0 0 1 * MON"), ["Mon *-*-01 00:00:00"]);
        assert_eq!(cal("0 0 1-7 * 1"), ["Mon *-*-01..07 00:00:00"]);
    }

    #[test]
    fn last_day_of_month() {
        assert_eq!(cal("0 0 L * *"), ["*-*~01 00:00:00"]);
        assert_eq!(cal("0 0 L 2 *"), ["*-02~01 00:00:00"]);
        assert_eq!(cal("0 0 L * 5"), ["Fri *-*~01 00:00:00"]);
        // A list with `L` needs two values; their union is the schedule.
        assert_eq!(
            cal("0 0 1,15,L * *"),
            ["*-*-01,15 00:00:00", "*-*~01 00:00:00"]
        );
    }

    #[test]
    fn shorthands() {
        assert_eq!(cal("@daily"), ["*-*-* 00:00:00"]);
        assert_eq!(cal("@midnight"), ["*-*-* 00:00:00"]);
        assert_eq!(cal("@HOURLY"), ["*-*-* *:00:00"]);
        assert_eq!(cal("@weekly"), ["Sun *-*-* 00:00:00"]);
        assert_eq!(cal("@monthly"), ["*-*-01 00:00:00"]);
        assert_eq!(cal("@yearly"), ["*-01-01 00:00:00"]);
        assert_eq!(cal("@annually"), ["*-01-01 00:00:00"]);
    }

    #[test]
    fn question_mark_is_any() {
        assert_eq!(cal("0 0 ? * 1"), ["Mon *-*-* 00:00:00"]);
    }

    #[test]
    fn what_cannot_be_expressed_is_refused() {
        assert!(err("@reboot").contains("not supported"));
        assert!(err("@often").contains("unknown cron shorthand"));
        assert!(err("0 0 * * 5L").contains("not supported"));
        assert!(err("0 0 * * 5#2").contains("not supported"));
        assert!(err("0 0 15W * *").contains("not supported"));
        assert!(err("0 0 31 2 *").contains("never fires"));
        assert!(err("0 0 30,31 feb *").contains("never fires"));
        assert_eq!(cal("0 0 29 2 *"), ["*-02-29 00:00:00"]);
    }

    #[test]
    fn malformed_patterns_say_which_field() {
        assert!(err("0 0 * *").contains("5 or 6 fields, found 4"));
        assert!(err("0 0 0 * * * *").contains("found 7"));
        assert!(err("60 * * * *").contains("minute field: 60 is outside 0-59"));
        assert!(err("0 24 * * *").contains("hour field"));
        assert!(err("0 0 0 * *").contains("day-of-month field: 0 is outside 1-31"));
        assert!(err("0 0 * 13 *").contains("month field"));
        assert!(err("0 0 * * 8").contains("day-of-week field"));
        assert!(err("0 0 * * 5-1").contains("backwards"));
        assert!(err("*/0 * * * *").contains("step of 0"));
        assert!(err("*/x * * * *").contains("must be a number"));
        assert!(err("0 0 * foo *").contains("not a number or a name"));
        assert!(err("0 0 1,,2 * *").contains("empty list item"));
        assert!(err("0 0 * * -1").contains("not a number"));
    }

    #[test]
    fn no_input_panics() {
        for pattern in [
            "",
            " ",
            "@",
            "- - - - -",
            "/ / / / /",
            "1-/2 * * * *",
            "99999999999 * * * *",
        ] {
            let _ = on_calendar(pattern);
        }
    }
}

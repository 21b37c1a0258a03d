//! The graceful path of `max_memory_restart`, beside the hard limit.
//!
//! `max_memory_restart` stays `MemoryMax` on every instance: the kernel's hard limit, which
//! kills an instance that reaches it (systemd then restarts it). Below it, a **mark** at
//! `MARK_PERCENT` % of that value lets pm2ctl replace a growing instance gracefully before the
//! kernel has to: a companion timer (`pm2ctl-<esc>-memory.timer`) starts a oneshot service
//! (`pm2ctl-<esc>-memory.service`) every `CHECK_SECONDS` seconds (or every
//! `PM2_WORKER_INTERVAL` ms when the app's environment sets it, as PM2's worker reads it), which runs
//! `pm2ctl memory-check` (see `lifecycle::memory`): every instance whose processes hold more
//! resident memory than the mark is reloaded, one at a time, through `reload`'s path (socket
//! kept open by systemd, old process drained, the next one only once this one is ready).
//! systemd runs all of it; pm2ctl keeps no process of its own, and systemd never starts a
//! oneshot service again while it runs, so checks do not overlap.

use super::app::micros;
use super::companion::{base_service, finish, pm2ctl_command, Inputs};
use super::sandbox::CompanionNeed;
use super::Companion;
use crate::unit::{UnitKind, UnitSpec, Value};
use std::time::Duration;

/// The mark, in percent of `max_memory_restart`.
pub const MARK_PERCENT: u64 = 90;

/// How often the check runs: PM2's worker interval (30 s).
pub const CHECK_SECONDS: u32 = 30;

/// The variable PM2's daemon reads its worker interval from, in milliseconds.
pub const WORKER_INTERVAL_VAR: &str = "PM2_WORKER_INTERVAL";

/// How often the check runs, in seconds: `PM2_WORKER_INTERVAL` (ms, rounded to whole
/// seconds, at least 1) from the app's environment — a PM2 user sets it on the command line
/// (`PM2_WORKER_INTERVAL=5000 pm2 start …`, which becomes the app's environment) or in `env`
/// — else [`CHECK_SECONDS`]. A value that is not a number of milliseconds is ignored.
pub fn check_seconds(app: &crate::ecosystem::App) -> u32 {
    app.env
        .get(WORKER_INTERVAL_VAR)
        .and_then(|ms| ms.trim().parse::<u64>().ok())
        .map(|ms| {
            u32::try_from(ms.saturating_add(500) / 1000)
                .unwrap_or(u32::MAX)
                .max(1)
        })
        .unwrap_or(CHECK_SECONDS)
}

/// The timer's `OnCalendar=` for a check every `seconds`: every N seconds within each minute
/// below a minute, else every N minutes within each hour (at most 59).
fn calendar(seconds: u32) -> String {
    if seconds < 60 {
        format!("*:*:00/{seconds:02}")
    } else {
        let minutes = ((seconds + 30) / 60).clamp(1, 59);
        format!("*:00/{minutes:02}:00")
    }
}

/// How often a check runs, as `show` and the timer's description say it.
pub fn interval_text(seconds: u32) -> String {
    if seconds < 60 {
        format!("{seconds} s")
    } else {
        format!("{} min", ((seconds + 30) / 60).clamp(1, 59))
    }
}

/// The interval a planned memory timer runs at, in seconds, read back from its calendar.
pub fn seconds_of(timer: &UnitSpec) -> Option<u32> {
    let Some(Value::Pairs(pairs)) = timer.get("TimersCalendar") else {
        return None;
    };
    let (_, spec) = pairs.first()?;
    let step: u32 = spec.split('/').nth(1)?.split(':').next()?.parse().ok()?;
    Some(if spec.starts_with("*:*:") {
        step
    } else {
        step * 60
    })
}

/// The hidden verb the check service runs.
pub const VERB: &str = "memory-check";

/// Extra time the check may take beyond reloading every instance.
const CHECK_SLACK: Duration = Duration::from_secs(30);

/// The graceful mark for a hard limit of `limit` bytes.
pub fn mark(limit: u64) -> u64 {
    limit / 100 * MARK_PERCENT + limit % 100 * MARK_PERCENT / 100
}

/// The memory-check companion of an app with `count` instances; `None` when it has no
/// `max_memory_restart`, or no pm2ctl binary is known to run the check.
pub fn companion(inputs: &Inputs<'_>, count: u32) -> Option<Companion> {
    let app = inputs.app;
    let limit = app.max_memory_restart?;
    let pm2ctl = inputs.pm2ctl?;
    let mark = mark(limit);
    let names = inputs.names;
    let every = check_seconds(app);

    let mut timer = UnitSpec::new(names.memory_timer(), UnitKind::Timer);
    timer.set(
        "Description",
        Value::Str(format!(
            "pm2ctl memory check of {} every {}",
            inputs.readable_name,
            interval_text(every)
        )),
    );
    timer.set(
        "TimersCalendar",
        Value::Pairs(vec![("OnCalendar".into(), calendar(every))]),
    );
    // The default accuracy (1 min) would merge the runs into one a minute.
    timer.set("AccuracyUSec", Value::U64(1_000_000));

    let mut service = base_service(
        inputs,
        names.memory_service(),
        format!(
            "pm2ctl graceful restart of {} instances over {mark} bytes resident",
            inputs.readable_name
        ),
    );
    service.set("Type", Value::Str("oneshot".into()));
    let mark_text = mark.to_string();
    service.set(
        "ExecStart",
        Value::Exec(vec![pm2ctl_command(
            pm2ctl,
            inputs.host.scope,
            &[VERB, "--mark", &mark_text],
            &app.name,
        )]),
    );
    // Room to reload every instance, each stopping (kill_timeout) then getting ready.
    let budget = app
        .kill_timeout
        .saturating_add(app.listen_timeout)
        .saturating_mul(count.max(1))
        .saturating_add(CHECK_SLACK);
    service.set("TimeoutStartUSec", Value::U64(micros(budget)));
    finish(inputs, &mut service, CompanionNeed::InspectProcesses);
    // Its lines belong to the app: `pm2ctl logs APP` and `journalctl PM2_APP=APP` show them.
    service.set(
        "LogExtraFields",
        Value::Bytes(vec![
            format!("PM2_APP={}", app.name).into_bytes(),
            format!("PM2_NAMESPACE={}", app.namespace).into_bytes(),
        ]),
    );
    Some(Companion {
        timer: Some(timer),
        service,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_mark_is_ninety_percent_without_overflow() {
        assert_eq!(mark(200 * 1024 * 1024), 188_743_680);
        assert_eq!(mark(1000), 900);
        assert_eq!(mark(99), 89);
        assert!(mark(u64::MAX) < u64::MAX);
    }

    #[test]
    fn pm2s_worker_interval_sets_how_often_the_check_runs() {
        let mut app = crate::ecosystem::App::with_defaults("api", "app.js");
        assert_eq!(check_seconds(&app), 30);
        for (ms, seconds, spec, text) in [
            ("5000", 5, "*:*:00/05", "5 s"),
            ("200", 1, "*:*:00/01", "1 s"),
            ("1499", 1, "*:*:00/01", "1 s"),
            (" 30000 ", 30, "*:*:00/30", "30 s"),
            ("120000", 120, "*:00/02:00", "2 min"),
            ("99999999", 100_000, "*:00/59:00", "59 min"),
            ("soon", 30, "*:*:00/30", "30 s"),
        ] {
            app.env.insert(WORKER_INTERVAL_VAR.into(), ms.into());
            assert_eq!(check_seconds(&app), seconds, "{ms}");
            assert_eq!(calendar(seconds), spec, "{ms}");
            assert_eq!(interval_text(seconds), text, "{ms}");
            let mut timer = UnitSpec::new("t.timer", UnitKind::Timer);
            timer.set(
                "TimersCalendar",
                Value::Pairs(vec![("OnCalendar".into(), calendar(seconds))]),
            );
            let back = seconds_of(&timer).unwrap();
            assert_eq!(interval_text(back), text, "{ms}");
        }
    }
}

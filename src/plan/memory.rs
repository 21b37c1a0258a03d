//! The graceful path of `max_memory_restart`, beside the hard limit.
//!
//! `max_memory_restart` stays `MemoryMax` on every instance: the kernel's hard limit, which
//! kills an instance that reaches it (systemd then restarts it). Below it, a **mark** at
//! `MARK_PERCENT` % of that value lets pm2ctl replace a growing instance gracefully before the
//! kernel has to: a companion timer (`pm2ctl-<esc>-memory.timer`) starts a oneshot service
//! (`pm2ctl-<esc>-memory.service`) every `CHECK_SECONDS` seconds, which runs
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

    let mut timer = UnitSpec::new(names.memory_timer(), UnitKind::Timer);
    timer.set(
        "Description",
        Value::Str(format!(
            "pm2ctl memory check of {} every {CHECK_SECONDS} s",
            inputs.readable_name
        )),
    );
    timer.set(
        "TimersCalendar",
        Value::Pairs(vec![(
            "OnCalendar".into(),
            format!("*:*:00/{CHECK_SECONDS:02}"),
        )]),
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
}

//! `pm2ctl show NAME|ID` (`describe`, `desc`, `info`): everything about one app — its
//! definition, its units and each instance's state, limits, paths, the last log lines — and
//! the `systemctl`/`journalctl` commands that show the same from systemd's side.

use super::list::{colors_wanted, snapshot};
use super::ManagerArgs;
use crate::host::Host;
use crate::inspect::{format, Instance, Snapshot};
use crate::plan::{memory, Scope};
use crate::state::{self, AppRecord};
use crate::systemd::UnitState;
use anyhow::Result;
use comfy_table::{presets, Attribute, Cell, Color, ContentArrangement, Table};
use std::fmt::Write;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The app's name, or the pm_id of one of its instances.
    #[arg(value_name = "name|id")]
    pub target: String,
    /// Log lines to show at the end.
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub lines: u32,
    #[command(flatten)]
    pub manager: ManagerArgs,
}

/// No app by that name or id: PM2's words, exit 1.
#[derive(Debug, thiserror::Error)]
#[error("[PM2][WARN] {0} doesn't exist")]
pub struct NoSuchApp(pub String);

pub fn run(args: Args) -> Result<()> {
    show(&args)
}

fn show(args: &Args) -> Result<()> {
    let scope = args.manager.scope();
    let snapshot = snapshot(&args.manager)?;
    let Some(name) = resolve(&snapshot, &args.target) else {
        return Err(NoSuchApp(args.target.clone()).into());
    };
    let state = state::read_current(&args.manager.host, scope)?;
    let record = state.app(&name);
    let instances = snapshot.app(&name);
    let colors = colors_wanted(&std::io::stdout());
    let mut out = describe(
        &name,
        &instances,
        record,
        snapshot.taken_at_ms,
        scope,
        args.manager.host.target(),
        colors,
    );
    if let Some(plan) = record.map(|r| &r.plan) {
        // The hard limit as planned: the mark is derived from it.
        let limit = plan
            .instances
            .first()
            .and_then(|i| match i.service.get("MemoryMax") {
                Some(crate::unit::Value::U64(bytes)) => Some(*bytes),
                _ => None,
            });
        let memory_timer = format!("{}.timer", crate::unit::name::MEMORY_SUFFIX);
        let checks = plan.companions.iter().filter_map(|c| {
            let timer = c.timer.as_ref()?;
            let every = memory::seconds_of(timer).unwrap_or(memory::CHECK_SECONDS);
            timer
                .name
                .ends_with(&memory_timer)
                .then(|| ([timer.name.clone(), c.service.name.clone()], every))
        });
        for (names, every) in checks {
            let states = args.manager.connect()?.read_states(&names)?;
            if let ([timer, service], Some(limit)) = (states.as_slice(), limit) {
                out.push_str(&memory_section(limit, every, timer, service));
            }
        }
    }
    out.push_str(&log_section(&args.manager.host, &name, scope, args.lines));
    print!("{out}");
    Ok(())
}

/// The graceful memory path of an app: its mark, its timer, and how the last check went.
pub fn memory_section(
    limit: u64,
    every_seconds: u32,
    timer: &UnitState,
    service: &UnitState,
) -> String {
    let mut out = String::from("\nGraceful memory restart\n");
    let mark = memory::mark(limit);
    let _ = writeln!(
        out,
        "  mark       {} resident ({} % of max_memory_restart {}), checked every {}",
        format::memory(mark),
        memory::MARK_PERCENT,
        format::memory(limit),
        memory::interval_text(every_seconds)
    );
    let _ = writeln!(
        out,
        "  timer      {} {}/{}",
        timer.name,
        timer.active_state(),
        timer.sub_state()
    );
    let props = service.service.as_ref();
    let last = props
        .and_then(|s| s.exec_main_start_timestamp)
        .filter(|t| *t > 0);
    let result = props.and_then(|s| s.result.as_deref()).unwrap_or("-");
    let _ = writeln!(
        out,
        "  last check {}",
        match last {
            Some(us) => format!(
                "{} ({}, {})",
                millis_date(us / 1000),
                service.active_state(),
                result
            ),
            None => "none yet".to_string(),
        }
    );
    out
}

/// The app `target` names: an app name first, then the pm_id of one of its instances (as
/// PM2 resolves `describe`'s argument).
pub fn resolve(snapshot: &Snapshot, target: &str) -> Option<String> {
    if let Some(i) = snapshot.instances.iter().find(|i| i.name == target) {
        return Some(i.name.clone());
    }
    let id: u32 = target.parse().ok()?;
    snapshot
        .instances
        .iter()
        .find(|i| i.pm_id == id)
        .map(|i| i.name.clone())
}

/// A table at its natural width (`show` is read whole, not fitted to the terminal), styled
/// only when colors are on.
fn plain_table(colors: bool) -> Table {
    let mut table = Table::new();
    table
        .load_style(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Disabled);
    if colors {
        table.enforce_styling();
    } else {
        table.force_no_tty();
    }
    table
}

fn key_value_table(rows: &[(&str, String)], colors: bool) -> String {
    let mut table = plain_table(colors);
    for (key, value) in rows {
        let key = Cell::new(key);
        let key = if colors {
            key.fg(Color::Cyan).add_attribute(Attribute::Bold)
        } else {
            key
        };
        table.add_row(vec![key, Cell::new(value)]);
    }
    table.to_string()
}

fn or_dash(value: Option<String>) -> String {
    value
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "-".into())
}

fn millis_date(ms: u64) -> String {
    // journalctl-like local time needs a time zone database; UTC is unambiguous.
    let secs = (ms / 1000) as i64;
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// The whole description except the log lines (pure, for tests).
pub fn describe(
    name: &str,
    instances: &[&Instance],
    record: Option<&AppRecord>,
    now_ms: u64,
    scope: Scope,
    remote: Option<&str>,
    colors: bool,
) -> String {
    let mut out = String::new();
    let Some(first) = instances.first() else {
        return out;
    };
    let _ = writeln!(
        out,
        "Describing app {name} ({} instance{}, {} mode)",
        instances.len(),
        if instances.len() == 1 { "" } else { "s" },
        first.mode.short()
    );

    let rows = vec![
        ("name", name.to_string()),
        ("namespace", first.namespace.clone()),
        ("version", first.version.as_pm2().unwrap_or("-").to_string()),
        ("exec mode", first.mode.pm2_name().to_string()),
        ("instances", instances.len().to_string()),
        (
            "script path",
            or_dash(Some(first.command.exec_path.clone())),
        ),
        ("script args", first.command.args.join(" ")),
        (
            "interpreter",
            or_dash(Some(first.command.interpreter.clone())),
        ),
        ("interpreter args", first.command.interpreter_args.join(" ")),
        ("exec cwd", or_dash(Some(first.cwd.clone()))),
        ("command", first.command.argv.join(" ")),
        ("user", first.user.clone()),
        (
            "out log",
            first
                .out_log
                .clone()
                .unwrap_or_else(|| "journal (stdout)".into()),
        ),
        (
            "error log",
            first
                .err_log
                .clone()
                .unwrap_or_else(|| "journal (stderr)".into()),
        ),
        (
            "restart policy",
            format!(
                "Restart={}{}",
                first.restart_policy.as_deref().unwrap_or("-"),
                first
                    .restart_delay_us
                    .map(|us| format!(", RestartSec={}", format::micros(us)))
                    .unwrap_or_default()
            ),
        ),
        (
            "max memory (MemoryMax)",
            first.memory_max.map_or("-".to_string(), |b| {
                format!("{} ({b} bytes)", format::memory(b))
            }),
        ),
        (
            "watch & reload",
            if first.watching {
                "enabled"
            } else {
                "disabled"
            }
            .to_string(),
        ),
        (
            "created at",
            first.created_at_ms.map_or("-".into(), millis_date),
        ),
        (
            "ecosystem file",
            or_dash(
                record
                    .and_then(|r| r.source.file.as_ref())
                    .map(|f| f.display().to_string()),
            ),
        ),
        ("--env", or_dash(record.and_then(|r| r.source.env.clone()))),
        (
            "desired state",
            record.map_or("- (not in the state store)".into(), |r| {
                format!("{:?}", r.desired).to_lowercase()
            }),
        ),
    ];
    out.push_str(&key_value_table(&rows, colors));
    out.push('\n');

    out.push_str("\nInstances\n");
    let mut table = plain_table(colors);
    table.set_header(vec![
        "id",
        "#",
        "unit",
        "status",
        "systemd",
        "pid",
        "uptime",
        "↺",
        "cpu",
        "mem",
        "cgroup mem",
        "last exit",
    ]);
    for i in instances {
        let running = i.pid.is_some();
        let status = Cell::new(i.status.as_str());
        let status = if colors {
            status.fg(crate::inspect::table::status_color(i.status))
        } else {
            status
        };
        table.add_row(vec![
            Cell::new(i.pm_id),
            Cell::new(i.index),
            Cell::new(match &i.socket {
                Some(socket) => format!("{}\n{socket}", i.service),
                None => i.service.clone(),
            }),
            status,
            Cell::new(format!("{}/{} ({})", i.active_state, i.sub_state, i.result)),
            Cell::new(i.pid.map_or("0".into(), |p| p.to_string())),
            Cell::new(match i.started_at_ms {
                Some(since) if running => format::uptime(since, now_ms),
                _ => "0".into(),
            }),
            Cell::new(i.restarts),
            Cell::new(format::cpu(i.cpu.unwrap_or(0.0))),
            Cell::new(format::memory(i.memory.unwrap_or(0))),
            Cell::new(i.cgroup_memory.map_or("-".into(), format::memory)),
            Cell::new(match i.exit {
                Some(crate::inspect::Exit::Code(c)) => format!("exit code {c}"),
                Some(crate::inspect::Exit::Signal(s)) => {
                    format!("signal {}", crate::systemd::signal_name(s))
                }
                None => "-".into(),
            }),
        ]);
    }
    out.push_str(&table.to_string());
    out.push('\n');
    let _ = writeln!(
        out,
        "cpu: average since the process started, from {}; mem is the main process' RSS (as PM2), \
         cgroup mem systemd's MemoryCurrent",
        first.cpu_source.as_str()
    );

    if !first.env.is_empty() {
        out.push_str("\nEnvironment\n");
        for (k, v) in &first.env {
            let _ = writeln!(out, "  {k}={v}");
        }
    }

    out.push_str("\nUnits\n");
    let _ = writeln!(out, "  {}", first.slice);
    for i in instances {
        if let Some(socket) = &i.socket {
            let _ = writeln!(out, "  {socket}");
        }
        let _ = writeln!(out, "  {}", i.service);
    }

    let user = if scope == Scope::User { " --user" } else { "" };
    // On another host (`-H`), the commands run there.
    let on = remote
        .map(|target| format!("ssh {target} "))
        .unwrap_or_default();
    let services: Vec<&str> = instances.iter().map(|i| i.service.as_str()).collect();
    out.push_str("\nThe same from systemd\n");
    let _ = writeln!(out, "  {on}systemctl{user} status {}", services.join(" "));
    let _ = writeln!(out, "  {on}systemctl{user} status {}", first.slice);
    let _ = writeln!(out, "  {on}systemctl{user} show {}", first.service);
    // A user's manager adds no PM2_APP field (see `logs --help`): select by unit there. The
    // slice keeps out systemd's own lines about the units, which carry PM2_APP since 254.
    let lines_of = if scope == Scope::User {
        format!("--user-unit '{}@*'", first.slice.trim_end_matches(".slice"))
    } else {
        format!("PM2_APP={name} _SYSTEMD_SLICE={}", first.slice)
    };
    let _ = writeln!(out, "  {on}journalctl{user} {lines_of} -f");
    let _ = writeln!(
        out,
        "  {on}journalctl{user} {lines_of} PRIORITY=3   (stderr only)"
    );
    out
}

/// The app's last log lines, as `logs` shows them.
fn log_section(host: &Host, name: &str, scope: Scope, lines: u32) -> String {
    if lines == 0 {
        return String::new();
    }
    let mut out = format!("\nLast {lines} log lines\n");
    let tail = crate::logs::view::tail(host, name, scope, lines);
    if tail.is_empty() {
        out.push_str("  (none in the journal)\n");
    }
    for line in tail {
        let _ = writeln!(out, "  {line}");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::jlist::tests::instance;

    #[test]
    fn names_win_over_ids() {
        let snapshot = Snapshot {
            instances: vec![instance(0, "api", 0), instance(1, "0", 0)],
            taken_at_ms: 0,
        };
        assert_eq!(resolve(&snapshot, "api").as_deref(), Some("api"));
        assert_eq!(resolve(&snapshot, "0").as_deref(), Some("0"));
        assert_eq!(resolve(&snapshot, "1").as_deref(), Some("0"));
        assert_eq!(resolve(&snapshot, "nope"), None);
        assert_eq!(resolve(&snapshot, "7"), None);
    }

    #[test]
    fn a_description_names_units_limits_and_commands() {
        let a = instance(0, "web", 0);
        let b = instance(1, "web", 1);
        let text = describe(
            "web",
            &[&a, &b],
            None,
            1_795_355_900_000,
            Scope::System,
            None,
            false,
        );
        for needle in [
            "Describing app web (2 instances, cluster mode)",
            "pm2ctl-web@0.service",
            "pm2ctl-web@1.service",
            "pm2ctl-web.slice",
            "150.0mb",
            "Restart=always",
            "/srv/child.js",
            "systemctl status pm2ctl-web@0.service pm2ctl-web@1.service",
            "journalctl PM2_APP=web _SYSTEMD_SLICE=pm2ctl-web.slice -f",
            "PATH=/usr/bin",
            "2026-11-22",
        ] {
            assert!(text.contains(needle), "{needle} missing:\n{text}");
        }
        assert!(!text.contains('\u{1b}'));
        let user = describe("web", &[&a], None, 0, Scope::User, None, false);
        assert!(user.contains("systemctl --user status"), "{user}");
        assert!(
            user.contains("journalctl --user --user-unit 'pm2ctl-web@*' -f"),
            "{user}"
        );
    }

    #[test]
    fn the_memory_section_shows_mark_timer_and_last_check() {
        use crate::systemd::proxies::{ServiceProps, UnitProps};
        let timer = UnitState {
            name: "pm2ctl-web-memory.timer".into(),
            unit: UnitProps {
                active_state: Some("active".into()),
                sub_state: Some("waiting".into()),
                ..Default::default()
            },
            service: None,
            sample: None,
        };
        let mut service = UnitState {
            name: "pm2ctl-web-memory.service".into(),
            unit: UnitProps {
                active_state: Some("inactive".into()),
                sub_state: Some("dead".into()),
                ..Default::default()
            },
            service: Some(ServiceProps::default()),
            sample: None,
        };
        let text = memory_section(200 * 1024 * 1024, 30, &timer, &service);
        assert!(
            text.contains(
                "180.0mb resident (90 % of max_memory_restart 200.0mb), checked every 30 s"
            ),
            "{text}"
        );
        assert!(
            text.contains("pm2ctl-web-memory.timer active/waiting"),
            "{text}"
        );
        assert!(text.contains("last check none yet"), "{text}");

        service.service = Some(ServiceProps {
            result: Some("success".into()),
            exec_main_start_timestamp: Some(86_400_000_000),
            ..Default::default()
        });
        let text = memory_section(200 * 1024 * 1024, 30, &timer, &service);
        assert!(
            text.contains("last check 1970-01-02 00:00:00 UTC (inactive, success)"),
            "{text}"
        );
    }

    #[test]
    fn dates_are_utc_calendar_dates() {
        assert_eq!(millis_date(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(millis_date(951_782_400_000), "2000-02-29 00:00:00 UTC");
        assert_eq!(millis_date(1_795_355_776_780), "2026-11-22 13:56:16 UTC");
    }
}

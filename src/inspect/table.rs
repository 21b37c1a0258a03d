//! The `list` table: PM2's columns, one row per instance, and `--json` rows.

use super::format;
use super::{Instance, Snapshot};
use crate::lifecycle::outcome::UsageError;
use crate::status::Status;
use comfy_table::{presets, Attribute, Cell, Color, ContentArrangement, Table};

/// PM2's column headings, in order.
pub const HEADINGS: [&str; 12] = [
    "id",
    "name",
    "namespace",
    "mode",
    "pid",
    "uptime",
    "↺",
    "status",
    "cpu",
    "mem",
    "user",
    "watching",
];

/// One row's cells as text, in `HEADINGS` order.
pub fn row(i: &Instance, now_ms: u64) -> [String; 12] {
    let running = i.status.is_running() && i.pid.is_some();
    [
        i.pm_id.to_string(),
        i.name.clone(),
        i.namespace.clone(),
        i.mode.short().to_string(),
        i.pid.map_or("0".to_string(), |p| p.to_string()),
        match i.started_at_ms {
            Some(since) if running => format::uptime(since, now_ms),
            _ => "0".to_string(),
        },
        i.restarts.to_string(),
        i.status.as_str().to_string(),
        format::cpu(if running { i.cpu.unwrap_or(0.0) } else { 0.0 }),
        format::memory(if running { i.memory.unwrap_or(0) } else { 0 }),
        i.user.clone(),
        if i.watching { "enabled" } else { "disabled" }.to_string(),
    ]
}

/// Every row, in `pm_id` order.
pub fn rows(snapshot: &Snapshot) -> Vec<[String; 12]> {
    snapshot
        .instances
        .iter()
        .map(|i| row(i, snapshot.taken_at_ms))
        .collect()
}

/// PM2's `list --sort FIELD[:asc|desc]`: name, id, pid, memory, cpu, status, uptime.
/// Ascending by default; ties keep `pm_id` order.
pub fn sort(snapshot: &mut Snapshot, spec: &str) -> Result<(), UsageError> {
    let (field, order) = spec.split_once(':').unwrap_or((spec, "asc"));
    let descending = match order {
        "asc" => false,
        "desc" => true,
        other => {
            return Err(UsageError(format!(
                "--sort: unknown order `{other}` (asc or desc)"
            )))
        }
    };
    let now = snapshot.taken_at_ms;
    let instances = &mut snapshot.instances;
    match field {
        "name" => instances.sort_by(|a, b| a.name.cmp(&b.name)),
        "id" => instances.sort_by_key(|i| i.pm_id),
        "pid" => instances.sort_by_key(|i| i.pid.unwrap_or(0)),
        "memory" => instances.sort_by_key(|i| i.memory.unwrap_or(0)),
        "cpu" => instances.sort_by(|a, b| a.cpu.unwrap_or(0.0).total_cmp(&b.cpu.unwrap_or(0.0))),
        "status" => instances.sort_by(|a, b| a.status.as_str().cmp(b.status.as_str())),
        "uptime" => instances.sort_by_key(|i| i.started_at_ms.map_or(0, |s| now.saturating_sub(s))),
        other => {
            return Err(UsageError(format!(
                "--sort: unknown field `{other}` (name, id, pid, memory, cpu, status or uptime)"
            )))
        }
    }
    if descending {
        instances.reverse();
    }
    Ok(())
}

/// The color PM2 gives a status word.
pub fn status_color(status: Status) -> Color {
    match status {
        Status::Online => Color::Green,
        Status::Launching | Status::WaitingRestart | Status::Stopping => Color::Yellow,
        Status::Stopped | Status::Errored => Color::Red,
    }
}

/// The table as text; `colors` only for a terminal. `width` is the terminal's, if known
/// (long names are wrapped to fit it).
pub fn render(snapshot: &Snapshot, colors: bool, width: Option<u16>) -> String {
    let mut table = Table::new();
    table
        .load_style(presets::UTF8_FULL_CONDENSED)
        .set_content_arrangement(ContentArrangement::Dynamic);
    match width {
        Some(w) => {
            table.set_width(w);
        }
        None => {
            // Not a terminal: never wrap, whatever the width.
            table.set_content_arrangement(ContentArrangement::Disabled);
        }
    }
    if colors {
        table.enforce_styling();
    } else {
        table.force_no_tty();
    }
    let heading = |h: &str| {
        let cell = Cell::new(h);
        if colors {
            cell.fg(Color::Cyan).add_attribute(Attribute::Bold)
        } else {
            cell
        }
    };
    table.set_header(HEADINGS.iter().map(|h| heading(h)));
    for (instance, cells) in snapshot.instances.iter().zip(rows(snapshot)) {
        let styled = cells.into_iter().enumerate().map(|(column, text)| {
            let cell = Cell::new(text);
            if !colors {
                return cell;
            }
            match HEADINGS[column] {
                "id" | "name" => cell.fg(Color::Cyan).add_attribute(Attribute::Bold),
                "status" => cell
                    .fg(status_color(instance.status))
                    .add_attribute(Attribute::Bold),
                "watching" if !instance.watching => cell.fg(Color::DarkGrey),
                _ => cell,
            }
        });
        table.add_row(styled);
    }
    table.to_string()
}

/// `list --json`: the table's rows as objects keyed by heading (`restarts` for `↺`), with
/// numbers as numbers.
pub fn json_rows(snapshot: &Snapshot) -> serde_json::Value {
    snapshot
        .instances
        .iter()
        .map(|i| {
            let running = i.status.is_running() && i.pid.is_some();
            serde_json::json!({
                "id": i.pm_id,
                "name": i.name,
                "namespace": i.namespace,
                "mode": i.mode.short(),
                "pid": i.pid.unwrap_or(0),
                "uptime_ms": match i.started_at_ms {
                    Some(since) if running => snapshot.taken_at_ms.saturating_sub(since),
                    _ => 0,
                },
                "restarts": i.restarts,
                "status": i.status.as_str(),
                "cpu": if running { i.cpu.unwrap_or(0.0) } else { 0.0 },
                "memory": if running { i.memory.unwrap_or(0) } else { 0 },
                "user": i.user,
                "watching": i.watching,
                "unit": i.service,
                "cgroup_memory": i.cgroup_memory,
                "cpu_source": i.cpu_source.as_str(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::jlist::tests::instance;

    fn snapshot() -> Snapshot {
        let mut stopped = instance(2, "worker", 0);
        stopped.status = Status::Stopped;
        stopped.pid = None;
        stopped.mode = crate::inspect::Mode::Fork;
        Snapshot {
            instances: vec![instance(0, "web", 0), instance(1, "web", 1), stopped],
            taken_at_ms: 1_795_355_776_780 + 150_000,
        }
    }

    #[test]
    fn rows_have_pm2s_columns() {
        let rows = rows(&snapshot());
        assert_eq!(
            rows[0],
            [
                "0", "web", "default", "cluster", "4568", "2m", "3", "online", "0.4%", "52.4mb",
                "root", "disabled"
            ]
        );
        // A stopped instance: no pid, no uptime, no usage, whatever systemd last said.
        assert_eq!(
            rows[2],
            [
                "2", "worker", "default", "fork", "0", "0", "3", "stopped", "0%", "0b", "root",
                "disabled"
            ]
        );
    }

    #[test]
    fn a_pipe_gets_no_colors_and_every_row() {
        let text = render(&snapshot(), false, None);
        assert!(!text.contains('\u{1b}'), "{text}");
        for h in HEADINGS {
            assert!(text.contains(h), "{h} missing:\n{text}");
        }
        assert_eq!(text.matches("web").count(), 2, "{text}");
        assert!(text.contains("worker"), "{text}");
    }

    #[test]
    fn a_terminal_gets_colors() {
        let text = render(&snapshot(), true, Some(120));
        assert!(text.contains('\u{1b}'), "{text}");
        assert!(text.lines().all(|l| console_width(l) <= 120), "{text}");
    }

    /// Display width without ANSI escapes.
    fn console_width(line: &str) -> usize {
        let mut width = 0;
        let mut in_escape = false;
        for c in line.chars() {
            match (in_escape, c) {
                (false, '\u{1b}') => in_escape = true,
                (true, 'm') => in_escape = false,
                (true, _) => {}
                (false, _) => width += 1,
            }
        }
        width
    }

    #[test]
    fn sorting_follows_pm2s_fields() {
        let ids = |s: &Snapshot| s.instances.iter().map(|i| i.pm_id).collect::<Vec<_>>();
        let mut s = snapshot();
        s.instances[0].memory = Some(10);
        s.instances[1].memory = Some(30);
        s.instances[2].memory = Some(20);
        sort(&mut s, "memory").unwrap();
        assert_eq!(ids(&s), [0, 2, 1]);
        sort(&mut s, "memory:desc").unwrap();
        assert_eq!(ids(&s), [1, 2, 0]);
        sort(&mut s, "name:desc").unwrap();
        assert_eq!(s.instances[0].name, "worker");
        sort(&mut s, "id").unwrap();
        assert_eq!(ids(&s), [0, 1, 2]);
        assert!(sort(&mut s, "size")
            .unwrap_err()
            .0
            .contains("unknown field `size`"));
        assert!(sort(&mut s, "id:up")
            .unwrap_err()
            .0
            .contains("unknown order"));
    }

    #[test]
    fn json_rows_are_numbers_where_pm2_has_numbers() {
        let rows = json_rows(&snapshot());
        assert_eq!(rows[0]["id"], 0);
        assert_eq!(rows[0]["pid"], 4568);
        assert_eq!(rows[0]["uptime_ms"], 150_000);
        assert_eq!(rows[0]["restarts"], 3);
        assert_eq!(rows[2]["status"], "stopped");
        assert_eq!(rows[2]["pid"], 0);
        assert_eq!(rows[2]["memory"], 0);
    }
}

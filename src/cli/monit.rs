//! `pm2ctl monit` (`dashboard`, `dash`): a live terminal dashboard — every instance with its
//! status, restarts, CPU and memory (with their recent history as sparklines), and the
//! selected app's last log lines from the journal.
//!
//! Keys: ↑/↓ or k/j select, q, Esc or Ctrl-C quit. The terminal is restored on exit, on error
//! and on panic (ratatui's init installs a panic hook that restores it first). It fits 80×24.

use super::ManagerArgs;
use crate::inspect::{self, collect::cpu_percent, format, table::HEADINGS, Snapshot};
use crate::plan::Scope;
use crate::state;
use crate::status::Status;
use crate::systemd::Client;
use anyhow::{Context, Result};
use crossterm::event::{self, Event, KeyCode, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::Line;
use ratatui::widgets::{Block, Borders, Paragraph, Row, Sparkline, Table, TableState, Wrap};
use ratatui::Frame;
use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

/// How often the figures are refreshed (PM2's monit refreshes about every second).
const REFRESH: Duration = Duration::from_secs(1);
/// How many samples each sparkline keeps.
const HISTORY: usize = 120;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Log lines of the selected app to keep on screen (as many as fit are shown).
    #[arg(long, default_value_t = 50, value_name = "N")]
    pub lines: u32,
    #[command(flatten)]
    pub manager: ManagerArgs,
}

pub fn run(args: Args) -> Result<()> {
    monit(&args)
}

/// What the dashboard shows; updated once per refresh, drawn by `draw`.
#[derive(Debug, Default)]
pub struct Dashboard {
    pub snapshot: Snapshot,
    /// Per pm_id: CPU (tenths of a percent) and memory (bytes) history, oldest first.
    pub cpu_history: BTreeMap<u32, VecDeque<u64>>,
    pub memory_history: BTreeMap<u32, VecDeque<u64>>,
    /// Index into `snapshot.instances`.
    pub selected: usize,
    /// The selected app's last journal lines.
    pub log_lines: Vec<String>,
    /// Shown in the footer when the last refresh failed.
    pub error: Option<String>,
}

impl Dashboard {
    /// Takes in a new snapshot: history grows, the selection stays on the same pm_id.
    pub fn update(&mut self, snapshot: Snapshot) {
        let selected_id = self.selected_instance().map(|i| i.pm_id);
        for i in &snapshot.instances {
            push(
                self.cpu_history.entry(i.pm_id).or_default(),
                (i.cpu.unwrap_or(0.0) * 10.0).round() as u64,
            );
            push(
                self.memory_history.entry(i.pm_id).or_default(),
                i.memory.unwrap_or(0),
            );
        }
        let live: Vec<u32> = snapshot.instances.iter().map(|i| i.pm_id).collect();
        self.cpu_history.retain(|id, _| live.contains(id));
        self.memory_history.retain(|id, _| live.contains(id));
        self.selected = selected_id
            .and_then(|id| snapshot.instances.iter().position(|i| i.pm_id == id))
            .unwrap_or(0)
            .min(snapshot.instances.len().saturating_sub(1));
        self.snapshot = snapshot;
    }

    pub fn selected_instance(&self) -> Option<&inspect::Instance> {
        self.snapshot.instances.get(self.selected)
    }

    pub fn select_next(&mut self) {
        if self.selected + 1 < self.snapshot.instances.len() {
            self.selected += 1;
        }
    }

    pub fn select_previous(&mut self) {
        self.selected = self.selected.saturating_sub(1);
    }
}

fn push(history: &mut VecDeque<u64>, value: u64) {
    if history.len() == HISTORY {
        history.pop_front();
    }
    history.push_back(value);
}

/// Restores the terminal when dropped, whatever way `monit` ends.
struct TerminalGuard;

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        ratatui::restore();
        let _ = crossterm::execute!(std::io::stdout(), crossterm::cursor::Show);
    }
}

fn monit(args: &Args) -> Result<()> {
    let scope = args.manager.scope();
    let client = args.manager.connect()?;
    // The first snapshot before the screen switches, so errors print normally.
    let mut sampler = Sampler::default();
    let first = sampler.take(&client, scope)?;
    let mut dashboard = Dashboard::default();
    dashboard.update(first);

    let mut terminal = ratatui::try_init().context("cannot set up the terminal")?;
    let _guard = TerminalGuard;
    let mut logs_for: Option<String> = None;
    let mut next_refresh = Instant::now() + REFRESH;
    loop {
        let app = dashboard.selected_instance().map(|i| i.name.clone());
        if app != logs_for {
            dashboard.log_lines = app
                .as_deref()
                .map(|a| crate::logs::view::tail(client.host(), a, scope, args.lines))
                .unwrap_or_default();
            logs_for = app;
        }
        terminal
            .draw(|frame| draw(frame, &dashboard))
            .context("cannot draw")?;

        let wait = next_refresh.saturating_duration_since(Instant::now());
        if event::poll(wait).context("cannot read the keyboard")? {
            if let Event::Key(key) = event::read().context("cannot read the keyboard")? {
                if key.kind == KeyEventKind::Release {
                    continue;
                }
                match key.code {
                    KeyCode::Char('q') | KeyCode::Esc => break,
                    KeyCode::Char('c') if key.modifiers.contains(KeyModifiers::CONTROL) => break,
                    KeyCode::Down | KeyCode::Char('j') => dashboard.select_next(),
                    KeyCode::Up | KeyCode::Char('k') => dashboard.select_previous(),
                    _ => {}
                }
            }
            continue;
        }
        next_refresh = Instant::now() + REFRESH;
        match sampler.take(&client, scope) {
            Ok(snapshot) => {
                dashboard.update(snapshot);
                dashboard.error = None;
            }
            Err(e) => dashboard.error = Some(format!("{e:#}")),
        }
        if let Some(app) = &logs_for {
            dashboard.log_lines = crate::logs::view::tail(client.host(), app, scope, args.lines);
        }
    }
    Ok(())
}

/// Takes snapshots and computes CPU from the CPU time used since the previous one (the
/// refresh interval is the sampling window, as in PM2's own monitor).
#[derive(Default)]
struct Sampler {
    /// Per service unit: (main pid, cumulative CPU ns, when read).
    previous: BTreeMap<String, (u32, u64, Instant)>,
}

impl Sampler {
    fn take(&mut self, client: &Client, scope: Scope) -> Result<Snapshot> {
        // On another host, that host's state (see `crate::host::remote`).
        let state = state::read_current(client.host(), scope)?;
        let mut snapshot = inspect::collect(client, &state)?;
        let now = Instant::now();
        let mut seen = BTreeMap::new();
        for i in &mut snapshot.instances {
            let (Some(pid), Some(ns)) = (i.pid, i.cpu_time_ns) else {
                continue;
            };
            // From the second snapshot on, the CPU used since the previous one.
            if let Some((old_pid, old_ns, at)) = self.previous.get(&i.service) {
                if *old_pid == pid {
                    i.cpu = Some(cpu_percent(*old_ns, ns, now.duration_since(*at)));
                }
            }
            seen.insert(i.service.clone(), (pid, ns, now));
        }
        self.previous = seen;
        Ok(snapshot)
    }
}

fn status_color(status: Status) -> Color {
    match status {
        Status::Online => Color::Green,
        Status::Launching | Status::WaitingRestart | Status::Stopping => Color::Yellow,
        Status::Stopped | Status::Errored => Color::Red,
    }
}

/// Draws the whole dashboard into `frame` (pure: tests render it on a test backend).
pub fn draw(frame: &mut Frame, dashboard: &Dashboard) {
    let area = frame.area();
    let rows = dashboard.snapshot.instances.len() as u16;
    let [list_area, graphs_area, logs_area, footer_area] = Layout::default()
        .direction(Direction::Vertical)
        .constraints([
            // Header + borders + rows, at most about half the screen.
            Constraint::Length((rows + 3).clamp(4, (area.height / 2).max(4))),
            Constraint::Length(5),
            Constraint::Min(3),
            Constraint::Length(1),
        ])
        .areas(area);

    draw_list(frame, dashboard, list_area);
    draw_graphs(frame, dashboard, graphs_area);

    let title = match dashboard.selected_instance() {
        Some(i) => format!(" {} logs ", i.name),
        None => " logs ".to_string(),
    };
    let visible = logs_area.height.saturating_sub(2) as usize;
    let start = dashboard.log_lines.len().saturating_sub(visible);
    let logs = Paragraph::new(
        dashboard.log_lines[start..]
            .iter()
            .map(|l| Line::from(l.as_str()))
            .collect::<Vec<_>>(),
    )
    .block(Block::default().borders(Borders::ALL).title(title))
    .wrap(Wrap { trim: false });
    frame.render_widget(logs, logs_area);

    let footer = match &dashboard.error {
        Some(e) => Paragraph::new(format!(" error: {e}")).style(Style::default().fg(Color::Red)),
        None => Paragraph::new(" ↑/k ↓/j select   q quit   pm2ctl monit")
            .style(Style::default().add_modifier(Modifier::DIM)),
    };
    frame.render_widget(footer, footer_area);
}

fn draw_list(frame: &mut Frame, dashboard: &Dashboard, area: Rect) {
    let now = dashboard.snapshot.taken_at_ms;
    let header = Row::new([
        "id", "name", "mode", "status", "↺", "cpu", "mem", "pid", "uptime",
    ])
    .style(
        Style::default()
            .fg(Color::Cyan)
            .add_modifier(Modifier::BOLD),
    );
    debug_assert!(HEADINGS.contains(&"↺"));
    let rows = dashboard.snapshot.instances.iter().map(|i| {
        let running = i.pid.is_some();
        Row::new(vec![
            ratatui::text::Text::from(i.pm_id.to_string()),
            i.name.clone().into(),
            i.mode.short().into(),
            ratatui::text::Text::styled(
                i.status.as_str(),
                Style::default().fg(status_color(i.status)),
            ),
            i.restarts.to_string().into(),
            format::cpu(i.cpu.unwrap_or(0.0)).into(),
            format::memory(i.memory.unwrap_or(0)).into(),
            i.pid.map_or("0".into(), |p| p.to_string()).into(),
            match i.started_at_ms {
                Some(since) if running => format::uptime(since, now),
                _ => "0".into(),
            }
            .into(),
        ])
    });
    let table = Table::new(
        rows,
        [
            Constraint::Length(4),
            Constraint::Min(10),
            Constraint::Length(7),
            Constraint::Length(15),
            Constraint::Length(4),
            Constraint::Length(7),
            Constraint::Length(9),
            Constraint::Length(7),
            Constraint::Length(6),
        ],
    )
    .header(header)
    .block(
        Block::default()
            .borders(Borders::ALL)
            .title(" pm2ctl processes "),
    )
    .row_highlight_style(Style::default().add_modifier(Modifier::REVERSED));
    let mut state = TableState::default()
        .with_selected((!dashboard.snapshot.instances.is_empty()).then_some(dashboard.selected));
    frame.render_stateful_widget(table, area, &mut state);
}

fn draw_graphs(frame: &mut Frame, dashboard: &Dashboard, area: Rect) {
    let [cpu_area, memory_area] = Layout::default()
        .direction(Direction::Horizontal)
        .constraints([Constraint::Percentage(50), Constraint::Percentage(50)])
        .areas(area);
    let Some(selected) = dashboard.selected_instance() else {
        frame.render_widget(
            Paragraph::new("no process: `pm2ctl start` some")
                .block(Block::default().borders(Borders::ALL)),
            area,
        );
        return;
    };
    let empty = VecDeque::new();
    let tail = |history: &VecDeque<u64>, width: u16| -> Vec<u64> {
        let keep = width.saturating_sub(2) as usize;
        history
            .iter()
            .skip(history.len().saturating_sub(keep))
            .copied()
            .collect()
    };
    let cpu = dashboard.cpu_history.get(&selected.pm_id).unwrap_or(&empty);
    let memory = dashboard
        .memory_history
        .get(&selected.pm_id)
        .unwrap_or(&empty);
    let cpu_data = tail(cpu, cpu_area.width);
    let cpu_line = Sparkline::default()
        .block(Block::default().borders(Borders::ALL).title(format!(
            " {} #{} cpu {} ",
            selected.name,
            selected.index,
            format::cpu(selected.cpu.unwrap_or(0.0))
        )))
        .data(&cpu_data)
        // 100% of one CPU fills the box; more is clipped.
        .max(1000)
        .style(Style::default().fg(Color::Green));
    frame.render_widget(cpu_line, cpu_area);
    let memory_data = tail(memory, memory_area.width);
    let memory_line = Sparkline::default()
        .block(Block::default().borders(Borders::ALL).title(format!(
            " mem {} ",
            format::memory(selected.memory.unwrap_or(0))
        )))
        .data(&memory_data)
        .style(Style::default().fg(Color::Magenta));
    frame.render_widget(memory_line, memory_area);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inspect::jlist::tests::instance;
    use ratatui::backend::TestBackend;
    use ratatui::Terminal;

    fn dashboard() -> Dashboard {
        let mut d = Dashboard::default();
        let snapshot = Snapshot {
            instances: vec![
                instance(0, "web", 0),
                instance(1, "web", 1),
                instance(2, "worker", 0),
            ],
            taken_at_ms: 1_795_355_900_000,
        };
        d.update(snapshot.clone());
        d.update(snapshot);
        d.log_lines = vec!["2026-11-23T10:00:00+0000 host web[42]: listening on 3000".into()];
        d
    }

    fn screen(d: &Dashboard, width: u16, height: u16) -> String {
        let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
        terminal.draw(|f| draw(f, d)).unwrap();
        let buffer = terminal.backend().buffer();
        (0..height)
            .map(|y| {
                (0..width)
                    .map(|x| buffer[(x, y)].symbol().to_string())
                    .collect::<String>()
            })
            .collect::<Vec<_>>()
            .join("\n")
    }

    #[test]
    fn fits_80_by_24_with_every_part() {
        let text = screen(&dashboard(), 80, 24);
        for needle in [
            "web",
            "worker",
            "online",
            "52.4mb",
            "cpu",
            "mem",
            "logs",
            "listening",
            "quit",
        ] {
            assert!(text.contains(needle), "{needle} missing:\n{text}");
        }
    }

    #[test]
    fn selection_moves_and_stays_in_range() {
        let mut d = dashboard();
        d.select_previous();
        assert_eq!(d.selected, 0);
        d.select_next();
        d.select_next();
        d.select_next();
        assert_eq!(d.selected, 2);
        assert_eq!(
            d.selected_instance().map(|i| i.name.as_str()),
            Some("worker")
        );
        // A refresh keeps the selection on the same process.
        let snapshot = d.snapshot.clone();
        d.update(snapshot);
        assert_eq!(d.selected, 2);
        assert_eq!(d.cpu_history[&2].len(), 3);
    }

    #[test]
    fn an_empty_list_and_a_tiny_screen_do_not_panic() {
        let d = Dashboard::default();
        let text = screen(&d, 80, 24);
        assert!(text.contains("no process"), "{text}");
        screen(&dashboard(), 10, 3);
        screen(&dashboard(), 1, 1);
    }
}

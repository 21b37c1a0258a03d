//! Writes a validated ecosystem back as `ecosystem.toml` text (`pm2ctl import`).
//!
//! Only values that differ from the defaults are written, with canonical key names
//! and PM2's notations for sizes and durations, so the output reads like a file a
//! person wrote. Loading the output gives the same model (positions aside).

use super::model::*;
use super::units::{format_duration, format_size};
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;
use std::time::Duration;

/// The ecosystem as TOML. `origin` is named in the header comment.
pub fn to_toml(eco: &Ecosystem, origin: &Path) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Converted from {} by `pm2ctl import`.",
        comment_safe(&origin.display().to_string())
    );
    out.push_str(
        "# Relative paths are resolved against this file's directory (PM2 used the directory\n\
         # it was started from).\n",
    );
    out.push_str(&apps_toml(eco));
    out
}

/// The `[[apps]]` and `[deploy]` tables of `eco`, without a header (`pm2ctl save` writes
/// its own).
pub fn apps_toml(eco: &Ecosystem) -> String {
    let mut out = String::new();
    let defaults = App::with_defaults("", "");
    for app in &eco.apps {
        out.push('\n');
        write_app(&mut out, app, &defaults);
    }
    for (name, deploy) in &eco.deploy {
        out.push('\n');
        write_deploy(&mut out, name, deploy);
    }
    out
}

/// A TOML string literal (quoted and escaped by the toml crate itself).
fn string(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// A key, bare when TOML allows it, quoted otherwise. Always a one-line basic
/// string: the value formatter may pick a multi-line string, which a key cannot be.
fn key(k: &str) -> String {
    let bare = !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        return k.to_string();
    }
    let mut out = String::from("\"");
    for c in k.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn string_array<S: AsRef<str>>(items: &[S]) -> String {
    let parts: Vec<String> = items.iter().map(|s| string(s.as_ref())).collect();
    format!("[{}]", parts.join(", "))
}

fn duration(d: Duration) -> String {
    string(&format_duration(d))
}

fn path(p: &Path) -> String {
    string(&p.to_string_lossy())
}

/// Keeps a comment on one line whatever a file name holds.
fn comment_safe(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

fn log_target(t: &LogTarget) -> Option<String> {
    match t {
        LogTarget::Journal => None,
        LogTarget::Null => Some(string("/dev/null")),
        LogTarget::File(p) => Some(path(p)),
    }
}

/// Appends `key = value` lines to the output.
struct Lines<'a>(&'a mut String);

impl Lines<'_> {
    fn kv(&mut self, k: &str, v: impl std::fmt::Display) {
        let _ = writeln!(self.0, "{k} = {v}");
    }
    fn flag(&mut self, k: &str, value: bool, default: bool) {
        if value != default {
            self.kv(k, value);
        }
    }
    fn time(&mut self, k: &str, value: Duration, default: Duration) {
        if value != default {
            self.kv(k, duration(value));
        }
    }
}

fn write_app(out: &mut String, app: &App, d: &App) {
    out.push_str("[[apps]]\n");
    let mut w = Lines(out);
    w.kv("name", string(&app.name));
    if app.namespace != d.namespace {
        w.kv("namespace", string(&app.namespace));
    }
    w.kv("script", string(&app.script));
    if let Some(cwd) = &app.cwd {
        w.kv("cwd", path(cwd));
    }
    if !app.args.is_empty() {
        w.kv("args", string_array(&app.args));
    }
    match &app.interpreter {
        Interpreter::Auto => {}
        Interpreter::None => w.kv("interpreter", string("none")),
        Interpreter::Named(n) => w.kv("interpreter", string(n)),
    }
    if !app.node_args.is_empty() {
        w.kv("node_args", string_array(&app.node_args));
    }
    match app.exec_mode {
        None => {}
        Some(ExecMode::Fork) => w.kv("exec_mode", string("fork")),
        Some(ExecMode::Cluster) => w.kv("exec_mode", string("cluster")),
    }
    match app.instances {
        None => {}
        Some(Instances::Max) => w.kv("instances", string("max")),
        Some(Instances::Count(n)) => w.kv("instances", n),
        Some(Instances::MaxMinus(n)) => w.kv("instances", format!("-{n}")),
    }
    if app.instance_var != d.instance_var {
        w.kv("instance_var", string(&app.instance_var));
    }
    if let Some(v) = &app.increment_var {
        w.kv("increment_var", string(v));
    }
    if let Some(p) = app.port {
        w.kv("port", p);
    }
    if let Some(a) = &app.listen_address {
        w.kv("listen_address", string(a));
    }
    if let Some(u) = &app.user {
        w.kv("user", string(u));
    }
    if let Some(g) = &app.group {
        w.kv("group", string(g));
    }
    w.flag(
        "append_env_to_name",
        app.append_env_to_name,
        d.append_env_to_name,
    );
    w.flag("inherit_env", app.inherit_env, d.inherit_env);
    match &app.filter_env {
        FilterEnv::None => {}
        FilterEnv::All => w.kv("filter_env", true),
        FilterEnv::Prefixes(p) => w.kv("filter_env", string_array(p)),
    }
    w.flag(
        "source_map_support",
        app.source_map_support,
        d.source_map_support,
    );
    w.flag("force", app.force, d.force);
    // restart / lifecycle
    w.flag("autorestart", app.autorestart, d.autorestart);
    w.flag("autostart", app.autostart, d.autostart);
    if !app.stop_exit_codes.is_empty() {
        let codes: Vec<String> = app.stop_exit_codes.iter().map(i32::to_string).collect();
        w.kv("stop_exit_codes", format!("[{}]", codes.join(", ")));
    }
    w.time("restart_delay", app.restart_delay, d.restart_delay);
    if let Some(b) = app.exp_backoff_restart_delay {
        w.kv("exp_backoff_restart_delay", duration(b));
    }
    w.time("min_uptime", app.min_uptime, d.min_uptime);
    if app.max_restarts != d.max_restarts {
        w.kv("max_restarts", app.max_restarts);
    }
    w.time("kill_timeout", app.kill_timeout, d.kill_timeout);
    if app.kill_signal != d.kill_signal {
        w.kv("kill_signal", string(&app.kill_signal));
    }
    w.flag("treekill", app.treekill, d.treekill);
    w.flag(
        "shutdown_with_message",
        app.shutdown_with_message,
        d.shutdown_with_message,
    );
    w.flag("wait_ready", app.wait_ready, d.wait_ready);
    w.time("listen_timeout", app.listen_timeout, d.listen_timeout);
    if let Some(c) = &app.cron_restart {
        w.kv("cron_restart", string(c));
    }
    if let Some(m) = app.max_memory_restart {
        // A bare number is bytes, as in PM2; a unit only when it is exact.
        match format_size(m) {
            text if text.bytes().all(|b| b.is_ascii_digit()) => w.kv("max_memory_restart", m),
            text => w.kv("max_memory_restart", string(&text)),
        }
    }
    // watch
    match &app.watch {
        Watch::Off => {}
        Watch::Cwd => w.kv("watch", true),
        Watch::Paths(p) => w.kv("watch", string_array(p)),
    }
    if app.ignore_watch != d.ignore_watch {
        w.kv("ignore_watch", string_array(&app.ignore_watch));
    }
    w.time("watch_delay", app.watch_delay, d.watch_delay);
    if app.watch_options != d.watch_options {
        let o = &app.watch_options;
        let mut parts = Vec::new();
        if o.follow_symlinks {
            parts.push("followSymlinks = true".to_string());
        }
        if o.use_polling {
            parts.push("usePolling = true".to_string());
        }
        if let Some(every) = o.interval {
            parts.push(format!("interval = {}", duration(every)));
        }
        w.kv("watch_options", format!("{{ {} }}", parts.join(", ")));
    }
    // logs
    for (k, t) in [
        ("out_file", &app.out_file),
        ("error_file", &app.error_file),
        ("log_file", &app.log_file),
    ] {
        if let Some(v) = log_target(t) {
            w.kv(k, v);
        }
    }
    if let Some(m) = app.merge_logs {
        w.kv("merge_logs", m);
    }
    w.flag("disable_logs", app.disable_logs, d.disable_logs);
    if app.log_json {
        w.kv("log_type", string("json"));
    }
    if let Some(f) = &app.log_date_format {
        w.kv("log_date_format", string(f));
    }
    if app.log_rate_limit != d.log_rate_limit {
        if app.log_rate_limit == LogRateLimit::OFF {
            w.kv("log_rate_limit", false);
        } else {
            w.kv(
                "log_rate_limit",
                format!(
                    "{{ burst = {}, interval = {} }}",
                    app.log_rate_limit.burst,
                    duration(app.log_rate_limit.interval)
                ),
            );
        }
    }
    if let Some(p) = &app.pid_file {
        w.kv("pid_file", path(p));
    }
    if let Some(sandbox) = sandbox_value(&app.sandbox) {
        w.kv("sandbox", sandbox);
    }
    if !app.ignored_options.is_empty() {
        let _ = writeln!(
            out,
            "# PM2 options with no effect under systemd, left out: {}",
            comment_safe(&app.ignored_options.join(", "))
        );
    }
    write_env_table(out, "apps.env", &app.env, true);
    for (name, env) in &app.env_by_name {
        let header = format!("apps.{}", key(&format!("env_{name}")));
        write_env_table(out, &header, env, false);
    }
}

/// `[header]` and one line per variable. An empty `env` is left out; an empty
/// `env_<name>` is kept, since selecting it with `--env` must still work.
/// `sandbox` as an inline table, `false`, or nothing when it keeps every default.
fn sandbox_value(s: &Sandbox) -> Option<String> {
    if *s == Sandbox::default() {
        return None;
    }
    if s.off && s.capabilities.is_empty() {
        return Some("false".to_string());
    }
    let mut parts = Vec::new();
    if s.off {
        parts.push("defaults = false".to_string());
    }
    for (k, v) in &s.switches {
        parts.push(format!("{} = {v}", key(k)));
    }
    if let Some(v) = &s.protect_system {
        parts.push(format!("protect_system = {}", string(v)));
    }
    if let Some(v) = &s.protect_home {
        parts.push(format!("protect_home = {}", string(v)));
    }
    if !s.read_write_paths.is_empty() {
        let paths: Vec<String> = s
            .read_write_paths
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        parts.push(format!("read_write_paths = {}", string_array(&paths)));
    }
    if !s.capabilities.is_empty() {
        parts.push(format!("capabilities = {}", string_array(&s.capabilities)));
    }
    Some(format!("{{ {} }}", parts.join(", ")))
}

fn write_env_table(
    out: &mut String,
    header: &str,
    env: &BTreeMap<String, String>,
    skip_empty: bool,
) {
    if env.is_empty() && skip_empty {
        return;
    }
    let _ = writeln!(out, "[{header}]");
    for (k, v) in env {
        let _ = writeln!(out, "{} = {}", key(k), string(v));
    }
}

fn write_deploy(out: &mut String, name: &str, d: &Deploy) {
    let table = format!("deploy.{}", key(name));
    let _ = writeln!(out, "[{table}]");
    let mut w = Lines(out);
    if let Some(u) = &d.user {
        w.kv("user", string(u));
    }
    w.kv("host", string_array(&d.hosts));
    w.kv("ref", string(&d.git_ref));
    w.kv("repo", string(&d.repo));
    w.kv("path", string(&d.path));
    if !d.ssh_options.is_empty() {
        w.kv("ssh_options", string_array(&d.ssh_options));
    }
    if let Some(k) = &d.key {
        w.kv("key", string(k));
    }
    for (k, v) in [
        ("pre_setup", &d.pre_setup),
        ("post_setup", &d.post_setup),
        ("pre_deploy_local", &d.pre_deploy_local),
        ("pre_deploy", &d.pre_deploy),
        ("post_deploy", &d.post_deploy),
        ("test", &d.test),
    ] {
        if let Some(v) = v {
            w.kv(k, string(v));
        }
    }
    write_env_table(out, &format!("{table}.env"), &d.env, true);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_keys_and_values_read_back_as_written() {
        let odd = [
            "\"'",
            "'",
            "\"",
            "a\\b",
            "line\nbreak",
            "tab\there",
            "nul\u{0}",
            "del\u{7f}",
            "ü é",
            "",
            "a.b",
            "[x]",
            "\"\"\"",
            "'''",
        ];
        for text in odd {
            let doc = format!("{} = {}\n", key(text), string(text));
            let table: toml::Table = doc
                .parse()
                .unwrap_or_else(|e| panic!("{doc:?} does not parse: {e}"));
            assert_eq!(
                table.get(text).and_then(|v| v.as_str()),
                Some(text),
                "{doc:?}"
            );
        }
    }
}

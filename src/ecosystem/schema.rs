//! The table of every option pm2ctl accepts: canonical key, PM2's aliases, and how
//! its value is checked and stored. The validator walks files against these tables,
//! so TOML, JSON and JavaScript files share every check.

use super::convert::{self, expected, Conv, Problem};
use super::model::*;
use super::tree::{Node, Value};
use super::units;
use std::path::PathBuf;

/// One accepted key. `apply` is `None` for PM2 options that have no effect here:
/// they are accepted (so PM2 files load) and listed in `App::ignored_options`.
pub struct OptionSpec<D: 'static> {
    pub key: &'static str,
    pub aliases: &'static [&'static str],
    pub apply: Option<fn(&mut D, &Node) -> Conv<()>>,
}

impl<D> OptionSpec<D> {
    /// Whether `written` names this option: the key, an alias, or the camelCase form
    /// of either (PM2 gives every key a camelCase alias, e.g. `maxMemoryRestart`).
    pub fn matches(&self, written: &str) -> bool {
        std::iter::once(self.key)
            .chain(self.aliases.iter().copied())
            .any(|k| k == written || camel_case(k) == written)
    }

    pub fn spellings(&self) -> impl Iterator<Item = &'static str> + '_ {
        std::iter::once(self.key).chain(self.aliases.iter().copied())
    }
}

pub fn find<'a, D>(options: &'a [OptionSpec<D>], written: &str) -> Option<&'a OptionSpec<D>> {
    options.iter().find(|o| o.matches(written))
}

pub fn camel_case(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for c in key.chars() {
        if c == '_' || c == '-' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// An app being built from its table; the extra fields are options that only make
/// sense once the whole table has been read.
pub struct AppDraft {
    pub app: App,
    pub name_given: bool,
    pub script_given: bool,
    pub name_prefix: Option<String>,
    pub time: bool,
    pub execute_command: bool,
    pub disable_source_map_support: bool,
    /// `watch_options` keys accepted with no effect, for `App::ignored_options`.
    pub ignored_watch_options: Vec<String>,
}

impl AppDraft {
    pub fn new() -> AppDraft {
        AppDraft {
            app: App::with_defaults("", ""),
            name_given: false,
            script_given: false,
            name_prefix: None,
            time: false,
            execute_command: false,
            disable_source_map_support: false,
            ignored_watch_options: Vec::new(),
        }
    }
}

macro_rules! opt {
    ($key:literal, [$($alias:literal),*], |$d:ident, $v:ident| $body:expr) => {
        OptionSpec {
            key: $key,
            aliases: &[$($alias),*],
            apply: Some(|$d: &mut AppDraft, $v: &Node| -> Conv<()> {
                $body;
                Ok(())
            }),
        }
    };
}

macro_rules! ignored {
    ($key:literal, [$($alias:literal),*]) => {
        OptionSpec { key: $key, aliases: &[$($alias),*], apply: None }
    };
}

/// Every app option of pm2-reference §1.2 plus pm2ctl's extensions. `env_<name>`
/// tables are matched separately by the validator.
pub static APP_OPTIONS: &[OptionSpec<AppDraft>] = &[
    // --- process definition ---
    opt!("name", [], |d, v| {
        d.app.name = convert::string(v)?;
        d.name_given = true
    }),
    opt!("name_prefix", [], |d, v| d.name_prefix =
        Some(convert::name(v)?)),
    opt!("namespace", [], |d, v| d.app.namespace = convert::name(v)?),
    opt!("script", ["exec", "cmd", "command"], |d, v| {
        d.app.script = convert::non_empty_string(v)?;
        d.script_given = true
    }),
    opt!("cwd", [], |d, v| d.app.cwd =
        Some(PathBuf::from(convert::non_empty_string(v)?))),
    opt!("args", [], |d, v| d.app.args = convert::string_or_list(v)?),
    opt!("interpreter", ["exec_interpreter"], |d, v| d
        .app
        .interpreter =
        interpreter(v)?),
    opt!("node_args", ["interpreter_args"], |d, v| d.app.node_args =
        convert::string_or_list(v)?),
    opt!("execute_command", [], |d, v| d.execute_command =
        convert::boolean(v)?),
    opt!("exec_mode", [], |d, v| d.app.exec_mode =
        Some(exec_mode(v)?)),
    opt!("instances", [], |d, v| d.app.instances =
        Some(instances(v)?)),
    opt!("instance_var", [], |d, v| d.app.instance_var =
        convert::env_var_name(v)?),
    opt!("increment_var", [], |d, v| d.app.increment_var =
        Some(convert::env_var_name(v)?)),
    opt!("port", [], |d, v| d.app.port = Some(port(v)?)),
    opt!("listen_address", [], |d, v| d.app.listen_address =
        Some(listen_address(v)?)),
    opt!("user", ["uid"], |d, v| d.app.user = Some(account(v)?)),
    opt!("group", ["gid"], |d, v| d.app.group = Some(account(v)?)),
    opt!("append_env_to_name", [], |d, v| d.app.append_env_to_name =
        convert::boolean(v)?),
    opt!("inherit_env", [], |d, v| d.app.inherit_env =
        convert::boolean(v)?),
    opt!("filter_env", [], |d, v| d.app.filter_env = filter_env(v)?),
    // `env` is read by the validator itself, which reports each bad variable.
    OptionSpec {
        key: "env",
        aliases: &[],
        apply: Some(|_, _| Ok(())),
    },
    opt!("source_map_support", [], |d, v| d.app.source_map_support =
        convert::boolean(v)?),
    opt!("disable_source_map_support", [], |d, v| d
        .disable_source_map_support =
        convert::boolean(v)?),
    opt!("force", [], |d, v| d.app.force = convert::boolean(v)?),
    // --- restart / lifecycle ---
    opt!("autorestart", [], |d, v| d.app.autorestart =
        convert::boolean(v)?),
    opt!("autostart", [], |d, v| d.app.autostart =
        convert::boolean(v)?),
    opt!("stop_exit_codes", [], |d, v| d.app.stop_exit_codes =
        exit_codes(v)?),
    opt!("restart_delay", [], |d, v| d.app.restart_delay =
        convert::duration(v, true)?),
    opt!("exp_backoff_restart_delay", [], |d, v| {
        d.app.exp_backoff_restart_delay = Some(convert::duration(v, false)?)
    }),
    opt!("min_uptime", [], |d, v| d.app.min_uptime =
        convert::duration(v, false)?),
    opt!("max_restarts", [], |d, v| d.app.max_restarts =
        max_restarts(v)?),
    opt!("kill_timeout", [], |d, v| d.app.kill_timeout =
        convert::duration(v, false)?),
    opt!("kill_signal", [], |d, v| d.app.kill_signal = signal(v)?),
    opt!("treekill", [], |d, v| d.app.treekill = convert::boolean(v)?),
    opt!("shutdown_with_message", [], |d, v| d
        .app
        .shutdown_with_message =
        convert::boolean(v)?),
    opt!("wait_ready", [], |d, v| d.app.wait_ready =
        convert::boolean(v)?),
    opt!("listen_timeout", [], |d, v| d.app.listen_timeout =
        convert::duration(v, false)?),
    opt!("cron_restart", ["cron"], |d, v| d.app.cron_restart =
        cron(v)?),
    opt!("max_memory_restart", [], |d, v| d.app.max_memory_restart =
        Some(convert::size(v)?)),
    // --- watch ---
    opt!("watch", [], |d, v| d.app.watch = watch(v)?),
    opt!("ignore_watch", [], |d, v| d.app.ignore_watch =
        ignore_patterns(v)?),
    opt!("watch_delay", [], |d, v| d.app.watch_delay =
        convert::duration(v, true)?),
    opt!("watch_options", [], |d, v| {
        let (options, ignored) = watch_options(v)?;
        d.app.watch_options = options;
        d.ignored_watch_options = ignored
    }),
    // --- logs ---
    opt!("out_file", ["out", "output", "out_log"], |d, v| d
        .app
        .out_file =
        log_target(v)?),
    opt!(
        "error_file",
        ["error", "err", "err_file", "err_log"],
        |d, v| { d.app.error_file = log_target(v)? }
    ),
    opt!("log_file", ["log"], |d, v| d.app.log_file = log_file(v)?),
    opt!("merge_logs", ["combine_logs"], |d, v| d.app.merge_logs =
        Some(convert::boolean(v)?)),
    opt!("disable_logs", [], |d, v| d.app.disable_logs =
        convert::boolean(v)?),
    opt!("log_type", [], |d, v| d.app.log_json = log_type(v)?),
    opt!("log_date_format", [], |d, v| {
        d.app.log_date_format = Some(convert::non_empty_string(v)?)
    }),
    opt!("time", [], |d, v| d.time = convert::boolean(v)?),
    opt!("log_rate_limit", [], |d, v| d.app.log_rate_limit =
        log_rate_limit(v)?),
    opt!("pid_file", ["pid"], |d, v| d.app.pid_file =
        Some(PathBuf::from(convert::non_empty_string(v)?))),
    // --- least privilege ---
    opt!("sandbox", [], |d, v| d.app.sandbox = sandbox(v)?),
    // --- accepted for PM2 compatibility, no effect under systemd ---
    ignored!("username", []),
    ignored!("windowsHide", ["windows_hide"]),
    ignored!("install_url", []),
    ignored!("post_update", []),
    ignored!("write", []),
    ignored!("vizion", []),
    ignored!("kill_retry_time", []),
    ignored!("pmx", []),
    ignored!("automation", []),
    ignored!("trace", []),
    ignored!("disable_trace", []),
    ignored!("v8", []),
    ignored!("event_loop_inspector", []),
    ignored!("deep_monitoring", []),
    ignored!("io", []),
];

fn interpreter(v: &Node) -> Conv<Interpreter> {
    let s = convert::non_empty_string(v)?;
    Ok(if s == "none" {
        Interpreter::None
    } else {
        Interpreter::Named(s)
    })
}

fn exec_mode(v: &Node) -> Conv<ExecMode> {
    match convert::string(v)
        .map_err(|_| expected("\"fork\" or \"cluster\"", v))?
        .as_str()
    {
        "fork" | "fork_mode" => Ok(ExecMode::Fork),
        "cluster" | "cluster_mode" => Ok(ExecMode::Cluster),
        _ => Err(expected("\"fork\" or \"cluster\"", v)),
    }
}

/// Upper bound on instances: far above any CPU count, low enough to catch typos.
pub const MAX_INSTANCES: i64 = 1024;

fn instances(v: &Node) -> Conv<Instances> {
    const EXPECTED: &str =
        "a number of instances, 0 or \"max\" (one per CPU), or -N (CPUs minus N)";
    let n = match &v.value {
        Value::String(s) if s.trim().eq_ignore_ascii_case("max") => return Ok(Instances::Max),
        Value::String(s) => s.trim().parse::<i64>().map_err(|_| expected(EXPECTED, v))?,
        _ => convert::integer(v).map_err(|_| expected(EXPECTED, v))?,
    };
    if n.unsigned_abs() > MAX_INSTANCES.unsigned_abs() {
        return Err(Problem::new(format!(
            "{n} instances is out of range (at most {MAX_INSTANCES}, or -{MAX_INSTANCES})"
        )));
    }
    Ok(match n {
        0 => Instances::Max,
        n if n > 0 => Instances::Count(n as u32),
        n => Instances::MaxMinus(n.unsigned_abs() as u32),
    })
}

fn port(v: &Node) -> Conv<u16> {
    let n = convert::integer(v).map_err(|_| expected("a port number (1-65535)", v))?;
    u16::try_from(n)
        .ok()
        .filter(|p| *p != 0)
        .ok_or_else(|| Problem::new(format!("port {n} is out of range (1-65535)")))
}

fn listen_address(v: &Node) -> Conv<String> {
    let s = convert::non_empty_string(v)?;
    let bare = s
        .strip_prefix('[')
        .and_then(|r| r.strip_suffix(']'))
        .unwrap_or(&s);
    bare.parse::<std::net::IpAddr>().map_err(|_| {
        Problem::new(format!(
            "{} is not an IP address (e.g. \"0.0.0.0\", \"127.0.0.1\", \"[::]\")",
            super::tree::quote_short(&s)
        ))
    })?;
    Ok(s)
}

/// A user or group: a name or a numeric id.
fn account(v: &Node) -> Conv<String> {
    match &v.value {
        Value::Integer(i) if *i >= 0 && *i <= u32::MAX as i64 => Ok(i.to_string()),
        Value::Integer(i) => Err(Problem::new(format!("{i} is not a valid user or group id"))),
        Value::String(_) => {
            let s = convert::non_empty_string(v)?;
            if s.chars()
                .any(|c| c.is_whitespace() || c.is_control() || c == ':')
            {
                return Err(Problem::new(format!(
                    "{} is not a valid user or group name",
                    super::tree::quote_short(&s)
                )));
            }
            Ok(s)
        }
        _ => Err(expected("a user/group name or a numeric id", v)),
    }
}

fn filter_env(v: &Node) -> Conv<FilterEnv> {
    match &v.value {
        Value::Bool(true) => Ok(FilterEnv::All),
        Value::Bool(false) => Ok(FilterEnv::None),
        Value::String(_) | Value::Array(_) => {
            let list = convert::string_list(v)?;
            Ok(if list.is_empty() {
                FilterEnv::None
            } else {
                FilterEnv::Prefixes(list)
            })
        }
        _ => Err(expected("true, a string or an array of strings", v)),
    }
}

fn exit_codes(v: &Node) -> Conv<Vec<i32>> {
    let one = |n: &Node| -> Conv<i32> {
        let code = convert::integer(n).map_err(|_| expected("an exit code (0-255)", n))?;
        if (0..=255).contains(&code) {
            Ok(code as i32)
        } else {
            Err(Problem::new(format!(
                "exit code {code} is out of range (0-255)"
            )))
        }
    };
    match &v.value {
        Value::Array(items) => items.iter().map(one).collect(),
        _ => Ok(vec![one(v)?]),
    }
}

fn max_restarts(v: &Node) -> Conv<u32> {
    let n = convert::integer(v)?;
    u32::try_from(n).map_err(|_| Problem::new(format!("{n} is out of range (0 or more)")))
}

fn signal(v: &Node) -> Conv<String> {
    match &v.value {
        Value::String(s) => units::canonical_signal(s).map_err(Problem::new),
        Value::Integer(i) => i32::try_from(*i)
            .map_err(|_| Problem::new(format!("{i} is not a signal number")))
            .and_then(|n| units::signal_by_number(n).map_err(Problem::new)),
        _ => Err(expected("a signal name like \"SIGINT\" or a number", v)),
    }
}

/// A cron pattern (5 or 6 fields, or an `@` shorthand); `0`/`"0"` means none, as in PM2.
/// Checked here by translating it, so a pattern `OnCalendar` cannot express fails at load.
fn cron(v: &Node) -> Conv<Option<String>> {
    match &v.value {
        Value::Integer(0) => Ok(None),
        Value::String(s) if s.trim() == "0" => Ok(None),
        Value::String(_) => {
            let s = convert::non_empty_string(v)?;
            super::cron::parse(&s).map_err(|e| {
                let problem = Problem::new(e.message);
                match e.help {
                    Some(help) => problem.with_help(help),
                    None => problem,
                }
            })?;
            Ok(Some(s))
        }
        _ => Err(expected("a cron pattern string", v)),
    }
}

/// `ignore_watch`: checked as globs now, so a bad one fails at load rather than in the
/// watch agent.
fn ignore_patterns(v: &Node) -> Conv<Vec<String>> {
    let patterns = convert::string_or_list(v)?;
    if let Some(bad) = patterns
        .iter()
        .find(|p| globset::Glob::new(p.trim_end_matches('/')).is_err())
    {
        return Err(Problem::new(format!(
            "{} is not a valid pattern",
            super::tree::quote_short(bad)
        ))
        .with_help("a name (`node_modules`), a glob (`*.log`, `data/**/*.json`) or a path"));
    }
    Ok(patterns)
}

fn watch(v: &Node) -> Conv<Watch> {
    match &v.value {
        Value::Bool(true) => Ok(Watch::Cwd),
        Value::Bool(false) => Ok(Watch::Off),
        Value::String(_) | Value::Array(_) => {
            let paths = convert::string_list(v)?;
            Ok(if paths.is_empty() {
                Watch::Off
            } else {
                Watch::Paths(paths)
            })
        }
        _ => Err(expected("true, false, a path or an array of paths", v)),
    }
}

/// chokidar options that pm2ctl's watch agent already behaves as (or that only matter on
/// other systems): accepted whatever their value, and noted as having no effect.
const WATCH_OPTIONS_NO_EFFECT: &[(&str, &str)] = &[
    (
        "persistent",
        "the watch agent always runs while the app is applied",
    ),
    (
        "ignoreInitial",
        "files present at start never restart the app",
    ),
    (
        "ignorePermissionErrors",
        "unreadable directories are skipped",
    ),
    ("alwaysStat", "the agent reads what it needs"),
    (
        "atomic",
        "the quiet period (watch_delay) covers editors' atomic writes",
    ),
    ("useFsEvents", "macOS only"),
    ("disableGlobbing", "watched paths are never globs"),
    ("binaryInterval", "every file is polled at `interval`"),
];

/// chokidar options the agent cannot honour: refused, with what to write instead.
const WATCH_OPTIONS_REFUSED: &[(&str, &str)] = &[
    ("ignored", "list the paths not to watch in `ignore_watch`"),
    ("cwd", "relative `watch` paths start at the app's `cwd`"),
    (
        "depth",
        "list the directories to watch in `watch` and skip the others with `ignore_watch`",
    ),
    (
        "awaitWriteFinish",
        "`watch_delay = MS` waits until changes settle (at least 200 ms) before restarting",
    ),
];

/// `watch_options` (PM2 hands it to chokidar): `followSymlinks`, `usePolling` and
/// `interval` map onto the watch agent; the options in `WATCH_OPTIONS_NO_EFFECT` are
/// accepted and noted; those in `WATCH_OPTIONS_REFUSED` and unknown keys are errors. Keys may
/// be written as chokidar spells them or in snake_case (`follow_symlinks`).
fn watch_options(v: &Node) -> Conv<(WatchOptions, Vec<String>)> {
    let Value::Table(entries) = &v.value else {
        return Err(expected(
            "a table of chokidar options (`{ usePolling = true, interval = 500 }`)",
            v,
        ));
    };
    let mut options = WatchOptions::default();
    let mut ignored = Vec::new();
    for entry in entries {
        let key = camel_case(&entry.key);
        let in_key = |p: Problem| Problem {
            message: format!("watch_options.{}: {}", entry.key.escape_debug(), p.message),
            help: p.help,
        };
        let value = &entry.value;
        match key.as_str() {
            "followSymlinks" => {
                options.follow_symlinks = convert::boolean(value).map_err(in_key)?
            }
            "usePolling" => options.use_polling = convert::boolean(value).map_err(in_key)?,
            "interval" => {
                let every = convert::duration(value, false).map_err(in_key)?;
                if every < std::time::Duration::from_millis(10) {
                    return Err(in_key(Problem::new(
                        "polling more often than every 10 ms would keep a CPU busy",
                    )));
                }
                options.interval = Some(every);
            }
            _ => {
                if let Some((name, why)) = WATCH_OPTIONS_REFUSED.iter().find(|(k, _)| *k == key) {
                    return Err(Problem::new(format!(
                        "watch_options.{name}: not supported by pm2ctl's watch agent"
                    ))
                    .with_help(*why));
                }
                match WATCH_OPTIONS_NO_EFFECT.iter().find(|(k, _)| *k == key) {
                    Some((name, why)) => ignored.push(format!("watch_options.{name} ({why})")),
                    None => {
                        let known = ["followSymlinks", "usePolling", "interval"]
                            .into_iter()
                            .chain(WATCH_OPTIONS_NO_EFFECT.iter().map(|(k, _)| *k))
                            .chain(WATCH_OPTIONS_REFUSED.iter().map(|(k, _)| *k));
                        let problem = Problem::new(format!(
                            "watch_options: unknown key {}",
                            super::tree::quote_short(&entry.key)
                        ));
                        return Err(match suggest(&entry.key, known) {
                            Some(k) => problem.with_help(format!("did you mean `{k}`?")),
                            None => problem.with_help(
                                "pm2ctl reads followSymlinks, usePolling and interval; \
                                 `man pm2ctl-ecosystem` lists the others",
                            ),
                        });
                    }
                }
            }
        }
    }
    if options.interval.is_some() && !options.use_polling {
        ignored.push("watch_options.interval (only used with usePolling = true)".to_string());
    }
    Ok((options, ignored))
}

fn log_target(v: &Node) -> Conv<LogTarget> {
    let s = convert::non_empty_string(v).map_err(|p| {
        if matches!(v.value, Value::String(_)) {
            p
        } else {
            expected("a file path", v)
        }
    })?;
    Ok(if s == "/dev/null" || s == "NULL" {
        LogTarget::Null
    } else {
        LogTarget::File(PathBuf::from(s))
    })
}

/// `log_file`: a path, or a boolean. `true` asks PM2 for a combined log; the journal
/// already holds stdout and stderr combined, so both booleans mean the journal.
fn log_file(v: &Node) -> Conv<LogTarget> {
    match v.value {
        Value::Bool(_) => Ok(LogTarget::Journal),
        _ => log_target(v),
    }
}

/// `log_rate_limit = { burst = 100000, interval = "30s" }` (either key may be left out and
/// keeps its default), `false` for no limit, `true` for the default.
fn log_rate_limit(v: &Node) -> Conv<LogRateLimit> {
    const EXPECTED: &str = "a table { burst = LINES, interval = DURATION }, or a boolean";
    let entries = match &v.value {
        Value::Bool(true) => return Ok(LogRateLimit::DEFAULT),
        Value::Bool(false) => return Ok(LogRateLimit::OFF),
        Value::Table(entries) => entries,
        _ => return Err(expected(EXPECTED, v)),
    };
    let mut limit = LogRateLimit::DEFAULT;
    for entry in entries {
        let in_key = |p: Problem| Problem {
            message: format!("log_rate_limit.{}: {}", entry.key, p.message),
            help: p.help,
        };
        match entry.key.as_str() {
            "burst" => {
                let n = convert::integer(&entry.value).map_err(in_key)?;
                limit.burst = u32::try_from(n)
                    .ok()
                    .filter(|n| (1..=LogRateLimit::MAX_BURST).contains(n))
                    .ok_or_else(|| {
                        in_key(
                            Problem::new(format!(
                                "must be between 1 and {} lines",
                                LogRateLimit::MAX_BURST
                            ))
                            .with_help("`log_rate_limit = false` lifts the limit"),
                        )
                    })?;
            }
            "interval" => {
                limit.interval = convert::duration(&entry.value, false).map_err(in_key)?;
            }
            other => {
                return Err(
                    Problem::new(format!("log_rate_limit: unknown key `{other}`")).with_help(
                        "log_rate_limit takes `burst` (lines) and `interval` (a duration)",
                    ),
                )
            }
        }
    }
    Ok(limit)
}

/// `sandbox = false` (none of the defaults), `true` (the defaults), or a table that changes
/// some: `{ private_tmp = false, protect_system = "full", read_write_paths = [...],
/// capabilities = ["CAP_NET_BIND_SERVICE"] }`; `defaults = false` in the table starts from
/// none of them (to grant capabilities without any sandboxing).
fn sandbox(v: &Node) -> Conv<Sandbox> {
    use crate::unit::sandbox::{PROTECT_HOME, PROTECT_SYSTEM, SWITCHES};
    const EXPECTED: &str = "true, false, or a table of sandboxing options";
    let entries = match &v.value {
        Value::Bool(on) => {
            return Ok(Sandbox {
                off: !on,
                ..Sandbox::default()
            })
        }
        Value::Table(entries) => entries,
        _ => return Err(expected(EXPECTED, v)),
    };
    let mut sandbox = Sandbox::default();
    for entry in entries {
        let key = entry.key.as_str();
        let in_key = |p: Problem| Problem {
            message: format!("sandbox.{}: {}", entry.key.escape_debug(), p.message),
            help: p.help,
        };
        let value = &entry.value;
        match key {
            "defaults" => sandbox.off = !convert::boolean(value).map_err(in_key)?,
            "protect_system" => {
                sandbox.protect_system = Some(one_of(value, PROTECT_SYSTEM).map_err(in_key)?)
            }
            "protect_home" => {
                sandbox.protect_home = Some(one_of(value, PROTECT_HOME).map_err(in_key)?)
            }
            "read_write_paths" => {
                let paths = convert::string_list(value).map_err(in_key)?;
                for p in &paths {
                    sandbox_path(p).map_err(in_key)?;
                }
                sandbox.read_write_paths = paths.into_iter().map(PathBuf::from).collect();
            }
            "capabilities" => {
                let names = convert::string_list(value).map_err(in_key)?;
                sandbox.capabilities = names
                    .iter()
                    .map(|n| capability(n).map_err(in_key))
                    .collect::<Conv<_>>()?;
                sandbox.capabilities.sort();
                sandbox.capabilities.dedup();
            }
            _ => match SWITCHES.iter().find(|s| s.key == key) {
                Some(s) => {
                    let on = convert::boolean(value).map_err(in_key)?;
                    sandbox.switches.insert(s.key.to_string(), on);
                }
                None => {
                    let known = SWITCHES.iter().map(|s| s.key).chain([
                        "defaults",
                        "protect_system",
                        "protect_home",
                        "read_write_paths",
                        "capabilities",
                    ]);
                    let mut problem = Problem::new(format!(
                        "sandbox: unknown key {}",
                        super::tree::quote_short(key)
                    ));
                    problem = match suggest(key, known) {
                        Some(k) => problem.with_help(format!("did you mean `{k}`?")),
                        None => {
                            problem.with_help("`man pm2ctl-ecosystem` lists the keys (sandbox)")
                        }
                    };
                    return Err(problem);
                }
            },
        }
    }
    Ok(sandbox)
}

/// One of systemd's values for a choice; a boolean is read as `"true"`/`"false"`.
fn one_of(v: &Node, values: &[&str]) -> Conv<String> {
    let text = match &v.value {
        Value::Bool(b) => b.to_string(),
        Value::String(s) => s.clone(),
        _ => return Err(expected(&format!("one of {}", values.join(", ")), v)),
    };
    let text = match text.as_str() {
        "yes" => "true".to_string(),
        "no" => "false".to_string(),
        _ => text,
    };
    if values.contains(&text.as_str()) {
        Ok(text)
    } else {
        Err(Problem::new(format!(
            "{} is not one of {}",
            super::tree::quote_short(&text),
            values.join(", ")
        )))
    }
}

/// A path systemd can take in `ReadWritePaths=`: no control characters, and no leading `-`
/// or `+` (systemd would read them as flags).
fn sandbox_path(p: &str) -> Conv<()> {
    if p.is_empty() || p.chars().any(char::is_control) || p.starts_with(['-', '+']) {
        return Err(Problem::new(format!(
            "{} is not a usable path",
            super::tree::quote_short(p)
        )));
    }
    Ok(())
}

/// `net_bind_service`, `CAP_NET_BIND_SERVICE` → `CAP_NET_BIND_SERVICE`.
fn capability(name: &str) -> Conv<String> {
    let canonical = caps::to_canonical(name.trim());
    canonical
        .parse::<caps::Capability>()
        .map(|c| c.to_string())
        .map_err(|_| {
            Problem::new(format!(
                "{} is not a capability",
                super::tree::quote_short(name)
            ))
            .with_help("e.g. \"CAP_NET_BIND_SERVICE\" (capabilities(7) lists them)")
        })
}

fn log_type(v: &Node) -> Conv<bool> {
    match convert::string(v)
        .map_err(|_| expected("\"json\" or \"raw\"", v))?
        .as_str()
    {
        "json" => Ok(true),
        "raw" => Ok(false),
        _ => Err(expected("\"json\" or \"raw\"", v)),
    }
}

/// A `[deploy.<env>]` table being built.
pub struct DeployDraft {
    pub deploy: Deploy,
}

macro_rules! dopt {
    ($key:literal, [$($alias:literal),*], |$d:ident, $v:ident| $body:expr) => {
        OptionSpec {
            key: $key,
            aliases: &[$($alias),*],
            apply: Some(|$d: &mut DeployDraft, $v: &Node| -> Conv<()> {
                $body;
                Ok(())
            }),
        }
    };
}

/// Keys of a deploy target (PM2's `deploy.<env>`); the hyphenated names are PM2's,
/// the underscored ones are accepted too since they read better in TOML.
pub static DEPLOY_OPTIONS: &[OptionSpec<DeployDraft>] = &[
    dopt!("user", [], |d, v| d.deploy.user = Some(account(v)?)),
    dopt!("host", [], |d, v| d.deploy.hosts = hosts(v)?),
    dopt!("ref", [], |d, v| d.deploy.git_ref =
        convert::non_empty_string(v)?),
    dopt!("repo", [], |d, v| d.deploy.repo =
        convert::non_empty_string(v)?),
    dopt!("path", [], |d, v| d.deploy.path =
        convert::non_empty_string(v)?),
    dopt!("ssh_options", [], |d, v| d.deploy.ssh_options =
        convert::string_list(v)?),
    dopt!("key", [], |d, v| d.deploy.key =
        Some(convert::non_empty_string(v)?)),
    dopt!("pre-setup", ["pre_setup"], |d, v| d.deploy.pre_setup =
        Some(convert::string(v)?)),
    dopt!("post-setup", ["post_setup"], |d, v| d.deploy.post_setup =
        Some(convert::string(v)?)),
    dopt!("pre-deploy-local", ["pre_deploy_local"], |d, v| {
        d.deploy.pre_deploy_local = Some(convert::string(v)?)
    }),
    dopt!("pre-deploy", ["pre_deploy"], |d, v| d.deploy.pre_deploy =
        Some(convert::string(v)?)),
    dopt!("post-deploy", ["post_deploy"], |d, v| d
        .deploy
        .post_deploy =
        Some(convert::string(v)?)),
    dopt!("test", [], |d, v| d.deploy.test = Some(convert::string(v)?)),
    // Read by the validator, like an app's `env`.
    OptionSpec {
        key: "env",
        aliases: &[],
        apply: Some(|_, _| Ok(())),
    },
];

/// Keys a deploy target must have.
pub const DEPLOY_REQUIRED: &[&str] = &["host", "ref", "repo", "path"];

fn hosts(v: &Node) -> Conv<Vec<String>> {
    let hosts = convert::string_list(v)?;
    if hosts.is_empty() {
        return Err(Problem::new("at least one host is required"));
    }
    for h in &hosts {
        if h.trim().is_empty() || h.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(Problem::new(format!(
                "{} is not a host name",
                super::tree::quote_short(h)
            )));
        }
    }
    Ok(hosts)
}

/// The best "did you mean" for a misspelt key among `candidates`, if one is close.
pub fn suggest<'a>(written: &str, candidates: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let norm = |s: &str| s.to_ascii_lowercase().replace(['_', '-'], "");
    let w = norm(written);
    candidates
        .map(|c| (c, strsim::normalized_damerau_levenshtein(&w, &norm(c))))
        .filter(|(_, score)| *score >= 0.7)
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(c, _)| c)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn camel_case_aliases_match() {
        assert_eq!(camel_case("max_memory_restart"), "maxMemoryRestart");
        assert_eq!(camel_case("pre-deploy-local"), "preDeployLocal");
        let o = find(APP_OPTIONS, "maxMemoryRestart").map(|o| o.key);
        assert_eq!(o, Some("max_memory_restart"));
        assert_eq!(
            find(APP_OPTIONS, "interpreterArgs").map(|o| o.key),
            Some("node_args")
        );
        assert_eq!(find(APP_OPTIONS, "cmd").map(|o| o.key), Some("script"));
        assert!(find(APP_OPTIONS, "scirpt").is_none());
    }

    #[test]
    fn suggestions_find_close_keys_only() {
        let keys = || APP_OPTIONS.iter().flat_map(|o| o.spellings());
        assert_eq!(
            suggest("max_memory_restrat", keys()),
            Some("max_memory_restart")
        );
        assert_eq!(suggest("instnaces", keys()), Some("instances"));
        assert_eq!(suggest("scirpt", keys()), Some("script"));
        assert_eq!(suggest("AutoRestart", keys()), Some("autorestart"));
        assert_eq!(suggest("completely_unrelated", keys()), None);
    }

    #[test]
    fn every_spelling_names_one_option() {
        // A spelling (key, alias, or the camelCase of either) must never select two options.
        let mut owner = std::collections::HashMap::new();
        for table in [
            APP_OPTIONS
                .iter()
                .map(|o| (o.key, o.spellings().collect::<Vec<_>>()))
                .collect::<Vec<_>>(),
            DEPLOY_OPTIONS
                .iter()
                .map(|o| (o.key, o.spellings().collect()))
                .collect(),
        ] {
            owner.clear();
            for (key, spellings) in table {
                for s in spellings {
                    for form in [s.to_string(), camel_case(s)] {
                        let first = owner.insert(form.clone(), key);
                        assert!(
                            first.is_none_or(|k| k == key),
                            "{form} means both {key} and {first:?}"
                        );
                    }
                }
            }
        }
    }
}

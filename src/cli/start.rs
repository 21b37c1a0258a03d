//! `pm2ctl start`: PM2's `start`, for an ecosystem file, a script, or apps already known
//! (see `lifecycle::start`), and the `startOr…` verbs (see `lifecycle::start_or`). Here:
//! PM2's start flags, and the app `start SCRIPT [flags] -- args` describes.

use super::{ManagerArgs, UsageError};
use crate::ecosystem::units::{parse_duration, parse_size, split_args};
use crate::ecosystem::{App, Instances, Interpreter, LogTarget, Watch};
use crate::lifecycle;
use crate::lifecycle::start_or::{start_or_file, Then};
use crate::plan::Scope;
use anyhow::Result;
use std::path::{Path, PathBuf};

#[derive(clap::Args, Debug, Default)]
pub struct Args {
    /// An ecosystem file, a script or command, or a known app name, namespace or id
    /// (PM2's default: `ecosystem.config.js`).
    /// Several are started one after the other; `-` reads a JSON file from stdin.
    #[arg(
        value_name = "file|script|name|namespace|id",
        default_value = "ecosystem.config.js"
    )]
    pub targets: Vec<String>,

    /// The app's name (default: the script's file name without extension).
    #[arg(short = 'n', long)]
    pub name: Option<String>,
    #[arg(long)]
    pub namespace: Option<String>,
    /// Instances: a number, `max` (one per CPU) or `-N` (CPUs minus N); node apps run in
    /// cluster mode when given.
    #[arg(short = 'i', long, allow_hyphen_values = true)]
    pub instances: Option<String>,
    /// With a file: use its `env_<NAME>` tables. With a script: ignored, as PM2.
    #[arg(long)]
    pub env: Option<String>,
    /// With a file: only these apps (comma-separated).
    #[arg(long, value_delimiter = ',')]
    pub only: Vec<String>,
    /// The port a cluster app's instances share (systemd holds the socket); sets PORT.
    #[arg(long)]
    pub port: Option<u16>,
    #[arg(long)]
    pub cwd: Option<PathBuf>,
    #[arg(long)]
    pub interpreter: Option<String>,
    /// Arguments for the interpreter (`--node-args` too).
    #[arg(long, alias = "node-args", allow_hyphen_values = true)]
    pub interpreter_args: Option<String>,
    /// Run the script in fork mode even with `-i`.
    #[arg(short = 'x', long)]
    pub execute_command: bool,

    #[arg(long, value_name = "SIZE")]
    pub max_memory_restart: Option<String>,
    #[arg(long, value_name = "MS")]
    pub restart_delay: Option<String>,
    #[arg(long, value_name = "MS")]
    pub exp_backoff_restart_delay: Option<String>,
    #[arg(long)]
    pub max_restarts: Option<u32>,
    #[arg(long, value_name = "TIME")]
    pub min_uptime: Option<String>,
    #[arg(short = 'k', long, value_name = "MS")]
    pub kill_timeout: Option<String>,
    #[arg(long, value_name = "MS")]
    pub listen_timeout: Option<String>,
    #[arg(long)]
    pub wait_ready: bool,
    #[arg(long)]
    pub shutdown_with_message: bool,
    #[arg(
        short = 'c',
        long = "cron-restart",
        alias = "cron",
        value_name = "PATTERN"
    )]
    pub cron_restart: Option<String>,
    #[arg(long)]
    pub no_autorestart: bool,
    #[arg(long)]
    pub no_autostart: bool,
    #[arg(long)]
    pub no_treekill: bool,
    #[arg(long, num_args = 1.., value_name = "CODES")]
    pub stop_exit_codes: Vec<i32>,

    /// stdout log file.
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
    /// stderr log file.
    #[arg(short = 'e', long)]
    pub error: Option<PathBuf>,
    /// Combined log file; without a path, PM2's name `<app>.log` in pm2ctl's log
    /// directory (`/var/log/pm2ctl`, or `<state dir>/logs` for --user).
    #[arg(short = 'l', long, num_args = 0..=1, default_missing_value = "", value_name = "PATH")]
    pub log: Option<String>,
    #[arg(long)]
    pub merge_logs: bool,
    /// Prefix log lines with a timestamp.
    #[arg(long)]
    pub time: bool,
    #[arg(long)]
    pub log_date_format: Option<String>,
    #[arg(long)]
    pub disable_logs: bool,

    #[arg(long, alias = "user-name")]
    pub uid: Option<String>,
    #[arg(long)]
    pub gid: Option<String>,
    /// Restart on file changes (in the working directory, or these paths).
    #[arg(long, num_args = 0.., value_delimiter = ',')]
    pub watch: Option<Vec<String>>,
    /// Paths not to watch, space-separated (`ignore_watch`).
    #[arg(long, value_name = "PATHS")]
    pub ignore_watch: Option<String>,
    /// Seconds without changes before a watched app restarts (`watch_delay`).
    #[arg(long, value_name = "SECONDS")]
    pub watch_delay: Option<f64>,
    #[arg(long)]
    pub disable_source_map_support: bool,
    /// A pid file (PM2's `pid_file`): accepted; systemd tracks the main process, and
    /// `pid NAME` prints it.
    #[arg(short = 'p', long = "pid", value_name = "FILE")]
    pub pid_file: Option<PathBuf>,
    /// Start the same script again under another name.
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Accepted for PM2 compatibility: files are always applied with their env.
    #[arg(short = 'a', long)]
    pub update_env: bool,

    #[command(flatten)]
    pub manager: ManagerArgs,
    #[command(flatten)]
    pub pm2: super::Pm2NoOps,

    /// Arguments for the script, after `--`.
    #[arg(last = true, allow_hyphen_values = true)]
    pub args: Vec<String>,
}

/// `start TARGETS`: each target as `lifecycle::start` says, then PM2's `Done.`.
pub fn run(args: Args) -> Result<()> {
    let scope = args.manager.scope();
    let script_app = |script: &str, cwd: &Path| script_app(script, &args, cwd, scope);
    let request = lifecycle::start::Request {
        only: &args.only,
        env: args.env.as_deref(),
        watch: args.watch.is_some(),
        name: args.name.as_deref(),
        force: args.force,
        script_app: &script_app,
    };
    lifecycle::start::start(&args.manager.host, scope, &args.targets, &request)?;
    println!("[PM2] Done.");
    Ok(())
}

/// The app `start SCRIPT` runs: its flags (`app_from_args`), `-l`'s default file, and the
/// caller's environment with PM2's daemon defaults taken from it.
fn script_app(script: &str, args: &Args, cwd: &Path, scope: Scope) -> Result<App> {
    let mut app =
        app_from_args(script, args, cwd).map_err(|e| UsageError(format!("[PM2][ERROR] {e}")))?;
    if args.log.as_deref() == Some("") {
        app.log_file = LogTarget::File(lifecycle::start::default_log_file(scope, &app.name)?);
    }
    // PM2 gives an app started from the command line the caller's environment
    // (`NODE_ENV=production pm2 start app.js`); a file's apps get only what the file says.
    app.env = lifecycle::start::caller_env(std::env::vars_os());
    pm2_daemon_defaults(&mut app, args);
    Ok(app)
}

/// The arguments of `startOrRestart`, `startOrReload` and `startOrGracefulReload`.
#[derive(clap::Args, Debug)]
pub struct StartOrArgs {
    /// The ecosystem file; `-` reads one (JSON) from stdin.
    #[arg(default_value = "ecosystem.config.js")]
    pub file: String,
    #[command(flatten)]
    pub options: super::FileOptions,
    #[command(flatten)]
    pub manager: ManagerArgs,
    #[command(flatten)]
    pub pm2: super::Pm2NoOps,
}

/// `startOrRestart FILE` (`then` Restart), `startOrReload`/`startOrGracefulReload FILE`
/// (`then` Reload).
pub fn run_start_or(args: &StartOrArgs, then: Then) -> Result<()> {
    start_or_file(
        &args.manager.host,
        args.manager.scope(),
        &args.file,
        &args.options.only,
        args.options.env.as_deref(),
        then,
    )?;
    println!("[PM2] Done.");
    Ok(())
}

/// PM2's daemon takes the defaults of `kill_timeout` and `listen_timeout` from
/// `PM2_KILL_TIMEOUT` and `PM2_GRACEFUL_LISTEN_TIMEOUT` (milliseconds) in its environment;
/// there is no daemon here, so an app started from the command line takes them from the
/// caller's environment (now its own), unless its flags set them.
/// (`PM2_WORKER_INTERVAL` is read from the app's environment by the plan.)
fn pm2_daemon_defaults(app: &mut App, args: &Args) {
    let ms = |var: &str| {
        app.env
            .get(var)
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(std::time::Duration::from_millis)
    };
    if args.kill_timeout.is_none() {
        if let Some(d) = ms("PM2_KILL_TIMEOUT") {
            app.kill_timeout = d;
        }
    }
    if args.listen_timeout.is_none() {
        if let Some(d) = ms("PM2_GRACEFUL_LISTEN_TIMEOUT") {
            app.listen_timeout = d;
        }
    }
}

/// `-i`: a count, `max`/`0` (one per CPU), `-N` (CPUs minus N).
pub fn parse_instances(text: &str) -> Result<Instances, String> {
    let t = text.trim();
    if t.eq_ignore_ascii_case("max") {
        return Ok(Instances::Max);
    }
    let n: i64 = t
        .parse()
        .map_err(|_| format!("-i {t}: expected a number, `max` or `-N`"))?;
    let count = |v: i64| u32::try_from(v).map_err(|_| format!("-i {t}: too large"));
    match n {
        0 => Ok(Instances::Max),
        n if n < 0 => Ok(Instances::MaxMinus(count(-n)?)),
        n => Ok(Instances::Count(count(n)?)),
    }
}

/// The app `start SCRIPT [flags] -- args` describes. Relative paths are made absolute
/// against `cwd` (the caller's directory), so the recorded app means the same thing
/// wherever it is restarted or scaled from.
pub fn app_from_args(script: &str, args: &Args, cwd: &Path) -> Result<App, String> {
    let absolute = |p: &Path| -> PathBuf {
        if p.is_absolute() {
            p.to_path_buf()
        } else {
            cwd.join(p)
        }
    };
    let working_dir = absolute(args.cwd.as_deref().unwrap_or(cwd));
    // A script that names a file (a path, or a name with a script extension) is resolved
    // against the working directory; a bare command (`python3`) is left for PATH lookup.
    let script_path: PathBuf = working_dir.join(
        Path::new(script)
            .components()
            .filter(|c| *c != std::path::Component::CurDir)
            .collect::<PathBuf>(),
    );
    const SCRIPT_EXTENSIONS: [&str; 10] = [
        "js", "cjs", "mjs", "ts", "py", "sh", "rb", "php", "pl", "coffee",
    ];
    let has_script_extension = Path::new(script)
        .extension()
        .is_some_and(|e| SCRIPT_EXTENSIONS.iter().any(|x| e == *x));
    // A command line (`"cc hello.c; ./a.out"`) runs through a shell, as written: PM2's rule
    // for a script with a space that names no file.
    let shell_line = script.contains(char::is_whitespace) && !script_path.exists();
    let names_file = script.contains('/') || has_script_extension || script_path.exists();
    let script_text = if names_file && !shell_line {
        script_path.to_string_lossy().into_owned()
    } else {
        script.to_string()
    };
    // PM2 names a command line after the whole line.
    let name = args.name.clone().unwrap_or_else(|| match shell_line {
        true => script.to_string(),
        false => lifecycle::start::default_name(script),
    });
    let mut app = App::with_defaults(&name, &script_text);
    app.cwd = Some(working_dir);
    app.args = args.args.clone();
    if let Some(ns) = &args.namespace {
        app.namespace = ns.clone();
    }
    if let Some(i) = &args.instances {
        app.instances = Some(parse_instances(i)?);
    }
    if args.execute_command {
        app.exec_mode = Some(crate::ecosystem::ExecMode::Fork);
    }
    app.port = args.port;
    if let Some(interpreter) = &args.interpreter {
        app.interpreter = match interpreter.as_str() {
            "none" => Interpreter::None,
            other => Interpreter::Named(other.to_string()),
        };
    }
    if let Some(a) = &args.interpreter_args {
        app.node_args = split_args(a).map_err(|e| format!("--interpreter-args: {e}"))?;
    }
    let duration = |flag: &str, v: &Option<String>| -> Result<Option<_>, String> {
        v.as_deref()
            .map(|t| parse_duration(t).map_err(|e| format!("--{flag} {t}: {e}")))
            .transpose()
    };
    if let Some(v) = &args.max_memory_restart {
        app.max_memory_restart =
            Some(parse_size(v).map_err(|e| format!("--max-memory-restart {v}: {e}"))?);
    }
    if let Some(d) = duration("restart-delay", &args.restart_delay)? {
        app.restart_delay = d;
    }
    app.exp_backoff_restart_delay =
        duration("exp-backoff-restart-delay", &args.exp_backoff_restart_delay)?;
    if let Some(n) = args.max_restarts {
        app.max_restarts = n;
    }
    if let Some(d) = duration("min-uptime", &args.min_uptime)? {
        app.min_uptime = d;
    }
    if let Some(d) = duration("kill-timeout", &args.kill_timeout)? {
        app.kill_timeout = d;
    }
    if let Some(d) = duration("listen-timeout", &args.listen_timeout)? {
        app.listen_timeout = d;
    }
    app.wait_ready = args.wait_ready;
    app.shutdown_with_message = args.shutdown_with_message;
    app.cron_restart = args.cron_restart.clone().filter(|c| c.trim() != "0");
    if let Some(pattern) = &app.cron_restart {
        crate::ecosystem::cron::parse(pattern).map_err(|e| format!("--cron-restart: {e}"))?;
    }
    app.autorestart = !args.no_autorestart;
    app.autostart = !args.no_autostart;
    app.treekill = !args.no_treekill;
    app.stop_exit_codes = args.stop_exit_codes.clone();
    let log = |p: &Option<PathBuf>| match p.as_deref() {
        // `-l` without a path: the caller picks the default file (`default_log_file`).
        None => LogTarget::Journal,
        Some(p) if p == Path::new("/dev/null") || p == Path::new("NULL") => LogTarget::Null,
        Some(p) => LogTarget::File(absolute(p)),
    };
    app.out_file = log(&args.output);
    app.error_file = log(&args.error);
    app.log_file = log(&args
        .log
        .as_ref()
        .filter(|p| !p.is_empty())
        .map(PathBuf::from));
    if args.merge_logs {
        app.merge_logs = Some(true);
    }
    if args.time {
        app.log_date_format = Some("YYYY-MM-DDTHH:mm:ss".to_string());
    }
    if let Some(f) = &args.log_date_format {
        app.log_date_format = Some(f.clone());
    }
    app.disable_logs = args.disable_logs;
    app.user = args.uid.clone();
    app.group = args.gid.clone();
    app.watch = match &args.watch {
        None => Watch::Off,
        Some(paths) if paths.is_empty() => Watch::Cwd,
        Some(paths) => Watch::Paths(paths.clone()),
    };
    if let Some(paths) = &args.ignore_watch {
        app.ignore_watch = paths.split_whitespace().map(String::from).collect();
    }
    if let Some(seconds) = args.watch_delay {
        app.watch_delay = std::time::Duration::try_from_secs_f64(seconds)
            .map_err(|_| format!("--watch-delay: {seconds} is not a number of seconds"))?;
    }
    app.source_map_support = !args.disable_source_map_support;
    app.pid_file = args.pid_file.as_deref().map(absolute);
    app.force = args.force;
    Ok(app)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: Args,
    }

    fn parse(argv: &[&str]) -> Args {
        let argv = std::iter::once("start").chain(argv.iter().copied());
        Cli::try_parse_from(argv)
            .unwrap_or_else(|e| panic!("{e}"))
            .args
    }

    #[test]
    fn pm2s_daemon_timeouts_from_the_environment_are_defaults_the_flags_override() {
        let mut app = app_from_args("app.js", &parse(&["app.js"]), Path::new("/srv")).unwrap();
        app.env.insert("PM2_KILL_TIMEOUT".into(), "5000".into());
        app.env
            .insert("PM2_GRACEFUL_LISTEN_TIMEOUT".into(), " 8000 ".into());
        let mut flagged = app.clone();
        pm2_daemon_defaults(&mut app, &parse(&["app.js"]));
        assert_eq!(app.kill_timeout, std::time::Duration::from_secs(5));
        assert_eq!(app.listen_timeout, std::time::Duration::from_secs(8));

        let args = parse(&["app.js", "-k", "2000", "--listen-timeout", "1000"]);
        flagged.kill_timeout = std::time::Duration::from_secs(2);
        flagged.listen_timeout = std::time::Duration::from_secs(1);
        pm2_daemon_defaults(&mut flagged, &args);
        assert_eq!(flagged.kill_timeout, std::time::Duration::from_secs(2));
        assert_eq!(flagged.listen_timeout, std::time::Duration::from_secs(1));

        let mut odd = app_from_args("app.js", &parse(&["app.js"]), Path::new("/srv")).unwrap();
        let default = odd.kill_timeout;
        odd.env.insert("PM2_KILL_TIMEOUT".into(), "soon".into());
        pm2_daemon_defaults(&mut odd, &parse(&["app.js"]));
        assert_eq!(odd.kill_timeout, default, "not a number: ignored");
    }

    #[test]
    fn pm2s_common_start_line_builds_the_app() {
        let args = parse(&[
            "app.js",
            "--name",
            "api",
            "-i",
            "max",
            "--namespace",
            "web",
            "--max-memory-restart",
            "200M",
            "--restart-delay",
            "3000",
            "-k",
            "5s",
            "--",
            "--flag",
            "-v",
        ]);
        let app = app_from_args(&args.targets[0], &args, Path::new("/srv/site")).unwrap();
        assert_eq!(app.name, "api");
        assert_eq!(app.namespace, "web");
        assert_eq!(app.instances, Some(Instances::Max));
        assert_eq!(app.max_memory_restart, Some(200 << 20));
        assert_eq!(app.restart_delay, std::time::Duration::from_secs(3));
        assert_eq!(app.kill_timeout, std::time::Duration::from_secs(5));
        assert_eq!(app.args, ["--flag", "-v"]);
        assert_eq!(app.cwd.as_deref(), Some(Path::new("/srv/site")));
        assert_eq!(app.script, "/srv/site/app.js");
    }

    #[test]
    fn defaults_are_pm2s() {
        let args = parse(&["./workers/mailer.js"]);
        let app = app_from_args(&args.targets[0], &args, Path::new("/srv")).unwrap();
        assert_eq!(app.name, "mailer");
        assert_eq!(app.namespace, "default");
        assert_eq!(app.instances, None);
        assert!(app.autorestart && app.autostart && app.treekill);
        assert_eq!(app.script, "/srv/workers/mailer.js");
    }

    #[test]
    fn no_target_means_pm2s_default_file() {
        let args = parse(&[]);
        assert_eq!(args.targets, ["ecosystem.config.js"]);
        assert!(lifecycle::targets::is_file(&args.targets[0]));
    }

    #[test]
    fn instances_follow_pm2s_notation() {
        assert_eq!(parse_instances("4"), Ok(Instances::Count(4)));
        assert_eq!(parse_instances("max"), Ok(Instances::Max));
        assert_eq!(parse_instances("0"), Ok(Instances::Max));
        assert_eq!(parse_instances("-1"), Ok(Instances::MaxMinus(1)));
        assert!(parse_instances("many").is_err());
        // `-i -1` reaches the parser as a value, not a flag.
        assert_eq!(
            parse(&["a.js", "-i", "-1"]).instances.as_deref(),
            Some("-1")
        );
    }

    #[test]
    fn watch_and_cron_flags_as_pm2s() {
        let args = parse(&[
            "a.js",
            "--watch",
            "--ignore-watch",
            "node_modules logs",
            "--watch-delay",
            "1.5",
            "--cron-restart",
            "0 3 * * *",
        ]);
        let app = app_from_args("a.js", &args, Path::new("/srv")).unwrap();
        assert_eq!(app.watch, Watch::Cwd);
        assert_eq!(app.ignore_watch, ["node_modules", "logs"]);
        assert_eq!(app.watch_delay, std::time::Duration::from_millis(1500));
        assert_eq!(app.cron_restart.as_deref(), Some("0 3 * * *"));

        let args = parse(&["a.js", "--watch", "src,lib", "--cron", "0"]);
        let app = app_from_args("a.js", &args, Path::new("/srv")).unwrap();
        assert_eq!(app.watch, Watch::Paths(vec!["src".into(), "lib".into()]));
        assert_eq!(app.cron_restart, None);

        let args = parse(&["a.js", "--cron-restart", "0 0 * * 5L"]);
        let err = app_from_args("a.js", &args, Path::new("/")).unwrap_err();
        assert!(err.contains("--cron-restart: `5L`"), "{err}");
    }

    #[test]
    fn bad_values_name_the_flag() {
        let args = parse(&["a.js", "--max-memory-restart", "lots"]);
        let err = app_from_args("a.js", &args, Path::new("/")).unwrap_err();
        assert!(err.contains("--max-memory-restart lots"), "{err}");
    }

    #[test]
    fn a_command_line_is_run_as_written_and_named_after_it() {
        let args = parse(&["cc hello.c; ./a.out"]);
        let app = app_from_args("cc hello.c; ./a.out", &args, Path::new("/srv")).unwrap();
        assert_eq!(app.script, "cc hello.c; ./a.out");
        assert_eq!(app.name, "cc hello.c; ./a.out");
    }

    #[test]
    fn pm2s_pid_and_no_op_flags_take_their_values() {
        let args = parse(&[
            "a.js",
            "-p",
            "/run/a.pid",
            "--no-vizion",
            "--source-map-support",
        ]);
        assert_eq!(args.targets, ["a.js"]);
        let app = app_from_args("a.js", &args, Path::new("/srv")).unwrap();
        assert_eq!(app.pid_file.as_deref(), Some(Path::new("/run/a.pid")));
    }

    #[test]
    fn log_without_a_path_is_pm2s_default_file() {
        let args = parse(&["a.js", "-l", "-o", "/srv/out.log"]);
        assert_eq!(args.log.as_deref(), Some(""));
        let app = app_from_args("a.js", &args, Path::new("/srv")).unwrap();
        assert_eq!(
            app.log_file,
            LogTarget::Journal,
            "the caller chooses the file"
        );
        assert_eq!(app.out_file, LogTarget::File("/srv/out.log".into()));
    }

    #[test]
    fn a_bare_command_is_left_for_path_lookup() {
        let args = parse(&["python3", "--", "-m", "http.server"]);
        let app = app_from_args("python3", &args, Path::new("/nonexistent")).unwrap();
        assert_eq!(app.script, "python3");
        assert_eq!(app.args, ["-m", "http.server"]);
    }
}

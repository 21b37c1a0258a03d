//! The validated ecosystem: what `ecosystem::load` produces and `plan` consumes.
//!
//! Every field is already normalised: aliases folded, sizes in bytes, durations as
//! `Duration`, strings-or-arrays split into arrays. Defaults are PM2's effective
//! defaults (see `pm2-reference.md` §1.2) unless a comment says otherwise.
//! Nothing here touches the host: host-dependent resolution (CPU count, PATH,
//! absolute paths) happens in `plan`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

/// Where a value came from, for messages that point at the user's file.
/// Line and column are 1-based.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct Span {
    pub line: usize,
    pub column: usize,
}

/// A whole ecosystem file after validation.
#[derive(Debug, Clone, PartialEq)]
pub struct Ecosystem {
    /// The file it was read from (as given, not canonicalised).
    pub source: PathBuf,
    /// Directory that relative `script`/`cwd`/log paths are resolved against:
    /// the file's own directory (unlike PM2, which uses the caller's $PWD; a file
    /// must mean the same thing wherever it is applied from, and at boot).
    pub base_dir: PathBuf,
    pub apps: Vec<App>,
    pub deploy: BTreeMap<String, Deploy>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum ExecMode {
    Fork,
    Cluster,
}

/// `instances`: `N`, `"max"`/`0` (one per CPU), `-N` (CPUs minus N, at least 1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Instances {
    Count(u32),
    Max,
    MaxMinus(u32),
}

/// `interpreter`/`exec_interpreter`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Interpreter {
    /// Not given: chosen from the script's extension at plan time, as PM2 does.
    Auto,
    /// `"none"`: the script is an executable run directly.
    None,
    /// A command name (`"node"`, `"python3"`) or a path.
    Named(String),
}

/// `filter_env`: which variables of the caller's environment are *not* copied.
/// pm2ctl copies nothing from the caller unless `inherit_env` is set, so this
/// only matters together with it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum FilterEnv {
    /// Keep everything inherited (PM2's default `[]`).
    None,
    /// `true`: drop every inherited variable.
    All,
    /// Drop inherited variables whose name starts with any of these.
    Prefixes(Vec<String>),
}

/// `watch`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Watch {
    Off,
    /// `true`: watch the app's working directory.
    Cwd,
    Paths(Vec<String>),
}

/// `watch_options`: the chokidar options PM2 passes through that map onto the watch agent.
/// The others are refused or noted when the file is loaded (see `schema`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WatchOptions {
    /// `followSymlinks`: watch the directories symbolic links point to. Off by default
    /// (chokidar's default is on; a link to `/` would watch the whole machine).
    pub follow_symlinks: bool,
    /// `usePolling` (with `interval`): look at the files every interval instead of
    /// asking the kernel (inotify), for filesystems that send no events (NFS, some mounts).
    pub use_polling: bool,
    /// `interval`: how often to poll; chokidar's default is 100 ms.
    pub interval: Option<Duration>,
}

impl WatchOptions {
    /// chokidar's polling interval when `interval` is not given.
    pub const DEFAULT_INTERVAL: Duration = Duration::from_millis(100);

    /// The polling interval, when polling.
    pub fn poll_interval(&self) -> Option<Duration> {
        self.use_polling
            .then(|| self.interval.unwrap_or(Self::DEFAULT_INTERVAL))
    }
}

/// A log destination from `out_file`/`error_file`/`log_file`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum LogTarget {
    /// Not set: the journal only.
    Journal,
    /// `"/dev/null"` or `"NULL"`: discarded.
    Null,
    /// Appended to this file (relative paths resolved against `base_dir` at plan time).
    File(PathBuf),
}

/// journald's per-unit rate limit (`LogRateLimitBurst` lines per `LogRateLimitIntervalSec`;
/// lines beyond it are dropped and a "Suppressed N messages" notice is logged).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct LogRateLimit {
    /// At most [`LogRateLimit::MAX_BURST`].
    pub burst: u32,
    pub interval: Duration,
}

impl Default for LogRateLimit {
    fn default() -> LogRateLimit {
        LogRateLimit::DEFAULT
    }
}

impl LogRateLimit {
    /// journald's own default (10,000 lines per 30 s) drops lines of a busy app; this one
    /// lets an app log about 3,300 lines a second for 30 s (journald also raises a burst
    /// with the free space of the journal's disk) and still stops a runaway loop.
    pub const DEFAULT: LogRateLimit = LogRateLimit {
        burst: 100_000,
        interval: Duration::from_secs(30),
    };
    /// The largest burst: journald multiplies it by up to ~12 (more free disk, more lines)
    /// in an unsigned 32-bit integer, so anything larger could wrap around to a small limit.
    pub const MAX_BURST: u32 = 50_000_000;
    /// `log_rate_limit = false`. systemd 252 reads a zero interval or burst as "not set"
    /// and applies journald's default (checked in the sandbox), so "no limit" is a burst
    /// no app reaches: 50 million lines a second.
    pub const OFF: LogRateLimit = LogRateLimit {
        burst: LogRateLimit::MAX_BURST,
        interval: Duration::from_secs(1),
    };
}

/// `sandbox`: how an app deviates from pm2ctl's default systemd sandboxing (the defaults
/// themselves, and which systemd needs what, are in `plan::sandbox`). The default value
/// changes nothing: every default applies.
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
#[serde(default)]
pub struct Sandbox {
    /// `sandbox = false`: none of the defaults (capabilities are still granted as asked).
    pub off: bool,
    /// On/off options the file sets (`private_tmp = false`), by their key in `sandbox`.
    pub switches: BTreeMap<String, bool>,
    /// `protect_system`: `"strict"` (default), `"full"`, `"true"` or `"false"`.
    pub protect_system: Option<String>,
    /// `protect_home`: `"read-only"` (default), `"tmpfs"`, `"true"` or `"false"`.
    pub protect_home: Option<String>,
    /// `read_write_paths`: more paths the app may write, besides its working directory, its
    /// log files' directories and its user's home (relative to `base_dir`).
    pub read_write_paths: Vec<PathBuf>,
    /// `capabilities`: what the app is granted (`CAP_NET_BIND_SERVICE`, …), canonical names.
    /// A non-root app gets them as ambient capabilities; every app is bounded by them.
    pub capabilities: Vec<String>,
}

/// One `[[apps]]` entry. Serialisable so the state store can keep the definition an app was
/// started from (`scale` plans new instances from it).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct App {
    /// Where the `[[apps]]` table starts, for messages.
    pub span: Span,

    // --- process definition ---
    /// Required, non-empty, unique in the file. Defaults to the script's file stem.
    pub name: String,
    /// Default "default".
    pub namespace: String,
    /// As written (`script`, `exec`, `cmd`, `command`). Resolved at plan time.
    pub script: String,
    /// `cwd`; `None` means `base_dir`.
    pub cwd: Option<PathBuf>,
    /// `args`: a string is split shell-style (quotes respected) as PM2 does.
    pub args: Vec<String>,
    pub interpreter: Interpreter,
    /// `node_args`/`interpreter_args`: same splitting as `args`.
    pub node_args: Vec<String>,
    /// `exec_mode`; `None` = PM2's rule (cluster if `instances` given and node, else fork).
    pub exec_mode: Option<ExecMode>,
    /// `None` = not given (one instance).
    pub instances: Option<Instances>,
    /// Default "NODE_APP_INSTANCE".
    pub instance_var: String,
    /// Env var incremented per instance from its base value in `env` (or `port`).
    pub increment_var: Option<String>,
    /// `port`: injects `PORT`; in cluster mode it is the shared socket-activated port.
    pub port: Option<u16>,
    /// pm2ctl extension: address the socket binds (`"0.0.0.0"` by default, `"127.0.0.1"`, `"[::]"`).
    pub listen_address: Option<String>,
    /// `uid`/`user`.
    pub user: Option<String>,
    /// `gid`/`group`.
    pub group: Option<String>,
    pub append_env_to_name: bool,
    /// pm2ctl extension: copy the caller's environment into the app (PM2 always does).
    /// Default false: an app's environment is what the file says, so it is the same
    /// from a shell, from cron and at boot.
    pub inherit_env: bool,
    pub filter_env: FilterEnv,
    /// `env`: values are strings; TOML numbers/booleans are stringified, tables JSON-encoded.
    pub env: BTreeMap<String, String>,
    /// `env_<name>` tables, keyed by `<name>`.
    pub env_by_name: BTreeMap<String, BTreeMap<String, String>>,
    /// Default true (Node only: adds `--enable-source-maps`).
    pub source_map_support: bool,
    /// Allow the same script to run under several names.
    pub force: bool,

    // --- restart / lifecycle ---
    /// Default true: restart on any exit, as PM2 does.
    pub autorestart: bool,
    /// Default true: `false` registers the app stopped.
    pub autostart: bool,
    pub stop_exit_codes: Vec<i32>,
    /// Default 0.
    pub restart_delay: Duration,
    pub exp_backoff_restart_delay: Option<Duration>,
    /// Default 1 s.
    pub min_uptime: Duration,
    /// Default 16.
    pub max_restarts: u32,
    /// Default 1600 ms.
    pub kill_timeout: Duration,
    /// pm2ctl extension: the stop signal, default "SIGINT" (PM2's global default).
    /// Stored as the canonical name ("SIGINT"), validated against known signals.
    pub kill_signal: String,
    /// Default true.
    pub treekill: bool,
    pub shutdown_with_message: bool,
    pub wait_ready: bool,
    /// Default 3000 ms.
    pub listen_timeout: Duration,
    /// As written; translated to OnCalendar by a later stage. `"0"`/absent = none.
    pub cron_restart: Option<String>,
    /// Bytes. PM2's `K`/`M`/`G` are 1024-based; a bare number is bytes.
    pub max_memory_restart: Option<u64>,

    // --- watch ---
    pub watch: Watch,
    /// Default: PM2's `["node_modules", ".*"]`-equivalent (dot files and node_modules).
    pub ignore_watch: Vec<String>,
    pub watch_delay: Duration,
    /// Defaulted when absent, so apps recorded before it existed still load.
    #[serde(default)]
    pub watch_options: WatchOptions,

    // --- logs ---
    pub out_file: LogTarget,
    pub error_file: LogTarget,
    pub log_file: LogTarget,
    /// `None` = PM2's rule (true in fork mode without `instances`).
    pub merge_logs: Option<bool>,
    pub disable_logs: bool,
    /// `log_type = "json"`.
    pub log_json: bool,
    /// `log_date_format`, or `time = true` → "YYYY-MM-DDTHH:mm:ss".
    pub log_date_format: Option<String>,
    /// `log_rate_limit`: how many lines journald accepts from one instance per interval.
    /// Defaulted when absent, so apps recorded before it existed still load.
    #[serde(default)]
    pub log_rate_limit: LogRateLimit,
    pub pid_file: Option<PathBuf>,

    // --- least privilege ---
    /// `sandbox`: the systemd sandboxing every app gets unless it opts out. Defaulted when
    /// absent, so apps recorded before it existed still load.
    #[serde(default)]
    pub sandbox: Sandbox,

    /// Options PM2 accepts that have no effect here (pmx, vizion, automation, …):
    /// accepted so PM2 files load, reported once as a note.
    pub ignored_options: Vec<String>,
}

/// A `[deploy.<env>]` table (used by `pm2ctl deploy`).
#[derive(Debug, Clone, PartialEq)]
pub struct Deploy {
    pub span: Span,
    pub user: Option<String>,
    /// One or several hosts.
    pub hosts: Vec<String>,
    /// Git ref, e.g. "origin/main".
    pub git_ref: String,
    pub repo: String,
    pub path: String,
    pub ssh_options: Vec<String>,
    pub key: Option<String>,
    pub pre_setup: Option<String>,
    pub post_setup: Option<String>,
    pub pre_deploy_local: Option<String>,
    pub pre_deploy: Option<String>,
    pub post_deploy: Option<String>,
    /// pm2-deploy's `test` hook: runs after `post-deploy`; when it fails, the previous
    /// release is checked out again.
    pub test: Option<String>,
    /// Exported to the hooks (names upper-cased, as pm2-deploy does).
    pub env: BTreeMap<String, String>,
}

impl App {
    /// An app with PM2's defaults, for tests and for `pm2ctl start script.js`.
    pub fn with_defaults(name: &str, script: &str) -> App {
        App {
            span: Span::default(),
            name: name.to_string(),
            namespace: "default".to_string(),
            script: script.to_string(),
            cwd: None,
            args: Vec::new(),
            interpreter: Interpreter::Auto,
            node_args: Vec::new(),
            exec_mode: None,
            instances: None,
            instance_var: "NODE_APP_INSTANCE".to_string(),
            increment_var: None,
            port: None,
            listen_address: None,
            user: None,
            group: None,
            append_env_to_name: false,
            inherit_env: false,
            filter_env: FilterEnv::None,
            env: BTreeMap::new(),
            env_by_name: BTreeMap::new(),
            source_map_support: true,
            force: false,
            autorestart: true,
            autostart: true,
            stop_exit_codes: Vec::new(),
            restart_delay: Duration::ZERO,
            exp_backoff_restart_delay: None,
            min_uptime: Duration::from_millis(1000),
            max_restarts: 16,
            kill_timeout: Duration::from_millis(1600),
            kill_signal: "SIGINT".to_string(),
            treekill: true,
            shutdown_with_message: false,
            wait_ready: false,
            listen_timeout: Duration::from_millis(3000),
            cron_restart: None,
            max_memory_restart: None,
            watch: Watch::Off,
            ignore_watch: vec!["node_modules".to_string(), ".*".to_string()],
            watch_delay: Duration::ZERO,
            watch_options: WatchOptions::default(),
            out_file: LogTarget::Journal,
            error_file: LogTarget::Journal,
            log_file: LogTarget::Journal,
            merge_logs: None,
            disable_logs: false,
            log_json: false,
            log_date_format: None,
            log_rate_limit: LogRateLimit::DEFAULT,
            pid_file: None,
            sandbox: Sandbox::default(),
            ignored_options: Vec::new(),
        }
    }
}

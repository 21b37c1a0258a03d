//! The documentation of every option of the loader's tables (`schema::APP_OPTIONS`,
//! `schema::DEPLOY_OPTIONS`), from which `pm2ctl-ecosystem(5)` is generated: its keys and
//! aliases come from the tables themselves, what they mean from here. A test fails when an
//! option of a table has no entry here, or an entry names no option.

/// What the man page says of one option.
pub struct OptionDoc {
    pub key: &'static str,
    /// The value's type, as TOML writes it.
    pub kind: &'static str,
    pub default: &'static str,
    /// What the option becomes under systemd.
    pub systemd: &'static str,
    /// One line of TOML.
    pub example: &'static str,
    pub text: &'static str,
}

const NO_EFFECT: &str = "nothing: accepted so that PM2 files load; `pm2ctl validate` lists it";

/// One entry per option of `schema::APP_OPTIONS`, in the table's order.
pub static APP_OPTION_DOCS: &[OptionDoc] = &[
    OptionDoc {
        key: "name",
        kind: "string",
        default: "the script's file name without its extension",
        systemd: "the unit names pm2ctl-<name>@<i>.service and pm2ctl-<name>.slice (escaped); SyslogIdentifier and PM2_APP in the journal",
        example: "name = \"api\"",
        text: "The app's name, unique in the file.",
    },
    OptionDoc {
        key: "name_prefix",
        kind: "string",
        default: "none",
        systemd: "part of the name (<prefix>:<name>)",
        example: "name_prefix = \"shop\"",
        text: "Prepended to the name with a colon, as PM2 does.",
    },
    OptionDoc {
        key: "namespace",
        kind: "string",
        default: "\"default\"",
        systemd: "PM2_NAMESPACE in the journal; a target of the verbs (stop web)",
        example: "namespace = \"web\"",
        text: "A group of apps the verbs can act on together.",
    },
    OptionDoc {
        key: "script",
        kind: "string",
        default: "required",
        systemd: "ExecStart (with the interpreter, resolved to absolute paths)",
        example: "script = \"server.js\"",
        text: "The file to run, relative to cwd; a name without a slash not found there is looked up on PATH; a string with spaces is run by bash -c.",
    },
    OptionDoc {
        key: "cwd",
        kind: "string (a path)",
        default: "the ecosystem file's directory",
        systemd: "WorkingDirectory (kept writable under ProtectSystem=strict)",
        example: "cwd = \"/srv/api\"",
        text: "The working directory; a relative one is against the file's directory, not the caller's.",
    },
    OptionDoc {
        key: "args",
        kind: "string or array of strings",
        default: "none",
        systemd: "ExecStart, after the script",
        example: "args = [\"--port\", \"8080\"]",
        text: "Arguments of the script; a string is split as a shell would (quotes respected).",
    },
    OptionDoc {
        key: "interpreter",
        kind: "string",
        default: "chosen by the script's extension (node for .js, python3 for .py, …); an executable runs directly",
        systemd: "ExecStart's first word, resolved on the caller's PATH",
        example: "interpreter = \"/opt/venv/bin/python\"",
        text: "The program that runs the script; \"none\" runs the script itself. A path is taken as written, relative to cwd.",
    },
    OptionDoc {
        key: "node_args",
        kind: "string or array of strings",
        default: "none",
        systemd: "ExecStart, between the interpreter and the script",
        example: "node_args = \"--max-old-space-size=512\"",
        text: "Arguments of the interpreter.",
    },
    OptionDoc {
        key: "execute_command",
        kind: "boolean",
        default: "false",
        systemd: "exec_mode = \"fork\" unless set",
        example: "execute_command = true",
        text: "PM2's switch for a command that is not a Node script.",
    },
    OptionDoc {
        key: "exec_mode",
        kind: "\"fork\" or \"cluster\"",
        default: "cluster for Node and Bun apps with instances, else fork",
        systemd: "cluster with a port: one socket unit per instance with ReusePort=yes",
        example: "exec_mode = \"cluster\"",
        text: "Cluster mode shares the app's port between its instances through sockets systemd holds open while an instance restarts.",
    },
    OptionDoc {
        key: "instances",
        kind: "integer, \"max\", 0 or -N",
        default: "1",
        systemd: "one pm2ctl-<name>@<i>.service per instance",
        example: "instances = \"max\"",
        text: "How many processes: \"max\" or 0 for one per CPU, -N for the CPUs minus N.",
    },
    OptionDoc {
        key: "instance_var",
        kind: "string (a variable name)",
        default: "\"NODE_APP_INSTANCE\"",
        systemd: "Environment: the instance's index",
        example: "instance_var = \"INSTANCE_ID\"",
        text: "The variable that tells each instance its index.",
    },
    OptionDoc {
        key: "increment_var",
        kind: "string (a variable name)",
        default: "none",
        systemd: "Environment: the variable's value plus the index, per instance",
        example: "increment_var = \"PORT\"",
        text: "A variable incremented per instance; with PORT each instance listens on its own port (no shared socket).",
    },
    OptionDoc {
        key: "port",
        kind: "integer (1-65535)",
        default: "the PORT of env, if any",
        systemd: "PORT in Environment; in cluster mode ListenStream of each instance's socket",
        example: "port = 8080",
        text: "The port the app listens on. A port below 1024 needs no privilege in cluster mode: systemd opens it.",
    },
    OptionDoc {
        key: "listen_address",
        kind: "string (an IP address)",
        default: "\"0.0.0.0\"",
        systemd: "ListenStream=<address>:<port> of the sockets",
        example: "listen_address = \"127.0.0.1\"",
        text: "The address a cluster app's sockets bind (pm2ctl's addition).",
    },
    OptionDoc {
        key: "user",
        kind: "string or integer (a user name or id)",
        default: "the caller; run as root, pm2ctl asks for one",
        systemd: "User (the system manager only)",
        example: "user = \"www-data\"",
        text: "The account the app runs as. As root, an app without user is refused: write user = \"root\" to mean it. pm2ctl checks before applying that the account can reach the app's files.",
    },
    OptionDoc {
        key: "group",
        kind: "string or integer (a group name or id)",
        default: "the user's primary group",
        systemd: "Group (the system manager only)",
        example: "group = \"www-data\"",
        text: "The group the app runs as.",
    },
    OptionDoc {
        key: "append_env_to_name",
        kind: "boolean",
        default: "false",
        systemd: "the unit names: <name>-<env> with --env",
        example: "append_env_to_name = true",
        text: "With --env NAME, the app is named <name>-NAME, so one file runs several environments side by side.",
    },
    OptionDoc {
        key: "inherit_env",
        kind: "boolean",
        default: "false",
        systemd: "Environment: the caller's environment, minus filter_env",
        example: "inherit_env = true",
        text: "PM2 copies the caller's whole environment into the app; pm2ctl only with this (pm2ctl's addition).",
    },
    OptionDoc {
        key: "filter_env",
        kind: "boolean, string or array of strings",
        default: "none",
        systemd: "fewer variables in Environment",
        example: "filter_env = [\"AWS_\"]",
        text: "With inherit_env: the caller's variables to leave out, by prefix; true leaves them all out.",
    },
    OptionDoc {
        key: "env",
        kind: "table of strings",
        default: "empty",
        systemd: "Environment",
        example: "env = { NODE_ENV = \"development\", PORT = \"8080\" }",
        text: "The app's environment. env_<name> tables (env_production) are added with --env <name>.",
    },
    OptionDoc {
        key: "source_map_support",
        kind: "boolean",
        default: "true",
        systemd: "--enable-source-maps in ExecStart (Node)",
        example: "source_map_support = false",
        text: "Stack traces mapped through source maps.",
    },
    OptionDoc {
        key: "disable_source_map_support",
        kind: "boolean",
        default: "false",
        systemd: "no --enable-source-maps",
        example: "disable_source_map_support = true",
        text: "PM2's negative form of source_map_support.",
    },
    OptionDoc {
        key: "force",
        kind: "boolean",
        default: "false",
        systemd: "nothing",
        example: "force = true",
        text: "Allows the same script to run under several names, as pm2 start -f.",
    },
    OptionDoc {
        key: "autorestart",
        kind: "boolean",
        default: "true",
        systemd: "Restart=always, or Restart=no",
        example: "autorestart = false",
        text: "Restart the app whenever it exits, 0 included (PM2's rule).",
    },
    OptionDoc {
        key: "autostart",
        kind: "boolean",
        default: "true",
        systemd: "whether apply starts a new app",
        example: "autostart = false",
        text: "Only for an app apply has not seen: afterwards stop and start decide.",
    },
    OptionDoc {
        key: "stop_exit_codes",
        kind: "integer or array of integers (0-255)",
        default: "none",
        systemd: "RestartPreventExitStatus and SuccessExitStatus",
        example: "stop_exit_codes = [0]",
        text: "Exit statuses that mean a deliberate stop: no restart, shown as stopped.",
    },
    OptionDoc {
        key: "restart_delay",
        kind: "duration (\"2s\", \"500ms\"; a number is milliseconds)",
        default: "0",
        systemd: "RestartUSec (RestartSec=)",
        example: "restart_delay = \"2s\"",
        text: "The pause before a restart.",
    },
    OptionDoc {
        key: "exp_backoff_restart_delay",
        kind: "duration",
        default: "none",
        systemd: "RestartUSec, RestartSteps and RestartMaxDelayUSec=15s (systemd 254 and later; a fixed delay before)",
        example: "exp_backoff_restart_delay = \"100ms\"",
        text: "A first delay that grows 1.5 times per restart, up to 15 s, as PM2's.",
    },
    OptionDoc {
        key: "min_uptime",
        kind: "duration",
        default: "\"1s\"",
        systemd: "StartLimitIntervalUSec = min_uptime × max_restarts",
        example: "min_uptime = \"5s\"",
        text: "With max_restarts: systemd counts every start inside the window, PM2 only short-lived runs.",
    },
    OptionDoc {
        key: "max_restarts",
        kind: "integer",
        default: "16",
        systemd: "StartLimitBurst = max_restarts + 1",
        example: "max_restarts = 5",
        text: "Restarts allowed within the window before the app is left failed (shown as errored).",
    },
    OptionDoc {
        key: "kill_timeout",
        kind: "duration",
        default: "\"1600ms\"",
        systemd: "TimeoutStopUSec",
        example: "kill_timeout = \"5s\"",
        text: "How long a stopping app has after kill_signal before SIGKILL.",
    },
    OptionDoc {
        key: "kill_signal",
        kind: "string or integer (a signal)",
        default: "\"SIGINT\"",
        systemd: "KillSignal",
        example: "kill_signal = \"SIGTERM\"",
        text: "The signal that asks the app to stop (PM2 has only a global one).",
    },
    OptionDoc {
        key: "treekill",
        kind: "boolean",
        default: "true",
        systemd: "KillMode=control-group, or KillMode=process",
        example: "treekill = false",
        text: "Stop every process of the app, not only the main one.",
    },
    OptionDoc {
        key: "shutdown_with_message",
        kind: "boolean",
        default: "false",
        systemd: "the Node shim emits process.on('message') with 'shutdown' on stop",
        example: "shutdown_with_message = true",
        text: "For Node apps that wait for PM2's shutdown message.",
    },
    OptionDoc {
        key: "wait_ready",
        kind: "boolean",
        default: "false",
        systemd: "Type=notify, NotifyAccess=all (the shim turns process.send('ready') into READY=1)",
        example: "wait_ready = true",
        text: "A start (and each step of reload) completes when the app says it is ready; one that never does fails after listen_timeout.",
    },
    OptionDoc {
        key: "listen_timeout",
        kind: "duration",
        default: "\"3s\"",
        systemd: "TimeoutStartUSec (with wait_ready)",
        example: "listen_timeout = \"10s\"",
        text: "How long a wait_ready app has to become ready.",
    },
    OptionDoc {
        key: "cron_restart",
        kind: "string (a cron pattern, 5 or 6 fields, or @daily…)",
        default: "none",
        systemd: "pm2ctl-<name>-cron.timer with OnCalendar= and the oneshot it triggers",
        example: "cron_restart = \"0 3 * * *\"",
        text: "Restart the app (or start it, if stopped) on a schedule; day-of-month and day-of-week must both match, as in PM2.",
    },
    OptionDoc {
        key: "max_memory_restart",
        kind: "size (\"300M\", \"1G\"; a number is bytes)",
        default: "none",
        systemd: "MemoryMax, and pm2ctl-<name>-memory.timer: a graceful reload at 90 % of it",
        example: "max_memory_restart = \"300M\"",
        text: "A hard cgroup limit the kernel enforces, with a graceful reload of an instance whose resident memory passes 90 % of it, checked every 30 s, or every PM2_WORKER_INTERVAL milliseconds when the app's env sets it (as PM2's worker).",
    },
    OptionDoc {
        key: "watch",
        kind: "boolean, string or array of strings",
        default: "false",
        systemd: "pm2ctl-<name>-watch.service (inotify, pm2ctl watch-agent)",
        example: "watch = [\"src\", \"config\"]",
        text: "Restart the app when files change: true watches cwd, paths are relative to it.",
    },
    OptionDoc {
        key: "ignore_watch",
        kind: "string or array of strings (gitignore-like patterns)",
        default: "[\"node_modules\", \".*\"]",
        systemd: "the watch agent's arguments",
        example: "ignore_watch = [\"node_modules\", \"*.log\"]",
        text: "Paths the watch ignores; a pattern without a slash matches a name at any depth.",
    },
    OptionDoc {
        key: "watch_delay",
        kind: "duration",
        default: "0 (at least 200 ms of quiet)",
        systemd: "the watch agent's arguments",
        example: "watch_delay = \"1s\"",
        text: "How long nothing else must change before the restart: a burst of saves is one restart.",
    },
    OptionDoc {
        key: "watch_options",
        kind: "table",
        default: "empty",
        systemd: "the watch agent's arguments",
        example: "watch_options = { usePolling = true, interval = 500 }",
        text: "PM2's chokidar options, in chokidar's spelling or snake_case: usePolling (with interval, default 100 ms) polls instead of inotify; followSymlinks watches where links lead. persistent, ignoreInitial, ignorePermissionErrors, alwaysStat, atomic, useFsEvents, disableGlobbing and binaryInterval are accepted without effect; ignored, cwd, depth and awaitWriteFinish are refused with what to write instead.",
    },
    OptionDoc {
        key: "out_file",
        kind: "string (a path), or \"/dev/null\"",
        default: "the journal",
        systemd: "pm2ctl exec-wrap appends stdout to the file instead of the journal",
        example: "out_file = \"logs/out.log\"",
        text: "Where stdout goes. Without merge_logs each instance writes its own file (out-1.log). The account must be able to create files in its directory.",
    },
    OptionDoc {
        key: "error_file",
        kind: "string (a path), or \"/dev/null\"",
        default: "the journal",
        systemd: "pm2ctl exec-wrap appends stderr to the file instead of the journal",
        example: "error_file = \"logs/err.log\"",
        text: "Where stderr goes.",
    },
    OptionDoc {
        key: "log_file",
        kind: "string (a path)",
        default: "none",
        systemd: "both streams to one file, unless out_file or error_file say otherwise",
        example: "log_file = \"logs/combined.log\"",
        text: "One file for both streams.",
    },
    OptionDoc {
        key: "merge_logs",
        kind: "boolean",
        default: "true for one fork-mode instance, else false",
        systemd: "one log file for every instance, or one each",
        example: "merge_logs = true",
        text: "Whether the instances share their log files.",
    },
    OptionDoc {
        key: "disable_logs",
        kind: "boolean",
        default: "false",
        systemd: "StandardOutput=null, StandardError=null",
        example: "disable_logs = true",
        text: "Discard both streams.",
    },
    OptionDoc {
        key: "log_type",
        kind: "\"json\" or \"raw\"",
        default: "\"raw\"",
        systemd: "pm2ctl exec-wrap --json: lines written to log files become PM2's JSON objects",
        example: "log_type = \"json\"",
        text: "Each line written to out_file/error_file/log_file is PM2's object {\"message\",\"timestamp\",\"type\",\"process_id\",\"app_name\"}: message is the line with its newline, timestamp ISO 8601 in UTC (or in log_date_format), type out or err, process_id the instance number. The journal keeps the raw lines (pm2ctl logs --json shows them in the same shape).",
    },
    OptionDoc {
        key: "log_date_format",
        kind: "string (a moment.js format)",
        default: "none",
        systemd: "PM2_LOG_DATE_FORMAT in the journal fields; pm2ctl exec-wrap --date-format for log files",
        example: "log_date_format = \"YYYY-MM-DD HH:mm Z\"",
        text: "Each line written to a log file starts with the time in this format and \": \", in local time, as PM2 writes them; pm2ctl logs prints each journal line's time in it too. Formatted files need a small copying process beside each instance, in its unit.",
    },
    OptionDoc {
        key: "time",
        kind: "boolean",
        default: "false",
        systemd: "log_date_format = \"YYYY-MM-DDTHH:mm:ss\" unless set",
        example: "time = true",
        text: "PM2's switch for timestamps in the logs.",
    },
    OptionDoc {
        key: "log_rate_limit",
        kind: "table { burst, interval }, or false",
        default: "100,000 lines per 30 s",
        systemd: "LogRateLimitBurst, LogRateLimitIntervalUSec",
        example: "log_rate_limit = { burst = 500000, interval = \"30s\" }",
        text: "Lines journald accepts from an instance before it suppresses the rest; false lifts it (pm2ctl's addition).",
    },
    OptionDoc {
        key: "pid_file",
        kind: "string (a path)",
        default: "none",
        systemd: "nothing: systemd tracks the main process",
        example: "pid_file = \"app.pid\"",
        text: "Accepted for PM2 files; systemd knows the pid (pm2ctl list shows it).",
    },
    OptionDoc {
        key: "sandbox",
        kind: "boolean or table",
        default: "on: every hardening option below, MemoryDenyWriteExecute aside",
        systemd: "NoNewPrivileges, PrivateTmp, PrivateDevices, ProtectSystem=strict, ProtectHome=read-only, ProtectKernel*, ProtectControlGroups, ProtectClock, ProtectHostname, RestrictSUIDSGID, LockPersonality, RestrictRealtime, RestrictNamespaces, SystemCallArchitectures=native, SystemCallFilter=@system-service, RestrictAddressFamilies, ReadWritePaths, CapabilityBoundingSet, AmbientCapabilities",
        example: "sandbox = { private_tmp = false, read_write_paths = [\"/var/lib/app\"] }",
        text: "systemd's sandboxing, on by default (pm2ctl's addition). Keys: no_new_privileges, private_tmp, private_devices, protect_system, protect_home, protect_kernel_tunables, protect_kernel_modules, protect_kernel_logs, protect_control_groups, protect_clock, protect_hostname, restrict_suid_sgid, lock_personality, restrict_realtime, restrict_namespaces, system_call_architectures, memory_deny_write_execute, system_call_filter, restrict_address_families, read_write_paths, capabilities, defaults. false turns it all off. See docs/security.md.",
    },
    OptionDoc {
        key: "username",
        kind: "any",
        default: "-",
        systemd: NO_EFFECT,
        example: "username = \"deploy\"",
        text: "PM2's username for its remote module.",
    },
    OptionDoc {
        key: "windowsHide",
        kind: "any",
        default: "-",
        systemd: NO_EFFECT,
        example: "windowsHide = true",
        text: "A Windows option.",
    },
    OptionDoc {
        key: "install_url",
        kind: "any",
        default: "-",
        systemd: NO_EFFECT,
        example: "install_url = \"…\"",
        text: "PM2's module installation.",
    },
    OptionDoc {
        key: "post_update",
        kind: "any",
        default: "-",
        systemd: NO_EFFECT,
        example: "post_update = [\"npm install\"]",
        text: "PM2's pull-and-update commands; pm2ctl deploy has its hooks.",
    },
    OptionDoc {
        key: "write",
        kind: "any",
        default: "-",
        systemd: NO_EFFECT,
        example: "write = true",
        text: "PM2 internal.",
    },
    OptionDoc {
        key: "vizion",
        kind: "any",
        default: "-",
        systemd: NO_EFFECT,
        example: "vizion = false",
        text: "PM2's version-control metadata.",
    },
    OptionDoc {
        key: "kill_retry_time",
        kind: "any",
        default: "-",
        systemd: NO_EFFECT,
        example: "kill_retry_time = 100",
        text: "PM2's polling while stopping; systemd waits for the exit itself.",
    },
    OptionDoc {
        key: "pmx",
        kind: "any",
        default: "-",
        systemd: NO_EFFECT,
        example: "pmx = false",
        text: "PM2's in-app agent.",
    },
    OptionDoc {
        key: "automation",
        kind: "any",
        default: "-",
        systemd: NO_EFFECT,
        example: "automation = false",
        text: "PM2's in-app agent.",
    },
    OptionDoc {
        key: "trace",
        kind: "any",
        default: "-",
        systemd: NO_EFFECT,
        example: "trace = false",
        text: "PM2's tracing.",
    },
    OptionDoc {
        key: "disable_trace",
        kind: "any",
        default: "-",
        systemd: NO_EFFECT,
        example: "disable_trace = true",
        text: "PM2's tracing.",
    },
    OptionDoc {
        key: "v8",
        kind: "any",
        default: "-",
        systemd: NO_EFFECT,
        example: "v8 = false",
        text: "PM2's monitoring.",
    },
    OptionDoc {
        key: "event_loop_inspector",
        kind: "any",
        default: "-",
        systemd: NO_EFFECT,
        example: "event_loop_inspector = false",
        text: "PM2's monitoring.",
    },
    OptionDoc {
        key: "deep_monitoring",
        kind: "any",
        default: "-",
        systemd: NO_EFFECT,
        example: "deep_monitoring = false",
        text: "PM2's monitoring.",
    },
    OptionDoc {
        key: "io",
        kind: "any",
        default: "-",
        systemd: NO_EFFECT,
        example: "io = {}",
        text: "PM2's monitoring.",
    },
];

/// One entry per key of `schema::DEPLOY_OPTIONS` (a `[deploy.<name>]` table).
pub static DEPLOY_OPTION_DOCS: &[OptionDoc] = &[
    OptionDoc {
        key: "user",
        kind: "string",
        default: "ssh's default",
        systemd: "ssh user@host",
        example: "user = \"deploy\"",
        text: "The account ssh logs in as.",
    },
    OptionDoc {
        key: "host",
        kind: "string or array of strings",
        default: "required",
        systemd: "the hosts the deploy runs on, one after the other",
        example: "host = [\"web1\", \"web2\"]",
        text: "Host names as ssh takes them.",
    },
    OptionDoc {
        key: "ref",
        kind: "string",
        default: "required",
        systemd: "the git ref checked out (origin/main)",
        example: "ref = \"origin/main\"",
        text: "What is deployed.",
    },
    OptionDoc {
        key: "repo",
        kind: "string",
        default: "required",
        systemd: "the repository cloned on the host",
        example: "repo = \"git@example.com:shop/api.git\"",
        text: "The git repository.",
    },
    OptionDoc {
        key: "path",
        kind: "string",
        default: "required",
        systemd: "PM2's layout: source/, current -> source, shared/",
        example: "path = \"/srv/api\"",
        text: "Where the app lives on the host.",
    },
    OptionDoc {
        key: "ssh_options",
        kind: "string or array of strings",
        default: "none",
        systemd: "ssh -o each",
        example: "ssh_options = [\"StrictHostKeyChecking=yes\"]",
        text: "Options for ssh.",
    },
    OptionDoc {
        key: "key",
        kind: "string (a path)",
        default: "ssh's default",
        systemd: "ssh -i",
        example: "key = \"~/.ssh/deploy\"",
        text: "The private key ssh uses.",
    },
    OptionDoc {
        key: "pre-setup",
        kind: "string (a shell command)",
        default: "none",
        systemd: "run on the host before setup",
        example: "pre-setup = \"apt-get install -y git\"",
        text: "A hook of deploy setup.",
    },
    OptionDoc {
        key: "post-setup",
        kind: "string (a shell command)",
        default: "none",
        systemd: "run on the host after setup",
        example: "post-setup = \"ls -la\"",
        text: "A hook of deploy setup.",
    },
    OptionDoc {
        key: "pre-deploy-local",
        kind: "string (a shell command)",
        default: "none",
        systemd: "run here before the deploy",
        example: "pre-deploy-local = \"echo deploying\"",
        text: "A hook run on this machine.",
    },
    OptionDoc {
        key: "pre-deploy",
        kind: "string (a shell command)",
        default: "none",
        systemd: "run on the host before the new release is checked out",
        example: "pre-deploy = \"git fetch --all\"",
        text: "A failing hook stops the deploy.",
    },
    OptionDoc {
        key: "post-deploy",
        kind: "string (a shell command)",
        default: "none",
        systemd: "run on the host in the new release",
        example: "post-deploy = \"npm ci && pm2ctl apply ecosystem.toml --env production\"",
        text: "Usually installs and applies the release.",
    },
    OptionDoc {
        key: "test",
        kind: "string (a shell command)",
        default: "none",
        systemd: "run on the host after post-deploy",
        example: "test = \"curl -fs localhost:8080/health\"",
        text: "A failing test reverts to the previous release.",
    },
    OptionDoc {
        key: "env",
        kind: "table of strings",
        default: "empty",
        systemd: "the hooks' environment, and the apps' with --env <name>",
        example: "env = { NODE_ENV = \"production\" }",
        text: "Variables for the hooks and, with --env, for the apps.",
    },
];

/// An option of the loader's table with its documentation (`None` only if missing, which
/// the tests refuse).
pub struct Documented {
    pub key: &'static str,
    /// PM2's other spellings; the camelCase form of each is accepted too.
    pub aliases: &'static [&'static str],
    /// Accepted without effect.
    pub ignored: bool,
    pub doc: Option<&'static OptionDoc>,
}

/// Every app option, in the loader's order.
pub fn app_options() -> Vec<Documented> {
    documented(super::schema::APP_OPTIONS, APP_OPTION_DOCS)
}

/// Every key of a `[deploy.<name>]` table, in the loader's order.
pub fn deploy_options() -> Vec<Documented> {
    documented(super::schema::DEPLOY_OPTIONS, DEPLOY_OPTION_DOCS)
}

fn documented<D>(
    table: &'static [super::schema::OptionSpec<D>],
    docs: &'static [OptionDoc],
) -> Vec<Documented> {
    table
        .iter()
        .map(|o| Documented {
            key: o.key,
            aliases: o.aliases,
            ignored: o.apply.is_none(),
            doc: find(docs, o.key),
        })
        .collect()
}

/// The documentation of `key` in `docs`.
pub fn find<'a>(docs: &'a [OptionDoc], key: &str) -> Option<&'a OptionDoc> {
    docs.iter().find(|d| d.key == key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ecosystem::schema::{APP_OPTIONS, DEPLOY_OPTIONS};

    #[test]
    fn the_lists_follow_the_loaders_tables() {
        assert_eq!(app_options().len(), APP_OPTIONS.len());
        assert!(app_options().iter().all(|o| o.doc.is_some()));
        assert!(deploy_options().iter().any(|o| o.key == "host"));
    }

    #[test]
    fn every_option_of_the_loader_is_documented_and_nothing_else() {
        let app_keys: Vec<&str> = APP_OPTIONS.iter().map(|o| o.key).collect();
        let deploy_keys: Vec<&str> = DEPLOY_OPTIONS.iter().map(|o| o.key).collect();
        for (table, keys, docs) in [
            ("APP_OPTIONS", &app_keys, APP_OPTION_DOCS),
            ("DEPLOY_OPTIONS", &deploy_keys, DEPLOY_OPTION_DOCS),
        ] {
            let undocumented: Vec<&&str> =
                keys.iter().filter(|k| find(docs, k).is_none()).collect();
            assert!(
                undocumented.is_empty(),
                "options of {table} without documentation in src/ecosystem/docs.rs: {undocumented:?}"
            );
            let stray: Vec<&str> = docs
                .iter()
                .map(|d| d.key)
                .filter(|k| !keys.contains(k))
                .collect();
            assert!(
                stray.is_empty(),
                "documented options {table} does not have: {stray:?}"
            );
            for d in docs {
                for (field, text) in [
                    ("kind", d.kind),
                    ("default", d.default),
                    ("systemd", d.systemd),
                    ("example", d.example),
                    ("text", d.text),
                ] {
                    assert!(!text.trim().is_empty(), "{}: `{field}` is empty", d.key);
                }
            }
        }
    }

    #[test]
    fn every_example_loads() {
        // Each app option's example, in an app of its own, passes the loader (the ignored
        // ones are accepted and noted).
        for d in APP_OPTION_DOCS {
            if d.example.contains('…') || ["name", "script"].contains(&d.key) {
                continue;
            }
            let text = format!("[[apps]]\nname = \"a\"\nscript = \"a.js\"\n{}\n", d.example);
            let loaded = crate::ecosystem::load_text(
                std::path::Path::new("ecosystem.toml"),
                &text,
                crate::ecosystem::Format::Toml,
            );
            assert!(
                loaded.is_ok(),
                "{}: {:?}",
                d.key,
                loaded.err().map(|e| e.to_string())
            );
        }
    }
}

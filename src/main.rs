//! The `pm2ctl` command line: parses arguments and hands each verb to its module.

use clap::{CommandFactory, FromArgMatches, Parser};
use pm2ctl::cli;
use pm2ctl::lifecycle::start_or::Then;
use std::process::ExitCode;

#[derive(Parser, Debug)]
#[command(
    name = "pm2ctl",
    version,
    about = "PM2's process management with systemd as the supervisor"
)]
struct Cli {
    /// Manage another machine's apps over ssh (`systemd-stdio-bridge`, as `systemctl -H`):
    /// its systemd (with --user, the ssh user's own manager), journal and pm2ctl state.
    #[arg(short = 'H', long = "host", global = true, value_name = "[USER@]HOST")]
    host: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Subcommand, Debug)]
enum Command {
    /// Check an ecosystem file and report every problem in it.
    Validate { file: std::path::PathBuf },
    /// Print the ecosystem.toml equivalent of a PM2 ecosystem file (.json, .js, .cjs, .mjs,
    /// .yml) or of PM2's process dump (`~/.pm2/dump.pm2`, what `pm2 save` wrote).
    Import { file: std::path::PathBuf },
    /// Show the systemd units a file becomes, with every property (no systemd needed).
    Plan(cli::plan::Args),
    /// Make systemd run what an ecosystem file says, changing only the apps that differ.
    Apply(cli::apply::Args),
    /// Save what runs now, so `resurrect` and every boot bring it back.
    #[command(alias = "dump")]
    Save(cli::save::Args),
    /// Apply what `save` saved, now.
    Resurrect(cli::resurrect::Args),
    /// Make the saved apps start at every boot (the generator; lingering for --user).
    Startup(cli::startup::Args),
    /// Stop starting the saved apps at boot (the saved file is kept unless --delete-saved).
    Unstartup(cli::startup::UnstartupArgs),
    /// Start an ecosystem file, a script, or known apps.
    Start(Box<cli::start::Args>),
    /// Stop processes; they stay listed as stopped (`--watch` stops watching too).
    Stop(cli::stop::Args),
    /// Restart processes (stopped ones start); `--watch` toggles watching.
    Restart(cli::restart::Args),
    /// Replace processes one at a time, each ready before the next: no request is lost.
    Reload(cli::reload::Args),
    /// Stop processes and forget them.
    #[command(alias = "del")]
    Delete(cli::TargetArgs),
    /// Change an app's instance count: `scale api 4`, `scale api +1`.
    Scale(cli::scale::Args),
    /// Set restart counters back to zero.
    Reset(cli::TargetArgs),
    /// Send a signal to processes: `sendSignal SIGUSR2 api`.
    #[command(name = "sendSignal", alias = "send-signal")]
    SendSignal(cli::send_signal::Args),
    /// Show apps' logs from the journal, following new lines (--nostream to exit).
    #[command(alias = "log")]
    Logs(cli::logs::LogsArgs),
    /// Hide the logs shown so far from `logs` (journald keeps them until it rotates).
    Flush(cli::logs::FlushArgs),
    /// List processes: PM2's table from systemd and the state store.
    #[command(visible_aliases = ["ls", "l", "ps", "status"])]
    List(cli::list::Args),
    /// The process list as PM2's JSON (`pm2 jlist`'s shape), on one line.
    Jlist(cli::jlist::Args),
    /// The process list as `pm2 prettylist` prints it (a JavaScript literal).
    Prettylist(cli::jlist::Args),
    /// Everything about one app: definition, units, instances, limits, paths, last log lines.
    #[command(visible_aliases = ["describe", "desc", "info"])]
    Show(cli::show::Args),
    /// A live dashboard: CPU and memory per process with history, status, restarts, logs.
    #[command(visible_aliases = ["dashboard", "dash"])]
    Monit(cli::monit::Args),
    /// Deploy with git over ssh from `[deploy.ENV]`: setup, update, revert [N], curr, prev, list, exec.
    Deploy(cli::deploy::Args),
    /// Start the file's apps that do not run, restart those that do (PM2's verb).
    #[command(name = "startOrRestart")]
    StartOrRestart(cli::start::StartOrArgs),
    /// Start the file's apps that do not run, reload those that do: no request is lost.
    #[command(name = "startOrReload")]
    StartOrReload(cli::start::StartOrArgs),
    /// As `startOrReload` (PM2's graceful reload is pm2ctl's only reload).
    #[command(name = "startOrGracefulReload")]
    StartOrGracefulReload(cli::start::StartOrArgs),
    /// Stop and delete every app (the saved state is kept: `resurrect` brings it back).
    Kill(cli::pm2::Args),
    /// PM2 updates its daemon; there is none here: prints PM2's line, changes nothing.
    #[command(alias = "updatePM2")]
    Update,
    /// Answers `{ msg: 'pong' }` when systemd answers.
    Ping(cli::pm2::Args),
    /// PM2 Plus: accepted, does nothing.
    Link(cli::pm2::PlusArgs),
    /// PM2 Plus: accepted, does nothing.
    Unlink(cli::pm2::PlusArgs),
    /// Make apps that write log files open them again (after logrotate moved them).
    #[command(name = "reloadLogs")]
    ReloadLogs(cli::pm2::Args),
    /// Every `pm2_env` field of the process with this pm_id, `key: value`.
    Env(cli::pm2::EnvArgs),
    /// The pm_ids of an app: `[ 0, 1 ]`.
    Id(cli::pm2::IdArgs),
    /// The main pid of each process of an app (of every app without a name), one a line.
    Pid(cli::pm2::PidArgs),
    /// Empty the saved state (the apps running now are not touched).
    Cleardump(cli::pm2::Args),
    /// Write an ecosystem.config.js to start from (`simple`: one app); PM2's `ecosystem`.
    // Named `init`, `ecosystem` an alias: `man pm2ctl-ecosystem` is the file format's page (5),
    // which a verb page of that name would shadow (section 1 is searched first).
    #[command(name = "init", alias = "ecosystem")]
    Ecosystem(cli::pm2::EcosystemArgs),
    /// Run COMMAND with stdout and stderr as separate journal streams (the ExecStart of app units).
    #[command(hide = true)]
    ExecWrap(cli::logs::ExecWrapArgs),
    /// Restart APP when its watched files change (the process of its watch unit).
    #[command(hide = true)]
    WatchAgent(cli::watch_agent::Args),
    /// Reload the instances of an app above its memory mark (run by its memory-check timer).
    #[command(hide = true)]
    MemoryCheck(cli::memory_check::Args),
}

fn main() -> ExitCode {
    // For package builds: man pages and completions rendered from this very definition.
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == pm2ctl::cli::reference::VERB)
    {
        return pm2ctl::cli::reference::main(Cli::command());
    }
    // The process exec-wrap starts to write formatted log files (see `logs::wrap`).
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == pm2ctl::logs::wrap::COPY_VERB)
    {
        return pm2ctl::logs::wrap::copy_main(std::env::args_os().skip(2).collect());
    }
    // Units that run pm2ctl itself send a `$` as a token (see `unit::dollar`).
    let args = pm2ctl::unit::dollar::decode(std::env::args_os().collect());
    // Called as `pm2`: PM2's usage, messages and exit codes (0 or 1).
    let pm2 = cli::pm2::called_as_pm2();
    let mut command = Cli::command();
    if pm2 {
        command = command.name("pm2").bin_name("pm2");
    }
    let matches = match cli::pm2::parse_lenient(&command, args) {
        Ok(matches) => matches,
        Err(e) => return cli::pm2::usage_error(e, pm2, &mut command),
    };
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    pm2ctl::logs::diagnostics::init();
    // The machine this run acts on, built once; the verb's manager options carry it.
    use cli::remote::{BOOT_SETUP, DEPLOY, INSIDE_UNITS, LOCAL_ONLY};
    let refusal = match cli.command {
        Command::Startup(_) | Command::Unstartup(_) => Some(BOOT_SETUP),
        Command::ExecWrap(_) | Command::WatchAgent(_) | Command::MemoryCheck(_) => {
            Some(INSIDE_UNITS)
        }
        Command::Validate { .. } | Command::Import { .. } | Command::Plan(_) => Some(LOCAL_ONLY),
        Command::Deploy(_) => Some(DEPLOY),
        _ => None,
    };
    let verb = matches.subcommand_name().unwrap_or_default();
    let host = match cli::remote::select(cli.host.as_deref(), verb, refusal) {
        Ok(host) => host,
        Err(e) => {
            eprintln!("pm2ctl: {e:#}");
            return ExitCode::from(2);
        }
    };
    let mut cli = cli;
    if let Some(manager) = cli.command.manager_mut() {
        manager.host = host;
    }
    // Every verb's outcome goes through `cli::finish`: its message and PM2's exit code.
    let done = |r: anyhow::Result<()>| r.map(|()| ExitCode::SUCCESS);
    let result = match cli.command {
        Command::Validate { file } => cli::validate::run(&file),
        Command::Import { file } => cli::import::run(&file),
        Command::Plan(args) => done(cli::plan::run(args)),
        Command::Apply(args) => cli::apply::run(&args),
        Command::Save(args) => done(cli::save::run(&args)),
        Command::Resurrect(args) => cli::resurrect::run(&args),
        Command::Startup(args) => done(cli::startup::run(&args)),
        Command::Unstartup(args) => done(cli::startup::run_unstartup(&args)),
        Command::Start(args) => done(cli::start::run(*args)),
        Command::Stop(args) => done(cli::stop::run(&args)),
        Command::Restart(args) => done(cli::restart::run(&args)),
        Command::Reload(args) => done(cli::reload::run(&args)),
        Command::Delete(args) => done(cli::delete::run(&args)),
        Command::Reset(args) => done(cli::reset::run(&args)),
        Command::Scale(args) => done(cli::scale::run(&args)),
        Command::SendSignal(args) => done(cli::send_signal::run(&args)),
        Command::Logs(args) => done(cli::logs::logs(args)),
        Command::Flush(args) => done(cli::logs::flush(args)),
        Command::ExecWrap(args) => cli::logs::exec_wrap(args),
        Command::WatchAgent(args) => done(cli::watch_agent::run(&args)),
        Command::MemoryCheck(args) => done(cli::memory_check::run(&args)),
        Command::List(args) => done(cli::list::run(args)),
        Command::Jlist(args) => done(cli::jlist::run(args)),
        Command::Prettylist(args) => done(cli::jlist::run_pretty(args)),
        Command::Show(args) => done(cli::show::run(args)),
        Command::Monit(args) => done(cli::monit::run(args)),
        Command::Deploy(args) => done(cli::deploy::run(&args)),
        Command::StartOrRestart(args) => done(cli::start::run_start_or(&args, Then::Restart)),
        Command::StartOrReload(args) | Command::StartOrGracefulReload(args) => {
            done(cli::start::run_start_or(&args, Then::Reload))
        }
        Command::Kill(args) => done(cli::pm2::kill(&args)),
        Command::Update => done(cli::pm2::update()),
        Command::Ping(args) => done(cli::pm2::ping(&args)),
        Command::Link(_) => done(cli::pm2::plus("link")),
        Command::Unlink(_) => done(cli::pm2::plus("unlink")),
        Command::ReloadLogs(args) => done(cli::pm2::reload_logs(&args)),
        Command::Env(args) => done(cli::pm2::env(&args)),
        Command::Id(args) => done(cli::pm2::id(&args)),
        Command::Pid(args) => done(cli::pm2::pid(&args)),
        Command::Cleardump(args) => done(cli::pm2::cleardump(&args)),
        Command::Ecosystem(args) => done(cli::pm2::ecosystem(&args)),
    };
    let code = cli::finish(result);
    if pm2 {
        cli::pm2::pm2_exit_code(code)
    } else {
        code
    }
}

impl Command {
    /// The verb's manager options (`--user`/`--system`), where it has them: `main` gives
    /// them the machine to act on.
    fn manager_mut(&mut self) -> Option<&mut cli::ManagerArgs> {
        Some(match self {
            Command::Plan(a) => &mut a.manager,
            Command::Apply(a) => &mut a.manager,
            Command::Save(a) => &mut a.manager,
            Command::Resurrect(a) => &mut a.manager,
            Command::Startup(a) => &mut a.manager,
            Command::Unstartup(a) => &mut a.manager,
            Command::Start(a) => &mut a.manager,
            Command::Stop(a) => &mut a.target.manager,
            Command::Restart(a) => &mut a.target.manager,
            Command::Reload(a) => &mut a.manager,
            Command::Delete(a) | Command::Reset(a) => &mut a.manager,
            Command::Scale(a) => &mut a.manager,
            Command::SendSignal(a) => &mut a.manager,
            Command::Logs(a) => &mut a.manager,
            Command::Flush(a) => &mut a.manager,
            Command::ExecWrap(_) => return None,
            Command::WatchAgent(a) => &mut a.manager,
            Command::MemoryCheck(a) => &mut a.manager,
            Command::List(a) => &mut a.manager,
            Command::Jlist(a) | Command::Prettylist(a) => &mut a.manager,
            Command::Show(a) => &mut a.manager,
            Command::Monit(a) => &mut a.manager,
            Command::Deploy(_) => return None,
            Command::StartOrRestart(a)
            | Command::StartOrReload(a)
            | Command::StartOrGracefulReload(a) => &mut a.manager,
            Command::Kill(a)
            | Command::Ping(a)
            | Command::ReloadLogs(a)
            | Command::Cleardump(a) => &mut a.manager,
            Command::Env(a) => &mut a.manager,
            Command::Id(a) => &mut a.manager,
            Command::Pid(a) => &mut a.manager,
            Command::Ecosystem(_)
            | Command::Update
            | Command::Link(_)
            | Command::Unlink(_)
            | Command::Validate { .. }
            | Command::Import { .. } => return None,
        })
    }
}

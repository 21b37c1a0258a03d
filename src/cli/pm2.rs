//! PM2's small verbs that scripts, hooks and runbooks call (`kill`, `ping`, `pid`, `id`,
//! `env`, `cleardump`, `ecosystem`, `update`, `link`), with PM2's output and exit codes;
//! and the `pm2` name: pm2ctl called as `pm2` answers as PM2 does.

use super::list::snapshot;
use super::{ManagerArgs, Prefixed};
use crate::boot::saved::{self, SavedFile};
use crate::inspect::jlist;
use crate::inspect::js::Js;
use crate::lifecycle;
use crate::state;
use anyhow::Result;
use clap::error::{ContextKind, ContextValue, ErrorKind};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// True when this process was called as `pm2` (a link or copy of pm2ctl by that name).
pub fn called_as_pm2() -> bool {
    std::env::args_os()
        .next()
        .is_some_and(|argv0| is_pm2_name(Path::new(&argv0)))
}

/// `pm2`, `/usr/bin/pm2`, `./pm2`: the file name alone decides.
pub fn is_pm2_name(argv0: &Path) -> bool {
    argv0.file_name().is_some_and(|n| n == "pm2")
}

/// The verbs whose unknown options are dropped with a warning instead of refused: PM2's
/// verbs, whose command lines carry options of every PM2 version.
const LENIENT: [&str; 9] = [
    "start",
    "restart",
    "reload",
    "stop",
    "delete",
    "del",
    "startOrRestart",
    "startOrReload",
    "startOrGracefulReload",
];

/// Parses the command line; with one of PM2's verbs, an option pm2ctl does not know is
/// dropped with a warning (`--no-foo`, `--foo=bar`; a value given apart stays an argument).
pub fn parse_lenient(
    command: &clap::Command,
    mut args: Vec<OsString>,
) -> Result<clap::ArgMatches, clap::Error> {
    loop {
        let error = match command.clone().try_get_matches_from(&args) {
            Ok(matches) => return Ok(matches),
            Err(e) if e.kind() == ErrorKind::UnknownArgument => e,
            Err(e) => return Err(e),
        };
        let Some(ContextValue::String(bad)) = error.get(ContextKind::InvalidArg) else {
            return Err(error);
        };
        let Some(verb_at) = verb_position(&args) else {
            return Err(error);
        };
        if !LENIENT.iter().any(|v| args[verb_at] == *v) {
            return Err(error);
        }
        let end = args.iter().position(|a| a == "--").unwrap_or(args.len());
        let with_value = format!("{bad}=");
        let Some(at) = (verb_at + 1..end).find(|&i| {
            let a = args[i].to_string_lossy();
            a == bad.as_str() || a.starts_with(&with_value)
        }) else {
            return Err(error);
        };
        eprintln!("[PM2][WARN] unknown option {bad}: ignored");
        args.remove(at);
    }
}

/// Where the verb is: the first argument that is not an option (nor `-H`'s value).
fn verb_position(args: &[OsString]) -> Option<usize> {
    let mut i = 1;
    while i < args.len() {
        let a = args[i].to_string_lossy();
        if a == "-H" || a == "--host" {
            i += 2;
        } else if a.starts_with('-') {
            i += 1;
        } else {
            return Some(i);
        }
    }
    None
}

/// A command line clap refused: as pm2ctl, clap's message and exit code 2; as `pm2`,
/// PM2's: usage on stdout for no command, `Command not found`, and exit code 1.
pub fn usage_error(error: clap::Error, pm2: bool, command: &mut clap::Command) -> ExitCode {
    if matches!(
        error.kind(),
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
    ) || !pm2
    {
        error.exit();
    }
    match error.kind() {
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            println!("{}", command.render_usage());
            println!("{}", command.render_help());
        }
        ErrorKind::InvalidSubcommand => {
            println!("[PM2][ERROR] Command not found\n");
            println!("{}", command.render_usage());
        }
        _ => {
            let _ = error.print();
        }
    }
    ExitCode::from(1)
}

/// PM2's exit codes: 0 or 1 (pm2ctl's 2, a refused file or command line, is PM2's 1).
pub fn pm2_exit_code(code: ExitCode) -> ExitCode {
    if code == ExitCode::SUCCESS {
        code
    } else {
        ExitCode::from(1)
    }
}

/// The arguments of the verbs that only need the manager.
#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(flatten)]
    pub manager: ManagerArgs,
}

/// `kill`: every app stopped and removed, as PM2's `kill` deletes every process before it
/// stops its daemon. The saved state is kept (PM2's dump is too): `resurrect` and the next
/// boot bring the saved apps back.
pub fn kill(args: &Args) -> Result<()> {
    lifecycle::act::kill_all(&args.manager.host, args.manager.scope())
}

/// `reloadLogs`: PM2 reopens its log files (after logrotate moved them without
/// copytruncate). An app's files are opened once, before it starts; so the apps that write
/// files are reloaded, one instance at a time, each ready before the next, and open them
/// anew. Apps logging to the journal only are not touched.
pub fn reload_logs(args: &Args) -> Result<()> {
    println!("[PM2] Reloading all logs...");
    lifecycle::act::reopen_logs(&args.manager.host, args.manager.scope())?;
    println!("[PM2] All logs reloaded");
    Ok(())
}

/// `ping`: PM2 answers once its daemon is up; here, once systemd answers.
pub fn ping(args: &Args) -> Result<()> {
    args.manager
        .connect()
        .map_err(|e| Prefixed::error("[PM2][ERROR] ", e))?;
    println!("{{ msg: 'pong' }}");
    Ok(())
}

/// `update` (`updatePM2`): PM2 saves, kills and respawns its daemon, then resurrects.
/// There is no daemon here: the apps keep running under systemd, untouched.
pub fn update() -> Result<()> {
    println!("[PM2] No daemon to update: the apps keep running under systemd, untouched");
    println!(">>>>>>>>>> PM2 updated");
    Ok(())
}

/// `link`, `unlink` (PM2 Plus): accepted and ignored, so `pm2 link delete` in a script
/// goes on.
#[derive(clap::Args, Debug)]
pub struct PlusArgs {
    /// Whatever PM2 Plus takes (keys, `delete`, …): ignored.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ignored: Vec<String>,
}

pub fn plus(verb: &str) -> Result<()> {
    println!("[PM2 I/O] No PM2 Plus agent to {verb}: nothing done");
    Ok(())
}

/// `pid [name]`: the main pid of each process of the app (of every app without a name),
/// one a line, 0 for a process that does not run.
#[derive(clap::Args, Debug)]
pub struct PidArgs {
    pub name: Option<String>,
    #[command(flatten)]
    pub manager: ManagerArgs,
}

pub fn pid(args: &PidArgs) -> Result<()> {
    snapshot(&args.manager).map(|snapshot| {
        let pids: Vec<String> = snapshot
            .instances
            .iter()
            .filter(|i| args.name.as_ref().is_none_or(|n| *n == i.name))
            .map(|i| i.pid.unwrap_or(0).to_string())
            .collect();
        println!("{}", pids.join("\n"));
    })
}

/// `id <name>`: the pm_ids of the app, as Node prints an array (`[ 0, 1 ]`, `[]`).
#[derive(clap::Args, Debug)]
pub struct IdArgs {
    pub name: String,
    #[command(flatten)]
    pub manager: ManagerArgs,
}

pub fn id(args: &IdArgs) -> Result<()> {
    snapshot(&args.manager).map(|snapshot| {
        let ids: Vec<u32> = snapshot
            .instances
            .iter()
            .filter(|i| i.name == args.name)
            .map(|i| i.pm_id)
            .collect();
        println!("{}", node_array(&ids));
    })
}

/// Node's `console.log` of an array of numbers.
pub fn node_array(ids: &[u32]) -> String {
    if ids.is_empty() {
        return "[]".to_string();
    }
    let ids: Vec<String> = ids.iter().map(u32::to_string).collect();
    format!("[ {} ]", ids.join(", "))
}

/// `env <id>`: every field of the process' `pm2_env`, `key: value`, as PM2 prints them
/// (JavaScript's string conversion: arrays joined with commas, objects `[object Object]`).
#[derive(clap::Args, Debug)]
pub struct EnvArgs {
    pub id: u32,
    #[command(flatten)]
    pub manager: ManagerArgs,
}

pub fn env(args: &EnvArgs) -> Result<()> {
    let snapshot = snapshot(&args.manager)?;
    let Some(instance) = snapshot.instances.iter().find(|i| i.pm_id == args.id) else {
        anyhow::bail!("[PM2][ERROR] Modules with id {} not found", args.id);
    };
    if let Some(Js::Object(fields)) = jlist::entry(instance).get("pm2_env") {
        for (key, value) in fields {
            println!("{key}: {}", js_string(value));
        }
    }
    Ok(())
}

/// JavaScript's `String(value)`.
pub fn js_string(value: &Js) -> String {
    match value {
        Js::Null => "null".to_string(),
        Js::Bool(b) => b.to_string(),
        Js::Int(i) => i.to_string(),
        Js::Float(f) => f.to_string(),
        Js::Str(s) => s.clone(),
        Js::Array(items) => items
            .iter()
            .map(|v| match v {
                Js::Null => String::new(),
                other => js_string(other),
            })
            .collect::<Vec<_>>()
            .join(","),
        Js::Object(_) => "[object Object]".to_string(),
    }
}

/// `cleardump`: the saved state holds no app any more (PM2 writes `[]` to its dump); the
/// apps running now are not touched.
pub fn cleardump(args: &Args) -> Result<()> {
    let cleared = || -> Result<SavedFile> {
        let scope = args.manager.scope();
        // Under the store's lock, as `save` writes it.
        let _store = state::lock_current(&args.manager.host, scope)?;
        let file = SavedFile::of(&args.manager.host, scope)?;
        file.write(&saved::empty_toml())?;
        Ok(file)
    };
    let file = cleared().map_err(|e| Prefixed::error("[PM2][ERROR] ", e))?;
    println!("[PM2] Dump file {file} cleared");
    Ok(())
}

/// `ecosystem [simple]` (`init`): writes an `ecosystem.config.js` to start from.
#[derive(clap::Args, Debug)]
pub struct EcosystemArgs {
    /// `simple`: one app and no deploy section.
    pub mode: Option<String>,
}

const ECOSYSTEM_SIMPLE: &str = "module.exports = {
  apps : [{
    name   : \"app1\",
    script : \"./app.js\"
  }]
}
";

const ECOSYSTEM_FULL: &str = "module.exports = {
  apps : [{
    name   : \"app\",
    script : \"index.js\",
    watch  : \".\"
  }, {
    name   : \"service-worker\",
    script : \"./service-worker/\",
    watch  : [\"./service-worker\"]
  }],

  deploy : {
    production : {
      user : \"SSH_USERNAME\",
      host : \"SSH_HOSTMACHINE\",
      ref  : \"origin/master\",
      repo : \"GIT_REPOSITORY\",
      path : \"DESTINATION_PATH\",
      \"pre-deploy-local\": \"\",
      \"post-deploy\" : \"npm install && pm2 reload ecosystem.config.js --env production\",
      \"pre-setup\": \"\"
    }
  }
};
";

pub fn ecosystem(args: &EcosystemArgs) -> Result<()> {
    let text = match args.mode.as_deref() {
        Some("simple") => ECOSYSTEM_SIMPLE,
        _ => ECOSYSTEM_FULL,
    };
    let path = PathBuf::from("ecosystem.config.js");
    let path = std::path::absolute(&path).unwrap_or(path);
    // PM2 overwrites an existing file; a user's ecosystem is worth more than a template.
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()));
    match written {
        Ok(()) => {
            println!("File {} generated", path.display());
            Ok(())
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => anyhow::bail!(
            "[PM2][ERROR] File {} already exists: not overwritten (remove it first)",
            path.display()
        ),
        Err(e) => anyhow::bail!("[PM2][ERROR] cannot write {}: {e}", path.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pm2_name_is_the_file_name() {
        assert!(is_pm2_name(Path::new("pm2")));
        assert!(is_pm2_name(Path::new("/usr/bin/pm2")));
        assert!(!is_pm2_name(Path::new("/usr/bin/pm2ctl")));
        assert!(!is_pm2_name(Path::new("pm2-runtime")));
    }

    #[test]
    fn arrays_print_as_node_prints_them() {
        assert_eq!(node_array(&[]), "[]");
        assert_eq!(node_array(&[3]), "[ 3 ]");
        assert_eq!(node_array(&[0, 1]), "[ 0, 1 ]");
    }

    #[test]
    fn values_print_as_javascript_strings() {
        assert_eq!(js_string(&Js::Bool(true)), "true");
        assert_eq!(
            js_string(&Js::Array(vec![Js::Str("a".into()), Js::Int(2)])),
            "a,2"
        );
        assert_eq!(js_string(&Js::Object(Vec::new())), "[object Object]");
        assert_eq!(js_string(&Js::Null), "null");
    }

    #[test]
    fn the_templates_are_ecosystem_files_pm2ctl_reads() {
        // Each app has a name and a script: what validation asks of every app.
        for text in [ECOSYSTEM_SIMPLE, ECOSYSTEM_FULL] {
            assert!(text.contains("name") && text.contains("script"), "{text}");
        }
    }
}

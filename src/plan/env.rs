//! The environment an app runs with: explicit, the same from a shell, from cron and at boot.
//!
//! PM2 copies the whole environment of the shell that ran `pm2 start` into the app. That makes
//! an app behave differently depending on who started it and from where, and it cannot work at
//! boot, when there is no shell. pm2ctl therefore passes **only** what the file says, on top of
//! a small fixed base:
//!
//! 1. the base: `PATH` (the directory of the resolved interpreter first, so a child `node` or
//!    `npm` is the same one, then the standard system directories), `LANG=C.UTF-8`, and, when
//!    the app runs as the calling user, `HOME` and `USER` (with `User=`, systemd sets
//!    `HOME`/`USER`/`LOGNAME`/`SHELL` of that user itself);
//! 2. with `inherit_env = true` only: the caller's environment, minus `filter_env`;
//! 3. `deploy.<env>.env` when `--env <env>` is given (as PM2);
//! 4. `env`, then `env_<env>` when `--env <env>` is given;
//! 5. what PM2 injects and apps read: `name`, `namespace`, `exec_mode` (`fork_mode` or
//!    `cluster_mode`) and `instances` (PM2 exports its process fields under these names), the instance
//!    variable (`NODE_APP_INSTANCE` or `instance_var`) and `increment_var` per instance,
//!    `PORT` from `port`, `PWD` (the working directory), `PYTHONUNBUFFERED=1` for Python, and
//!    for Node interpreters `NODE_OPTIONS=--require <shim>` (prepended to any `NODE_OPTIONS`
//!    the file sets), with the stop settings the shim's graceful stop needs (see
//!    `node_shim_settings`).
//!
//! `pm_id` is not set here: ids belong to pm2ctl's state store, not to the pure plan.

use super::exec::{AppCommand, Runtime};
use super::HostFacts;
use crate::ecosystem::{App, ExecMode, FilterEnv};
use std::collections::BTreeMap;
use std::path::Path;

/// The directories systemd itself searches (its compiled-in default PATH).
pub const SYSTEM_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The locale every app gets unless its file says otherwise.
pub const DEFAULT_LANG: &str = "C.UTF-8";

/// What the per-app environment depends on besides the app.
pub struct EnvInputs<'a> {
    pub env_name: Option<&'a str>,
    pub deploy_env: Option<&'a BTreeMap<String, String>>,
    pub host: &'a HostFacts,
    pub command: &'a AppCommand,
    pub exec_mode: ExecMode,
    pub instances: u32,
    /// `User=` is set to someone other than the caller.
    pub runs_as_other_user: bool,
}

/// The environment shared by all instances of an app (before per-instance variables).
pub fn app_env(app: &App, inputs: &EnvInputs<'_>) -> Result<BTreeMap<String, String>, String> {
    let mut env = BTreeMap::new();
    env.insert("PATH".to_string(), base_path(&inputs.command.exec.path));
    env.insert("LANG".to_string(), DEFAULT_LANG.to_string());
    if !inputs.runs_as_other_user {
        env.insert(
            "HOME".to_string(),
            inputs.host.home.to_string_lossy().into_owned(),
        );
        env.insert("USER".to_string(), inputs.host.user.clone());
    }
    if app.inherit_env {
        for (k, v) in &inputs.host.caller_env {
            if !filtered(k, &app.filter_env) {
                env.insert(k.clone(), v.clone());
            }
        }
    }
    if let Some(deploy) = inputs.deploy_env {
        env.extend(deploy.iter().map(|(k, v)| (k.clone(), v.clone())));
    }
    env.extend(app.env.iter().map(|(k, v)| (k.clone(), v.clone())));
    if let Some(name) = inputs.env_name {
        if let Some(overlay) = app.env_by_name.get(name) {
            env.extend(overlay.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
    }

    env.insert("name".to_string(), app.name.clone());
    env.insert("namespace".to_string(), app.namespace.clone());
    let mode = match inputs.exec_mode {
        ExecMode::Fork => "fork_mode",
        ExecMode::Cluster => "cluster_mode",
    };
    env.insert("exec_mode".to_string(), mode.to_string());
    env.insert("instances".to_string(), inputs.instances.to_string());
    if let Some(port) = app.port {
        env.insert("PORT".to_string(), port.to_string());
    }
    env.insert(
        "PWD".to_string(),
        inputs.command.cwd.to_string_lossy().into_owned(),
    );
    if inputs.command.runtime == Runtime::Python {
        env.insert("PYTHONUNBUFFERED".to_string(), "1".to_string());
    }
    if inputs.command.runtime.loads_node_shim() {
        let require = format!("--require {}", node_option_word(&inputs.host.node_shim));
        let value = match env.get("NODE_OPTIONS") {
            Some(user) if !user.trim().is_empty() => format!("{require} {user}"),
            _ => require,
        };
        env.insert("NODE_OPTIONS".to_string(), value);
        env.extend(node_shim_settings(app));
    }

    for (k, v) in &env {
        check_variable(k, v)?;
    }
    Ok(env)
}

/// What the Node shim reads for its graceful stop (documented in `pm2ctl-shim.js`): it must
/// finish draining before systemd's SIGKILL at `kill_timeout`, handle the app's
/// `kill_signal`, and emit `'shutdown'` for `shutdown_with_message`.
fn node_shim_settings(app: &App) -> Vec<(String, String)> {
    let mut settings = vec![
        (
            "PM2CTL_KILL_TIMEOUT_MS".to_string(),
            app.kill_timeout.as_millis().to_string(),
        ),
        ("PM2CTL_KILL_SIGNAL".to_string(), app.kill_signal.clone()),
    ];
    if app.shutdown_with_message {
        settings.push(("PM2CTL_SHUTDOWN_WITH_MESSAGE".to_string(), "1".to_string()));
    }
    settings
}

/// What the Node shim reads to hand its socket over to a new process on `reload` (see
/// `pm2ctl-shim.js`): set only for apps run by `node` itself on a socket systemd holds,
/// whose command the shim can start again as it is.
pub fn handover_settings(app: &App, dir: &Path) -> Vec<(String, String)> {
    let mut settings = vec![
        (HANDOVER_VAR.to_string(), "1".to_string()),
        (
            HANDOVER_DIR_VAR.to_string(),
            dir.to_string_lossy().into_owned(),
        ),
        (
            "PM2CTL_LISTEN_TIMEOUT_MS".to_string(),
            app.listen_timeout.as_millis().to_string(),
        ),
    ];
    if app.wait_ready {
        settings.push(("PM2CTL_WAIT_READY".to_string(), "1".to_string()));
    }
    settings
}

/// On a service: its Node shim hands the socket over on `reload` (see `handover_settings`).
pub const HANDOVER_VAR: &str = "PM2CTL_HANDOVER";

/// On a service that hands over: where `apply` leaves a changed environment for the shim.
pub const HANDOVER_DIR_VAR: &str = "PM2CTL_HANDOVER_DIR";

/// The environment of instance `index`, as systemd's `Environment` (`as`, sorted by name).
pub fn instance_env(
    app_env: &BTreeMap<String, String>,
    app: &App,
    index: u32,
) -> Result<Vec<String>, String> {
    let mut env = app_env.clone();
    env.insert(app.instance_var.clone(), index.to_string());
    if let Some(var) = &app.increment_var {
        let base = app_env.get(var).ok_or_else(|| {
            format!(
                "increment_var: `{var}` has no base value; set it in `env`{}",
                if var == "PORT" { " or set `port`" } else { "" }
            )
        })?;
        let base: u64 = base.trim().parse().map_err(|_| {
            format!("increment_var: `{var}` is `{base}`, not a whole number to increment")
        })?;
        env.insert(var.clone(), (base + u64::from(index)).to_string());
    }
    check_variable(&app.instance_var, &index.to_string())
        .map_err(|e| format!("instance_var: {e}"))?;
    Ok(env.into_iter().map(|(k, v)| format!("{k}={v}")).collect())
}

/// The interpreter's own directory first, then the system directories.
fn base_path(executable: &str) -> String {
    let mut dirs: Vec<&str> = Vec::new();
    if let Some(dir) = Path::new(executable).parent().and_then(|d| d.to_str()) {
        if !dir.is_empty() && !dir.contains(':') && !SYSTEM_PATH.split(':').any(|d| d == dir) {
            dirs.push(dir);
        }
    }
    dirs.push(SYSTEM_PATH);
    dirs.join(":")
}

fn filtered(name: &str, filter: &FilterEnv) -> bool {
    match filter {
        FilterEnv::None => false,
        FilterEnv::All => true,
        FilterEnv::Prefixes(prefixes) => prefixes.iter().any(|p| name.starts_with(p.as_str())),
    }
}

/// A word of NODE_OPTIONS: Node splits it on spaces and honours double quotes.
fn node_option_word(path: &Path) -> String {
    let s = path.to_string_lossy();
    if s.chars()
        .any(|c| c.is_whitespace() || c == '"' || c == '\\')
    {
        let escaped = s.replace('\\', "\\\\").replace('"', "\\\"");
        format!("\"{escaped}\"")
    } else {
        s.into_owned()
    }
}

/// What systemd accepts in `Environment`: a name of letters, digits and `_` not starting
/// with a digit, and a value without NUL (D-Bus strings cannot carry one).
fn check_variable(name: &str, value: &str) -> Result<(), String> {
    let valid_name = !name.is_empty()
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    if !valid_name {
        return Err(format!(
            "env: `{}` is not a valid environment variable name (letters, digits and `_`, not starting with a digit)",
            name.escape_debug()
        ));
    }
    if value.contains('\0') {
        return Err(format!("env: the value of `{name}` contains a NUL byte"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_starts_with_the_interpreter_directory() {
        assert_eq!(
            base_path("/home/u/.nvm/versions/node/v20/bin/node"),
            format!("/home/u/.nvm/versions/node/v20/bin:{SYSTEM_PATH}")
        );
        assert_eq!(base_path("/usr/bin/node"), SYSTEM_PATH);
    }

    #[test]
    fn node_option_words_are_quoted_when_needed() {
        assert_eq!(
            node_option_word(Path::new("/usr/lib/s.js")),
            "/usr/lib/s.js"
        );
        assert_eq!(node_option_word(Path::new("/a b/s.js")), "\"/a b/s.js\"");
    }

    #[test]
    fn variable_names_are_checked() {
        assert!(check_variable("NODE_ENV", "x").is_ok());
        assert!(check_variable("1X", "x").is_err());
        assert!(check_variable("A-B", "x").is_err());
        assert!(check_variable("A", "a\0b").is_err());
    }
}

//! PM2's process dump (`~/.pm2/dump.pm2`, written by `pm2 save`) read as the PM2
//! ecosystem that would start the same apps, so a PM2 host moves over in one step
//! (`pm2ctl import ~/.pm2/dump.pm2`).
//!
//! The dump is a JSON array with one entry per process: its `pm2_env` (the entry itself, or
//! under `pm2_env`). The processes of one app (same name) become one app with that many
//! instances; the options PM2 knows are kept, PM2's run-time fields dropped, and the
//! environment PM2 captured loses PM2's own variables and what systemd sets for each unit.

use serde_json::{Map, Value};

/// Variables of a captured environment an app does not get again: what systemd sets for
/// each unit (the user's identity and session, the service's own protocol variables) and
/// the shell's bookkeeping. Also the rule for `start SCRIPT`'s caller environment.
const NOT_INHERITED: [&str; 20] = [
    "_",
    "SHLVL",
    "PWD",
    "OLDPWD",
    "HOME",
    "USER",
    "LOGNAME",
    "SHELL",
    "MAIL",
    "XDG_RUNTIME_DIR",
    "DBUS_SESSION_BUS_ADDRESS",
    "INVOCATION_ID",
    "JOURNAL_STREAM",
    "SYSTEMD_EXEC_PID",
    "NOTIFY_SOCKET",
    "LISTEN_PID",
    "LISTEN_FDS",
    "LISTEN_FDNAMES",
    "WATCHDOG_PID",
    "WATCHDOG_USEC",
];

/// PM2's own variables in an app's environment.
const PM2_VARIABLES: [&str; 7] = [
    "PM2_HOME",
    "PM2_USAGE",
    "PM2_JSON_PROCESSING",
    "PM2_INTERACTOR_PROCESSING",
    "PM2_DISCRETE_MODE",
    "unique_id",
    "NODE_APP_INSTANCE",
];

/// Whether a variable of a captured environment (the caller's, or one PM2 saved) is
/// given to an app: not one of `NOT_INHERITED` nor pm2ctl's own (`PM2CTL_*`), a name
/// `[A-Za-z_][A-Za-z0-9_]*` (not, say, bash's exported functions), and a value without
/// control characters but tabs.
pub fn inheritable(name: &str, value: &str) -> bool {
    let mut chars = name.chars();
    let name_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
    name_ok
        && !NOT_INHERITED.contains(&name)
        && !name.starts_with("PM2CTL_")
        && !value.chars().any(|c| c.is_control() && c != '\t')
}

/// The options of a process' `pm2_env` that are app options, carried over as they are.
const KEPT: [&str; 27] = [
    "args",
    "node_args",
    "exec_mode",
    "instance_var",
    "increment_var",
    "autorestart",
    "max_restarts",
    "min_uptime",
    "kill_timeout",
    "restart_delay",
    "exp_backoff_restart_delay",
    "listen_timeout",
    "wait_ready",
    "shutdown_with_message",
    "treekill",
    "stop_exit_codes",
    "cron_restart",
    "max_memory_restart",
    "watch",
    "ignore_watch",
    "watch_delay",
    "merge_logs",
    "log_date_format",
    "log_type",
    "disable_source_map_support",
    "port",
    "filter_env",
];

/// The PM2 ecosystem (`{"apps": [...]}`) that starts what the dump `text` ran, or why it
/// is no PM2 dump.
pub fn ecosystem_json(text: &str) -> Result<Value, String> {
    let dump: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let Value::Array(processes) = dump else {
        return Err("not a PM2 dump: expected a JSON array of processes".into());
    };
    // (name, pm2_env of its first process, how many processes)
    let mut apps: Vec<(String, &Map<String, Value>, u32)> = Vec::new();
    for (i, process) in processes.iter().enumerate() {
        let env = process
            .get("pm2_env")
            .unwrap_or(process)
            .as_object()
            .ok_or_else(|| format!("process {i}: expected an object (its pm2_env)"))?;
        if env.get("pmx_module").is_some_and(truthy) {
            continue; // PM2 modules are PM2's own plugins, not apps
        }
        let name = env
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| format!("process {i}: no `name`"))?;
        match apps.iter_mut().find(|(n, _, _)| n == name) {
            Some((_, _, count)) => *count += 1,
            None => apps.push((name.to_string(), env, 1)),
        }
    }
    let names: Vec<&str> = apps.iter().map(|(n, _, _)| n.as_str()).collect();
    let apps: Vec<Value> = apps
        .iter()
        .map(|(name, env, count)| app(name, env, *count, &names))
        .collect();
    Ok(serde_json::json!({ "apps": apps }))
}

fn truthy(v: &Value) -> bool {
    !matches!(v, Value::Null | Value::Bool(false))
        && v.as_str() != Some("")
        && v.as_i64() != Some(0)
}

/// One app from the `pm2_env` of its first process, run `count` times.
fn app(name: &str, env: &Map<String, Value>, count: u32, names: &[&str]) -> Value {
    let mut app = Map::new();
    app.insert("name".into(), name.into());
    let mut copy = |from: &str, to: &str| {
        if let Some(v) = env.get(from).filter(|v| truthy(v) || v.is_boolean()) {
            app.insert(to.into(), v.clone());
        }
    };
    copy("pm_exec_path", "script");
    copy("pm_cwd", "cwd");
    copy("exec_interpreter", "interpreter");
    for key in KEPT {
        copy(key, key);
    }
    if env.get("namespace").and_then(Value::as_str) != Some("default") {
        copy("namespace", "namespace");
    }
    // Who it ran as: the user PM2 switched to, else the one who ran PM2.
    let user = env
        .get("uid")
        .filter(|v| truthy(v))
        .or_else(|| env.get("username").filter(|v| truthy(v)))
        .map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        });
    if let Some(user) = user {
        app.insert("user".into(), user.into());
    }
    let cluster = env.get("exec_mode").and_then(Value::as_str) == Some("cluster_mode");
    if cluster || count > 1 {
        app.insert("instances".into(), count.into());
    }
    // Log files the user chose (PM2's default ones, under its home, are PM2's business).
    let pm2_home = env
        .get("env")
        .and_then(|e| e.get("PM2_HOME"))
        .and_then(Value::as_str)
        .unwrap_or("/.pm2");
    let chosen = |key: &str| {
        env.get(key)
            .and_then(Value::as_str)
            .filter(|p| !p.contains(pm2_home) && !p.contains("/.pm2/"))
            .filter(|_| count == 1 || env.get("merge_logs").is_some_and(truthy))
            .map(String::from)
    };
    if let Some(out) = chosen("pm_out_log_path") {
        app.insert("out_file".into(), out.into());
    }
    if let Some(err) = chosen("pm_err_log_path") {
        app.insert("error_file".into(), err.into());
    }
    let instance_var = env
        .get("instance_var")
        .and_then(Value::as_str)
        .unwrap_or("NODE_APP_INSTANCE");
    let mut vars = Map::new();
    if let Some(Value::Object(captured)) = env.get("env") {
        for (k, v) in captured {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Null => continue,
                other => other.to_string(),
            };
            let pm2s = PM2_VARIABLES.contains(&k.as_str())
                || k == instance_var
                || names.contains(&k.as_str());
            if !pm2s && inheritable(k, &text) {
                vars.insert(k.clone(), text.into());
            }
        }
    }
    if !vars.is_empty() {
        app.insert("env".into(), Value::Object(vars));
    }
    Value::Object(app)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUMP: &str = r#"[
      {"name": "api", "pm_exec_path": "/srv/api/server.js", "pm_cwd": "/srv/api",
       "exec_mode": "cluster_mode", "instances": 2, "namespace": "default",
       "exec_interpreter": "node", "node_args": [], "autorestart": true,
       "max_memory_restart": 314572800, "username": "deploy", "status": "online",
       "pm_id": 0, "restart_time": 3, "axm_monitor": {}, "vizion": true,
       "pm_out_log_path": "/home/deploy/.pm2/logs/api-out-0.log",
       "env": {"PORT": "3000", "NODE_ENV": "production", "PM2_HOME": "/home/deploy/.pm2",
               "HOME": "/home/deploy", "unique_id": "x", "NODE_APP_INSTANCE": 0,
               "api": "{}", "PM2_USAGE": "CLI", "DEBUG": false}},
      {"name": "api", "pm_exec_path": "/srv/api/server.js", "pm_cwd": "/srv/api",
       "exec_mode": "cluster_mode", "username": "deploy", "pm_id": 1, "env": {}},
      {"pm2_env": {"name": "worker", "pm_exec_path": "/srv/w.py", "pm_cwd": "/srv",
       "exec_mode": "fork_mode", "exec_interpreter": "python3", "namespace": "jobs",
       "uid": "www-data", "cron_restart": "0 3 * * *", "out_file": "x",
       "pm_out_log_path": "/var/log/worker.log", "env": {}}},
      {"name": "pm2-logrotate", "pmx_module": true, "pm_exec_path": "/m.js"}
    ]"#;

    #[test]
    fn processes_of_one_app_become_one_app_with_its_options() {
        let eco = ecosystem_json(DUMP).unwrap();
        let apps = eco["apps"].as_array().unwrap();
        assert_eq!(apps.len(), 2, "the module is no app: {apps:?}");
        let api = &apps[0];
        assert_eq!(api["script"], "/srv/api/server.js");
        assert_eq!(api["cwd"], "/srv/api");
        assert_eq!(api["instances"], 2);
        assert_eq!(api["exec_mode"], "cluster_mode");
        assert_eq!(api["max_memory_restart"], 314572800);
        assert_eq!(api["user"], "deploy");
        assert!(api.get("namespace").is_none() && api.get("out_file").is_none());
        assert!(api.get("status").is_none() && api.get("vizion").is_none());
        let env = api["env"].as_object().unwrap();
        let keys: Vec<&str> = env.keys().map(String::as_str).collect();
        assert_eq!(keys, ["DEBUG", "NODE_ENV", "PORT"]);
        assert_eq!(env["DEBUG"], "false");
        let worker = &apps[1];
        assert_eq!(worker["user"], "www-data");
        assert_eq!(worker["namespace"], "jobs");
        assert_eq!(worker["interpreter"], "python3");
        assert_eq!(worker["cron_restart"], "0 3 * * *");
        assert_eq!(worker["out_file"], "/var/log/worker.log");
        assert!(worker.get("instances").is_none());
    }

    #[test]
    fn what_is_no_dump_says_so() {
        assert!(ecosystem_json("{}").unwrap_err().contains("array"));
        assert!(ecosystem_json("[1]").unwrap_err().contains("process 0"));
        assert!(ecosystem_json("nope").unwrap_err().contains("not JSON"));
    }

    #[test]
    fn what_an_app_inherits() {
        assert!(inheritable("NODE_ENV", "production"));
        assert!(!inheritable("HOME", "/root"));
        assert!(!inheritable("PM2CTL_STATE_DIR", "/x"));
        assert!(!inheritable("BASH_FUNC_f%%", "() { :; }"));
        assert!(!inheritable("MULTI", "a\nb"));
        assert!(inheritable("TABS", "a\tb"));
    }
}

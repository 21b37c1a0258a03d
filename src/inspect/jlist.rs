//! A snapshot in the shape of `pm2 jlist` (pm2-reference.md §2.4): per instance
//! `{pid, name, pm2_env, pm_id, monit}` in that key order, sorted by `pm_id`.
//!
//! What differs from PM2, on purpose: `env` holds the app's environment as its unit gets it
//! (PM2 captures the whole shell of `pm2 start`; pm2ctl passes only what the file says); the
//! pmx fields (`axm_*`) are empty since there is no in-app agent; and `unstable_restarts` is
//! always 0. PM2 counts restarts of a process that lived less than `min_uptime`; pm2ctl hands
//! `min_uptime` × `max_restarts` to systemd's start limit (`StartLimitIntervalUSec`,
//! `StartLimitBurst`), which counts every start in the window and does not publish its count.
//! What the counter was for still shows: an app over the limit is `errored`
//! (`Result=start-limit-hit`), and `restart_time` counts every restart. `unit` is added: the
//! instance's systemd service.

use super::js::Js;
use super::{Exit, Instance, Snapshot};

/// The `jlist` array.
pub fn jlist(snapshot: &Snapshot) -> Js {
    Js::Array(snapshot.instances.iter().map(entry).collect())
}

/// One process entry.
pub fn entry(i: &Instance) -> Js {
    Js::object()
        .with("pid", i.pid.unwrap_or(0))
        .with("name", i.name.as_str())
        .with("pm2_env", pm2_env(i))
        .with("pm_id", i.pm_id)
        .with(
            "monit",
            Js::object()
                .with("memory", i.memory.unwrap_or(0))
                .with("cpu", i.cpu.unwrap_or(0.0))
                .build(),
        )
        .build()
}

fn strings(list: &[String]) -> Js {
    Js::Array(list.iter().map(|s| Js::from(s.as_str())).collect())
}

fn pm2_env(i: &Instance) -> Js {
    let env = Js::Object(
        i.env
            .iter()
            .map(|(k, v)| (k.clone(), Js::from(v.as_str())))
            .collect(),
    );
    let instance_var = "NODE_APP_INSTANCE";
    let mut o = Js::object()
        .with("name", i.name.as_str())
        .with("namespace", i.namespace.as_str())
        .with("filter_env", Js::Array(Vec::new()))
        .with("env", env)
        .with("instances", i.app_instances)
        .with("exec_mode", i.mode.pm2_name())
        .with("exec_interpreter", i.command.interpreter.as_str())
        .with("node_args", strings(&i.command.interpreter_args))
        .with("args", strings(&i.command.args))
        .with("pm_exec_path", i.command.exec_path.as_str())
        .with("pm_cwd", i.cwd.as_str())
        .with_some("pm_out_log_path", i.out_log.as_deref())
        .with_some("pm_err_log_path", i.err_log.as_deref())
        .with("autorestart", i.autorestart)
        .with("autostart", true)
        .with("watch", i.watching)
        .with("treekill", true)
        .with("vizion", false)
        .with("pmx", false)
        .with("automation", false)
        .with("instance_var", instance_var)
        .with(instance_var, i.index)
        .with("username", i.user.as_str())
        .with("windowsHide", true)
        .with_some("max_memory_restart", i.memory_max)
        .with_some("restart_delay", i.restart_delay_us.map(|us| us / 1000))
        .with("status", i.status.as_str())
        .with("pm_uptime", i.started_at_ms.unwrap_or(0))
        .with("created_at", i.created_at_ms.unwrap_or(0))
        .with("pm_id", i.pm_id)
        .with("restart_time", i.restarts)
        .with("unstable_restarts", 0u32)
        .with_some(
            "exit_code",
            i.exit.map(|e| match e {
                Exit::Code(c) => Js::Int(i64::from(c)),
                Exit::Signal(s) => Js::from(crate::systemd::signal_name(s)),
            }),
        )
        .with("axm_actions", Js::Array(Vec::new()))
        .with("axm_monitor", Js::object().build())
        .with("axm_options", Js::object().build())
        .with("axm_dynamic", Js::object().build())
        .with_some("version", i.version.as_pm2())
        .with("unit", i.service.as_str());
    // As PM2: the environment is also flattened into pm2_env; its own fields win.
    for (k, v) in &i.env {
        o = o.with_absent(k, v.as_str());
    }
    o.build()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::inspect::{Command, MetricSource, Mode};
    use crate::status::Status;

    pub(crate) fn instance(pm_id: u32, name: &str, index: u32) -> Instance {
        Instance {
            pm_id,
            name: name.into(),
            namespace: "default".into(),
            index,
            mode: Mode::Cluster,
            app_instances: 2,
            status: Status::Online,
            pid: Some(4568),
            restarts: 3,
            started_at_ms: Some(1_795_355_776_780),
            created_at_ms: Some(1_795_355_000_000),
            memory: Some(54_984_704),
            cpu: Some(0.4),
            cgroup_memory: Some(60_000_000),
            cpu_source: MetricSource::Cgroup,
            cpu_time_ns: Some(1),
            user: "root".into(),
            watching: false,
            autorestart: true,
            recorded: true,
            service: format!("pm2ctl-{name}@{index}.service"),
            socket: None,
            slice: format!("pm2ctl-{name}.slice"),
            active_state: "active".into(),
            sub_state: "running".into(),
            result: "success".into(),
            exit: None,
            command: Command {
                exec_path: "/srv/child.js".into(),
                interpreter: "node".into(),
                interpreter_args: vec!["--enable-source-maps".into()],
                args: vec![],
                argv: vec![
                    "/usr/bin/node".into(),
                    "--enable-source-maps".into(),
                    "/srv/child.js".into(),
                ],
            },
            cwd: "/srv".into(),
            env: vec![
                ("PATH".into(), "/usr/bin".into()),
                ("name".into(), name.into()),
                ("NODE_APP_INSTANCE".into(), index.to_string()),
            ],
            out_log: None,
            err_log: None,
            memory_max: Some(150 * 1024 * 1024),
            restart_policy: Some("always".into()),
            restart_delay_us: Some(0),
            version: crate::inspect::package::Version::Found("1.2.3".into()),
        }
    }

    #[test]
    fn entries_have_pm2s_keys_types_and_order() {
        let snapshot = Snapshot {
            instances: vec![instance(1, "web", 0)],
            taken_at_ms: 0,
        };
        let json: serde_json::Value = serde_json::from_str(&jlist(&snapshot).to_json()).unwrap();
        let e = &json[0];
        assert_eq!(e["pid"], 4568);
        assert_eq!(e["name"], "web");
        assert_eq!(e["pm_id"], 1);
        assert_eq!(e["monit"]["memory"], 54_984_704);
        assert_eq!(e["monit"]["cpu"], 0.4);
        let env = &e["pm2_env"];
        assert_eq!(env["status"], "online");
        assert_eq!(env["exec_mode"], "cluster_mode");
        assert_eq!(env["namespace"], "default");
        assert_eq!(env["instances"], 2);
        assert_eq!(env["restart_time"], 3);
        assert_eq!(env["unstable_restarts"], 0);
        assert_eq!(env["pm_uptime"], 1_795_355_776_780u64);
        assert_eq!(env["created_at"], 1_795_355_000_000u64);
        assert_eq!(env["pm_exec_path"], "/srv/child.js");
        assert_eq!(env["pm_cwd"], "/srv");
        assert_eq!(env["exec_interpreter"], "node");
        assert_eq!(
            env["node_args"],
            serde_json::json!(["--enable-source-maps"])
        );
        assert_eq!(env["max_memory_restart"], 150 * 1024 * 1024);
        assert_eq!(env["env"]["PATH"], "/usr/bin");
        // Flattened, but PM2's own fields win: NODE_APP_INSTANCE stays a number.
        assert_eq!(env["PATH"], "/usr/bin");
        assert_eq!(env["NODE_APP_INSTANCE"], 0);
        assert!(env.get("exit_code").is_none());
        assert_eq!(env["version"], "1.2.3");

        let mut unversioned = instance(1, "web", 0);
        unversioned.version = crate::inspect::package::Version::Unversioned;
        let json: serde_json::Value = serde_json::from_str(&entry(&unversioned).to_json()).unwrap();
        assert!(
            json["pm2_env"].get("version").is_none(),
            "PM2 leaves it out"
        );

        let text = jlist(&snapshot).to_json();
        let order: Vec<usize> = [
            "\"pid\"",
            "\"name\"",
            "\"pm2_env\"",
            "\"pm_id\":1,\"monit\"",
        ]
        .iter()
        .map(|k| text.find(k).unwrap())
        .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
        assert!(!text.ends_with('\n'));
    }

    #[test]
    fn a_stopped_instance_has_pid_zero_and_its_exit_code() {
        let mut i = instance(0, "api", 0);
        i.status = Status::Stopped;
        i.pid = None;
        i.memory = None;
        i.cpu = None;
        i.started_at_ms = None;
        i.exit = Some(Exit::Code(3));
        let e = entry(&i);
        let json: serde_json::Value = serde_json::from_str(&e.to_json()).unwrap();
        assert_eq!(json["pid"], 0);
        assert_eq!(json["pm2_env"]["status"], "stopped");
        assert_eq!(json["pm2_env"]["exit_code"], 3);
        assert_eq!(json["pm2_env"]["pm_uptime"], 0);
        assert_eq!(json["monit"], serde_json::json!({"memory": 0, "cpu": 0}));
    }

    #[test]
    fn prettylist_has_the_substrings_pm2s_tests_grep() {
        let snapshot = Snapshot {
            instances: vec![instance(1, "web", 1)],
            taken_at_ms: 0,
        };
        let text = jlist(&snapshot).to_inspect();
        for needle in [
            "status: 'online'",
            "restart_time: 3",
            "exec_mode: 'cluster_mode'",
            "NODE_APP_INSTANCE: 1",
            "watch: false",
            "node_args: [ '--enable-source-maps' ]",
            "exec_interpreter: 'node'",
        ] {
            assert!(text.contains(needle), "{needle} missing from\n{text}");
        }
    }
}

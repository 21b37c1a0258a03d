//! PM2's command lines, as deploy hooks, CI scripts and runbooks write them, run against
//! pm2ctl called as `pm2` in a real systemd: each scenario asserts what a PM2 user sees
//! (the lines scripts grep, exit codes, what `jlist` shows afterwards).
//!
//! Apps run as root here, so each names its user (`--uid root`, `user: "root"`): the one
//! thing pm2ctl asks of a root user that PM2 does not (docs/migrating-from-pm2.md).

use crate::common;

use common::sandbox::{fixture, stdout, workdir, PM2CTL};
use common::Sandbox;
use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

/// A directory with `pm2` (a link to the pm2ctl under test) for PATH, and the scenario's files.
struct Scene {
    dir: PathBuf,
}

impl Scene {
    fn new(test: &str) -> Scene {
        let dir = workdir("pm2_compat", test);
        std::fs::create_dir_all(dir.join("bin")).expect("bin directory");
        std::os::unix::fs::symlink(PM2CTL, dir.join("bin/pm2")).expect("the pm2 link");
        Scene { dir }
    }

    fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, text).expect("write a scenario file");
        path
    }

    /// Runs a shell line in the scenario's directory with `pm2` first on PATH.
    fn sh(&self, sb: &Sandbox, line: &str) -> Output {
        let path = format!(
            "{}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            self.dir.join("bin").display()
        );
        let script = format!("cd '{}' && {line}", self.dir.display());
        sb.exec_with_env(&[("PATH", &path)], &["sh", "-c", &script])
    }
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[track_caller]
fn ok(what: &str, out: &Output) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n--- stdout\n{}--- stderr\n{}",
        out.status,
        stdout(out),
        stderr(out)
    );
    stdout(out)
}

/// `pm2 jlist` as (name, status, restart_time, pid) per process.
fn jlist(scene: &Scene, sb: &Sandbox) -> Vec<(String, String, i64, u64)> {
    let text = ok("pm2 jlist", &scene.sh(sb, "pm2 jlist"));
    let list: serde_json::Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("jlist is not JSON ({e}): {text}"));
    list.as_array()
        .expect("an array")
        .iter()
        .map(|p| {
            (
                p["name"].as_str().unwrap_or("").to_string(),
                p["pm2_env"]["status"].as_str().unwrap_or("").to_string(),
                p["pm2_env"]["restart_time"].as_i64().unwrap_or(-1),
                p["pid"].as_u64().unwrap_or(0),
            )
        })
        .collect()
}

fn wait_online(scene: &Scene, sb: &Sandbox, count: usize) {
    sb.wait_for(&format!("{count} processes online"), WAIT, || {
        let list = jlist(scene, sb);
        list.len() == count && list.iter().all(|p| p.1 == "online")
    });
}

fn ecosystem_js(scene: &Scene, port: u16) -> PathBuf {
    scene.write(
        "ecosystem.config.js",
        &format!(
            "module.exports = {{\n  apps: [{{\n    name: 'web',\n    script: '{}',\n    \
             user: 'root',\n    instances: 2,\n    exec_mode: 'cluster',\n    \
             env: {{ PORT: {port} }},\n    env_production: {{ NODE_ENV: 'production' }},\n  \
             }}],\n}};\n",
            fixture("http.js")
        ),
    )
}

#[test]
fn the_deploy_hook_line_starts_then_reloads_with_zero_downtime() {
    let sb = Sandbox::boot();
    let scene = Scene::new("deploy_hook");
    ecosystem_js(&scene, 3301);

    let first = scene.sh(
        &sb,
        "pm2 startOrReload ecosystem.config.js --env production",
    );
    let text = ok("first startOrReload", &first);
    assert!(
        text.contains("[PM2] App [web] launched (2 instances)"),
        "{text}"
    );
    wait_online(&scene, &sb, 2);
    let env = ok("pm2 env 0", &scene.sh(&sb, "pm2 env 0"));
    assert!(env.contains("NODE_ENV: production"), "{env}");
    let before: Vec<u64> = jlist(&scene, &sb).iter().map(|p| p.3).collect();

    let second = scene.sh(
        &sb,
        "pm2 startOrReload ecosystem.config.js --env production",
    );
    let text = ok("second startOrReload", &second);
    assert!(
        text.contains("[PM2] Applying action reloadProcessId on app [web](ids: [ 0, 1 ])"),
        "{text}"
    );
    assert!(
        text.contains("[PM2] [web](0) ✓") && text.contains("[PM2] [web](1) ✓"),
        "{text}"
    );
    wait_online(&scene, &sb, 2);
    let after = jlist(&scene, &sb);
    for (p, old) in after.iter().zip(&before) {
        assert_ne!(p.3, *old, "{} kept its process", p.0);
        assert_eq!(p.2, 1, "one restart each: {after:?}");
    }
    let answer = sb.curl("http://127.0.0.1:3301/");
    ok("curl after the reload", &answer);

    // startOrRestart restarts what runs.
    let text = ok(
        "startOrRestart",
        &scene.sh(
            &sb,
            "pm2 startOrRestart ecosystem.config.js --env production",
        ),
    );
    assert!(
        text.contains("Applying action restartProcessId on app [web]"),
        "{text}"
    );
}

#[test]
fn pm2s_small_verbs_answer_as_pm2_does() {
    let sb = Sandbox::boot();
    let scene = Scene::new("small_verbs");
    let signals = fixture("signals.js");
    std::fs::copy(&signals, scene.dir.join("echo.js")).expect("copy the app");
    std::fs::copy(&signals, scene.dir.join("other.js")).expect("copy the app");

    // Several scripts in one call; PM2's no-op flags and an unknown one do not stop it.
    let out = scene.sh(
        &sb,
        "pm2 start echo.js other.js --uid root --no-vizion --no-pmx --no-automation -x \
         --some-future-flag",
    );
    ok("start of two scripts", &out);
    assert!(
        stderr(&out).contains("[PM2][WARN] unknown option --some-future-flag: ignored"),
        "{}",
        stderr(&out)
    );
    wait_online(&scene, &sb, 2);

    assert_eq!(ok("id", &scene.sh(&sb, "pm2 id other")).trim(), "[ 1 ]");
    assert_eq!(ok("id", &scene.sh(&sb, "pm2 id nothing")).trim(), "[]");
    let pid = ok("pid", &scene.sh(&sb, "pm2 pid echo"));
    let main_pid = stdout(&sb.systemctl(&[
        "show",
        "--property=MainPID",
        "--value",
        "pm2ctl-echo@0.service",
    ]));
    assert_eq!(pid.trim(), main_pid.trim());
    assert_eq!(ok("pid", &scene.sh(&sb, "pm2 pid")).lines().count(), 2);
    let env = ok("env", &scene.sh(&sb, "pm2 env 1"));
    assert!(
        env.contains("name: other") && env.contains("status: online"),
        "{env}"
    );
    let missing = scene.sh(&sb, "pm2 env 9");
    assert_eq!(missing.status.code(), Some(1));
    assert_eq!(
        ok("ping", &scene.sh(&sb, "pm2 ping")).trim(),
        "{ msg: 'pong' }"
    );
    ok("link delete", &scene.sh(&sb, "pm2 link delete"));
    ok("unlink", &scene.sh(&sb, "pm2 unlink"));
    assert!(ok("update", &scene.sh(&sb, "pm2 update")).contains(">>>>>>>>>> PM2 updated"));

    // A script's file name is a target; a stopped process started again is no restart.
    ok("stop by script", &scene.sh(&sb, "pm2 stop echo.js"));
    let list = jlist(&scene, &sb);
    assert_eq!(list[0].1, "stopped", "{list:?}");
    assert_eq!(list[1].1, "online", "{list:?}");
    ok("restart", &scene.sh(&sb, "pm2 restart echo"));
    wait_online(&scene, &sb, 2);
    assert_eq!(
        jlist(&scene, &sb)[0].2,
        0,
        "starting a stopped app is no restart"
    );
    ok("restart", &scene.sh(&sb, "pm2 restart echo"));
    wait_online(&scene, &sb, 2);
    assert_eq!(jlist(&scene, &sb)[0].2, 1, "restarting a running app is");

    // -f starts the same script once more, under the same name.
    let again = scene.sh(&sb, "pm2 start other.js --uid root");
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("add -f option"),
        "{}",
        stderr(&again)
    );
    ok(
        "start -f",
        &scene.sh(&sb, "pm2 start other.js --uid root -f"),
    );
    wait_online(&scene, &sb, 3);
    assert_eq!(ok("id", &scene.sh(&sb, "pm2 id other")).trim(), "[ 1, 2 ]");

    // PM2's usage errors exit 1.
    let unknown = scene.sh(&sb, "pm2 frobnicate");
    assert_eq!(unknown.status.code(), Some(1));
    assert!(stdout(&unknown).contains("[PM2][ERROR] Command not found"));
    assert_eq!(scene.sh(&sb, "pm2").status.code(), Some(1));
    assert_eq!(scene.sh(&sb, "pm2 stop nothing").status.code(), Some(1));

    // kill: everything stopped and removed, with PM2's lines; ids start again at 0.
    let text = ok("kill", &scene.sh(&sb, "pm2 kill"));
    assert!(
        text.contains("[PM2] [v] All Applications Stopped"),
        "{text}"
    );
    assert!(text.contains("[PM2] [v] PM2 Daemon Stopped"), "{text}");
    assert!(jlist(&scene, &sb).is_empty());
    assert_eq!(sb.unit_state("pm2ctl-echo@0.service"), "inactive");
    ok("kill again", &scene.sh(&sb, "pm2 kill"));
    ok("start", &scene.sh(&sb, "pm2 start other.js --uid root"));
    assert_eq!(ok("id", &scene.sh(&sb, "pm2 id other")).trim(), "[ 0 ]");
}

#[test]
fn a_piped_config_starts_and_deletes_its_apps() {
    let sb = Sandbox::boot();
    let scene = Scene::new("piped");
    let apps = format!(
        "[{{\"name\":\"piped-a\",\"script\":\"{0}\",\"user\":\"root\"}},\
         {{\"name\":\"piped-b\",\"script\":\"{0}\",\"user\":\"root\"}}]",
        fixture("signals.js")
    );
    scene.write("apps.json", &apps);
    ok("start -", &scene.sh(&sb, "cat apps.json | pm2 start -"));
    wait_online(&scene, &sb, 2);
    // The file as a target, with --only.
    ok(
        "stop FILE --only",
        &scene.sh(&sb, "pm2 stop apps.json --only piped-b"),
    );
    let list = jlist(&scene, &sb);
    assert_eq!(
        (list[0].1.as_str(), list[1].1.as_str()),
        ("online", "stopped"),
        "{list:?}"
    );
    // start FILE: the running one is restarted, the stopped one started.
    let text = ok("start FILE", &scene.sh(&sb, "pm2 start apps.json"));
    assert!(text.contains("restartProcessId on app [piped-a]"), "{text}");
    wait_online(&scene, &sb, 2);
    ok("delete -", &scene.sh(&sb, "cat apps.json | pm2 delete -"));
    assert!(jlist(&scene, &sb).is_empty());
}

#[test]
fn after_delete_all_the_saved_file_still_reads_as_nothing() {
    let sb = Sandbox::boot();
    let scene = Scene::new("saved_emptied");
    ok(
        "start",
        &scene.sh(
            &sb,
            &format!("pm2 start {} --uid root --name keep", fixture("signals.js")),
        ),
    );
    ok("save", &scene.sh(&sb, "pm2 save"));
    ok("delete all", &scene.sh(&sb, "pm2 delete all"));
    ok("resurrect", &scene.sh(&sb, "pm2 resurrect"));
    let saved = sb.config_dir().join("dump.toml");
    ok(
        "start of the saved file",
        &scene.sh(&sb, &format!("pm2 start {}", saved.display())),
    );
    assert!(jlist(&scene, &sb).is_empty());
    ok(
        "dump",
        &scene.sh(&sb, "pm2 start /bin/sleep --uid root -- 300 && pm2 dump"),
    );
    let text = ok("cleardump", &scene.sh(&sb, "pm2 cleardump"));
    assert!(text.contains("cleared"), "{text}");
    ok("resurrect after cleardump", &scene.sh(&sb, "pm2 resurrect"));
}

#[test]
fn a_shell_command_line_runs_as_written() {
    let sb = Sandbox::boot();
    let scene = Scene::new("shell_line");
    let marker = scene.dir.join("ran");
    let line = format!("echo ran > {}; sleep 300", marker.display());
    ok(
        "start of a command line",
        &scene.sh(&sb, &format!("pm2 start '{line}' --uid root")),
    );
    sb.wait_for("the line ran", WAIT, || marker.exists());
    let list = jlist(&scene, &sb);
    assert_eq!(list[0].0, line, "PM2 names it after the line");
}

#[test]
fn init_writes_a_file_pm2ctl_reads() {
    let sb = Sandbox::boot();
    let scene = Scene::new("init");
    let text = ok("init", &scene.sh(&sb, "pm2 init"));
    let file = scene.dir.join("ecosystem.config.js");
    assert!(
        text.contains(&format!("File {} generated", file.display())),
        "{text}"
    );
    ok(
        "validate",
        &sb.pm2ctl(&["validate", &file.display().to_string()]),
    );
    assert_eq!(
        scene.sh(&sb, "pm2 ecosystem").status.code(),
        Some(1),
        "not overwritten"
    );
}

#[test]
fn the_environment_on_the_command_line_reaches_the_app() {
    let sb = Sandbox::boot();
    let scene = Scene::new("env_line");
    ok(
        "start with env",
        &scene.sh(
            &sb,
            &format!(
                "NODE_ENV=production GREETING='hello there' pm2 start {} --uid root --name envy",
                fixture("signals.js")
            ),
        ),
    );
    wait_online(&scene, &sb, 1);
    let env = ok("env", &scene.sh(&sb, "pm2 env 0"));
    assert!(env.contains("GREETING: hello there"), "{env}");
    // In the process itself, as PM2 gives it.
    let pid = jlist(&scene, &sb)[0].3;
    // Read inside: the sandbox has its own pid namespace.
    let environ = sb.exec(&["cat", &format!("/proc/{pid}/environ")]).stdout;
    let environ = String::from_utf8_lossy(&environ);
    assert!(environ.contains("NODE_ENV=production"), "{environ}");
    assert!(environ.contains("GREETING=hello there"), "{environ}");
}

#[test]
fn a_pm2_hosts_dump_moves_over_in_one_import() {
    let sb = Sandbox::boot();
    let scene = Scene::new("dump_import");
    let http = fixture("http.js");
    let signals = fixture("signals.js");
    let dir = scene.dir.display().to_string();
    // What `pm2 save` writes: one pm2_env per process, two for the 2-instance cluster app.
    let process = |name: &str, script: &str, id: u32, mode: &str, env: &str| {
        format!(
            "{{\"name\":\"{name}\",\"pm_exec_path\":\"{script}\",\"pm_cwd\":\"{dir}\",\
             \"exec_mode\":\"{mode}\",\"exec_interpreter\":\"node\",\"node_args\":[],\
             \"namespace\":\"default\",\"username\":\"root\",\"pm_id\":{id},\
             \"status\":\"online\",\"restart_time\":2,\"vizion\":true,\"axm_monitor\":{{}},\
             \"pm_out_log_path\":\"/root/.pm2/logs/{name}-out.log\",\"env\":{env}}}"
        )
    };
    let env = "{\"PORT\":\"3302\",\"PM2_HOME\":\"/root/.pm2\",\"unique_id\":\"u\",\
               \"NODE_APP_INSTANCE\":0,\"web\":\"{}\",\"HOME\":\"/root\"}";
    scene.write(
        "dump.pm2",
        &format!(
            "[{},{},{}]",
            process("web", &http, 0, "cluster_mode", env),
            process("web", &http, 1, "cluster_mode", env),
            process("jobs", &signals, 2, "fork_mode", "{}")
        ),
    );
    let out = scene.sh(&sb, "pm2 import dump.pm2 > ecosystem.toml");
    ok("import", &out);
    assert!(
        stderr(&out).contains("pm2ctl apply ecosystem.toml --save"),
        "{}",
        stderr(&out)
    );
    let toml = std::fs::read_to_string(scene.dir.join("ecosystem.toml")).expect("the import");
    assert!(
        !toml.contains("PM2_HOME") && !toml.contains("unique_id"),
        "{toml}"
    );
    ok("apply", &scene.sh(&sb, "pm2 apply ecosystem.toml --save"));
    wait_online(&scene, &sb, 3);
    let list = jlist(&scene, &sb);
    let names: Vec<&str> = list.iter().map(|p| p.0.as_str()).collect();
    assert_eq!(names, ["web", "web", "jobs"]);
    ok("curl", &sb.curl("http://127.0.0.1:3302/"));
}

#[test]
fn resurrect_falls_back_to_the_previous_save_when_the_saved_file_is_damaged() {
    let sb = Sandbox::boot();
    let scene = Scene::new("resurrect_bak");
    let signals = fixture("signals.js");
    ok(
        "start",
        &scene.sh(&sb, &format!("pm2 start {signals} --uid root --name first")),
    );
    ok("save", &scene.sh(&sb, "pm2 save"));
    ok(
        "start",
        &scene.sh(
            &sb,
            &format!("pm2 start {signals} --uid root --name second"),
        ),
    );
    ok("save", &scene.sh(&sb, "pm2 save"));
    ok("kill", &scene.sh(&sb, "pm2 kill"));
    let saved = sb.config_dir().join("dump.toml");
    std::fs::write(&saved, "[[apps]\nname = \"torn").expect("damage the saved file");
    let out = scene.sh(&sb, "pm2 resurrect");
    ok("resurrect", &out);
    assert!(
        stderr(&out).contains("resurrecting from"),
        "{}",
        stderr(&out)
    );
    wait_online(&scene, &sb, 1);
    assert_eq!(jlist(&scene, &sb)[0].0, "first", "the save before the last");
}

#[test]
fn restart_options_change_the_app_as_pm2s_do() {
    let sb = Sandbox::boot();
    let scene = Scene::new("restart_options");
    let signals = fixture("signals.js");
    let environ = |scene: &Scene| {
        let pid = jlist(scene, &sb)[0].3;
        let out = sb.exec(&["cat", &format!("/proc/{pid}/environ")]).stdout;
        String::from_utf8_lossy(&out).replace('\0', "\n")
    };
    ok(
        "start",
        &scene.sh(
            &sb,
            &format!("STAGE=one pm2 start {signals} --uid root --name opts"),
        ),
    );
    wait_online(&scene, &sb, 1);
    ok("restart", &scene.sh(&sb, "STAGE=two pm2 restart opts"));
    wait_online(&scene, &sb, 1);
    assert!(
        environ(&scene).contains("STAGE=one"),
        "kept without --update-env"
    );
    ok(
        "restart --update-env",
        &scene.sh(&sb, "STAGE=two pm2 restart opts --update-env"),
    );
    wait_online(&scene, &sb, 1);
    assert!(environ(&scene).contains("STAGE=two"), "{}", environ(&scene));

    ok(
        "restart --node-args --cron-restart",
        &scene.sh(
            &sb,
            "pm2 restart opts --node-args='--max-old-space-size=64' --cron-restart '0 3 * * *'",
        ),
    );
    wait_online(&scene, &sb, 1);
    let pid = jlist(&scene, &sb)[0].3;
    let cmdline = sb.exec(&["cat", &format!("/proc/{pid}/cmdline")]).stdout;
    assert!(
        String::from_utf8_lossy(&cmdline).contains("--max-old-space-size=64"),
        "{}",
        String::from_utf8_lossy(&cmdline)
    );
    let timers = stdout(&sb.systemctl(&["list-timers", "--all", "--no-legend", "pm2ctl-*"]));
    assert!(!timers.trim().is_empty(), "no cron timer");

    // An app of a file is changed in its file.
    scene.write(
        "apps.json",
        &format!(
            "{{\"apps\":[{{\"name\":\"filed\",\"script\":\"{signals}\",\"user\":\"root\"}}]}}"
        ),
    );
    ok("start FILE", &scene.sh(&sb, "pm2 start apps.json"));
    let refused = scene.sh(&sb, "pm2 restart filed --node-args=--trace-warnings");
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("change it there"),
        "{}",
        stderr(&refused)
    );
}

#[test]
fn reload_logs_after_logrotate_moved_the_files_writes_new_ones() {
    let sb = Sandbox::boot();
    let scene = Scene::new("reload_logs");
    let out_file = scene.dir.join("printer-out.log");
    ok(
        "start with a log file",
        &scene.sh(
            &sb,
            &format!(
                "PRINT_INTERVAL_MS=50 pm2 start {} --uid root --name printer -o {}",
                fixture("printer.js"),
                out_file.display()
            ),
        ),
    );
    wait_online(&scene, &sb, 1);
    let has_lines = |path: &std::path::Path| {
        std::fs::read_to_string(path).is_ok_and(|t| t.contains("out line"))
    };
    sb.wait_for("lines in the log file", WAIT, || has_lines(&out_file));
    // logrotate without copytruncate: the file is moved away and a new one created.
    let rotated = scene.dir.join("printer-out.log.1");
    std::fs::rename(&out_file, &rotated).expect("rotate");
    std::fs::write(&out_file, "").expect("create");
    let text = ok("reloadLogs", &scene.sh(&sb, "pm2 reloadLogs"));
    assert!(text.contains("[PM2] Reloading all logs..."), "{text}");
    assert!(text.contains("[PM2] All logs reloaded"), "{text}");
    sb.wait_for("lines in the new file", WAIT, || has_lines(&out_file));
    let before = std::fs::metadata(&rotated).map(|m| m.len()).unwrap_or(0);
    std::thread::sleep(Duration::from_millis(500));
    let after = std::fs::metadata(&rotated).map(|m| m.len()).unwrap_or(0);
    assert_eq!(before, after, "the rotated file is no longer written");
}

#[test]
fn pm2s_startup_line_of_runbooks_runs() {
    let sb = Sandbox::boot();
    let scene = Scene::new("startup_line");
    common::generator::install(&sb);
    let text = ok(
        "startup",
        &scene.sh(&sb, "pm2 startup systemd -u root --hp /root"),
    );
    assert!(text.contains("[PM2] Init System found: systemd"), "{text}");
    let other = scene.sh(&sb, "pm2 startup upstart");
    assert_eq!(other.status.code(), Some(1));
    assert!(
        stderr(&other).contains("pm2ctl runs on systemd"),
        "{}",
        stderr(&other)
    );
    ok("unstartup", &scene.sh(&sb, "pm2 unstartup systemd"));
}

#[test]
fn a_pm2_yaml_file_with_an_old_key_starts_with_a_warning() {
    let sb = Sandbox::boot();
    let scene = Scene::new("yaml");
    scene.write(
        "process.yml",
        &format!(
            "apps:\n  - name: yml-app\n    script: {}\n    user: root\n    \
             max_memory_restrat: 300M\n    env:\n      FROM: yaml\n",
            fixture("signals.js")
        ),
    );
    let out = scene.sh(&sb, "pm2 start process.yml");
    ok("start process.yml", &out);
    let err = stderr(&out);
    assert!(
        err.contains("process.yml:5:5: warning: apps[0].max_memory_restrat")
            && err.contains("did you mean `max_memory_restart`?"),
        "{err}"
    );
    wait_online(&scene, &sb, 1);
    assert!(ok("env", &scene.sh(&sb, "pm2 env 0")).contains("FROM: yaml"));
}

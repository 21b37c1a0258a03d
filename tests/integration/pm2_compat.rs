//! PM2's command lines, as deploy hooks, CI scripts and runbooks write them, run against
//! pm2ctl called as `pm2` in a real systemd: each scenario asserts what a PM2 user sees
//! (the lines scripts grep, exit codes, what `jlist` shows afterwards).
//!
//! Apps run as root here, so each names its user (`--uid root`, `user: "root"`): the one
//! thing pm2ctl asks of a root user that PM2 does not (docs/migrating-from-pm2.md).

use crate::common;

use common::sandbox::{fixture, sh, stdout, workdir, PM2CTL};
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
            &format!(
                "pm2 start {} --uid root --name keep",
                sh(fixture("signals.js"))
            ),
        ),
    );
    ok("save", &scene.sh(&sb, "pm2 save"));
    ok("delete all", &scene.sh(&sb, "pm2 delete all"));
    ok("resurrect", &scene.sh(&sb, "pm2 resurrect"));
    let saved = sb.config_dir().join("dump.toml");
    ok(
        "start of the saved file",
        &scene.sh(&sb, &format!("pm2 start {}", sh(saved.display()))),
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
    let line = format!("echo ran > \"{}\"; sleep 300", marker.display());
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
                sh(fixture("signals.js"))
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
    let signals = sh(fixture("signals.js"));
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
    let signals = sh(fixture("signals.js"));
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
                sh(fixture("printer.js")),
                sh(out_file.display())
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
            "apps:\n  - name: yml-app\n    script: {:?}\n    user: root\n    \
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

/// The lines of a log file (empty when it does not exist yet).
fn file_lines(path: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

#[test]
fn log_files_get_pm2s_date_prefix_and_the_app_stays_the_main_process() {
    let sb = Sandbox::boot();
    let scene = Scene::new("log_date_format");
    let (out_file, err_file) = (scene.dir.join("out.log"), scene.dir.join("err.log"));
    ok(
        "start with --log-date-format",
        &scene.sh(
            &sb,
            &format!(
                "PRINT_INTERVAL_MS=50 pm2 start {} --uid root --name stamped -o out.log -e err.log \
                 --log-date-format 'YYYY-MM-DD HH:mm:ss.SSS'",
                fixture("printer.js")
            ),
        ),
    );
    wait_online(&scene, &sb, 1);
    sb.wait_for("three lines in each file", WAIT, || {
        file_lines(&out_file).len() >= 3 && file_lines(&err_file).len() >= 3
    });
    let stamp = |line: &str, stream: &str| {
        // "2026-03-04 05:06:07.089: out line 1"
        let (time, text) = line.split_once(": ").unwrap_or(("", line));
        let shape = time.len() == 23
            && time.chars().enumerate().all(|(i, c)| match i {
                4 | 7 => c == '-',
                10 => c == ' ',
                13 | 16 => c == ':',
                19 => c == '.',
                _ => c.is_ascii_digit(),
            });
        assert!(
            shape && text.starts_with(&format!("{stream} line ")),
            "not PM2's `<date>: <line>`: {line:?}"
        );
    };
    file_lines(&out_file).iter().for_each(|l| stamp(l, "out"));
    file_lines(&err_file).iter().for_each(|l| stamp(l, "err"));

    // The app itself is what jlist shows and what systemd supervises.
    let pid = jlist(&scene, &sb)[0].3;
    let cmdline = stdout(&sb.exec(&["cat", &format!("/proc/{pid}/cmdline")])).replace('\0', " ");
    assert!(
        cmdline.contains("printer.js") && !cmdline.contains("exec-wrap"),
        "the main process is the app: {cmdline}"
    );

    // Stopping ends the copying process with the app, without systemd having to kill it,
    // and the app's last lines are in the file.
    ok("stop", &scene.sh(&sb, "pm2 stop stamped"));
    let show = stdout(&sb.systemctl(&[
        "show",
        "-p",
        "ActiveState",
        "-p",
        "Result",
        "pm2ctl-stamped@0.service",
    ]));
    assert!(
        show.contains("ActiveState=inactive") && show.contains("Result=success"),
        "{show}"
    );
    let lines = file_lines(&out_file).len();
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        file_lines(&out_file).len(),
        lines,
        "nothing writes after stop"
    );
    file_lines(&out_file).iter().for_each(|l| stamp(l, "out"));
}

#[test]
fn a_cluster_app_with_merge_logs_writes_pm2s_json_lines_to_one_file() {
    let sb = Sandbox::boot();
    let scene = Scene::new("log_type_json");
    scene.write(
        "ecosystem.config.js",
        &format!(
            "module.exports = {{ apps: [{{ name: 'web', script: '{}', user: 'root',\n  \
             instances: 2, exec_mode: 'cluster', merge_logs: true, log_type: 'json',\n  \
             out_file: './logs/web.log', error_file: './logs/web.log',\n  \
             env: {{ PRINT_INTERVAL_MS: '50' }} }}] }};\n",
            fixture("printer.js")
        ),
    );
    ok("start", &scene.sh(&sb, "pm2 start ecosystem.config.js"));
    wait_online(&scene, &sb, 2);
    let log = scene.dir.join("logs/web.log");
    let records = || -> Vec<serde_json::Value> {
        file_lines(&log)
            .iter()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
            .collect()
    };
    sb.wait_for("lines of both instances, out and err", WAIT, || {
        let r = records();
        [0, 1].iter().all(|id| {
            ["out", "err"]
                .iter()
                .all(|t| r.iter().any(|v| v["process_id"] == *id && v["type"] == *t))
        })
    });
    for line in file_lines(&log) {
        let keys: Vec<String> =
            serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&line)
                .expect("an object")
                .keys()
                .cloned()
                .collect();
        // serde_json's map sorts keys; PM2's order is checked on the text itself.
        assert_eq!(keys.len(), 5, "{line}");
        assert!(line.starts_with("{\"message\":\""), "{line}");
        assert!(
            line.contains("\",\"timestamp\":\"") && line.contains(",\"app_name\":\"web\"}"),
            "{line}"
        );
    }
    for v in records() {
        let message = v["message"].as_str().unwrap_or_default();
        assert!(message.contains(" line ") && message.ends_with('\n'), "{v}");
        assert!(
            v["timestamp"].as_str().unwrap_or_default().ends_with('Z'),
            "{v}"
        );
    }
    let files: Vec<String> = std::fs::read_dir(scene.dir.join("logs"))
        .expect("the logs directory")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    assert_eq!(files, ["web.log"], "merge_logs: one file, no -0/-1 files");
    ok("delete", &scene.sh(&sb, "pm2 delete all"));
}

#[test]
fn a_cluster_port_only_the_code_knows_is_shared_or_the_logs_say_how() {
    let sb = Sandbox::boot();
    let scene = Scene::new("port_in_code");
    scene.write(
        "fixed.js",
        "require('http').createServer((q, r) => r.end(String(process.pid)))\
         .listen(3402, () => console.log('listening'));\n",
    );
    let out = scene.sh(&sb, "pm2 start fixed.js -i 2 --uid root --name fixed");
    ok("start -i 2", &out);
    assert!(
        stderr(&out).contains("cluster mode without `port`"),
        "the plan warns: {}",
        stderr(&out)
    );
    let version = stdout(&sb.exec(&["node", "-p", "process.versions.node"]));
    eprintln!("Node {} in the sandbox", version.trim());
    let mut parts = version
        .trim()
        .split('.')
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    if major > 22 || (major == 22 && minor >= 12) {
        wait_online(&scene, &sb, 2);
        let pids: Vec<String> = jlist(&scene, &sb).iter().map(|p| p.3.to_string()).collect();
        sb.wait_for("both instances answer on 3402", WAIT, || {
            let answers: Vec<String> = (0..20)
                .map(|_| stdout(&sb.curl("http://127.0.0.1:3402/")))
                .collect();
            pids.iter().all(|pid| answers.contains(pid))
        });
    } else {
        sb.wait_for("the logs say which port to set", WAIT, || {
            let logs = scene.sh(&sb, "pm2 logs fixed --nostream --lines 100");
            let text = stdout(&logs) + &stderr(&logs);
            text.contains("pm2ctl: port 3402 is taken") && text.contains("set `port = 3402`")
        });
        // The first instance serves meanwhile.
        ok("curl", &sb.curl("http://127.0.0.1:3402/"));
    }
    ok("delete", &scene.sh(&sb, "pm2 delete all"));
}

#[test]
fn pm2_worker_interval_on_the_command_line_makes_the_memory_check_that_often() {
    let sb = Sandbox::boot();
    let scene = Scene::new("worker_interval");
    let grow = scene.dir.join("grow");
    // Mark: 90 % of 128 MiB = 115.2 MiB; the app grows to 120 MiB, under the hard limit, so
    // only the check can replace it.
    ok(
        "start",
        &scene.sh(
            &sb,
            &format!(
                "PM2_WORKER_INTERVAL=2000 GROW_FILE={} GROW_TO_MB=120 PORT=3404 pm2 start {} \
                 --uid root --name fat --max-memory-restart 128M",
                grow.display(),
                fixture("grow.js")
            ),
        ),
    );
    wait_online(&scene, &sb, 1);
    let calendar =
        stdout(&sb.systemctl(&["show", "-p", "TimersCalendar", "pm2ctl-fat-memory.timer"]));
    assert!(calendar.contains("*:*:00/2 "), "{calendar}");
    let shown = ok("show", &scene.sh(&sb, "pm2 show fat"));
    assert!(shown.contains("checked every 2 s"), "{shown}");

    let before = jlist(&scene, &sb)[0].3;
    std::fs::write(&grow, "").expect("write the grow file");
    sb.wait_for("the app to grow", WAIT, || {
        let log = sb.journalctl(&["-u", "pm2ctl-fat@0.service", "-o", "cat"]);
        stdout(&log).contains(&format!("grown pid={before}"))
    });
    // Within a few checks of 2 s (plus the replacement), far inside the default 30 s.
    sb.wait_for("the grown app replaced", Duration::from_secs(12), || {
        let list = jlist(&scene, &sb);
        list[0].3 != before && list[0].3 != 0
    });
    // By the check, not by the kernel's limit.
    let journal = stdout(&sb.journalctl(&["PM2_APP=fat", "SYSLOG_IDENTIFIER=pm2ctl", "-o", "cat"]));
    assert!(
        journal.contains(&format!("pid {before}) exceeds the memory mark")),
        "{journal}"
    );
    ok("delete", &scene.sh(&sb, "pm2 delete all"));
}

#[test]
fn restart_with_a_new_name_renames_the_app() {
    let sb = Sandbox::boot();
    let scene = Scene::new("rename");
    let signals = fixture("signals.js");
    ok(
        "start two apps",
        &scene.sh(
            &sb,
            &format!(
                "pm2 start {signals} --uid root --name old && pm2 start {signals} --uid root --name other"
            ),
        ),
    );
    wait_online(&scene, &sb, 2);

    let taken = scene.sh(&sb, "pm2 restart old --name other");
    assert_eq!(taken.status.code(), Some(1), "{}", stderr(&taken));
    assert!(
        stderr(&taken).contains("already exists"),
        "{}",
        stderr(&taken)
    );
    let both = scene.sh(&sb, "pm2 restart all --name one");
    assert_eq!(both.status.code(), Some(1));
    assert!(
        stderr(&both).contains("renames one app"),
        "{}",
        stderr(&both)
    );

    let text = ok(
        "restart --name",
        &scene.sh(&sb, "pm2 restart old --name new"),
    );
    assert!(text.contains("[PM2] old renamed new"), "{text}");
    wait_online(&scene, &sb, 2);
    let names: Vec<String> = jlist(&scene, &sb).into_iter().map(|p| p.0).collect();
    assert!(
        names.contains(&"new".to_string()) && !names.contains(&"old".to_string()),
        "{names:?}"
    );
    let units = stdout(&sb.systemctl(&["list-units", "--all", "--no-legend", "pm2ctl-old*"]));
    assert!(units.trim().is_empty(), "the old units are gone: {units}");
    // The app of the new name is the same app: restart and stop reach it by that name.
    ok("stop new", &scene.sh(&sb, "pm2 stop new"));
    ok("delete all", &scene.sh(&sb, "pm2 delete all"));
}

#[test]
fn stop_with_watch_stops_watching_and_restart_with_watch_toggles_it() {
    let sb = Sandbox::boot();
    let scene = Scene::new("stop_watch");
    scene.write("app.js", "setInterval(() => {}, 1000);\n");
    let watching = |scene: &Scene| {
        let text = ok("pm2 jlist", &scene.sh(&sb, "pm2 jlist"));
        let list: serde_json::Value = serde_json::from_str(&text).expect("jlist is JSON");
        list[0]["pm2_env"]["watch"].as_bool()
    };
    ok(
        "start --watch",
        &scene.sh(&sb, "pm2 start app.js --uid root --name watched --watch"),
    );
    wait_online(&scene, &sb, 1);
    assert_eq!(watching(&scene), Some(true));
    ok("stop --watch", &scene.sh(&sb, "pm2 stop watched --watch"));
    ok("restart", &scene.sh(&sb, "pm2 restart watched"));
    wait_online(&scene, &sb, 1);
    assert_eq!(watching(&scene), Some(false), "stop --watch ended watching");
    ok(
        "restart --watch",
        &scene.sh(&sb, "pm2 restart watched --watch"),
    );
    wait_online(&scene, &sb, 1);
    assert_eq!(
        watching(&scene),
        Some(true),
        "restart --watch toggled it on"
    );
    ok("delete", &scene.sh(&sb, "pm2 delete all"));
}

//! `watch` and `cron_restart` against a real systemd: a watched file restarts the app once
//! per burst of changes and an ignored one does not; a cron timer carries the translated
//! calendar and restarts the app when it fires. Each is a companion unit of its app, so
//! `delete` removes it, and a change of its settings alone leaves the app's process running.

use crate::common;

use common::sandbox::{assert_success, fixture, main_pid, stdout, workdir};
use common::Sandbox;
use std::path::Path;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(20);

fn pm2ctl(sb: &Sandbox, args: &[&str]) -> String {
    let out = sb.pm2ctl(args);
    assert_success(&format!("pm2ctl {}", args.join(" ")), &out);
    stdout(&out)
}

/// What a unit printed to the journal so far.
fn journal(sb: &Sandbox, unit: &str) -> String {
    stdout(&sb.journalctl(&["-u", unit, "-o", "cat", "--no-pager"]))
}

fn write_file(path: &Path, text: &str) {
    std::fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
}

#[test]
fn a_cron_timer_carries_the_translated_calendar_and_restarts_the_app() {
    let dir = workdir("watch_cron", "cron");
    let file = dir.join("ecosystem.toml");
    // Every 2 seconds (croner's six fields).
    write_file(
        &file,
        &format!(
            "[[apps]]\nuser = \"root\"\nname = \"tick\"\nscript = {:?}\ncron_restart = \"*/2 * * * * *\"\n",
            fixture("signals.js")
        ),
    );
    let sb = Sandbox::boot();
    pm2ctl(&sb, &["apply", &file.display().to_string()]);

    let timer = "pm2ctl-tick-cron.timer";
    assert_eq!(sb.unit_state(timer), "active");
    let calendar = stdout(&sb.systemctl(&["show", "--property=TimersCalendar", timer]));
    assert!(
        calendar.contains("OnCalendar=*-*-* *:*:00/2"),
        "the timer's calendar: {calendar}"
    );

    let service = "pm2ctl-tick@0.service";
    let first = main_pid(&sb, service);
    assert_ne!(first, 0, "the app runs");
    sb.wait_for("the cron timer to restart the app", WAIT, || {
        let now = main_pid(&sb, service);
        now != 0 && now != first
    });
    assert!(
        journal(&sb, "pm2ctl-tick-cron.service").contains("tick"),
        "the cron service ran pm2ctl restart"
    );

    // A new pattern, then watching turned on, change the companions only: the app's
    // process keeps running (PM2 restarts nothing when only its cron or watch changes).
    let app_with = |extra: &str| {
        write_file(
            &file,
            &format!(
                "[[apps]]\nuser = \"root\"\nname = \"tick\"\nscript = {:?}\n{extra}",
                fixture("signals.js")
            ),
        )
    };
    app_with("cron_restart = \"0 0 1 1 *\"\n");
    pm2ctl(&sb, &["apply", &file.display().to_string()]);
    let steady = main_pid(&sb, service);
    // A directory of its own: the agent must not see the file being rewritten.
    let watched = dir.join("src");
    std::fs::create_dir_all(&watched).expect("mkdir src");
    app_with(&format!(
        "cron_restart = \"0 0 2 1 *\"\nwatch = [{:?}]\n",
        watched.display().to_string()
    ));
    let dry = pm2ctl(&sb, &["apply", "--dry-run", &file.display().to_string()]);
    assert!(
        dry.contains("tick: update its cron timer, watch agent or memory check"),
        "{dry}"
    );
    pm2ctl(&sb, &["apply", &file.display().to_string()]);
    let calendar = stdout(&sb.systemctl(&["show", "--property=TimersCalendar", timer]));
    assert!(
        calendar.contains("01-02 00:00:00"),
        "the new calendar: {calendar}"
    );
    assert_eq!(sb.unit_state("pm2ctl-tick-watch.service"), "active");
    assert_eq!(main_pid(&sb, service), steady, "the app was restarted");
    // Both taken away: the companions go, the app runs on.
    app_with("");
    pm2ctl(&sb, &["apply", &file.display().to_string()]);
    assert_ne!(sb.unit_state(timer), "active");
    assert_ne!(sb.unit_state("pm2ctl-tick-watch.service"), "active");
    assert_eq!(main_pid(&sb, service), steady, "the app was restarted");
    app_with("cron_restart = \"0 0 1 1 *\"\n");
    pm2ctl(&sb, &["apply", &file.display().to_string()]);
    // Stopped, the app keeps its timer (PM2 starts it at cron time, and says so), which
    // follows the file; the app stays stopped.
    let out = sb.pm2ctl(&["stop", "tick"]);
    assert_success("pm2ctl stop tick", &out);
    let warning = String::from_utf8_lossy(&out.stderr);
    assert!(warning.contains("cron_restart"), "{warning}");
    app_with("cron_restart = \"0 0 3 1 *\"\n");
    pm2ctl(&sb, &["apply", &file.display().to_string()]);
    let calendar = stdout(&sb.systemctl(&["show", "--property=TimersCalendar", timer]));
    assert!(
        calendar.contains("01-03 00:00:00"),
        "the new calendar: {calendar}"
    );
    assert_eq!(main_pid(&sb, service), 0, "the stopped app was started");

    // The timer goes with its app.
    pm2ctl(&sb, &["delete", "tick"]);
    sb.wait_for("the timer to be removed", WAIT, || {
        sb.unit_state(timer) != "active"
    });
}

#[test]
fn a_burst_of_changes_restarts_a_watched_app_once_and_ignored_paths_never() {
    let dir = workdir("watch_cron", "watch");
    std::fs::create_dir_all(dir.join("src")).expect("mkdir src");
    std::fs::create_dir_all(dir.join("cache")).expect("mkdir cache");
    let file = dir.join("ecosystem.toml");
    write_file(
        &file,
        &format!(
            "[[apps]]\nuser = \"root\"\nname = \"web\"\nscript = {:?}\nwatch = true\n\
             ignore_watch = [\"cache\", \"node_modules\"]\nwatch_delay = 300\n",
            fixture("signals.js")
        ),
    );
    let sb = Sandbox::boot();
    pm2ctl(&sb, &["apply", &file.display().to_string()]);

    let agent = "pm2ctl-web-watch.service";
    sb.wait_for("the watch agent to watch", WAIT, || {
        journal(&sb, agent).contains("watching")
    });
    let list = pm2ctl(&sb, &["jlist"]);
    assert!(
        list.contains("\"watch\":true"),
        "jlist shows watching: {list}"
    );

    let service = "pm2ctl-web@0.service";
    let first = main_pid(&sb, service);

    // An ignored path: nothing happens, even well past the quiet period.
    for i in 0..3 {
        write_file(&dir.join("cache/data.json"), &format!("{i}"));
    }
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(
        main_pid(&sb, service),
        first,
        "an ignored change restarted the app"
    );
    assert!(!journal(&sb, agent).contains("change detected"));

    // Several saves in a row: one restart.
    for i in 0..5 {
        write_file(&dir.join("src/app.js"), &format!("// {i}\n"));
    }
    sb.wait_for("the change to restart the app", WAIT, || {
        let now = main_pid(&sb, service);
        now != 0 && now != first
    });
    std::thread::sleep(Duration::from_millis(1200));
    let log = journal(&sb, agent);
    assert_eq!(
        log.matches("restarting app web").count(),
        1,
        "one restart for the burst: {log}"
    );
    assert!(log.contains("src/app.js"), "{log}");

    // `restart --watch` toggles, as PM2's: the app restarts unwatched, then watched again.
    let before = main_pid(&sb, service);
    pm2ctl(&sb, &["restart", "web", "--watch"]);
    assert_ne!(sb.unit_state(agent), "active", "the agent still runs");
    assert!(pm2ctl(&sb, &["jlist"]).contains("\"watch\":false"));
    assert_ne!(main_pid(&sb, service), before, "the app restarted");
    pm2ctl(&sb, &["restart", "web", "--watch"]);
    assert_eq!(sb.unit_state(agent), "active");
    assert!(pm2ctl(&sb, &["jlist"]).contains("\"watch\":true"));

    // `stop --watch` stops watching with the app: a later `restart` runs it unwatched,
    // and `start web --watch` watches it again.
    pm2ctl(&sb, &["stop", "web", "--watch"]);
    assert_ne!(sb.unit_state(agent), "active", "the agent still runs");
    assert_eq!(main_pid(&sb, service), 0, "the app still runs");
    pm2ctl(&sb, &["restart", "web"]);
    assert_ne!(main_pid(&sb, service), 0, "the app did not start");
    assert_ne!(sb.unit_state(agent), "active", "watching came back");
    assert!(pm2ctl(&sb, &["jlist"]).contains("\"watch\":false"));
    let unwatched = main_pid(&sb, service);
    pm2ctl(&sb, &["start", "web", "--watch"]);
    assert_eq!(sb.unit_state(agent), "active");
    assert_ne!(main_pid(&sb, service), unwatched, "the app restarted");
    assert!(pm2ctl(&sb, &["jlist"]).contains("\"watch\":true"));

    pm2ctl(&sb, &["delete", "web"]);
    sb.wait_for("the watch agent to be removed", WAIT, || {
        sb.unit_state(agent) != "active"
    });
}

//! `max_memory_restart` against a real systemd: an instance that grows past the mark (90 %
//! of the value) is replaced gracefully by its memory check, under load and without a failed
//! request; an app that jumps past the hard limit is still killed by the kernel and restarted
//! by systemd (tests/integration/apply.rs `max_memory_restart_kills_a_leaking_app_and_systemd_restarts_it`).

use crate::common;

use common::load::Load;
use common::sandbox::{assert_success, fixture, main_pid, show, stdout, workdir};
use common::Sandbox;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);
const PORT: u16 = 3310;

#[test]
fn an_instance_over_the_memory_mark_is_replaced_gracefully_under_load() {
    let sb = Sandbox::boot();
    let dir = workdir("memory_restart", "graceful");
    let grow = dir.join("grow");
    // Mark: 90 % of 400 MiB = 360 MiB. The growing instance stops at 375 MiB resident, under
    // the hard limit, so only the graceful path can replace it.
    let file = dir.join("ecosystem.toml");
    std::fs::write(
        &file,
        format!(
            "[[apps]]\nuser = \"root\"\nname = \"fat\"\nscript = \"{}\"\nexec_mode = \"cluster\"\ninstances = 2\n\
             port = {PORT}\nmax_memory_restart = \"400M\"\n\
             env = {{ GROW_FILE = \"{}\", GROW_TO_MB = \"375\" }}\n",
            fixture("grow.js"),
            grow.display()
        ),
    )
    .expect("write the ecosystem file");
    assert_success(
        "pm2ctl apply",
        &sb.pm2ctl(&["apply", &file.display().to_string()]),
    );

    let timer = "pm2ctl-fat-memory.timer";
    let check = "pm2ctl-fat-memory.service";
    assert_eq!(show(&sb, timer, "ActiveState"), "active");
    assert!(
        show(&sb, timer, "TimersCalendar").contains("*-*-* *:*:00/30"),
        "{}",
        show(&sb, timer, "TimersCalendar")
    );

    let units = ["pm2ctl-fat@0.service", "pm2ctl-fat@1.service"];
    sb.wait_for("both instances serving", WAIT, || {
        units.iter().all(|u| main_pid(&sb, u) != 0)
            && sb
                .curl(&format!("http://127.0.0.1:{PORT}/"))
                .status
                .success()
    });
    let before: Vec<u32> = units.iter().map(|u| main_pid(&sb, u)).collect();

    let load = Load::start(&sb, &dir, PORT);
    load.wait_for_more(&sb, 200);

    std::fs::write(&grow, "").expect("write the grow file");
    let grown = dir.clone();
    let grower = || -> Option<u32> {
        std::fs::read_dir(&grown).ok()?.flatten().find_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            name.strip_prefix("grow.taken-by-")?.parse().ok()
        })
    };
    sb.wait_for("an instance to take the grow file", WAIT, || {
        grower().is_some()
    });
    let Some(fat_pid) = grower() else {
        unreachable!("waited for it above")
    };
    let fat = before
        .iter()
        .position(|p| *p == fat_pid)
        .unwrap_or_else(|| panic!("pid {fat_pid} is none of the instances {before:?}"));
    sb.wait_for("the instance to grow", WAIT, || {
        let log = sb.journalctl(&["-u", units[fat], "-o", "cat"]);
        stdout(&log).contains(&format!("grown pid={fat_pid}"))
    });

    // What the timer starts every 30 s, started now (the start job waits for the oneshot).
    assert_success("the memory check", &sb.systemctl(&["start", check]));
    assert_eq!(show(&sb, check, "Result"), "success");

    load.wait_for_more(&sb, 200);
    let result = load.finish();
    assert_eq!(
        (result.failed, result.non2xx),
        (0, 0),
        "requests lost during the graceful restart ({} answered), first errors: {:?}",
        result.ok,
        result.errors
    );

    let after: Vec<u32> = units.iter().map(|u| main_pid(&sb, u)).collect();
    assert!(
        after[fat] != 0 && after[fat] != before[fat],
        "the grown instance was not replaced: {before:?} -> {after:?}"
    );
    assert_eq!(
        after[1 - fat],
        before[1 - fat],
        "the instance under the mark was touched"
    );
    // A deliberate replacement, not a crash: systemd saw no failure and made no restart.
    assert_eq!(show(&sb, units[fat], "Result"), "success");
    assert_eq!(show(&sb, units[fat], "NRestarts"), "0");

    let journal = stdout(&sb.journalctl(&["PM2_APP=fat", "SYSLOG_IDENTIFIER=pm2ctl", "-o", "cat"]));
    assert!(
        journal.contains(&format!("pid {fat_pid}) exceeds the memory mark")),
        "{journal}"
    );
    assert!(journal.contains("replaced ✓"), "{journal}");

    let shown = stdout(&sb.pm2ctl(&["show", "fat"]));
    assert!(shown.contains("Graceful memory restart"), "{shown}");
    assert!(shown.contains("360.0mb resident (90 %"), "{shown}");
    assert!(shown.contains("(inactive, success)"), "{shown}");

    // The second check finds nothing over the mark: nothing changes.
    assert_success("the memory check again", &sb.systemctl(&["start", check]));
    let again: Vec<u32> = units.iter().map(|u| main_pid(&sb, u)).collect();
    assert_eq!(again, after);

    // The timer goes with the app.
    assert_success("pm2ctl delete fat", &sb.pm2ctl(&["delete", "fat"]));
    for unit in [timer, check] {
        assert_eq!(show(&sb, unit, "LoadState"), "not-found", "{unit}");
    }
}

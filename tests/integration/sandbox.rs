//! The sandbox itself: it boots a real systemd, runs commands inside, speaks D-Bus, keeps
//! sandboxes apart, and leaves nothing behind on the host.

use crate::common;

use common::sandbox::{assert_success, stdout};
use common::Sandbox;
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;
use zbus::message::Type as MessageType;
use zbus::{Connection, MatchRule, Message, MessageStream, OwnedObjectPath, Variant};

#[test]
fn boots_a_running_systemd_and_runs_commands_inside() {
    let sb = Sandbox::boot();

    let state = sb.systemctl(&["is-system-running"]);
    let state = stdout(&state);
    assert!(
        matches!(state.trim(), "running" | "degraded"),
        "system state: {state:?}"
    );
    // PID 1 inside is systemd, not the host's init.
    let comm = sb.exec(&["cat", "/proc/1/comm"]);
    assert_eq!(stdout(&comm).trim(), "systemd");

    // The command's exit status comes back unchanged.
    assert_eq!(sb.exec(&["sh", "-c", "exit 7"]).status.code(), Some(7));

    // Only listed variables reach the command; the sandbox's pm2ctl directories always do.
    let env = sb.exec_with_env(&[("PM2CTL_TEST_MARK", "passed")], &["env"]);
    let env = stdout(&env);
    assert!(
        env.contains("PM2CTL_TEST_MARK=passed"),
        "env inside:\n{env}"
    );
    assert!(
        !env.contains("CARGO_MANIFEST_DIR="),
        "host variable leaked in:\n{env}"
    );
    let state_dir = format!("PM2CTL_STATE_DIR={}", sb.state_dir().display());
    let config_dir = format!("PM2CTL_CONFIG_DIR={}", sb.config_dir().display());
    assert!(env.contains(&state_dir), "env inside:\n{env}");
    assert!(env.contains(&config_dir), "env inside:\n{env}");

    // Services started by systemd see them too.
    let run = sb.exec(&[
        "systemd-run",
        "--wait",
        "--pipe",
        "--quiet",
        "sh",
        "-c",
        "echo \"$PM2CTL_STATE_DIR\"",
    ]);
    assert_success("systemd-run", &run);
    assert_eq!(
        stdout(&run).trim(),
        sb.state_dir().display().to_string(),
        "PM2CTL_STATE_DIR of a service"
    );

    // The sandbox's /tmp is its own.
    let marker = format!("/tmp/pm2ctl-sandbox-marker-{}", sb.id());
    assert_success("touch", &sb.exec(&["touch", &marker]));
    assert!(
        !Path::new(&marker).exists(),
        "{marker} appeared on the host"
    );
}

#[test]
fn a_user_manager_starts_inside() {
    let sb = Sandbox::boot();
    assert_success(
        "start user@65534",
        &sb.systemctl(&["start", "user@65534.service"]),
    );
    assert_eq!(sb.unit_state("user@65534.service"), "active");
}

#[test]
fn the_journal_records_a_service_line() {
    let sb = Sandbox::boot();
    let run = sb.exec(&[
        "systemd-run",
        "--wait",
        "--quiet",
        "--unit=hello",
        "-p",
        "SyslogIdentifier=hello-app",
        "echo",
        "hello from the sandbox",
    ]);
    assert_success("systemd-run", &run);
    sb.wait_for("the line in the journal", Duration::from_secs(10), || {
        stdout(&sb.journalctl(&["-t", "hello-app", "-o", "cat"])).contains("hello from the sandbox")
    });
}

/// As on a real host, PID 1's own lines reach the journal: "Started …" and the like, with the
/// unit they are about in `UNIT=`.
#[test]
fn the_journal_records_pid1s_own_lines() {
    let sb = Sandbox::boot();
    let run = sb.exec(&[
        "systemd-run",
        "--wait",
        "--quiet",
        "--unit=pid1-says",
        "true",
    ]);
    assert_success("systemd-run", &run);
    sb.wait_for(
        "PID 1's line about the unit",
        Duration::from_secs(10),
        || {
            stdout(&sb.journalctl(&["_PID=1", "UNIT=pid1-says.service", "-o", "cat"]))
                .contains("pid1-says.service")
        },
    );
}

// ---------------------------------------------------------------------------------------------
// D-Bus: the Manager API, spoken directly (no proxy), from the host over the sandbox's bus socket.

const SYSTEMD: &str = "org.freedesktop.systemd1";
const MANAGER_PATH: &str = "/org/freedesktop/systemd1";
const MANAGER: &str = "org.freedesktop.systemd1.Manager";

#[test]
fn zbus_starts_sees_and_stops_a_transient_unit() {
    let sb = Sandbox::boot();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime");
    let address = sb.system_bus_address();
    runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(60), transient_unit_lifecycle(&address))
            .await
            .expect("the D-Bus exchange took over 60 s")
    });
    // What systemctl inside reports agrees: the unit is gone.
    assert_ne!(sb.unit_state("pm2ctl-smoke.service"), "active");
}

async fn transient_unit_lifecycle(address: &str) {
    let unit = "pm2ctl-smoke.service";
    let conn = zbus::connection::Builder::address(address)
        .build()
        .await
        .unwrap_or_else(|e| panic!("connect to {address}: {e}"));

    let jobs = job_removed_stream(&conn).await;
    call(&conn, MANAGER_PATH, MANAGER, "Subscribe", &()).await;

    let exec_start = vec![("/bin/sleep", vec!["/bin/sleep", "300"], false)];
    let properties: Vec<(&str, Variant<'_>)> = vec![
        ("Description", Variant::from("pm2ctl sandbox smoke test")),
        ("ExecStart", Variant::from(exec_start)),
    ];
    let aux: Vec<(&str, Vec<(&str, Variant<'_>)>)> = Vec::new();
    let reply = call(
        &conn,
        MANAGER_PATH,
        MANAGER,
        "StartTransientUnit",
        &(unit, "fail", properties, aux),
    )
    .await;
    let job: OwnedObjectPath = reply.body().deserialize().expect("a job path");
    assert_eq!(wait_job(jobs, &job).await, "done", "start job of {unit}");

    let unit_path = get_unit(&conn, unit).await.expect("the unit is loaded");
    let state = active_state(&conn, &unit_path).await;
    assert_eq!(state, "active", "ActiveState of {unit}");

    let jobs = job_removed_stream(&conn).await;
    let reply = call(&conn, MANAGER_PATH, MANAGER, "StopUnit", &(unit, "fail")).await;
    let job: OwnedObjectPath = reply.body().deserialize().expect("a job path");
    assert_eq!(wait_job(jobs, &job).await, "done", "stop job of {unit}");

    // A stopped transient unit is unloaded on systemd's next garbage collection.
    for _ in 0..200 {
        match get_unit(&conn, unit).await {
            Err(name) if name == "org.freedesktop.systemd1.NoSuchUnit" => return,
            Err(name) => panic!("GetUnit({unit}) failed with {name}"),
            Ok(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    panic!("{unit} is still loaded 10 s after it stopped");
}

async fn call<B>(conn: &Connection, path: &str, interface: &str, method: &str, body: &B) -> Message
where
    B: serde::Serialize + zbus::DynamicType,
{
    conn.call_method(Some(SYSTEMD), path, Some(interface), method, body)
        .await
        .unwrap_or_else(|e| panic!("{interface}.{method}: {e}"))
}

/// `GetUnit`: the unit's object path, or the D-Bus error name.
async fn get_unit(conn: &Connection, unit: &str) -> Result<OwnedObjectPath, String> {
    match conn
        .call_method(
            Some(SYSTEMD),
            MANAGER_PATH,
            Some(MANAGER),
            "GetUnit",
            &(unit,),
        )
        .await
    {
        Ok(reply) => Ok(reply.body().deserialize().expect("an object path")),
        Err(zbus::Error::MethodError(name, _, _)) => Err(name.to_string()),
        Err(e) => panic!("GetUnit({unit}): {e}"),
    }
}

async fn active_state(conn: &Connection, unit_path: &OwnedObjectPath) -> String {
    let reply = call(
        conn,
        unit_path.as_str(),
        "org.freedesktop.DBus.Properties",
        "Get",
        &("org.freedesktop.systemd1.Unit", "ActiveState"),
    )
    .await;
    let body = reply.body();
    let value: Variant<'_> = body.deserialize().expect("a variant");
    match value {
        Variant::Str(s) => s.to_string(),
        other => panic!("ActiveState is not a string: {other:?}"),
    }
}

async fn job_removed_stream(conn: &Connection) -> MessageStream {
    let rule = MatchRule::builder()
        .msg_type(MessageType::Signal)
        .sender(SYSTEMD)
        .interface(MANAGER)
        .member("JobRemoved")
        .build()
        .expect("a match rule");
    MessageStream::for_match_rule(rule, conn, None)
        .await
        .expect("a JobRemoved subscription")
}

/// Waits for `JobRemoved` of `job` and returns its result ("done", "failed", ...).
async fn wait_job(mut jobs: MessageStream, job: &OwnedObjectPath) -> String {
    use futures_util::StreamExt;
    while let Some(msg) = jobs.next().await {
        let msg = msg.expect("a signal");
        let (_id, path, _unit, result): (u32, OwnedObjectPath, String, String) =
            msg.body().deserialize().expect("JobRemoved(uoss)");
        if &path == job {
            return result;
        }
    }
    panic!("the bus closed before job {} finished", job.as_str());
}

// ---------------------------------------------------------------------------------------------
// Isolation and hygiene.

#[test]
fn two_sandboxes_do_not_see_each_other() {
    let (a, b) = std::thread::scope(|s| {
        let a = s.spawn(Sandbox::boot);
        let b = s.spawn(Sandbox::boot);
        (a.join().expect("boot a"), b.join().expect("boot b"))
    });
    assert_success(
        "systemd-run in a",
        &a.exec(&["systemd-run", "--unit=only-in-a", "sleep", "300"]),
    );
    assert_eq!(a.unit_state("only-in-a.service"), "active");
    assert_ne!(b.unit_state("only-in-a.service"), "active");
    // Each has its own network: a port bound in one is free in the other.
    let listen = "require('net').createServer().listen(3999, '127.0.0.1')";
    assert_success(
        "listener in a",
        &a.exec(&["systemd-run", "--unit=listener", "node", "-e", listen]),
    );
    assert_success(
        "listener in b",
        &b.exec(&["systemd-run", "--unit=listener", "node", "-e", listen]),
    );
    a.wait_for("a's listener", Duration::from_secs(10), || {
        a.unit_state("listener.service") == "active"
    });
    b.wait_for("b's listener", Duration::from_secs(10), || {
        b.unit_state("listener.service") == "active"
    });
    assert_ne!(a.pid(), b.pid());
}

/// What the host looks like, in every respect a sandbox could change.
#[derive(Debug, PartialEq)]
struct HostSnapshot {
    /// Every cgroup directory under the cgroups this process is in, in every hierarchy.
    cgroups: BTreeSet<PathBuf>,
    /// The mount table, one line per mount.
    mounts: BTreeSet<String>,
    /// The options of /sys/fs/cgroup and of every hierarchy below it, superblock ones included.
    cgroup_mount_options: BTreeSet<String>,
    /// The names in the host's /tmp.
    tmp: BTreeSet<String>,
}

impl HostSnapshot {
    fn take() -> HostSnapshot {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").expect("mountinfo");
        let mounts: BTreeSet<String> = mountinfo.lines().map(str::to_owned).collect();
        let cgroup_mount_options = mounts
            .iter()
            .filter_map(|line| {
                let fields: Vec<&str> = line.split(' ').collect();
                let mount_point = *fields.get(4)?;
                let options = *fields.get(5)?;
                let super_options = *fields.last()?;
                mount_point
                    .starts_with("/sys/fs/cgroup")
                    .then(|| format!("{mount_point} {options} {super_options}"))
            })
            .collect();
        let tmp = std::fs::read_dir("/tmp")
            .expect("read /tmp")
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|name| !is_compiler_temp(name))
            .collect();
        HostSnapshot {
            cgroups: our_cgroup_trees(&mountinfo),
            mounts,
            cgroup_mount_options,
            tmp,
        }
    }

    /// Everything that differs from `before`, one line each, ignoring other processes'
    /// sandboxes (cgroups named after a sandbox id not in `ours`).
    fn changes_since(&self, before: &HostSnapshot, ours: &[String]) -> Vec<String> {
        fn diff<T: Ord + std::fmt::Debug>(
            what: &str,
            a: &BTreeSet<T>,
            b: &BTreeSet<T>,
        ) -> Vec<String> {
            let gone = a.difference(b).map(|x| format!("{what} gone: {x:?}"));
            let new = b.difference(a).map(|x| format!("{what} new: {x:?}"));
            gone.chain(new).collect()
        }
        let foreign = |p: &PathBuf| {
            p.components().any(|c| {
                let c = c.as_os_str().to_string_lossy();
                c.strip_prefix("pm2ctl-sandbox-")
                    .is_some_and(|id| !ours.iter().any(|o| o == id))
            })
        };
        let before_cgroups = before
            .cgroups
            .iter()
            .filter(|p| !foreign(p))
            .cloned()
            .collect();
        let after_cgroups = self
            .cgroups
            .iter()
            .filter(|p| !foreign(p))
            .cloned()
            .collect();
        let mut changes = diff("cgroup", &before_cgroups, &after_cgroups);
        changes.extend(diff("mount", &before.mounts, &self.mounts));
        changes.extend(diff(
            "cgroup mount options",
            &before.cgroup_mount_options,
            &self.cgroup_mount_options,
        ));
        changes.extend(diff("/tmp entry", &before.tmp, &self.tmp));
        changes
    }
}

/// The cgroup directories at and under this process's cgroup, in every hierarchy mounted
/// under /sys/fs/cgroup.
fn our_cgroup_trees(mountinfo: &str) -> BTreeSet<PathBuf> {
    let own = std::fs::read_to_string("/proc/self/cgroup").expect("/proc/self/cgroup");
    let mut dirs = BTreeSet::new();
    for line in mountinfo.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let Some(sep) = fields.iter().position(|f| *f == "-") else {
            continue;
        };
        let (Some(root), Some(mount_point), Some(fstype), Some(super_options)) = (
            fields.get(3),
            fields.get(4),
            fields.get(sep + 1),
            fields.last(),
        ) else {
            continue;
        };
        let key = match *fstype {
            "cgroup2" => String::new(),
            "cgroup" => super_options
                .split(',')
                .filter(|o| !matches!(*o, "rw" | "ro" | "clone_children" | "noprefix" | "xattr"))
                .collect::<Vec<_>>()
                .join(","),
            _ => continue,
        };
        let Some(path) = own.lines().find_map(|l| {
            let mut parts = l.splitn(3, ':');
            let (_, controllers, path) = (parts.next()?, parts.next()?, parts.next()?);
            (controllers == key).then_some(path)
        }) else {
            continue;
        };
        let relative = path
            .strip_prefix(*root)
            .unwrap_or(path)
            .trim_start_matches('/');
        walk_dirs(&Path::new(mount_point).join(relative), &mut dirs);
    }
    assert!(
        !dirs.is_empty(),
        "no cgroup hierarchy found under /sys/fs/cgroup"
    );
    dirs
}

fn walk_dirs(dir: &Path, into: &mut BTreeSet<PathBuf>) {
    into.insert(dir.to_owned());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            walk_dirs(&entry.path(), into);
        }
    }
}

#[test]
fn sandboxes_leave_nothing_on_the_host() {
    common::sandbox::require_root();
    let before = HostSnapshot::take();
    assert!(
        before
            .cgroup_mount_options
            .iter()
            .any(|o| o.starts_with("/sys/fs/cgroup rw")),
        "/sys/fs/cgroup is not mounted read-write before the test: {:?}",
        before.cgroup_mount_options
    );

    let mut ours = Vec::new();
    {
        let sb = Sandbox::boot();
        ours.push(sb.id().to_owned());
        // While it runs, systemd has made its slices inside the sandbox's own cgroups.
        assert_success(
            "systemd-run",
            &sb.exec(&["systemd-run", "--unit=busy", "sleep", "300"]),
        );
        let during = HostSnapshot::take();
        assert!(
            during.cgroups.iter().any(|p| p.ends_with(format!(
                "pm2ctl-sandbox-{}/system.slice/busy.service",
                sb.id()
            ))),
            "busy.service's cgroup is not inside the sandbox's cgroup"
        );
        assert!(
            !during
                .cgroups
                .iter()
                .any(|p| p.file_name().is_some_and(|n| n == "system.slice")
                    && !p.to_string_lossy().contains("pm2ctl-sandbox-")),
            "a system.slice outside any sandbox cgroup"
        );
    }
    let after_one = HostSnapshot::take();
    let changes = after_one.changes_since(&before, &ours);
    assert!(
        changes.is_empty(),
        "one sandbox changed the host:\n{}",
        changes.join("\n")
    );

    {
        let (a, b) = std::thread::scope(|s| {
            let a = s.spawn(Sandbox::boot);
            let b = s.spawn(Sandbox::boot);
            (a.join().expect("boot a"), b.join().expect("boot b"))
        });
        ours.push(a.id().to_owned());
        ours.push(b.id().to_owned());
        assert_success(
            "systemd-run in a",
            &a.exec(&["systemd-run", "sleep", "300"]),
        );
        assert_success(
            "systemd-run in b",
            &b.exec(&["systemd-run", "sleep", "300"]),
        );
    }
    let after_two = HostSnapshot::take();
    let changes = after_two.changes_since(&before, &ours);
    assert!(
        changes.is_empty(),
        "two sandboxes changed the host:\n{}",
        changes.join("\n")
    );
}

/// Whether a /tmp name is a compiler's short-lived file: gcc's `ccXXXXXX.o`/`.res`/`.c` and
/// rustc's `rustcXXXXXX` directories. Builds running beside the tests (another checkout, the
/// linker rustc invokes) come and go there, and no sandbox ever names a file that way.
fn is_compiler_temp(name: &str) -> bool {
    let random = |s: &str| s.len() == 6 && s.chars().all(|c| c.is_ascii_alphanumeric());
    if let Some(rest) = name.strip_prefix("rustc") {
        return random(rest);
    }
    name.strip_prefix("cc")
        .map(|rest| rest.split_once('.').map_or(rest, |(stem, _)| stem))
        .is_some_and(random)
}

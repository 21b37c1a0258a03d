//! The Ansible collection (`ansible/`) driving three real hosts: three sandboxes, each with an
//! sshd on a veth link to one client namespace (tests/integration/common/remote.rs), where a pinned
//! ansible-core (installed by tests/prerequisites) runs the playbooks of tests/ansible/ with
//! the collection as `ansible-galaxy collection build` makes it.
//!
//! Ansible's own files stay under the test's directory (ANSIBLE_HOME, HOME, its local temp and
//! ssh control sockets); on the hosts its temporary files go to the sandbox's own /tmp, and each
//! host's ecosystem file to the sandbox's directory.

use crate::common;

use common::load::Load;
use common::remote::RemoteHost;
use common::sandbox::{assert_success, fixture, sh, stdout, PM2CTL};
use common::Sandbox;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Instant;

const REPO: &str = env!("CARGO_MANIFEST_DIR");
const PORT: u16 = 4191;
const HOSTS: usize = 3;

/// The ansible-core tests/prerequisites installs: its venv's `bin`.
fn ansible_bin() -> PathBuf {
    let prerequisites = std::fs::read_to_string(Path::new(REPO).join("tests/prerequisites"))
        .expect("read tests/prerequisites");
    let version = prerequisites
        .lines()
        .find_map(|l| l.strip_prefix("ANSIBLE_CORE_VERSION="))
        .expect("tests/prerequisites pins ANSIBLE_CORE_VERSION")
        .trim();
    let cache = std::env::var("PM2CTL_ANSIBLE_CACHE")
        .unwrap_or_else(|_| "/var/cache/pm2ctl-ansible".to_string());
    let venv = Path::new(&cache).join(format!("ansible-core-{version}"));
    assert!(
        venv.join("complete").exists(),
        "ansible-core {version} is not installed in {}: run tests/prerequisites (tests/run does)",
        venv.display()
    );
    venv.join("bin")
}

/// `ansible*` commands with every file Ansible writes kept under `dir`.
struct Ansible {
    bin: PathBuf,
    dir: PathBuf,
}

impl Ansible {
    fn new(dir: &Path) -> Ansible {
        for sub in ["home", "local-tmp", "control", "collections"] {
            std::fs::create_dir_all(dir.join(sub)).expect("ansible dirs");
        }
        Ansible {
            bin: ansible_bin(),
            dir: dir.to_path_buf(),
        }
    }

    fn command(&self, tool: &str) -> Command {
        let mut cmd = Command::new(self.bin.join(tool));
        self.configure(&mut cmd);
        cmd
    }

    /// Ansible's settings for a command that runs one of its tools.
    fn configure(&self, cmd: &mut Command) {
        let d = &self.dir;
        cmd.env("HOME", d.join("home"))
            .env("ANSIBLE_HOME", d.join("home"))
            .env("ANSIBLE_LOCAL_TEMP", d.join("local-tmp"))
            .env("ANSIBLE_SSH_CONTROL_PATH_DIR", d.join("control"))
            .env("ANSIBLE_COLLECTIONS_PATH", d.join("collections"))
            .env("ANSIBLE_REMOTE_TMP", "/tmp/.ansible")
            .env("ANSIBLE_PIPELINING", "true")
            .env("ANSIBLE_NOCOLOR", "true")
            .env("ANSIBLE_RETRY_FILES_ENABLED", "false")
            .env("ANSIBLE_PYTHON_INTERPRETER", "/usr/bin/python3")
            .env_remove("ANSIBLE_CONFIG")
            .current_dir(d);
    }

    /// Builds the collection from `ansible/` and installs the tarball for the playbooks.
    fn install_collection(&self) {
        let out = self
            .command("ansible-galaxy")
            .args(["collection", "build", "--force", "--output-path"])
            .arg(&self.dir)
            .arg(Path::new(REPO).join("ansible"))
            .output()
            .expect("ansible-galaxy");
        assert_success("ansible-galaxy collection build", &out);
        let tarball = self.dir.join("pm2ctl-pm2ctl-0.1.0.tar.gz");
        let out = self
            .command("ansible-galaxy")
            .args(["collection", "install", "--force", "-p"])
            .arg(self.dir.join("collections"))
            .arg(&tarball)
            .output()
            .expect("ansible-galaxy");
        assert_success("ansible-galaxy collection install", &out);
    }
}

/// `ansible-playbook` in the client namespace, reaching the hosts with the test's ssh config
/// (no ControlPersist master left behind).
fn playbook(remote: &RemoteHost, ansible: &Ansible, inventory: &Path, args: &[&str]) -> Output {
    let mut argv = vec![
        ansible.bin.join("ansible-playbook").display().to_string(),
        "-i".to_string(),
        inventory.display().to_string(),
    ];
    argv.extend(args.iter().map(|a| a.to_string()));
    let mut cmd = remote.in_client_ns(&argv);
    ansible.configure(&mut cmd);
    cmd.env(
        "ANSIBLE_SSH_ARGS",
        format!(
            "-F {} -o ControlMaster=no",
            sh(remote.ssh_config().display())
        ),
    );
    cmd.output().expect("ansible-playbook")
}

/// The PLAY RECAP line of `host`.
fn recap<'a>(output: &'a str, host: &str) -> &'a str {
    let recap = output
        .rfind("PLAY RECAP")
        .unwrap_or_else(|| panic!("no PLAY RECAP: {output}"));
    output[recap..]
        .lines()
        .find(|l| l.split_whitespace().next() == Some(host))
        .unwrap_or_else(|| panic!("{host} not in the recap: {output}"))
}

/// Whether every host's recap line has all of `counts` (e.g. "changed=2").
fn recaps_have(output: &str, counts: &[&str]) -> bool {
    (0..HOSTS).all(|i| {
        let line = recap(output, &format!("host{i}"));
        counts
            .iter()
            .all(|c| line.split_whitespace().any(|w| w == *c))
    })
}

fn main_pids(hosts: &[Sandbox]) -> Vec<Vec<String>> {
    hosts
        .iter()
        .map(|sb| {
            (0..2)
                .map(|i| {
                    let unit = format!("pm2ctl-web@{i}.service");
                    stdout(&sb.systemctl(&["show", "-P", "MainPID", &unit]))
                        .trim()
                        .to_string()
                })
                .collect()
        })
        .collect()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The cluster app every host runs: two instances of the HTTP fixture behind one port.
fn web(extra: &str) -> String {
    format!(
        "[[apps]]\nuser = \"root\"\nname = \"web\"\nscript = \"{}\"\nport = {PORT}\n\
         exec_mode = \"cluster\"\ninstances = 2\n{extra}",
        fixture("http.js")
    )
}

/// Sandboxed hosts reached from one client namespace, and Ansible to drive them.
struct Fleet {
    remote: RemoteHost,
    hosts: Vec<Sandbox>,
    ansible: Ansible,
    dir: PathBuf,
}

impl Fleet {
    fn new(count: usize, test: &str) -> Fleet {
        let hosts: Vec<Sandbox> = (0..count).map(|_| Sandbox::boot()).collect();
        let dir = common::sandbox::workdir("ansible", test);
        let remote = RemoteHost::start_many(&hosts.iter().collect::<Vec<_>>(), &dir.join("ssh"));
        let ansible = Ansible::new(&dir.join("ansible"));
        ansible.install_collection();
        Fleet {
            remote,
            hosts,
            ansible,
            dir,
        }
    }

    /// A PATH for the hosts whose first directory holds `pm2ctl` as `script` (none when
    /// `None`): each host runs the pm2ctl under test from there, as the package puts it in
    /// /usr/bin.
    fn path_with(&self, name: &str, script: Option<&str>) -> String {
        let d = self.dir.join(name);
        std::fs::create_dir_all(&d).expect("bin dir");
        if let Some(script) = script {
            std::fs::write(d.join("pm2ctl"), script).expect("write pm2ctl");
            let out = Command::new("chmod")
                .arg("+x")
                .arg(d.join("pm2ctl"))
                .output()
                .expect("chmod");
            assert_success("chmod", &out);
        }
        format!("{}:/usr/sbin:/usr/bin:/sbin:/bin", d.display())
    }

    /// The PATH with the pm2ctl under test.
    fn path(&self) -> String {
        self.path_with(
            "current",
            Some(&format!("#!/bin/sh\nexec {} \"$@\"\n", sh(PM2CTL))),
        )
    }

    /// An inventory of the hosts (group `web`) with `per_host(i)`'s variables; each host's
    /// ecosystem file goes to its sandbox's directory.
    fn inventory(&self, name: &str, per_host: &dyn Fn(usize) -> String) -> PathBuf {
        let mut text = String::from("[web]\n");
        for (i, sb) in self.hosts.iter().enumerate() {
            text += &format!(
                "host{i} ansible_host={} ecosystem_path={} {}\n",
                self.remote.address(i),
                sh(sb.dir().join("ecosystem.toml").display()),
                per_host(i)
            );
        }
        text += "[web:vars]\nansible_user=root\n";
        let path = self.dir.join(name);
        std::fs::write(&path, text).expect("write the inventory");
        path
    }

    fn playbook(&self, inventory: &Path, args: &[&str]) -> Output {
        playbook(&self.remote, &self.ansible, inventory, args)
    }
}

#[test]
fn a_playbook_applies_checks_and_reloads_a_cluster_app_on_three_hosts() {
    let fleet = Fleet::new(HOSTS, "three_hosts");
    let (hosts, dir) = (&fleet.hosts, &fleet.dir);
    let current = fleet.path();
    let old = fleet.path_with("old", Some("#!/bin/sh\necho 'pm2ctl 0.0.9'\n"));
    let missing = fleet.path_with("missing", None);
    let hosts_ini = fleet.inventory("hosts.ini", &|_| format!("pm2ctl_path={}", sh(&current)));
    let playbooks = Path::new(REPO).join("tests/ansible");
    let apply_yml = playbooks.join("apply.yml").display().to_string();
    let ecosystem = dir.join("ecosystem.toml");
    let ecosystem_var = format!("ecosystem={}", sh(ecosystem.display()));
    let run = |what: &str, args: &[&str]| -> String {
        let started = Instant::now();
        let out = fleet.playbook(&hosts_ini, args);
        assert_success(what, &out);
        println!("{what}: {:.1} s", started.elapsed().as_secs_f64());
        text(&out)
    };

    // First apply: changed on every host.
    std::fs::write(&ecosystem, web("")).expect("write the ecosystem file");
    let first = run(
        "the first apply",
        &[
            &apply_yml,
            "-e",
            &ecosystem_var,
            "-e",
            "expect_changed=true",
        ],
    );
    assert!(recaps_have(&first, &["changed=2", "failed=0"]), "{first}");
    let pids = main_pids(hosts);
    assert!(
        pids.iter().flatten().all(|p| p != "0" && !p.is_empty()),
        "{pids:?}"
    );

    // Again: ok, nothing restarted.
    let again = run(
        "the second apply",
        &[
            &apply_yml,
            "-e",
            &ecosystem_var,
            "-e",
            "expect_changed=false",
        ],
    );
    assert!(recaps_have(&again, &["changed=0", "failed=0"]), "{again}");
    assert_eq!(
        main_pids(hosts),
        pids,
        "the second apply restarted something"
    );

    // An edit, in check mode with diff: changed reported, the plan shown, nothing restarted.
    std::fs::write(&ecosystem, web("env = { GREETING = \"hello\" }\n")).expect("edit");
    let check = run(
        "the apply in check mode",
        &[
            &apply_yml,
            "--check",
            "--diff",
            "-e",
            &ecosystem_var,
            "-e",
            "expect_changed=true",
        ],
    );
    // The copy wrote the new file (check_mode: false), apply only said what it would do.
    assert!(recaps_have(&check, &["changed=2", "failed=0"]), "{check}");
    assert_eq!(
        check.matches("web: roll").count(),
        HOSTS,
        "the plan as a diff: {check}"
    );
    assert_eq!(main_pids(hosts), pids, "check mode restarted something");

    // A rolling reload, one host at a time, each host under keep-alive load.
    let loads: Vec<Load> = hosts
        .iter()
        .enumerate()
        .map(|(i, sb)| {
            let d = dir.join(format!("load{i}"));
            std::fs::create_dir_all(&d).expect("load dir");
            let load = Load::start(sb, &d, PORT);
            load.wait_for_more(sb, 100);
            load
        })
        .collect();
    let reload_yml = playbooks.join("reload.yml").display().to_string();
    let rollout = Instant::now();
    let out = fleet.playbook(&hosts_ini, &[&reload_yml]);
    let took = rollout.elapsed();
    assert_success("the rolling reload", &out);
    let reload = text(&out);
    // serial: 1 — one play batch per host, in the inventory's order.
    let batches: Vec<usize> = (0..HOSTS)
        .map(|i| {
            reload
                .find(&format!("changed: [host{i}]"))
                .unwrap_or_else(|| panic!("host{i} not reloaded: {reload}"))
        })
        .collect();
    assert!(batches.windows(2).all(|w| w[0] < w[1]), "{reload}");
    assert_eq!(
        reload.matches("PLAY [Reload web host by host]").count(),
        HOSTS
    );
    for (load, sb) in loads.iter().zip(hosts) {
        load.wait_for_more(sb, 100);
    }
    for (i, load) in loads.into_iter().enumerate() {
        load.finish()
            .assert_no_loss(&format!("the rolling reload, on host{i}"));
    }
    let reloaded = main_pids(hosts);
    for (before, after) in pids.iter().flatten().zip(reloaded.iter().flatten()) {
        assert!(before != after && after != "0", "{pids:?} → {reloaded:?}");
    }
    println!(
        "ansible rollout: rolling reload of {HOSTS} hosts (serial: 1) took {:.1} s",
        took.as_secs_f64()
    );
    if let Ok(file) = std::env::var("PM2CTL_ANSIBLE_TIMINGS") {
        std::fs::write(file, format!("{:.1}\n", took.as_secs_f64())).expect("timings file");
    }

    // A broken file fails on every host with pm2ctl's own message and changes nothing.
    let broken = dir.join("broken.toml");
    std::fs::write(&broken, web("max_memory_restrat = \"300M\"\n")).expect("write");
    let out = fleet.playbook(
        &hosts_ini,
        &[
            &apply_yml,
            "-e",
            &format!("ecosystem={}", sh(broken.display())),
            "-e",
            r#"{"expect_error": "ecosystem.toml:8:1: error: apps[0].max_memory_restrat: unknown app option"}"#,
        ],
    );
    let failed = text(&out);
    assert_success(
        "the apply of a broken file (every host's task failed as asserted)",
        &out,
    );
    assert!(recaps_have(&failed, &["ignored=1", "failed=0"]), "{failed}");
    assert_eq!(
        main_pids(hosts),
        reloaded,
        "a broken file changed something"
    );

    // Where pm2ctl is too old or missing, the task fails saying so.
    let preflight = fleet.inventory("preflight.ini", &|i| match i {
        0 => format!(
            "pm2ctl_path={} expect_error='pm2ctl 0.0.9 on this host is too old'",
            sh(&old)
        ),
        1 => format!(
            "pm2ctl_path={} expect_error='pm2ctl is not installed on this host'",
            sh(&missing)
        ),
        _ => format!("pm2ctl_path={}", sh(&current)),
    });
    let facts_yml = playbooks.join("facts.yml").display().to_string();
    let out = fleet.playbook(&preflight, &[&facts_yml]);
    assert_success("the facts on hosts without a usable pm2ctl", &out);
    let preflight = text(&out);
    for (host, ignored) in [
        ("host0", "ignored=1"),
        ("host1", "ignored=1"),
        ("host2", "ignored=0"),
    ] {
        assert!(
            recap(&preflight, host)
                .split_whitespace()
                .any(|w| w == ignored),
            "{preflight}"
        );
    }
}

/// `ansible-test sanity` on the collection, run where it can be here: locally on the venv's
/// Python (no containers), each test in the venv ansible-test makes for it from PyPI.
#[test]
fn a_unit_that_does_not_start_fails_apply_and_the_app_module_acts_only_when_needed() {
    let fleet = Fleet::new(1, "app");
    let inventory = fleet.inventory("hosts.ini", &|_| {
        format!("pm2ctl_path={}", sh(fleet.path()))
    });
    let ecosystem = fleet.dir.join("ecosystem.toml");
    std::fs::write(&ecosystem, web("")).expect("write the ecosystem file");
    let playbooks = Path::new(REPO).join("tests/ansible");
    let out = fleet.playbook(
        &inventory,
        &[
            &playbooks.join("apply.yml").display().to_string(),
            "-e",
            &format!("ecosystem={}", sh(ecosystem.display())),
            "-e",
            "expect_changed=true",
        ],
    );
    assert_success("the apply", &out);
    // A unit that does not start fails the task with pm2ctl's account of it, naming the unit.
    std::fs::write(
        &ecosystem,
        web(&format!(
            "\n[[apps]]\nuser = \"root\"\nname = \"slow\"\nscript = \"{}\"\n\
             wait_ready = true\nlisten_timeout = 1000\n",
            fixture("printer.js")
        )),
    )
    .expect("write the ecosystem file");
    let out = fleet.playbook(
        &inventory,
        &[
            &playbooks.join("apply.yml").display().to_string(),
            "-e",
            &format!("ecosystem={}", sh(ecosystem.display())),
            "-e",
            r#"{"expect_changed": true, "expect_failed_units": ["pm2ctl-slow@0.service"],
                "expect_error": "pm2ctl-slow@0.service did not start: job failed"}"#,
        ],
    );
    assert_success("the apply of an app that never becomes ready", &out);
    let output = text(&out);
    assert!(
        recap(&output, "host0")
            .split_whitespace()
            .any(|w| w == "ignored=1"),
        "{output}"
    );
    assert!(output.contains("did not report ready in time"), "{output}");
    let out = fleet.playbook(
        &inventory,
        &[&playbooks.join("app.yml").display().to_string()],
    );
    assert_success("every state of the app module, twice each", &out);
    let output = text(&out);
    // Five steps, each acting once and then finding it done (and asserting so).
    let line = recap(&output, "host0");
    assert!(
        line.split_whitespace().any(|w| w == "changed=5"),
        "{output}"
    );
    assert!(line.split_whitespace().any(|w| w == "failed=0"), "{output}");
    let sb = &fleet.hosts[0];
    assert_eq!(sb.unit_state("pm2ctl-web@0.service"), "inactive");
    assert!(!stdout(&sb.pm2ctl(&["jlist"])).contains("\"web\""));
}

#[test]
fn the_collection_passes_ansible_test_sanity() {
    let dir = common::sandbox::workdir("ansible", "sanity");
    let ansible = Ansible::new(&dir);
    // ansible-test wants the collection at ansible_collections/NAMESPACE/NAME, and lists its
    // files with git when in a repository: a repository of its own, outside the build tree's.
    let root = dir.join("ansible_collections/pm2ctl/pm2ctl");
    std::fs::create_dir_all(root.parent().expect("parent")).expect("dirs");
    let out = Command::new("cp")
        .arg("-r")
        .arg(Path::new(REPO).join("ansible"))
        .arg(&root)
        .output()
        .expect("cp");
    assert_success("copy the collection", &out);
    let out = Command::new("git")
        .args(["init", "-q"])
        .current_dir(&root)
        .output()
        .expect("git init");
    assert_success("git init", &out);
    // The venvs ansible-test makes for its tests, and their requirements, are kept with the
    // ansible-core install (made once, not per run).
    let cache = ansible_bin().parent().expect("venv").join("test-home");
    let python = Command::new(ansible_bin().join("python"))
        .args(["-c", "import sys; print('%d.%d' % sys.version_info[:2])"])
        .output()
        .expect("python");
    assert_success("python --version", &python);
    let out = ansible
        .command("ansible-test")
        .args(["sanity", "--color", "no", "--python"])
        .arg(stdout(&python).trim())
        .env("HOME", &cache)
        .env("ANSIBLE_HOME", cache.join(".ansible"))
        .current_dir(&root)
        .output()
        .expect("ansible-test");
    assert_success("ansible-test sanity", &out);
    // Which tests ran (and which were skipped, and why), for the log.
    println!("{}", text(&out));
}

//! A second machine for the deploy and `-H` tests: an sshd inside a sandbox, reached over a
//! veth pair from a client network namespace of the test's own.
//!
//! Nothing on the host changes: the veth ends are created directly inside the two namespaces
//! (the sandbox's, and one held by a `sleep` started with `unshare --net`), the sshd runs as a
//! unit of the sandboxed systemd with a config, host key, authorized key and known_hosts under
//! the build tree, and the client side reads only those (`ssh -F <that config>`), never
//! `~/.ssh`.

use super::sandbox::{assert_success, stdout, Sandbox, PM2CTL};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The sandbox's address on the link (the client is .1); with several hosts, the first's.
pub const ADDRESS: &str = "10.199.0.2";
const PREFIX: &str = "/24";

/// Host `i`'s address: a /24 per link, 10.199.i.0, the host at .2.
fn address(i: usize) -> String {
    format!("10.199.{i}.2")
}

/// The client's end of link `i`.
fn client_address(i: usize) -> String {
    format!("10.199.{i}.1")
}

/// The client side of a running second host.
pub struct RemoteHost {
    client_ns: Child,
    dir: PathBuf,
    addresses: Vec<String>,
}

impl RemoteHost {
    /// Starts sshd in `sb` (state and keys under `dir`) and connects a client namespace to it;
    /// returns once `ssh root@ADDRESS true` works. Sessions get `PM2CTL_STATE_DIR` and
    /// `PM2CTL_CONFIG_DIR` set to the sandbox's own directories, as `Sandbox::pm2ctl` does: the
    /// same store and saved state either way.
    pub fn start(sb: &Sandbox, dir: &Path) -> RemoteHost {
        RemoteHost::start_many(&[sb], dir)
    }

    /// `start` for several hosts seen from one client: sandbox `i` gets its own veth pair and
    /// subnet, at `address(i)` (the first at ADDRESS), and an sshd of its own; one client key
    /// and one host key serve them all.
    pub fn start_many(hosts: &[&Sandbox], dir: &Path) -> RemoteHost {
        std::fs::create_dir_all(dir).expect("remote host dir");
        for key in ["client_key", "host_key"] {
            let path = dir.join(key);
            let _ = std::fs::remove_file(&path);
            let _ = std::fs::remove_file(path.with_extension("pub"));
            run(Command::new("ssh-keygen")
                .args(["-q", "-t", "ed25519", "-N", "", "-C", key, "-f"])
                .arg(&path));
        }
        std::fs::create_dir_all(dir.join("tmp")).expect("client tmp dir");
        let read = |name: &str| std::fs::read_to_string(dir.join(name)).expect(name);
        let addresses: Vec<String> = (0..hosts.len()).map(address).collect();
        write(dir, "authorized_keys", &read("client_key.pub"));
        let host_key = read("host_key.pub");
        let known: String = addresses
            .iter()
            .map(|a| format!("{a} {host_key}"))
            .collect();
        write(dir, "known_hosts", &known);
        let d = dir.display();
        write(
            dir,
            "ssh_config",
            &format!(
                "Host *\n  IdentityFile \"{d}/client_key\"\n  IdentitiesOnly yes\n  \
                 UserKnownHostsFile \"{d}/known_hosts\"\n  GlobalKnownHostsFile /dev/null\n  \
                 StrictHostKeyChecking yes\n  BatchMode yes\n  LogLevel ERROR\n"
            ),
        );

        // The client's namespace lives as long as this sleep (killed on drop).
        let client_ns = Command::new("unshare")
            .args(["--net", "--", "sleep", "900"])
            .stdin(Stdio::null())
            .spawn()
            .expect("unshare --net");
        let host = RemoteHost {
            client_ns,
            dir: dir.to_path_buf(),
            addresses,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !Path::new(&format!("/proc/{}/ns/net", host.client_ns.id())).exists()
            || same_netns(host.client_ns.id())
        {
            assert!(
                Instant::now() < deadline,
                "the client namespace never appeared"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        run(&mut host.in_client_ns(&["ip", "link", "set", "lo", "up"]));
        for (i, sb) in hosts.iter().enumerate() {
            host.link(i, sb);
        }
        for i in 0..hosts.len() {
            let deadline = Instant::now() + Duration::from_secs(20);
            loop {
                let out = host.ssh_to(i, &["true"]);
                if out.status.success() {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "sshd on {} never answered: {}",
                    host.address(i),
                    String::from_utf8_lossy(&out.stderr)
                );
                std::thread::sleep(Duration::from_millis(100));
            }
        }
        host
    }

    /// Connects sandbox `i` to the client over a veth pair and starts its sshd.
    fn link(&self, i: usize, sb: &Sandbox) {
        let address = self.address(i);
        let client_end = format!("veth-c{i}");
        let d = self.dir.display();
        let state = sb.state_dir();
        let state = state.display();
        let config = sb.config_dir();
        let config = config.display();
        let shim = concat!(env!("CARGO_MANIFEST_DIR"), "/shim/node/pm2ctl-shim.js");
        let sshd_config = if i == 0 {
            "sshd_config".to_string()
        } else {
            format!("sshd_config-{i}")
        };
        write(
            &self.dir,
            &sshd_config,
            &format!(
                "ListenAddress {address}\nHostKey \"{d}/host_key\"\n\
                 AuthorizedKeysFile \"{d}/authorized_keys\"\n\
                 PermitRootLogin prohibit-password\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPidFile none\n\
                 SetEnv \"PM2CTL_STATE_DIR={state}\" \"PM2CTL_CONFIG_DIR={config}\" \
                 \"PM2CTL_SHIM={shim}\"\n"
            ),
        );
        run(Command::new("ip").args([
            "link",
            "add",
            &client_end,
            "netns",
            &self.client_ns.id().to_string(),
            "type",
            "veth",
            "peer",
            "name",
            "veth-s",
            "netns",
            &sb.pid().to_string(),
        ]));
        run(&mut self.in_client_ns(&[
            "sh",
            "-c",
            &format!(
                "ip addr add {}{PREFIX} dev {client_end} && ip link set {client_end} up",
                client_address(i)
            ),
        ]));
        let setup = sb.exec(&[
            "sh",
            "-c",
            &format!(
                "ip addr add {address}{PREFIX} dev veth-s && ip link set veth-s up && mkdir -p /run/sshd \
                 && systemd-run --quiet --unit=test-sshd /usr/sbin/sshd -D -e -f {config}",
                config = super::sandbox::sh(self.dir.join(&sshd_config).display())
            ),
        ]);
        assert_success(&format!("starting sshd in sandbox {}", sb.id()), &setup);
    }

    /// Host `i`'s address (`start_many`'s order); host 0's is ADDRESS.
    pub fn address(&self, i: usize) -> &str {
        &self.addresses[i]
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The ssh client config: key, known_hosts, batch mode.
    pub fn ssh_config(&self) -> PathBuf {
        self.dir.join("ssh_config")
    }

    pub fn client_key(&self) -> PathBuf {
        self.dir.join("client_key")
    }

    pub fn known_hosts(&self) -> PathBuf {
        self.dir.join("known_hosts")
    }

    /// How many times a client logged in to the sshd so far (its journal's count), once the
    /// count holds still: sshd's lines reach the journal through syslog, and on a busy machine
    /// an earlier run's may still be on their way (once, on systemd 247 under load, one `-H`
    /// run counted four logins; alone it counts one).
    pub fn logins(&self, sb: &Sandbox) -> usize {
        let count = || {
            let _ = sb.journalctl(&["--sync"]);
            stdout(&sb.journalctl(&["-u", "test-sshd", "-o", "cat"]))
                .lines()
                .filter(|l| l.starts_with("Accepted publickey"))
                .count()
        };
        let mut last = count();
        for _ in 0..20 {
            std::thread::sleep(std::time::Duration::from_millis(300));
            let now = count();
            if now == last {
                break;
            }
            last = now;
        }
        last
    }

    /// `argv` run in the client's network namespace (the rest of the machine is the host's).
    pub fn in_client_ns<S: AsRef<OsStr>>(&self, argv: &[S]) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--net=/proc/{}/ns/net", self.client_ns.id()))
            .arg("--")
            .args(argv)
            .env(
                "PM2CTL_SSH",
                format!("ssh -F {}", super::sandbox::sh(self.ssh_config().display())),
            )
            // pm2ctl's ssh control directory goes under the test's own directory, never the
            // host's /tmp (which the host-leak test watches).
            .env("TMPDIR", self.dir.join("tmp"))
            .env_remove("XDG_RUNTIME_DIR")
            .stdin(Stdio::null());
        cmd
    }

    /// `ssh root@ADDRESS ARGV…` from the client.
    pub fn ssh(&self, argv: &[&str]) -> Output {
        self.ssh_to(0, argv)
    }

    /// `ssh root@address(i) ARGV…` from the client.
    pub fn ssh_to(&self, i: usize, argv: &[&str]) -> Output {
        let config = self.ssh_config();
        let target = format!("root@{}", self.address(i));
        let mut full: Vec<&OsStr> = vec![
            OsStr::new("ssh"),
            OsStr::new("-F"),
            config.as_os_str(),
            OsStr::new(&target),
        ];
        full.extend(argv.iter().map(OsStr::new));
        self.in_client_ns(&full).output().expect("ssh")
    }

    /// The built pm2ctl, run from the client (`PM2CTL_SSH` names the test's ssh config).
    pub fn pm2ctl<S: AsRef<OsStr>>(&self, args: &[S]) -> Output {
        let mut argv: Vec<&OsStr> = vec![OsStr::new(PM2CTL)];
        argv.extend(args.iter().map(AsRef::as_ref));
        self.in_client_ns(&argv)
            // The tests' files live in the build tree: git must not take them for part of the
            // checkout (deploy refuses a checkout with uncommitted changes).
            .env("GIT_CEILING_DIRECTORIES", env!("CARGO_TARGET_TMPDIR"))
            .output()
            .expect("pm2ctl")
    }
}

impl Drop for RemoteHost {
    fn drop(&mut self) {
        // The veth pair goes with the namespaces.
        let _ = self.client_ns.kill();
        let _ = self.client_ns.wait();
    }
}

fn same_netns(pid: u32) -> bool {
    let ours = std::fs::read_link("/proc/self/ns/net").ok();
    let theirs = std::fs::read_link(format!("/proc/{pid}/ns/net")).ok();
    ours == theirs
}

fn write(dir: &Path, name: &str, text: &str) {
    std::fs::write(dir.join(name), text).unwrap_or_else(|e| panic!("{name}: {e}"));
}

#[track_caller]
fn run(cmd: &mut Command) -> String {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert_success(&format!("{cmd:?}"), &out);
    stdout(&out)
}

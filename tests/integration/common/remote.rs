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

/// The sandbox's address on the link (the client is .1).
pub const ADDRESS: &str = "10.199.0.2";
const CLIENT_ADDRESS: &str = "10.199.0.1/24";
const PREFIX: &str = "/24";

/// The client side of a running second host.
pub struct RemoteHost {
    client_ns: Child,
    dir: PathBuf,
}

impl RemoteHost {
    /// Starts sshd in `sb` (state and keys under `dir`) and connects a client namespace to it;
    /// returns once `ssh root@ADDRESS true` works. Sessions get `PM2CTL_STATE_DIR` and
    /// `PM2CTL_CONFIG_DIR` set to the sandbox's own directories, as `Sandbox::pm2ctl` does: the
    /// same store and saved state either way.
    pub fn start(sb: &Sandbox, dir: &Path) -> RemoteHost {
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
        write(dir, "authorized_keys", &read("client_key.pub"));
        write(
            dir,
            "known_hosts",
            &format!("{ADDRESS} {}", read("host_key.pub")),
        );
        let d = dir.display();
        let state = sb.state_dir();
        let state = state.display();
        let config = sb.config_dir();
        let config = config.display();
        let shim = concat!(env!("CARGO_MANIFEST_DIR"), "/shim/node/pm2ctl-shim.js");
        write(
            dir,
            "sshd_config",
            &format!(
                "ListenAddress {ADDRESS}\nHostKey {d}/host_key\nAuthorizedKeysFile {d}/authorized_keys\n\
                 PermitRootLogin prohibit-password\nPasswordAuthentication no\n\
                 KbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPidFile none\n\
                 SetEnv PM2CTL_STATE_DIR={state} PM2CTL_CONFIG_DIR={config} PM2CTL_SHIM={shim}\n"
            ),
        );
        write(
            dir,
            "ssh_config",
            &format!(
                "Host *\n  IdentityFile {d}/client_key\n  IdentitiesOnly yes\n  \
                 UserKnownHostsFile {d}/known_hosts\n  GlobalKnownHostsFile /dev/null\n  \
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
        run(Command::new("ip").args([
            "link",
            "add",
            "veth-c",
            "netns",
            &host.client_ns.id().to_string(),
            "type",
            "veth",
            "peer",
            "name",
            "veth-s",
            "netns",
            &sb.pid().to_string(),
        ]));
        run(&mut host.in_client_ns(&[
            "sh",
            "-c",
            &format!("ip addr add {CLIENT_ADDRESS} dev veth-c && ip link set veth-c up && ip link set lo up"),
        ]));
        let setup = sb.exec(&[
            "sh",
            "-c",
            &format!(
                "ip addr add {ADDRESS}{PREFIX} dev veth-s && ip link set veth-s up && mkdir -p /run/sshd \
                 && systemd-run --quiet --unit=test-sshd /usr/sbin/sshd -D -e -f {d}/sshd_config"
            ),
        ]);
        assert_success("starting sshd in the sandbox", &setup);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let out = host.ssh(&["true"]);
            if out.status.success() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "sshd never answered: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        host
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

    /// How many times a client logged in to the sshd so far (its journal's count).
    pub fn logins(&self, sb: &Sandbox) -> usize {
        stdout(&sb.journalctl(&["-u", "test-sshd", "-o", "cat"]))
            .lines()
            .filter(|l| l.starts_with("Accepted publickey"))
            .count()
    }

    /// `argv` run in the client's network namespace (the rest of the machine is the host's).
    pub fn in_client_ns<S: AsRef<OsStr>>(&self, argv: &[S]) -> Command {
        let mut cmd = Command::new("nsenter");
        cmd.arg(format!("--net=/proc/{}/ns/net", self.client_ns.id()))
            .arg("--")
            .args(argv)
            .env(
                "PM2CTL_SSH",
                format!("ssh -F {}", self.ssh_config().display()),
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
        let config = self.ssh_config();
        let target = format!("root@{ADDRESS}");
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

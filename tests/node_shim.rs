//! The Node shim (`shim/node/pm2ctl-shim.js`) without systemd: these tests hand node a
//! listening socket as fd 3 with LISTEN_FDS/LISTEN_PID set, as systemd does for a socket
//! unit, and check what an unmodified app does with it. Needs `node` on PATH.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixDatagram;
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

fn repo_file(relative: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join(relative)
        .to_string_lossy()
        .into_owned()
}

fn shim() -> String {
    repo_file("shim/node/pm2ctl-shim.js")
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    let probe = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port");
    probe.local_addr().expect("local address").port()
}

/// Kills the app when a test ends, passed or not.
struct App(Child);

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl App {
    /// The next line the app prints on stdout.
    fn line(&mut self) -> String {
        let out = self.0.stdout.as_mut().expect("piped stdout");
        let mut line = String::new();
        BufReader::new(out)
            .read_line(&mut line)
            .expect("read app stdout");
        line
    }
}

/// Runs `node --require shim <node_args>` the way a socket unit starts a service: the
/// socket as fd 3, LISTEN_FDS=1, and LISTEN_PID set to the pid node runs as (the shell
/// execs node, so `$$` is node's pid). `listen_pid_is_node = false` sets it to another pid.
fn spawn_activated(
    socket: &TcpListener,
    listen_pid_is_node: bool,
    envs: &[(&str, String)],
    node_args: &[&str],
) -> App {
    let pid_expr = if listen_pid_is_node { "$$" } else { "1" };
    let script = format!("LISTEN_PID={pid_expr} exec node \"$@\"");
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(script)
        .arg("sh")
        .args(["--require", &shim()])
        .args(node_args)
        .env("LISTEN_FDS", "1")
        .envs(envs.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    let fd = socket.as_raw_fd();
    // SAFETY: only async-signal-safe calls (dup2, fcntl) between fork and exec.
    unsafe {
        cmd.pre_exec(move || {
            if fd == 3 {
                // Already fd 3: just let it survive exec.
                if nix::libc::fcntl(3, nix::libc::F_SETFD, 0) == -1 {
                    return Err(std::io::Error::last_os_error());
                }
            } else if nix::libc::dup2(fd, 3) == -1 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    App(cmd.spawn().expect("spawn node (is it installed?)"))
}

fn http_get(port: u16) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("set timeout");
    stream
        .write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .expect("send request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read response");
    response
}

#[test]
fn an_unmodified_http_app_answers_on_the_socket_systemd_passed() {
    let socket = TcpListener::bind("127.0.0.1:0").expect("bind");
    let socket_port = socket.local_addr().expect("addr").port();
    // The app is told another port: answering on the passed socket proves it adopted it.
    let env_port = free_port();
    let mut app = spawn_activated(
        &socket,
        true,
        &[
            ("PORT", env_port.to_string()),
            ("NODE_APP_INSTANCE", "2".into()),
        ],
        &[&repo_file("tests/fixtures/http.js")],
    );
    assert!(app.line().starts_with("listening"), "app did not start");
    drop(socket); // only the app holds the socket now

    let response = http_get(socket_port);
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let pid = app.0.id().to_string();
    assert!(
        response.contains(&format!("\"pid\":{pid}")),
        "answered by another process: {response}"
    );
    assert!(response.contains("\"instance\":\"2\""), "{response}");
    assert!(
        TcpStream::connect(("127.0.0.1", env_port)).is_err(),
        "the app also bound $PORT itself"
    );
}

/// Listens twice on $PORT (plain port, then options), prints both ports and what is
/// left of LISTEN_* in its environment.
const LISTEN_TWICE: &str = r#"
const net = require('net');
const port = Number(process.env.PORT);
const a = net.createServer();
const b = net.createServer();
a.listen(port, () => {
  b.listen({ port, host: '127.0.0.1' }, () => {
    console.log(JSON.stringify({
      a: a.address().port,
      b: b.address().port,
      fds: process.env.LISTEN_FDS ?? null,
      pid: process.env.LISTEN_PID ?? null,
    }));
  });
});
"#;

#[test]
fn each_passed_socket_is_adopted_once_and_listen_vars_are_not_inherited() {
    let socket = TcpListener::bind("127.0.0.1:0").expect("bind");
    let socket_port = socket.local_addr().expect("addr").port();
    let env_port = free_port();
    let mut app = spawn_activated(
        &socket,
        true,
        &[("PORT", env_port.to_string())],
        &["-e", LISTEN_TWICE],
    );
    let report = app.line();
    assert_eq!(
        report.trim(),
        format!(r#"{{"a":{socket_port},"b":{env_port},"fds":null,"pid":null}}"#)
    );
}

#[test]
fn sockets_meant_for_another_process_are_left_alone() {
    let socket = TcpListener::bind("127.0.0.1:0").expect("bind");
    let env_port = free_port();
    let other_port = free_port();
    let script = LISTEN_TWICE.replace(
        "{ port, host: '127.0.0.1' }",
        "{ port: Number(process.env.OTHER_PORT) }",
    );
    let mut app = spawn_activated(
        &socket,
        false,
        &[
            ("PORT", env_port.to_string()),
            ("OTHER_PORT", other_port.to_string()),
        ],
        &["-e", &script],
    );
    let report = app.line();
    assert_eq!(
        report.trim(),
        format!(r#"{{"a":{env_port},"b":{other_port},"fds":null,"pid":null}}"#)
    );
}

fn run_node(envs: &[(&str, String)], code: &str) -> std::process::Output {
    Command::new("node")
        .args(["--require", &shim(), "-e", code])
        .env_remove("NOTIFY_SOCKET")
        .envs(envs.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .output()
        .expect("run node")
}

#[test]
fn process_send_without_ipc_does_not_crash_and_calls_back() {
    let out = run_node(
        &[],
        "process.send('ready'); process.send({ type: 'process:msg' }, () => console.log('called back'));",
    );
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "called back");
}

#[test]
fn process_send_ready_notifies_systemd() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("notify");
    let receiver = UnixDatagram::bind(&path).expect("bind notify socket");
    receiver
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("set timeout");
    let notify_socket = path.to_string_lossy().into_owned();
    let node = std::thread::spawn(move || {
        run_node(
            &[("NOTIFY_SOCKET", notify_socket)],
            "process.send('ready');",
        )
    });

    let mut buf = [0u8; 4096];
    let n = receiver.recv(&mut buf).expect("no notification arrived");
    let message = String::from_utf8_lossy(&buf[..n]).into_owned();
    assert!(
        message.lines().any(|l| l == "READY=1"),
        "unexpected notification: {message:?}"
    );
    // systemd-notify then waits on a barrier: receiving its message (and dropping the fd
    // it carries) releases it, as systemd would.
    let _ = receiver.recv(&mut buf);
    let out = node.join().expect("node thread");
    assert!(out.status.success(), "{out:?}");
}

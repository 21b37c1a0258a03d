//! The Node shim (`shim/node/pm2ctl-shim.js`) without systemd: these tests hand node a
//! listening socket as fd 3 with LISTEN_FDS/LISTEN_PID set, as systemd does for a socket
//! unit, and check what an unmodified app does with it. Needs `node` on PATH.

use command_fds::{CommandFdExt, FdMapping};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::process::{Child, ChildStderr, ChildStdout, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

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
struct App {
    child: Child,
    stdout: BufReader<ChildStdout>,
    stderr: BufReader<ChildStderr>,
}

impl Drop for App {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl App {
    fn new(mut child: Child) -> App {
        let stdout = BufReader::new(child.stdout.take().expect("piped stdout"));
        let stderr = BufReader::new(child.stderr.take().expect("piped stderr"));
        App {
            child,
            stdout,
            stderr,
        }
    }

    fn pid(&self) -> Pid {
        Pid::from_raw(i32::try_from(self.child.id()).expect("pid fits i32"))
    }

    /// The next line the app prints on stdout.
    fn line(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("read app stdout");
        line
    }

    /// The next line the app (or the shim) prints on stderr.
    fn err_line(&mut self) -> String {
        let mut line = String::new();
        self.stderr.read_line(&mut line).expect("read app stderr");
        line
    }

    fn signal(&self, signal: Signal) {
        kill(self.pid(), signal).expect("signal the app");
    }

    /// Sends the stop signal and waits until the shim says it started draining.
    fn stop(&mut self, signal: Signal) {
        self.signal(signal);
        let line = self.err_line();
        assert!(
            line.starts_with(&format!("pm2ctl: {}: stopped accepting", signal.as_str())),
            "unexpected stderr: {line:?}"
        );
    }

    /// How the app ended, or `None` if it still runs after `limit` (a bound far above
    /// anything expected, so that a hung app fails the test instead of hanging it).
    fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait().expect("wait for the app") {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
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
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // The socket as fd 3 in the child, as systemd passes it (command-fds does the dup2
    // between fork and exec).
    let socket = socket.try_clone().expect("a second handle on the socket");
    cmd.fd_mappings(vec![FdMapping {
        parent_fd: socket.into(),
        child_fd: 3,
    }])
    .expect("one mapping for fd 3");
    App::new(cmd.spawn().expect("spawn node (is it installed?)"))
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
    let pid = app.child.id().to_string();
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

// ---- Graceful stop ------------------------------------------------------------------

/// A bound on waits that should end within a second or two; only a hung app reaches it.
const PATIENCE: Duration = Duration::from_secs(30);

struct Response {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Response {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn closes_connection(&self) -> bool {
        self.header("connection")
            .is_some_and(|v| v.eq_ignore_ascii_case("close"))
    }
}

/// An HTTP/1.1 client keeping one connection open across requests, as a keep-alive
/// load generator (or a browser) does.
struct KeepAliveClient {
    reader: BufReader<TcpStream>,
}

impl KeepAliveClient {
    fn connect(port: u16) -> KeepAliveClient {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .set_read_timeout(Some(PATIENCE))
            .expect("set timeout");
        KeepAliveClient {
            reader: BufReader::new(stream),
        }
    }

    fn send(&mut self, path: &str) {
        let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n");
        self.reader
            .get_mut()
            .write_all(request.as_bytes())
            .expect("send request");
    }

    fn read_line(&mut self) -> String {
        let mut line = String::new();
        self.reader.read_line(&mut line).expect("read response");
        line.trim_end().to_string()
    }

    fn read_response(&mut self) -> Response {
        let status_line = self.read_line();
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("not an HTTP response: {status_line:?}"));
        let mut headers = Vec::new();
        loop {
            let line = self.read_line();
            if line.is_empty() {
                break;
            }
            let (k, v) = line.split_once(':').expect("a header line");
            headers.push((k.trim().to_string(), v.trim().to_string()));
        }
        let mut response = Response {
            status,
            headers,
            body: String::new(),
        };
        let mut body = Vec::new();
        if let Some(length) = response.header("content-length") {
            body.resize(length.parse().expect("a content length"), 0);
            self.reader.read_exact(&mut body).expect("read body");
        } else {
            // Chunked: size lines, data, up to the empty last chunk.
            loop {
                let size = usize::from_str_radix(&self.read_line(), 16).expect("chunk size");
                let mut chunk = vec![0; size + 2];
                self.reader.read_exact(&mut chunk).expect("read chunk");
                if size == 0 {
                    break;
                }
                body.extend_from_slice(&chunk[..size]);
            }
        }
        response.body = String::from_utf8_lossy(&body).into_owned();
        response
    }

    fn get(&mut self, path: &str) -> Response {
        self.send(path);
        self.read_response()
    }

    /// The server closed the connection cleanly (FIN, not a reset) with nothing unread.
    fn closed_cleanly(&mut self) -> bool {
        let mut rest = Vec::new();
        match self.reader.read_to_end(&mut rest) {
            Ok(_) => rest.is_empty(),
            Err(e) => panic!("connection not closed cleanly: {e}"),
        }
    }
}

/// `held-requests.js` on a passed socket: returns the app and the socket's port. The
/// test keeps `socket` open, as systemd does for the next instance.
fn spawn_held_requests_app(socket: &TcpListener, envs: &[(&str, String)]) -> (App, u16) {
    let port = socket.local_addr().expect("addr").port();
    let mut envs = envs.to_vec();
    envs.push(("PORT", free_port().to_string()));
    let mut app = spawn_activated(
        socket,
        true,
        &envs,
        &[&repo_file("tests/fixtures/held-requests.js")],
    );
    assert!(app.line().starts_with("listening"), "app did not start");
    (app, port)
}

fn died_by(status: Option<ExitStatus>, signal: Signal) -> bool {
    use std::os::unix::process::ExitStatusExt;
    status.and_then(|s| s.signal()) == Some(signal as i32)
}

#[test]
fn a_request_in_flight_when_the_stop_signal_arrives_is_answered() {
    let socket = TcpListener::bind("127.0.0.1:0").expect("bind");
    let (mut app, port) = spawn_held_requests_app(&socket, &[]);
    let mut client = KeepAliveClient::connect(port);
    client.send("/hold");
    assert_eq!(app.line().trim(), "holding /hold");

    app.stop(Signal::SIGINT);
    app.signal(Signal::SIGUSR2); // the app finishes the request

    let response = client.read_response();
    assert_eq!(response.status, 200);
    assert!(response.body.starts_with("released"), "{}", response.body);
    assert!(
        response.closes_connection(),
        "a response sent while draining must close its connection: {:?}",
        response.headers
    );
    assert!(client.closed_cleanly());
    // Nothing left to serve: the app exits by the signal, as without the shim.
    assert!(died_by(app.wait_exit(PATIENCE), Signal::SIGINT));
}

#[test]
fn a_keep_alive_client_gets_connection_close_on_its_next_request() {
    let socket = TcpListener::bind("127.0.0.1:0").expect("bind");
    // A long idle grace, so that the second request surely comes within it.
    let (mut app, port) = spawn_held_requests_app(
        &socket,
        &[
            ("PM2CTL_KILL_TIMEOUT_MS", "600000".into()),
            ("PM2CTL_DRAIN_GRACE_MS", "120000".into()),
        ],
    );
    let mut client = KeepAliveClient::connect(port);
    let first = client.get("/first");
    assert_eq!(first.status, 200);
    assert!(!first.closes_connection(), "{:?}", first.headers);

    app.stop(Signal::SIGTERM);
    let second = client.get("/second");
    assert_eq!(second.status, 200);
    assert_eq!(second.body.split(' ').nth(1), Some("/second"));
    assert!(second.closes_connection(), "{:?}", second.headers);
    assert!(client.closed_cleanly());
    assert!(died_by(app.wait_exit(PATIENCE), Signal::SIGTERM));
}

#[test]
fn connections_made_during_the_drain_wait_in_the_socket_for_the_next_instance() {
    let socket = TcpListener::bind("127.0.0.1:0").expect("bind");
    let (mut app, port) = spawn_held_requests_app(&socket, &[]);
    let mut in_flight = KeepAliveClient::connect(port);
    in_flight.send("/hold");
    assert_eq!(app.line().trim(), "holding /hold");
    app.stop(Signal::SIGINT);

    // The socket is still open (the test holds it, as systemd does), so this connects
    // and its request waits in the backlog.
    let mut newcomer = KeepAliveClient::connect(port);
    newcomer.send("/new");

    app.signal(Signal::SIGUSR2);
    assert_eq!(in_flight.read_response().status, 200);
    assert!(died_by(app.wait_exit(PATIENCE), Signal::SIGINT));

    // The app is gone and never took the newcomer: "the next instance" (the test)
    // accepts it now, request included.
    let (accepted, _) = socket.accept().expect("the queued connection");
    let mut next_instance = BufReader::new(accepted);
    let mut request_line = String::new();
    next_instance
        .read_line(&mut request_line)
        .expect("read the queued request");
    assert_eq!(request_line.trim_end(), "GET /new HTTP/1.1");
    next_instance
        .get_mut()
        .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nnext")
        .expect("answer");
    assert_eq!(newcomer.read_response().body, "next");
}

#[test]
fn idle_keep_alive_connections_are_closed_and_the_app_exits_long_before_kill_timeout() {
    let socket = TcpListener::bind("127.0.0.1:0").expect("bind");
    let (mut app, port) = spawn_held_requests_app(
        &socket,
        &[
            ("PM2CTL_KILL_TIMEOUT_MS", "600000".into()),
            ("PM2CTL_DRAIN_GRACE_MS", "200".into()),
        ],
    );
    let mut idle = KeepAliveClient::connect(port);
    assert_eq!(idle.get("/once").status, 200);

    app.stop(Signal::SIGINT);
    // The client sends nothing more: after the grace the app closes the connection.
    assert!(idle.closed_cleanly());
    // PATIENCE is far below the 600 s kill timeout.
    assert!(died_by(app.wait_exit(PATIENCE), Signal::SIGINT));
}

#[test]
fn a_request_that_never_ends_does_not_keep_the_app_past_kill_timeout() {
    let socket = TcpListener::bind("127.0.0.1:0").expect("bind");
    let (mut app, port) = spawn_held_requests_app(
        &socket,
        &[
            ("PM2CTL_KILL_TIMEOUT_MS", "2000".into()),
            ("PM2CTL_KILL_SIGNAL", "SIGQUIT".into()),
        ],
    );
    let mut stuck = KeepAliveClient::connect(port);
    stuck.send("/hold");
    assert_eq!(app.line().trim(), "holding /hold");

    // The plan's kill_signal is a stop signal too.
    app.stop(Signal::SIGQUIT);
    // Never released: the shim gives up before kill_timeout, so systemd never has to
    // SIGKILL (the test never does either).
    assert!(died_by(app.wait_exit(PATIENCE), Signal::SIGQUIT));
}

/// An app with its own SIGINT handler that closes its server and exits with code 7.
const OWN_HANDLER: &str = r#"
const http = require('http');
const server = http.createServer((req, res) => res.end('ok\n'));
server.listen(Number(process.env.PORT), () => console.log('listening'));
process.on('SIGINT', () => {
  console.log('app handler');
  server.close((err) => {
    console.log(`closed ${err ? err.code : 'without error'}`);
    process.exit(7);
  });
});
"#;

#[test]
fn an_app_with_its_own_handler_decides_when_to_exit_but_stops_accepting() {
    let socket = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = socket.local_addr().expect("addr").port();
    let mut app = spawn_activated(
        &socket,
        true,
        &[
            ("PORT", free_port().to_string()),
            ("PM2CTL_DRAIN_GRACE_MS", "200".into()),
        ],
        &["-e", OWN_HANDLER],
    );
    assert_eq!(app.line().trim(), "listening");
    let mut idle = KeepAliveClient::connect(port);
    assert_eq!(idle.get("/").status, 200);

    app.signal(Signal::SIGINT);
    assert!(app
        .err_line()
        .contains("stopped accepting, draining 1 connection(s), the app decides"));
    assert_eq!(app.line().trim(), "app handler");
    // The app's close() calls back once the shim drained the idle connection.
    assert!(idle.closed_cleanly());
    assert_eq!(app.line().trim(), "closed without error");
    assert_eq!(app.wait_exit(PATIENCE).and_then(|s| s.code()), Some(7));
}

/// An app written for PM2's shutdown_with_message: it exits on the 'shutdown' message.
const SHUTDOWN_MESSAGE: &str = r#"
process.on('message', (msg) => {
  console.log(`message ${msg}`);
  process.exit(5);
});
setInterval(() => {}, 60000);
console.log('started');
"#;

#[test]
fn shutdown_with_message_turns_the_stop_signal_into_a_shutdown_message() {
    let mut app = run_in_background(
        &[("PM2CTL_SHUTDOWN_WITH_MESSAGE", "1".into())],
        SHUTDOWN_MESSAGE,
    );
    assert_eq!(app.line().trim(), "started");
    app.signal(Signal::SIGINT);
    assert_eq!(app.line().trim(), "message shutdown");
    assert_eq!(app.wait_exit(PATIENCE).and_then(|s| s.code()), Some(5));

    // Without the option the app just gets the signal.
    let mut app = run_in_background(&[], SHUTDOWN_MESSAGE);
    assert_eq!(app.line().trim(), "started");
    app.signal(Signal::SIGINT);
    assert!(died_by(app.wait_exit(PATIENCE), Signal::SIGINT));
}

/// `node --require shim -e code` with stdout and stderr piped, not waited for.
fn run_in_background(envs: &[(&str, String)], code: &str) -> App {
    let child = Command::new(node_binary())
        .args(["--require", &shim(), "-e", code])
        .env_remove("NOTIFY_SOCKET")
        .envs(envs.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn node");
    App::new(child)
}

/// An http app whose dependency loaded `signal-exit` (vendored, version `{major}`) and
/// registered an exit hook, as write-file-atomic or execa do; no SIGINT handler of its own.
fn signal_exit_app(major: u32) -> String {
    let module = repo_file(&format!("tests/fixtures/vendor/signal-exit-{major}"));
    let on_exit = if major >= 4 {
        format!("require({module:?}).onExit")
    } else {
        format!("require({module:?})")
    };
    format!(
        r#"
const onExit = {on_exit};
onExit((code, signal) => console.log(`exit hook ${{signal}}`));
const http = require('http');
const server = http.createServer((req, res) => res.end('ok\n'));
server.listen(Number(process.env.PORT), () => console.log('listening'));
"#
    )
}

#[test]
fn apps_using_signal_exit_drain_and_exit_by_the_signal_before_kill_timeout() {
    for major in [3, 4] {
        let socket = TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = socket.local_addr().expect("addr").port();
        let mut app = spawn_activated(
            &socket,
            true,
            &[
                ("PORT", free_port().to_string()),
                ("PM2CTL_KILL_TIMEOUT_MS", "600000".into()),
                ("PM2CTL_DRAIN_GRACE_MS", "200".into()),
            ],
            &["-e", &signal_exit_app(major)],
        );
        assert_eq!(app.line().trim(), "listening", "signal-exit {major}");
        let mut idle = KeepAliveClient::connect(port);
        assert_eq!(idle.get("/").status, 200);

        app.signal(Signal::SIGINT);
        let said = app.err_line();
        assert!(
            said.contains("draining 1 connection(s), exiting within"),
            "signal-exit {major}: signal-exit's listener was taken for the app's: {said}"
        );
        assert!(idle.closed_cleanly());
        // signal-exit's hook ran, then the signal ended the process: long before the
        // 600 s kill timeout, with no SIGKILL.
        assert_eq!(app.line().trim(), "exit hook SIGINT", "signal-exit {major}");
        assert!(
            died_by(app.wait_exit(PATIENCE), Signal::SIGINT),
            "signal-exit {major}"
        );
    }
}

/// The node under test: `PM2CTL_TEST_NODE` (another Node version), else `node` on PATH.
fn node_binary() -> String {
    std::env::var("PM2CTL_TEST_NODE").unwrap_or_else(|_| "node".to_string())
}

/// One instance of a cluster app without `port`, as pm2ctl starts it (no socket passed):
/// an unmodified HTTP app on a port only its code knows, answering with its pid.
fn spawn_cluster_instance(port: u16, index: u32) -> App {
    let code = format!(
        "require('http').createServer((q, r) => r.end(String(process.pid)))\
         .listen({port}, () => console.log('listening'))"
    );
    run_in_background(
        &[
            ("exec_mode", "cluster_mode".into()),
            ("instances", "2".into()),
            ("NODE_APP_INSTANCE", index.to_string()),
        ],
        &code,
    )
}

#[test]
fn cluster_instances_share_a_port_only_their_code_knows_or_say_how_to() {
    let version = Command::new(node_binary())
        .args(["-p", "process.versions.node"])
        .output()
        .expect("node's version");
    let version = String::from_utf8_lossy(&version.stdout).trim().to_string();
    let (major, minor) = {
        let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
        (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
    };
    let reuse_port = major > 22 || (major == 22 && minor >= 12);
    eprintln!("Node {version}: reusePort {reuse_port}");

    let port = free_port();
    let mut first = spawn_cluster_instance(port, 0);
    assert_eq!(first.line().trim(), "listening");
    let mut second = spawn_cluster_instance(port, 1);
    if reuse_port {
        assert_eq!(second.line().trim(), "listening", "Node {version}");
        let pids: std::collections::BTreeSet<String> = (0..100)
            .map(|_| http_get(port))
            .filter_map(|r| r.rsplit("\r\n\r\n").next().map(String::from))
            .collect();
        let expected: std::collections::BTreeSet<String> = [first.child.id(), second.child.id()]
            .iter()
            .map(u32::to_string)
            .collect();
        assert_eq!(pids, expected, "both instances answer (Node {version})");
    } else {
        let status = second.wait_exit(Duration::from_secs(20));
        assert!(
            status.is_some_and(|s| !s.success()),
            "the second instance cannot listen on Node {version}: {status:?}"
        );
        let mut err = String::new();
        second.stderr.read_to_string(&mut err).expect("stderr");
        assert!(
            err.contains(&format!("pm2ctl: port {port} is taken"))
                && err.contains(&format!("set `port = {port}`"))
                && err.contains("EADDRINUSE"),
            "{err}"
        );
        // The first instance is not disturbed.
        assert_eq!(
            http_get(port).rsplit("\r\n\r\n").next(),
            Some(first.child.id().to_string().as_str())
        );
    }
}

//! Ecosystem files as read on this machine: the file's bytes, and `node` for PM2's
//! JavaScript files (and its non-strict JSON), handed to the pure loader in `ecosystem`.

use crate::ecosystem::{
    self, Ecosystem, Format, LoadError, NodeCall, NodeRun, RunNode, Warning, MAX_FILE_BYTES,
    MAX_NODE_OUTPUT, NODE_TIMEOUT,
};
use std::io::Read;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Names the node binary that evaluates JavaScript ecosystem files (default: `node` in PATH).
pub const NODE_VAR: &str = "PM2CTL_NODE";

/// Reads and validates an ecosystem file, choosing the format from its name.
/// Every problem in the file is returned at once.
pub fn ecosystem(path: &Path) -> Result<Ecosystem, LoadError> {
    ecosystem_with_warnings(path).map(|(eco, _)| eco)
}

/// [`ecosystem`], with the problems that did not stop the file from loading (unknown keys
/// in PM2's own formats), for the user to see.
pub fn ecosystem_with_warnings(path: &Path) -> Result<(Ecosystem, Vec<Warning>), LoadError> {
    let format = ecosystem::format_of(path)?;
    // Also for scripts: the size, encoding and NUL checks apply to every file.
    from_text(path, &text(path)?, format)
}

/// `text` as the content of `path` in `format`, JavaScript evaluated by node.
pub fn from_text(
    path: &Path,
    text: &str,
    format: Format,
) -> Result<(Ecosystem, Vec<Warning>), LoadError> {
    ecosystem::load_text_with_warnings(path, text, format, &Node)
}

/// Reads PM2's process dump at `path` as the ecosystem that starts the same apps.
pub fn pm2_dump(path: &Path) -> Result<(Ecosystem, Vec<Warning>), LoadError> {
    let text = text(path)?;
    ecosystem::load_pm2_dump_text(path, &text)
}

/// The file as text: refused when larger than an ecosystem file may be, or not text.
fn text(path: &Path) -> Result<String, LoadError> {
    let file = std::fs::File::open(path)
        .map_err(|e| ecosystem::unreadable(path, "cannot open the file", &e))?;
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| ecosystem::unreadable(path, "cannot read the file", &e))?;
    ecosystem::text_of(path, bytes)
}

/// node from `$PM2CTL_NODE`, else `node` on PATH.
pub struct Node;

impl RunNode for Node {
    fn run(&self, call: &NodeCall<'_>) -> NodeRun {
        let node_bin = std::env::var_os(NODE_VAR).unwrap_or_else(|| "node".into());
        let spawned = Command::new(&node_bin)
            .arg("-e")
            .arg(call.script)
            .arg(call.path)
            .arg(call.mode)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn();
        let mut child = match spawned {
            Ok(child) => child,
            Err(e) => {
                return NodeRun::NotStarted {
                    program: Path::new(&node_bin).display().to_string(),
                    error: e.to_string(),
                }
            }
        };
        let stdout = child.stdout.take().map(read_all);
        let stderr = child.stderr.take().map(read_all);
        let deadline = Instant::now() + NODE_TIMEOUT;
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(10))
                }
                Ok(None) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return NodeRun::TimedOut;
                }
                Err(e) => return NodeRun::Lost(e.to_string()),
            }
        };
        NodeRun::Exited {
            success: status.success(),
            status: status.to_string(),
            stdout: collected(stdout),
            stderr: collected(stderr),
        }
    }
}

/// A pipe read on its own thread, so neither pipe can fill up and block node.
struct PipeReader {
    buffer: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
    finished: std::sync::mpsc::Receiver<()>,
}

fn read_all(mut pipe: impl Read + Send + 'static) -> PipeReader {
    let buffer = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let (tx, finished) = std::sync::mpsc::channel();
    let shared = buffer.clone();
    std::thread::spawn(move || {
        let mut chunk = [0u8; 64 * 1024];
        loop {
            match pipe.read(&mut chunk) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if let Ok(mut b) = shared.lock() {
                        // Past the limit, keep draining so a writer never blocks.
                        if (b.len() as u64) < MAX_NODE_OUTPUT {
                            b.extend_from_slice(&chunk[..n]);
                        }
                    }
                }
            }
        }
        let _ = tx.send(());
    });
    PipeReader { buffer, finished }
}

/// What a reader collected once node has exited. A process the file started may
/// keep the pipe open; node wrote everything before exiting, so a short wait for
/// the end of the pipe is enough and the rest is not waited for.
fn collected(reader: Option<PipeReader>) -> Vec<u8> {
    let Some(reader) = reader else {
        return Vec::new();
    };
    let _ = reader.finished.recv_timeout(Duration::from_millis(300));
    let taken = reader
        .buffer
        .lock()
        .map(|mut b| std::mem::take(&mut *b))
        .unwrap_or_default();
    taken
}

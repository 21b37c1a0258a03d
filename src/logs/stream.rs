//! Journald's stdout stream protocol: the socket systemd itself connects a service's stdout
//! to when `StandardOutput=journal`, and what `sd_journal_stream_fd(3)` speaks.
//!
//! After connecting to `/run/systemd/journal/stdout`, the client sends a header of seven
//! newline-terminated lines (journald-stream.c, `StdoutStreamState`): identifier, unit id
//! (empty: journald finds the unit from the peer's cgroup), priority, level prefix,
//! forward to syslog, forward to kmsg, forward to console. Every line written after it is
//! one journal entry at that priority.

use std::io::Write;
use std::os::unix::net::UnixStream;
use std::path::Path;

/// Where journald listens for stdout streams.
pub const STDOUT_SOCKET: &str = "/run/systemd/journal/stdout";

/// syslog priorities the wrapper uses: stdout is informational, stderr an error, so
/// `logs --err` is `PRIORITY<=3` (journald does not record the stream itself: systemd#5019).
pub const PRIORITY_STDOUT: u8 = 6;
pub const PRIORITY_STDERR: u8 = 3;

/// What `sd_journal_stream_fd` asks for: large buffers, so a burst of output does not block
/// the app while journald catches up.
const SEND_BUFFER_BYTES: usize = 8 * 1024 * 1024;

/// The stream header for `identifier` at `priority`.
///
/// The level prefix is off: a line an app prints that happens to start with `<3>` must stay
/// a stdout line, or `logs --out`/`--err` would lie. Forwarding is off, as systemd's default.
pub fn header(identifier: &str, priority: u8) -> Vec<u8> {
    // A newline would end the identifier line early and shift every field after it.
    let identifier: String = identifier
        .chars()
        .map(|c| if c == '\n' { ' ' } else { c })
        .collect();
    format!(
        "{identifier}\n\n{}\n0\n0\n0\n0\n",
        priority.min(7) // the protocol takes one digit, 0..=7
    )
    .into_bytes()
}

/// Opens a write-only stream to journald at `socket`, lines becoming entries tagged
/// `identifier` at `priority`.
pub fn connect(socket: &Path, identifier: &str, priority: u8) -> std::io::Result<UnixStream> {
    let mut stream = UnixStream::connect(socket)?;
    // Journald never writes back; a closed read side makes that explicit, as sd-journal does.
    stream.shutdown(std::net::Shutdown::Read)?;
    // Best effort: the kernel caps it at wmem_max for unprivileged callers.
    let _ = nix::sys::socket::setsockopt(
        &stream,
        nix::sys::socket::sockopt::SndBuf,
        &SEND_BUFFER_BYTES,
    );
    stream.write_all(&header(identifier, priority))?;
    Ok(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_has_the_seven_fields_in_journalds_order() {
        let text = String::from_utf8(header("api", PRIORITY_STDERR)).unwrap();
        let fields: Vec<&str> = text.split('\n').collect();
        // identifier, unit id, priority, level prefix, syslog, kmsg, console, then the data.
        assert_eq!(fields, ["api", "", "3", "0", "0", "0", "0", ""]);
    }

    #[test]
    fn a_newline_in_the_identifier_cannot_shift_the_fields() {
        let text = String::from_utf8(header("a\nb", PRIORITY_STDOUT)).unwrap();
        assert_eq!(text.split('\n').next(), Some("a b"));
        assert_eq!(text.matches('\n').count(), 7);
    }
}

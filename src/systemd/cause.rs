//! Why a unit's last run ended, from systemd's own account of it in the journal: the main
//! process' exit (`EXIT_CODE`, `EXIT_STATUS`), the unit's result (`UNIT_RESULT`) and, when
//! systemd could not even start the command, the step that failed and the error
//! (`Failed at step CHDIR spawning …: Permission denied`). The unit's live properties
//! cannot say it: with `Restart=` the next attempt resets them (`result: success` while it
//! starts again).

use super::exec_step;

/// The fields of one journal entry (`journalctl -o json`) the cause is read from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Entry {
    pub message: String,
    pub exit_code: Option<String>,
    pub exit_status: Option<String>,
    pub unit_result: Option<String>,
    pub errno: Option<i32>,
    pub message_id: Option<String>,
}

/// `SD_MESSAGE_SPAWN_FAILED`: systemd could not execute the command.
const SPAWN_FAILED: &str = "641257651c1b4ec9a8624d7a40a9e1e7";

impl Entry {
    /// One line of `journalctl -o json`; `None` when it is not a JSON object.
    pub fn parse(line: &str) -> Option<Entry> {
        let value: serde_json::Value = serde_json::from_str(line).ok()?;
        let field = |name: &str| -> Option<String> {
            match value.get(name)? {
                serde_json::Value::String(s) => Some(s.clone()),
                // journalctl writes a field that is not UTF-8 as an array of bytes.
                serde_json::Value::Array(bytes) => Some(
                    String::from_utf8_lossy(
                        &bytes
                            .iter()
                            .filter_map(|b| b.as_u64().and_then(|b| u8::try_from(b).ok()))
                            .collect::<Vec<u8>>(),
                    )
                    .into_owned(),
                ),
                _ => None,
            }
        };
        Some(Entry {
            message: field("MESSAGE").unwrap_or_default(),
            exit_code: field("EXIT_CODE"),
            exit_status: field("EXIT_STATUS"),
            unit_result: field("UNIT_RESULT"),
            errno: field("ERRNO").and_then(|e| e.parse().ok()),
            message_id: field("MESSAGE_ID"),
        })
    }
}

/// What the journal says of the unit's last run: `result` is the last `UNIT_RESULT`
/// (`exit-code`, `oom-kill`, …), `cause` the sentence for the user.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cause {
    pub result: Option<String>,
    pub cause: Option<String>,
    /// The step systemd failed at (`CHDIR`, …) when the journal holds none of the child's
    /// own messages about it (systemd 255–257's executor can lose them: see `failure_report`).
    pub unexplained_step: Option<&'static str>,
}

/// Reads the cause from a unit's journal entries, oldest first.
pub fn from_journal(entries: &[Entry]) -> Cause {
    let result = entries.iter().rev().find_map(|e| e.unit_result.clone());
    let exit = entries.iter().rposition(|e| e.exit_code.is_some());
    let exit = exit.map(|at| exit_cause(&entries[..at], &entries[at]));
    let unexplained_step = exit.as_ref().and_then(|(_, step)| *step);
    let cause = match exit.map(|(text, _)| text) {
        Some(exit) if result.as_deref() == Some("oom-kill") => Some(format!(
            "{exit}: {}",
            result_cause("oom-kill").unwrap_or_default()
        )),
        Some(exit) => Some(exit),
        None => result.as_deref().and_then(result_cause).map(str::to_string),
    };
    Cause {
        result,
        cause,
        unexplained_step,
    }
}

/// The main process' end, with the step and error when systemd could not start it; and the
/// step, when the journal does not say why it failed.
fn exit_cause(before: &[Entry], exit: &Entry) -> (String, Option<&'static str>) {
    let code = exit.exit_code.as_deref().unwrap_or("");
    let status = exit.exit_status.as_deref().unwrap_or("?");
    let text = match code {
        "exited" => {
            let step = status.parse().ok().and_then(exec_step);
            match step {
                Some(step) => {
                    // The child's own messages, just before: the specific error first
                    // ("Changing to the requested working directory failed: …"), then
                    // "Failed at step … spawning PATH: …".
                    let mut detail: Vec<String> = before
                        .iter()
                        .rev()
                        .take_while(|e| e.exit_code.is_none())
                        .filter(|e| e.errno.is_some())
                        .map(|e| without_unit_prefix(&e.message).to_string())
                        .collect();
                    detail.reverse();
                    let spawn = before
                        .iter()
                        .rev()
                        .take_while(|e| e.exit_code.is_none())
                        .any(|e| e.message_id.as_deref() == Some(SPAWN_FAILED));
                    let mut text = format!(
                        "{step}: systemd could not start the command (exit status {status})"
                    );
                    let unexplained = detail.is_empty().then_some(step);
                    if !detail.is_empty() {
                        text.push_str(": ");
                        text.push_str(&detail.join("; "));
                    } else if !spawn {
                        text.push_str(", or the command itself exited with that status");
                    }
                    return (text, unexplained);
                }
                None => format!("the main process exited with status {status}"),
            }
        }
        "killed" | "dumped" => {
            let signal = if status.chars().all(|c| c.is_ascii_digit()) {
                super::signal_name(status.parse().unwrap_or(0))
            } else {
                format!("SIG{status}")
            };
            let dumped = if code == "dumped" {
                " (core dumped)"
            } else {
                ""
            };
            format!("the main process was killed by signal {signal}{dumped}")
        }
        other => format!("the main process ended ({other}, status {status})"),
    };
    (text, None)
}

/// A result with no exit behind it (the unit never ran a process, or ran out of time).
fn result_cause(result: &str) -> Option<&'static str> {
    Some(match result {
        "timeout" => "it did not report ready in time (wait_ready and listen_timeout)",
        "start-limit-hit" => {
            "it was restarted too often in too short a time (max_restarts, min_uptime)"
        }
        "resources" => "systemd could not set up its resources (a socket, a directory, …)",
        "oom-kill" => {
            "the kernel's OOM killer ended a process: the app reached its memory limit (max_memory_restart)"
        }
        "protocol" => "it broke the service protocol (no READY=1 before it exited?)",
        _ => return None,
    })
}

/// `pm2ctl-api@0.service: Changing …` → `Changing …`.
fn without_unit_prefix(message: &str) -> &str {
    match message.split_once(": ") {
        Some((unit, rest)) if !unit.contains(' ') && unit.contains('.') => rest,
        _ => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The journal of a unit whose working directory nobody may enter (systemd 252), as
    /// `journalctl -o json` prints it.
    const CHDIR: &str = r#"{"MESSAGE":"Starting pm2ctl-c@0.service - pm2ctl app c (instance 0)...","_PID":"1"}
{"MESSAGE":"pm2ctl-c@0.service: Changing to the requested working directory failed: Permission denied","_PID":"178","ERRNO":"13"}
{"MESSAGE":"pm2ctl-c@0.service: Failed at step CHDIR spawning /usr/bin/node: Permission denied","_PID":"178","ERRNO":"13","MESSAGE_ID":"641257651c1b4ec9a8624d7a40a9e1e7","EXECUTABLE":"/usr/bin/node"}
{"MESSAGE":"pm2ctl-c@0.service: Main process exited, code=exited, status=200/CHDIR","_PID":"1","EXIT_CODE":"exited","EXIT_STATUS":"200"}
{"MESSAGE":"pm2ctl-c@0.service: Failed with result 'exit-code'.","_PID":"1","UNIT_RESULT":"exit-code"}
{"MESSAGE":"pm2ctl-c@0.service: Scheduled restart job, restart counter is at 1.","_PID":"1"}
{"MESSAGE":"Starting pm2ctl-c@0.service - pm2ctl app c (instance 0)...","_PID":"1"}"#;

    fn entries(text: &str) -> Vec<Entry> {
        text.lines().filter_map(Entry::parse).collect()
    }

    #[test]
    fn a_failed_step_is_told_with_systemds_error() {
        let cause = from_journal(&entries(CHDIR));
        assert_eq!(cause.result.as_deref(), Some("exit-code"));
        assert_eq!(
            cause.cause.as_deref(),
            Some(
                "CHDIR: systemd could not start the command (exit status 200): Changing to the \
                 requested working directory failed: Permission denied; Failed at step CHDIR \
                 spawning /usr/bin/node: Permission denied"
            )
        );
    }

    #[test]
    fn a_failed_step_without_the_childs_messages_is_marked_unexplained() {
        assert_eq!(from_journal(&entries(CHDIR)).unexplained_step, None);
        // systemd 255–257: the executor's two messages never reached the journal.
        let lost: String = CHDIR
            .lines()
            .filter(|l| !l.contains("\"_PID\":\"178\""))
            .collect::<Vec<_>>()
            .join("\n");
        let cause = from_journal(&entries(&lost));
        assert_eq!(cause.unexplained_step, Some("CHDIR"));
        assert_eq!(
            cause.cause.as_deref(),
            Some(
                "CHDIR: systemd could not start the command (exit status 200), or the command \
                 itself exited with that status"
            )
        );
    }

    #[test]
    fn exits_signals_and_oom_kills_are_told_apart() {
        let exited = r#"{"MESSAGE":"x.service: Main process exited, code=exited, status=3/NOTIMPLEMENTED","EXIT_CODE":"exited","EXIT_STATUS":"3"}
{"MESSAGE":"x.service: Failed with result 'exit-code'.","UNIT_RESULT":"exit-code"}"#;
        assert_eq!(
            from_journal(&entries(exited)).cause.as_deref(),
            Some("the main process exited with status 3")
        );
        let killed = r#"{"MESSAGE":"x.service: Main process exited, code=killed, status=9/KILL","EXIT_CODE":"killed","EXIT_STATUS":"KILL"}
{"MESSAGE":"x.service: Failed with result 'oom-kill'.","UNIT_RESULT":"oom-kill"}"#;
        let cause = from_journal(&entries(killed));
        assert_eq!(cause.result.as_deref(), Some("oom-kill"));
        let text = cause.cause.unwrap_or_default();
        assert!(
            text.starts_with("the main process was killed by signal SIGKILL"),
            "{text}"
        );
        assert!(text.contains("OOM killer"), "{text}");
        let dumped = r#"{"MESSAGE":"m","EXIT_CODE":"dumped","EXIT_STATUS":"SEGV"}"#;
        assert_eq!(
            from_journal(&entries(dumped)).cause.as_deref(),
            Some("the main process was killed by signal SIGSEGV (core dumped)")
        );
    }

    #[test]
    fn a_result_without_an_exit_still_says_why() {
        let timeout =
            r#"{"MESSAGE":"x.service: Failed with result 'timeout'.","UNIT_RESULT":"timeout"}"#;
        let cause = from_journal(&entries(timeout));
        assert!(cause.cause.unwrap_or_default().contains("listen_timeout"));
        assert_eq!(from_journal(&[]), Cause::default());
    }
}

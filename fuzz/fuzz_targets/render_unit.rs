//! Any unit spec (property names pm2ctl sets, arbitrary values): rendering never panics, and
//! whatever it writes is well-formed, one directive per value; what it cannot write safely it
//! refuses.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use pm2ctl::unit::{ExecCommand, UnitKind, UnitSpec, Value};

const NAMES: &[&str] = &[
    "Description",
    "Slice",
    "Type",
    "ExecStart",
    "WorkingDirectory",
    "Environment",
    "User",
    "Group",
    "Restart",
    "RestartUSec",
    "StartLimitBurst",
    "StartLimitIntervalUSec",
    "SuccessExitStatus",
    "TimeoutStopUSec",
    "KillSignal",
    "KillMode",
    "MemoryMax",
    "CPUQuotaPerSecUSec",
    "StandardOutputFileToAppend",
    "StandardErrorFileToAppend",
    "SyslogIdentifier",
    "LogExtraFields",
    "Listen",
    "ReusePort",
    "NoNewPrivileges",
    "ProtectSystem",
    "ProtectHome",
    "ReadWritePaths",
    "CapabilityBoundingSet",
    "AmbientCapabilities",
    "RestrictNamespaces",
    "SystemCallArchitectures",
    "TimersCalendar",
    "SystemCallFilter",
    "RestrictAddressFamilies",
    "SystemCallErrorNumber",
];

#[derive(Debug, Arbitrary)]
enum AnyValue {
    Bool(bool),
    I32(i32),
    U32(u32),
    U64(u64),
    Str(String),
    StrList(Vec<String>),
    Exec(Vec<(String, Vec<String>, bool)>),
    Pairs(Vec<(String, String)>),
    Bytes(Vec<Vec<u8>>),
    ExitStatus(Vec<i32>, Vec<i32>),
    Filter(bool, Vec<String>),
}

#[derive(Debug, Arbitrary)]
struct AnySpec {
    name: String,
    kind: u8,
    properties: Vec<(u8, AnyValue)>,
}

fuzz_target!(|input: AnySpec| {
    let kind = match input.kind % 4 {
        0 => UnitKind::Service,
        1 => UnitKind::Socket,
        2 => UnitKind::Slice,
        _ => UnitKind::Timer,
    };
    let mut spec = UnitSpec::new(input.name, kind);
    for (i, value) in input.properties {
        let name = NAMES[usize::from(i) % NAMES.len()];
        let value = match value {
            AnyValue::Bool(b) => Value::Bool(b),
            AnyValue::I32(v) => Value::I32(v),
            AnyValue::U32(v) => Value::U32(v),
            AnyValue::U64(v) => Value::U64(v),
            AnyValue::Str(s) => Value::Str(s),
            AnyValue::StrList(l) => Value::StrList(l),
            AnyValue::Exec(cmds) => Value::Exec(
                cmds.into_iter()
                    .map(|(path, argv, ignore_failure)| ExecCommand {
                        path,
                        argv,
                        ignore_failure,
                    })
                    .collect(),
            ),
            AnyValue::Pairs(p) => Value::Pairs(p),
            AnyValue::Bytes(b) => Value::Bytes(b),
            AnyValue::ExitStatus(c, s) => Value::ExitStatus(c, s),
            AnyValue::Filter(allow, names) => Value::Filter(allow, names),
        };
        spec.set(name, value);
    }
    if let Ok(rendered) = pm2ctl::unit::render(&spec) {
        pm2ctl_fuzz::check_rendered(&spec, &rendered);
    }
});

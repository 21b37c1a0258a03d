//! Unit specs: the one output of the translation core.
//!
//! A `UnitSpec` is a unit name plus an ordered list of properties, each named and
//! typed exactly as `StartTransientUnit` takes it (`ExecStart a(sasb)`,
//! `MemoryMax t`, …). Two backends consume the same specs: `systemd` sends them
//! over D-Bus, `render` turns them into unit-file text for the generator.

pub mod dollar;
pub mod live;
pub mod name;
pub mod render;
pub mod sandbox;

pub use render::{render, RenderError};

/// What kind of unit a spec describes, from its name's suffix.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
pub enum UnitKind {
    Service,
    Socket,
    Slice,
    Timer,
}

impl UnitKind {
    pub fn suffix(self) -> &'static str {
        match self {
            UnitKind::Service => "service",
            UnitKind::Socket => "socket",
            UnitKind::Slice => "slice",
            UnitKind::Timer => "timer",
        }
    }
}

/// One command line of `ExecStart` & co: `(path, argv, ignore_failure)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct ExecCommand {
    pub path: String,
    /// argv including argv[0].
    pub argv: Vec<String>,
    pub ignore_failure: bool,
}

/// A property value, one variant per D-Bus signature pm2ctl uses.
/// Serialisable so the state store can keep the units an app was started with.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub enum Value {
    /// `b`
    Bool(bool),
    /// `i`
    I32(i32),
    /// `u`
    U32(u32),
    /// `t` (µs for `*USec`, bytes for memory; `u64::MAX` = infinity)
    U64(u64),
    /// `s`
    Str(String),
    /// `as`
    StrList(Vec<String>),
    /// `a(sasb)`
    Exec(Vec<ExecCommand>),
    /// `a(ss)`: `Listen` (type, address) and `TimersCalendar` (base, spec)
    Pairs(Vec<(String, String)>),
    /// `aay`: `LogExtraFields` ("KEY=value" as bytes)
    Bytes(Vec<Vec<u8>>),
    /// `(aiai)`: exit statuses and signals (`RestartPreventExitStatus`, `SuccessExitStatus`)
    ExitStatus(Vec<i32>, Vec<i32>),
    /// `(bas)`: an allow-list (`true`) or a deny-list of names (`SystemCallFilter` with
    /// system calls and `@groups`, `RestrictAddressFamilies` with `AF_*` families)
    Filter(bool, Vec<String>),
}

impl Value {
    /// The D-Bus type signature of this value.
    pub fn signature(&self) -> &'static str {
        match self {
            Value::Bool(_) => "b",
            Value::I32(_) => "i",
            Value::U32(_) => "u",
            Value::U64(_) => "t",
            Value::Str(_) => "s",
            Value::StrList(_) => "as",
            Value::Exec(_) => "a(sasb)",
            Value::Pairs(_) => "a(ss)",
            Value::Bytes(_) => "aay",
            Value::ExitStatus(_, _) => "(aiai)",
            Value::Filter(_, _) => "(bas)",
        }
    }
}

/// One `(name, value)` pair of `StartTransientUnit`'s `a(sv)`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize)]
pub struct Property {
    /// The D-Bus property name (`RestartUSec`, not the unit-file `RestartSec`).
    pub name: &'static str,
    pub value: Value,
}

/// A unit pm2ctl wants to exist.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct UnitSpec {
    /// Full, escaped unit name, e.g. `pm2ctl-api@0.service`.
    pub name: String,
    pub kind: UnitKind,
    pub properties: Vec<Property>,
}

impl UnitSpec {
    pub fn new(name: impl Into<String>, kind: UnitKind) -> UnitSpec {
        UnitSpec {
            name: name.into(),
            kind,
            properties: Vec::new(),
        }
    }

    /// Appends a property (order is kept: it is the order sent and rendered).
    pub fn set(&mut self, name: &'static str, value: Value) -> &mut Self {
        self.properties.push(Property { name, value });
        self
    }

    pub fn get(&self, name: &str) -> Option<&Value> {
        self.properties
            .iter()
            .find(|p| p.name == name)
            .map(|p| &p.value)
    }
}

/// A `Property` as read back from the state store, before its name is interned. The name is
/// borrowed from the text when it can be (it has no escapes): thousands of them are read at
/// each `list`.
#[derive(serde::Deserialize)]
struct OwnedProperty<'a> {
    #[serde(borrow)]
    name: std::borrow::Cow<'a, str>,
    value: Value,
}

/// Property names are `&'static str` (specs are built from literals). Names read back from
/// the state store are interned: each distinct name is leaked once per process, and there
/// are only as many as systemd has properties.
impl<'de> serde::Deserialize<'de> for Property {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Property, D::Error> {
        let owned = OwnedProperty::deserialize(deserializer)?;
        use std::collections::HashSet;
        use std::sync::{Mutex, OnceLock};
        static NAMES: OnceLock<Mutex<HashSet<&'static str>>> = OnceLock::new();

        let mut names = NAMES
            .get_or_init(Default::default)
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let name = match names.get(owned.name.as_ref()) {
            Some(known) => known,
            None => {
                let leaked: &'static str = Box::leak(owned.name.into_owned().into_boxed_str());
                names.insert(leaked);
                leaked
            }
        };
        Ok(Property {
            name,
            value: owned.value,
        })
    }
}

//! The process list the verbs select from: one entry per app instance, with the units
//! that make it up and what systemd says about them.

use crate::status::{self, Status};
use crate::systemd::{Client, UnitState};
use crate::target;
use anyhow::Result;
use std::collections::BTreeMap;

/// One instance of an app: PM2's "process".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Proc {
    pub pm_id: u32,
    pub name: String,
    pub namespace: String,
    /// The instance index (`NODE_APP_INSTANCE`).
    pub index: u32,
    /// `pm2ctl-<esc>@<i>.service`.
    pub service: String,
    /// `pm2ctl-<esc>@<i>.socket`, when the instance is socket-activated.
    pub socket: Option<String>,
    /// `pm2ctl-<esc>.slice`.
    pub slice: String,
    /// systemd currently has the service or its socket loaded.
    pub loaded: bool,
    pub status: Status,
    pub main_pid: Option<u32>,
}

impl target::Process for Proc {
    fn pm_id(&self) -> u32 {
        self.pm_id
    }
    fn name(&self) -> &str {
        &self.name
    }
    fn namespace(&self) -> &str {
        &self.namespace
    }
}

impl Proc {
    /// The units to stop for this instance: the socket first, so nothing re-activates
    /// the service while it goes down.
    pub fn units_to_stop(&self) -> Vec<String> {
        self.socket
            .iter()
            .cloned()
            .chain(std::iter::once(self.service.clone()))
            .collect()
    }
}

/// The parts of an instance unit name: `pm2ctl-<esc>@<i>.<suffix>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceUnit<'a> {
    pub escaped: &'a str,
    pub index: u32,
    pub suffix: &'a str,
}

/// Splits `pm2ctl-<esc>@<i>.service` (or `.socket`); `None` for any other unit.
pub fn parse_instance_unit(unit: &str) -> Option<InstanceUnit<'_>> {
    let rest = unit.strip_prefix("pm2ctl-")?;
    let (stem, suffix) = rest.rsplit_once('.')?;
    if !matches!(suffix, "service" | "socket") {
        return None;
    }
    let (escaped, index) = stem.rsplit_once('@')?;
    if escaped.is_empty() || index.is_empty() || !index.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    Some(InstanceUnit {
        escaped,
        index: index.parse().ok()?,
        suffix,
    })
}

/// Undoes systemd's unit-name escaping (`systemd-escape --unescape`): `\xNN` is a byte,
/// `-` a `/`. Malformed escapes are kept as written.
pub fn unescape(escaped: &str) -> String {
    let bytes = escaped.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if bytes.get(i + 1) == Some(&b'x') => {
                let hex = escaped
                    .get(i + 2..i + 4)
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 4;
                    }
                    None => {
                        out.push(b'\\');
                        i += 1;
                    }
                }
            }
            b'-' => {
                out.push(b'/');
                i += 1;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The value of `KEY=` among a service's `LogExtraFields`.
fn extra_field(state: &UnitState, key: &str) -> Option<String> {
    let fields = state.service.as_ref()?.log_extra_fields.as_ref()?;
    fields.iter().find_map(|f| {
        let text = std::str::from_utf8(f).ok()?;
        Some(text.strip_prefix(key)?.strip_prefix('=')?.to_string())
    })
}

/// The PM2 status of a service unit's live state.
pub fn status_of(state: &UnitState) -> Status {
    if !state.is_loaded() {
        return Status::Stopped;
    }
    let result = state
        .service
        .as_ref()
        .and_then(|s| s.result.as_deref())
        .unwrap_or("success");
    status::status_of(Some(status::UnitState {
        active_state: state.active_state(),
        sub_state: state.sub_state(),
        result,
    }))
}

/// The instances systemd has loaded, named from their units and `LogExtraFields`. Ids are
/// given in (name, index) order: stable as long as the set of apps does not change.
pub fn live(client: &Client) -> Result<Vec<Proc>> {
    let listed = client.list_owned()?;
    // (escaped name, index) -> has a socket
    let mut instances: BTreeMap<(String, u32), bool> = BTreeMap::new();
    for unit in &listed {
        if let Some(parsed) = parse_instance_unit(&unit.name) {
            let socket = instances
                .entry((parsed.escaped.to_string(), parsed.index))
                .or_default();
            *socket |= parsed.suffix == "socket";
        }
    }
    let services: Vec<String> = instances
        .keys()
        .map(|(esc, i)| format!("pm2ctl-{esc}@{i}.service"))
        .collect();
    let states = client.read_states(&services)?;
    let mut procs: Vec<Proc> = instances
        .into_iter()
        .zip(states)
        .map(|(((escaped, index), has_socket), state)| {
            let name = extra_field(&state, "PM2_APP").unwrap_or_else(|| unescape(&escaped));
            Proc {
                pm_id: 0,
                namespace: extra_field(&state, "PM2_NAMESPACE")
                    .unwrap_or_else(|| "default".to_string()),
                index,
                socket: has_socket.then(|| format!("pm2ctl-{escaped}@{index}.socket")),
                slice: format!("pm2ctl-{escaped}.slice"),
                loaded: true,
                status: status_of(&state),
                main_pid: state.main_pid(),
                service: state.name,
                name,
            }
        })
        .collect();
    procs.sort_by(|a, b| (&a.name, a.index).cmp(&(&b.name, b.index)));
    for (id, p) in procs.iter_mut().enumerate() {
        p.pm_id = u32::try_from(id).unwrap_or(u32::MAX);
    }
    Ok(procs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_units_parse_and_others_do_not() {
        assert_eq!(
            parse_instance_unit("pm2ctl-api@3.service"),
            Some(InstanceUnit {
                escaped: "api",
                index: 3,
                suffix: "service"
            })
        );
        assert_eq!(
            parse_instance_unit("pm2ctl-a\\x40b@0.socket"),
            Some(InstanceUnit {
                escaped: "a\\x40b",
                index: 0,
                suffix: "socket"
            })
        );
        assert_eq!(parse_instance_unit("pm2ctl-api.slice"), None);
        assert_eq!(parse_instance_unit("pm2ctl-api@x.service"), None);
        assert_eq!(parse_instance_unit("pm2ctl-@1.service"), None);
        assert_eq!(parse_instance_unit("other-api@1.service"), None);
        assert_eq!(parse_instance_unit("pm2ctl-api@1.timer"), None);
    }

    #[test]
    fn unescape_reverses_systemd_escape() {
        assert_eq!(unescape("api\\x20v2-beta"), "api v2/beta");
        assert_eq!(unescape("my\\x2dapp"), "my-app");
        assert_eq!(unescape("h\\xc3\\xa9llo"), "héllo");
        assert_eq!(unescape("bad\\xzz"), "bad\\xzz");
        assert_eq!(unescape("end\\x"), "end\\x");
    }

    #[test]
    fn a_socket_is_stopped_before_its_service() {
        let p = Proc {
            pm_id: 0,
            name: "api".into(),
            namespace: "default".into(),
            index: 0,
            service: "pm2ctl-api@0.service".into(),
            socket: Some("pm2ctl-api@0.socket".into()),
            slice: "pm2ctl-api.slice".into(),
            loaded: true,
            status: Status::Online,
            main_pid: Some(1),
        };
        assert_eq!(
            p.units_to_stop(),
            ["pm2ctl-api@0.socket", "pm2ctl-api@0.service"]
        );
    }
}

//! The apply engine (diff + executor) against a real systemd, with hand-built unit specs:
//! what it does to units, independent of how ecosystem files are planned.

use crate::common;

use common::sandbox::stdout;
use common::Sandbox;
use pm2ctl::apply::{self, Action, DesiredApp};
use pm2ctl::plan::{AppPlan, InstancePlan, Scope};
use pm2ctl::state::{Desired, Source, Store};
use pm2ctl::systemd::Client;
use pm2ctl::unit::{ExecCommand, UnitKind, UnitSpec, Value};
use std::path::Path;

const FILE: &str = "/srv/eco.toml";

/// An app of `instances` `sleep` processes whose environment carries `marker`.
fn app(name: &str, instances: u32, marker: &str) -> DesiredApp {
    let slice = format!("pm2ctl-{name}.slice");
    let mut plan = AppPlan {
        name: name.into(),
        namespace: "default".into(),
        slice: UnitSpec::new(slice.clone(), UnitKind::Slice),
        instances: (0..instances)
            .map(|index| {
                let mut service =
                    UnitSpec::new(format!("pm2ctl-{name}@{index}.service"), UnitKind::Service);
                service
                    .set("Slice", Value::Str(slice.clone()))
                    .set("Type", Value::Str("exec".into()))
                    .set(
                        "ExecStart",
                        Value::Exec(vec![ExecCommand {
                            path: "/bin/sleep".into(),
                            argv: vec!["sleep".into(), "infinity".into()],
                            ignore_failure: false,
                        }]),
                    )
                    .set(
                        "Environment",
                        Value::StrList(vec![format!("MARK={marker}")]),
                    );
                InstancePlan {
                    index,
                    service,
                    socket: None,
                }
            })
            .collect(),
        companions: Vec::new(),
        listen_timeout: pm2ctl::plan::DEFAULT_LISTEN_TIMEOUT,
    };
    plan.slice
        .set("Description", Value::Str(format!("pm2ctl app {name}")));
    let (plan, fingerprint) = apply::fingerprinted(plan);
    DesiredApp {
        plan,
        fingerprint,
        desired: Desired::Running,
    }
}

struct Engine {
    client: Client,
    store: Store,
}

impl Engine {
    fn new(sb: &Sandbox, state: &Path) -> Engine {
        // The client honours DBUS_SYSTEM_BUS_ADDRESS; each test runs in its own process.
        std::env::set_var("DBUS_SYSTEM_BUS_ADDRESS", sb.system_bus_address());
        Engine {
            client: Client::connect(&pm2ctl::host::Host::local(), Scope::System)
                .expect("connect to the sandbox's systemd"),
            store: Store::lock(state).expect("lock the state"),
        }
    }

    /// One `apply`: returns the actions taken and the progress text.
    fn apply(&mut self, desired: &[DesiredApp], prune: bool) -> (Vec<(String, Action)>, String) {
        let live = apply::live_units(&self.client).expect("live units");
        let options = apply::Options {
            prune,
            ..apply::Options::default()
        };
        let diff = apply::diff(desired, self.store.state(), &live, Path::new(FILE), options);
        let source = Source {
            file: Some(FILE.into()),
            env: None,
        };
        let mut progress = Vec::new();
        let failures = apply::execute(
            &self.client,
            &mut self.store,
            &diff,
            desired,
            &live,
            &source,
            options,
            &mut progress,
        )
        .expect("execute");
        let progress = String::from_utf8_lossy(&progress).into_owned();
        assert!(failures.is_empty(), "{failures:?}\n{progress}");
        let actions = diff
            .changes
            .into_iter()
            .map(|c| (c.app, c.action))
            .collect();
        (actions, progress)
    }
}

fn main_pid(sb: &Sandbox, unit: &str) -> String {
    stdout(&sb.systemctl(&["show", "-P", "MainPID", unit]))
        .trim()
        .to_owned()
}

#[test]
fn creates_leaves_alone_rolls_one_app_and_prunes() {
    let sb = Sandbox::boot();
    let state = tempfile::tempdir().unwrap();
    let mut engine = Engine::new(&sb, state.path());

    let (actions, _) = engine.apply(&[app("a", 2, "1"), app("b", 1, "1")], false);
    assert!(
        actions.iter().all(|(_, a)| *a == Action::Create),
        "{actions:?}"
    );
    for unit in [
        "pm2ctl-a@0.service",
        "pm2ctl-a@1.service",
        "pm2ctl-b@0.service",
    ] {
        assert_eq!(sb.unit_state(unit), "active", "{unit}");
    }
    let b_pid = main_pid(&sb, "pm2ctl-b@0.service");
    let a_pid = main_pid(&sb, "pm2ctl-a@0.service");

    // The same apps again: nothing is touched.
    let (actions, progress) = engine.apply(&[app("a", 2, "1"), app("b", 1, "1")], false);
    assert!(
        actions.iter().all(|(_, a)| *a == Action::Unchanged),
        "{actions:?}"
    );
    assert_eq!(progress, "");
    assert_eq!(main_pid(&sb, "pm2ctl-a@0.service"), a_pid);

    // `a` changes: it gets new processes, one instance at a time; `b` keeps its own.
    let (actions, _) = engine.apply(&[app("a", 2, "2"), app("b", 1, "1")], false);
    assert!(
        matches!(&actions[0].1, Action::Roll { instances, .. } if instances == &[0, 1]),
        "{actions:?}"
    );
    assert_eq!(actions[1].1, Action::Unchanged);
    assert_ne!(main_pid(&sb, "pm2ctl-a@0.service"), a_pid);
    assert_eq!(main_pid(&sb, "pm2ctl-b@0.service"), b_pid);
    let env = stdout(&sb.systemctl(&["show", "-P", "Environment", "pm2ctl-a@1.service"]));
    assert!(env.contains("MARK=2"), "{env}");

    // An instance stopped by hand is brought back alone.
    sb.systemctl(&["stop", "pm2ctl-a@1.service"]);
    let a0 = main_pid(&sb, "pm2ctl-a@0.service");
    let (actions, _) = engine.apply(&[app("a", 2, "2"), app("b", 1, "1")], false);
    assert_eq!(
        actions[0].1,
        Action::Repair {
            instances: vec![1],
            companions: None,
            limits: Vec::new(),
        }
    );
    assert_eq!(sb.unit_state("pm2ctl-a@1.service"), "active");
    assert_eq!(main_pid(&sb, "pm2ctl-a@0.service"), a0);

    // `b` leaves the file: kept without --prune, removed with it.
    let (actions, _) = engine.apply(&[app("a", 2, "2")], false);
    assert_eq!(actions.len(), 1);
    assert_eq!(sb.unit_state("pm2ctl-b@0.service"), "active");
    let (actions, _) = engine.apply(&[app("a", 2, "2")], true);
    assert_eq!(actions[1], ("b".to_string(), Action::Prune));
    assert_ne!(sb.unit_state("pm2ctl-b@0.service"), "active");
    assert!(engine.store.state().app("b").is_none());
    assert!(engine.store.state().app("a").is_some());
}

//! The unit-file backend against a real systemd: a plan rendered with `unit::render`, written
//! to the sandbox's /run/systemd/system and loaded with daemon-reload, runs the app with the
//! exact argv and environment the plan holds (quotes, `$`, `%`, `;` and a newline included),
//! and a cluster app's per-instance sockets serve its port.

use crate::common;

use common::sandbox::{assert_success, main_pid, proc_list, stdout};
use common::Sandbox;
use pm2ctl::host::local::SystemResolver;
use pm2ctl::plan::{self, HostFacts, Scope};
use pm2ctl::unit::render;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::Duration;

const PORT: u16 = 3917;
const MOTD: &str = "50% off\n$today \"quoted\" back\\slash";
const ARGS: [&str; 4] = ["a b", "$HOME", "x;y", "100%"];

#[test]
fn rendered_unit_files_run_the_planned_command_and_environment() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("unit-files-case");
    std::fs::create_dir_all(&dir).unwrap();
    let http = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/http.js");
    let toml = format!(
        "[[apps]]\nuser = \"root\"\nname = \"web app\"\nscript = {script:?}\nexec_mode = \"cluster\"\n\
         instances = 2\nport = {PORT}\nlisten_address = \"127.0.0.1\"\nargs = {args:?}\n\
         env = {{ MOTD = {motd:?} }}\n",
        script = http.to_str().unwrap(),
        args = ARGS,
        motd = MOTD,
    );
    let file = dir.join("ecosystem.toml");
    std::fs::write(&file, toml).unwrap();
    let eco = pm2ctl::load::ecosystem(&file).unwrap_or_else(|e| panic!("{e}"));
    let mut host = HostFacts::detect(Scope::System, Some(252));
    host.self_exe = Some(PathBuf::from(common::sandbox::PM2CTL));
    let plan = plan::plan(&eco, None, &host, &SystemResolver).unwrap_or_else(|e| panic!("{e}"));

    let sb = Sandbox::boot();
    let unit_dir = PathBuf::from(format!("/proc/{}/root/run/systemd/system", sb.pid()));
    for unit in plan.units() {
        let text = render(unit).unwrap_or_else(|e| panic!("{e}"));
        std::fs::write(unit_dir.join(&unit.name), text).unwrap();
    }
    assert_success("daemon-reload", &sb.systemctl(&["daemon-reload"]));
    let app = &plan.apps[0];
    let mut start: Vec<String> = Vec::new();
    for i in &app.instances {
        start.push(
            i.socket
                .as_ref()
                .expect("a socket per instance")
                .name
                .clone(),
        );
        start.push(i.service.name.clone());
    }
    let mut args = vec!["start".to_string()];
    args.extend(start.iter().cloned());
    assert_success("start the rendered units", &sb.systemctl(&args));

    // Both instances answer on the shared port, through their own sockets.
    let url = format!("http://127.0.0.1:{PORT}/");
    let mut instances = BTreeSet::new();
    sb.wait_for("both instances answering", Duration::from_secs(30), || {
        let out = sb.curl(&url);
        if let Ok(v) = serde_json::from_slice::<serde_json::Value>(&out.stdout) {
            instances.insert(v["instance"].as_str().unwrap_or("").to_string());
        }
        instances.len() == 2
    });

    let service = &app.instances[1].service.name;
    let pid = main_pid(&sb, service);
    assert_ne!(pid, 0, "{service} has no main process");
    let cmdline = proc_list(&sb, pid, "cmdline");
    assert_eq!(
        &cmdline[cmdline.len() - ARGS.len()..],
        &ARGS[..],
        "{cmdline:?}"
    );
    let environ = proc_list(&sb, pid, "environ");
    assert!(
        environ.contains(&format!("MOTD={MOTD}")),
        "MOTD did not survive the unit file: {environ:?}"
    );
    assert!(
        environ.contains(&"NODE_APP_INSTANCE=1".to_string()),
        "{environ:?}"
    );
    assert_eq!(
        stdout(&sb.systemctl(&["show", "--property=Description", "--value", service])).trim(),
        "pm2ctl app web app (instance 1)"
    );
}

//! Any bytes as an ecosystem.toml: loading never panics, and a file that loads plans and
//! renders into well-formed unit files (or a clear error), whatever its names, env, paths
//! and arguments hold (newlines, `%` specifiers, backslashes, NUL, very long names).
#![no_main]

use libfuzzer_sys::fuzz_target;
use pm2ctl::ecosystem::{self, Format};
use pm2ctl::plan::{self, FileKind, HostFacts, Resolver, Scope};
use std::path::{Path, PathBuf};

/// Every command exists and every script is a plain file, so plans get as far as they can.
struct AllThere;

impl Resolver for AllThere {
    fn which(&self, command: &str, _: &str) -> Option<PathBuf> {
        Some(PathBuf::from("/usr/bin").join(command))
    }
    fn file_kind(&self, _: &Path) -> FileKind {
        FileKind::Other
    }
}

fn host() -> HostFacts {
    HostFacts {
        cpus: 2,
        uid: 0,
        user: "root".into(),
        home: "/root".into(),
        path: "/usr/bin".into(),
        systemd_version: 252,
        scope: Scope::System,
        node_shim: "/usr/lib/pm2ctl/pm2ctl-shim.js".into(),
        caller_env: vec![("SHELL_VAR".into(), "x".into())],
        self_exe: Some("/usr/bin/pm2ctl".into()),
        cwd: "/".into(),
        caller_capabilities: u64::MAX,
        unprivileged_port_start: 1024,
        require_root_opt_in: true,
        memory_unenforced: None,
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let path = Path::new("/srv/fuzz/ecosystem.toml");
    let Ok(eco) = ecosystem::load_text(path, text, Format::Toml) else {
        return;
    };
    // What `import` writes must load again.
    let again = ecosystem::apps_toml(&eco);
    if let Err(e) = ecosystem::load_text(path, &again, Format::Toml) {
        panic!("import output does not load:\n{again}\n{e}");
    }
    let Ok(planned) = plan::plan(&eco, None, &host(), &AllThere) else {
        return;
    };
    for unit in planned.units() {
        if let Ok(rendered) = pm2ctl::unit::render(unit) {
            pm2ctl_fuzz::check_rendered(unit, &rendered);
        }
    }
});

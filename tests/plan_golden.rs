//! Golden tests of the plan, as data: each folder under `tests/plan/` is one case.
//!
//! - `ecosystem.toml`: the input (loaded with the real loader);
//! - `args` (optional): `--env NAME`, `--systemd-version N`, `--scope user|system`,
//!   `--caller NAME:UID`, `--wrap` (apps run through `pm2ctl exec-wrap`), `--cpus N`;
//! - `expected.txt`: every unit and property in `plan::show::text` form, then the warnings;
//!   or the plan's errors when the file cannot be planned.
//!
//! The host is fixed (4 CPUs, root, systemd 252) and the filesystem fake: the ecosystem's
//! directory is presented as `/srv/app`, and a path there exists when the case folder holds
//! it (with its execute bit). Commands (`node`, `python3`, …) are in `/usr/bin`.
//! `UPDATE_GOLDEN=1 cargo nextest run --test plan_golden` rewrites the expected files.

use pm2ctl::plan::{self, FileKind, HostFacts, Resolver, Scope};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

const VIRTUAL_DIR: &str = "/srv/app";
const COMMANDS: &[&str] = &[
    "node", "python3", "python", "bash", "sh", "ruby", "php", "perl", "bun", "ts-node", "coffee",
    "deno", "pm2ctl",
];

struct CaseResolver {
    case_dir: PathBuf,
}

impl Resolver for CaseResolver {
    fn which(&self, command: &str, _path: &str) -> Option<PathBuf> {
        COMMANDS
            .contains(&command)
            .then(|| PathBuf::from("/usr/bin").join(command))
    }

    fn file_kind(&self, path: &Path) -> FileKind {
        if let Ok(rest) = path.strip_prefix(VIRTUAL_DIR) {
            return match std::fs::metadata(self.case_dir.join(rest)) {
                Ok(m) if m.is_dir() => FileKind::Directory,
                Ok(m) if m.permissions().mode() & 0o111 != 0 => FileKind::Executable,
                Ok(_) => FileKind::Other,
                Err(_) => FileKind::Missing,
            };
        }
        match path.to_str() {
            Some(p) if COMMANDS.iter().any(|c| p == format!("/usr/bin/{c}")) => {
                FileKind::Executable
            }
            Some("/usr/local/bin/server") => FileKind::Executable,
            _ => FileKind::Missing,
        }
    }
}

fn host() -> HostFacts {
    HostFacts {
        cpus: 4,
        uid: 0,
        user: "root".into(),
        home: "/root".into(),
        path: "/usr/local/bin:/usr/bin:/bin".into(),
        systemd_version: 252,
        scope: Scope::System,
        node_shim: "/usr/lib/pm2ctl/pm2ctl-shim.js".into(),
        caller_env: vec![
            ("SECRET_TOKEN".into(), "from-the-shell".into()),
            ("LC_ALL".into(), "C".into()),
            ("TERM".into(), "xterm".into()),
        ],
        self_exe: None,
        cwd: "/".into(),
        memory_unenforced: None,
        caller_capabilities: u64::MAX,
        unprivileged_port_start: 1024,
        require_root_opt_in: true,
    }
}

/// Applies the case's `args` to the host; returns `--env`.
fn apply_args(args: &str, host: &mut HostFacts) -> Result<Option<String>, String> {
    let mut env = None;
    let mut words = args.split_whitespace();
    while let Some(w) = words.next() {
        let mut value = || words.next().ok_or(format!("{w} needs a value"));
        match w {
            "--env" => env = Some(value()?.to_string()),
            "--systemd-version" => {
                host.systemd_version = value()?.parse().map_err(|e| format!("{e}"))?
            }
            "--cpus" => host.cpus = value()?.parse().map_err(|e| format!("{e}"))?,
            "--scope" => {
                host.scope = match value()? {
                    "user" => Scope::User,
                    "system" => Scope::System,
                    other => return Err(format!("unknown scope {other}")),
                }
            }
            "--caller" => {
                let v = value()?;
                let (name, uid) = v.split_once(':').ok_or("--caller NAME:UID")?;
                host.user = name.to_string();
                host.uid = uid.parse().map_err(|e| format!("{e}"))?;
                host.home = PathBuf::from(format!("/home/{name}"));
            }
            "--wrap" => host.self_exe = Some("/usr/bin/pm2ctl".into()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(env)
}

fn run_case(dir: &Path) -> Result<String, String> {
    let args = std::fs::read_to_string(dir.join("args")).unwrap_or_default();
    let mut host = host();
    let env = apply_args(&args, &mut host)?;
    let mut eco = pm2ctl::ecosystem::load(&dir.join("ecosystem.toml"))
        .map_err(|e| format!("the case's file does not load:\n{e}"))?;
    eco.base_dir = PathBuf::from(VIRTUAL_DIR);
    let resolver = CaseResolver {
        case_dir: dir.to_path_buf(),
    };
    Ok(match plan::plan(&eco, env.as_deref(), &host, &resolver) {
        Ok(p) => {
            for unit in p.units() {
                pm2ctl::unit::render(unit)
                    .map_err(|e| format!("a planned unit does not render: {e}"))?;
            }
            plan::show::text(&p)
        }
        Err(e) => format!("{e}\n"),
    })
}

#[test]
fn plan_golden_cases() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/plan");
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("tests/plan exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("ecosystem.toml").is_file())
        .collect();
    cases.sort();
    assert!(cases.len() >= 40, "only {} golden cases", cases.len());
    let mut failures = Vec::new();
    for dir in &cases {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let actual = match run_case(dir) {
            Ok(a) => a,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        let expected_path = dir.join("expected.txt");
        if update {
            std::fs::write(&expected_path, &actual).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if expected != actual {
            let line = expected
                .lines()
                .zip(actual.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(expected.lines().count().min(actual.lines().count()));
            failures.push(format!(
                "{name}: differs at line {}:\n  expected: {:?}\n  actual:   {:?}",
                line + 1,
                expected.lines().nth(line).unwrap_or("<end>"),
                actual.lines().nth(line).unwrap_or("<end>"),
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} golden cases failed (UPDATE_GOLDEN=1 rewrites them after review):\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

//! The plan's golden cases (`tests/plan/<case>/`): loading and planning one as the golden
//! test does, for that test and for the gate test, which plans every case for the systemd
//! version a sandbox runs. See tests/integration/plan_golden.rs for what a case holds.

use pm2ctl::plan::{self, FileKind, HostFacts, Resolver, Scope};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

pub const VIRTUAL_DIR: &str = "/srv/app";
const COMMANDS: &[&str] = &[
    "node", "python3", "python", "bash", "sh", "ruby", "php", "perl", "bun", "ts-node", "coffee",
    "deno", "pm2ctl",
];

pub struct CaseResolver {
    pub case_dir: PathBuf,
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

pub fn host() -> HostFacts {
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
pub fn apply_args(args: &str, host: &mut HostFacts) -> Result<Option<String>, String> {
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

/// Every case folder, sorted.
pub fn cases() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/plan");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("tests/plan exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.join("ecosystem.toml").is_file())
        .collect();
    cases.sort();
    cases
}

/// Plans case `dir` on the fixed host, for `systemd_version` when given (else the case's own
/// or 252). `Err` when the case's own files are wrong; the plan's result otherwise.
pub fn plan_case(
    dir: &Path,
    systemd_version: Option<u32>,
) -> Result<Result<plan::Plan, plan::PlanError>, String> {
    let args = std::fs::read_to_string(dir.join("args")).unwrap_or_default();
    let mut host = host();
    let env = apply_args(&args, &mut host)?;
    if let Some(version) = systemd_version {
        host.systemd_version = version;
    }
    let mut eco = pm2ctl::load::ecosystem(&dir.join("ecosystem.toml"))
        .map_err(|e| format!("the case's file does not load:\n{e}"))?;
    eco.base_dir = PathBuf::from(VIRTUAL_DIR);
    let resolver = CaseResolver {
        case_dir: dir.to_path_buf(),
    };
    Ok(plan::plan(&eco, env.as_deref(), &host, &resolver))
}

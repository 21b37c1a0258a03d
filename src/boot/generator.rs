//! `pm2ctl-generator`: the saved state (`pm2ctl save`) as unit files, at every boot and
//! every `daemon-reload` (systemd.generator(7)).
//!
//! The manager's scope comes from `$SYSTEMD_SCOPE` (or the directory it runs from), the
//! saved file from `saved::saved_file` of that scope.
//!
//! A generator runs before D-Bus and most of the system exist, so this one talks to no
//! process: it reads the saved file, plans it with host facts found offline, renders every
//! unit with `unit::render` (the same specs `apply` sends over D-Bus, the same names and
//! fingerprints, so `list`, `restart` and `delete` see one app), and wires the services and
//! sockets of apps saved running to start at boot with `.wants/` symlinks. It never fails a
//! boot: a broken file or app is skipped with a message (kernel log when writable, else
//! stderr; `$PM2CTL_GENERATOR_LOG` names a file instead) and the exit status is always 0.
//!
//! An app `apply` took over since the boot (see `handover`) is left out: it runs from
//! transient units with another definition than the saved one, until the next boot.
//!
//! systemd's version: a generator may not run `systemctl`, so it is read from the name of
//! the `libsystemd-shared-NNN.so` systemd ships, `$PM2CTL_SYSTEMD_VERSION` overriding it;
//! when neither says, 252 (the oldest supported), which only ever leaves newer properties out.

use crate::apply;
use crate::boot::handover;
use crate::boot::saved;
use crate::ecosystem::Ecosystem;
use crate::host::local::SystemResolver;
use crate::host::Host;
use crate::plan::{self, HostFacts, Scope};
use crate::preflight;
use crate::unit::{render, UnitSpec};
use std::ffi::OsString;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// Overrides the systemd version the plan is made for.
pub const SYSTEMD_VERSION_VAR: &str = "PM2CTL_SYSTEMD_VERSION";

/// Overrides the pm2ctl binary app units run their output through (`exec-wrap`).
pub const PM2CTL_BIN_VAR: &str = "PM2CTL_BIN";

/// A file the generator appends its messages to instead of the kernel log (tests, and
/// anyone who wants them elsewhere): the kernel log is the host's, whoever runs the generator.
pub const LOG_FILE_VAR: &str = "PM2CTL_GENERATOR_LOG";

/// The oldest systemd pm2ctl supports; assumed when the version cannot be found.
pub const LOWEST_SYSTEMD: u32 = 252;

/// Where the installed pm2ctl is, when `$PM2CTL_BIN` and the generator's own directory do
/// not say.
const INSTALLED_PM2CTL: &str = "/usr/bin/pm2ctl";

/// Directories systemd's shared library lives in on the distributions pm2ctl supports.
const SYSTEMD_LIB_DIRS: &[&str] = &[
    "/usr/lib/systemd",
    "/lib/systemd",
    "/usr/lib64/systemd",
    "/usr/lib/x86_64-linux-gnu/systemd",
    "/usr/lib/aarch64-linux-gnu/systemd",
    "/usr/lib/arm-linux-gnueabihf/systemd",
    "/usr/lib/i386-linux-gnu/systemd",
];

/// What one generator run produced.
#[derive(Debug, Default, PartialEq)]
pub struct Outcome {
    /// Unit files written, by name.
    pub units: Vec<String>,
    /// `.wants/` links written, as `<target>.wants/<unit>`.
    pub wants: Vec<String>,
    /// Apps left out, each with why.
    pub skipped: Vec<String>,
    /// Saved apps left out because `apply` took them over since the boot.
    pub handed_over: Vec<String>,
}

/// The generator's `main`: `argv` as systemd passes it (`normal early late`). Always 0.
pub fn main(argv: &[OsString]) -> i32 {
    let program = argv
        .first()
        .map(|a| a.to_string_lossy().into_owned())
        .unwrap_or_default();
    let Some(normal) = argv.get(1).map(PathBuf::from) else {
        log("usage: pm2ctl-generator NORMAL-DIR [EARLY-DIR LATE-DIR]");
        return 0;
    };
    let scope = scope_of(
        std::env::var("SYSTEMD_SCOPE").ok().as_deref(),
        &program,
        &normal,
    );
    let file = match saved::saved_file(scope) {
        Ok(file) => file,
        Err(e) => {
            log(&format!("{e:#}"));
            return 0;
        }
    };
    // `pm2ctl unstartup` keeps the saved file but turns boot start off.
    if !file.exists() || saved::boot_disabled(scope) {
        return 0;
    }
    let host = host_facts(scope);
    let outcome = generate(&file, &host, &normal, &handover::marked(scope));
    for skipped in &outcome.skipped {
        log(skipped);
    }
    0
}

/// Where systemd has a generator of `scope` write its units (the normal directory):
/// `/run/systemd/generator`, or `$XDG_RUNTIME_DIR/systemd/generator` for a user's manager.
pub fn output_dir(scope: Scope) -> Option<PathBuf> {
    match scope {
        Scope::System => Some(PathBuf::from("/run/systemd/generator")),
        Scope::User => std::env::var_os("XDG_RUNTIME_DIR")
            .filter(|d| !d.is_empty())
            .map(|d| PathBuf::from(d).join("systemd/generator")),
    }
}

/// Which manager runs the generator: systemd says so in `$SYSTEMD_SCOPE` (since v251);
/// else the path it was run from (`.../user-generators/...`, or a name with "user"), or the
/// directory it writes to (a user manager's is under `/run/user/`): a script that execs the
/// generator (the .rpm's user generator) hides the first on systemd 247 to 250.
fn scope_of(systemd_scope: Option<&str>, program: &str, normal_dir: &Path) -> Scope {
    match systemd_scope {
        Some("user") => Scope::User,
        Some("system") => Scope::System,
        _ if program.contains("user") => Scope::User,
        _ if normal_dir.starts_with("/run/user") => Scope::User,
        _ => Scope::System,
    }
}

/// True when the generator's output directory of `scope` holds one of `units`: they are
/// loaded from the files it wrote (the app came back at boot), not transient.
pub fn generated(host: &Host, scope: Scope, units: &[String]) -> bool {
    if let Some(dest) = host.ssh() {
        return generated_on(dest, scope, units);
    }
    output_dir(scope).is_some_and(|dir| units.iter().any(|u| dir.join(u).exists()))
}

/// [`generated`] on the `-H` host, asked over ssh (a failure to ask counts as no).
fn generated_on(dest: &crate::host::ssh::Destination, scope: Scope, units: &[String]) -> bool {
    if units.is_empty() {
        return false;
    }
    let dir = match scope {
        Scope::System => "/run/systemd/generator",
        Scope::User => "${XDG_RUNTIME_DIR:-/run/user/$(id -u)}/systemd/generator",
    };
    let mut script = format!("cd \"{dir}\" 2>/dev/null || exit 0\nfor u in");
    for unit in units {
        match crate::host::ssh::quote(unit) {
            Ok(u) => {
                script.push(' ');
                script.push_str(&u);
            }
            Err(_) => return false,
        }
    }
    script.push_str("; do [ -e \"$u\" ] && { echo yes; exit 0; }; done; exit 0");
    crate::host::remote::run_script(dest, &script).is_ok_and(|out| out.trim() == "yes")
}

/// Renders the saved ecosystem `file` into `dir` (the generator's normal directory),
/// leaving out the apps named in `handed_over`.
pub fn generate(file: &Path, host: &HostFacts, dir: &Path, handed_over: &[String]) -> Outcome {
    let mut outcome = Outcome::default();
    let eco = match crate::boot::saved::load(file) {
        Ok((eco, _)) => eco,
        Err(e) => {
            outcome.skipped.push(format!(
                "{}: not loaded, no app started:\n{e}",
                file.display()
            ));
            return outcome;
        }
    };
    for app in &eco.apps {
        if handed_over.contains(&app.name) {
            outcome.handed_over.push(app.name.clone());
            continue;
        }
        // One app at a time, so a broken one leaves the others alone.
        // Field by field: cloning the whole file for each app would be quadratic.
        let single = Ecosystem {
            source: eco.source.clone(),
            base_dir: eco.base_dir.clone(),
            apps: vec![app.clone()],
            deploy: Default::default(),
        };
        let planned = match plan::plan(&single, None, host, &SystemResolver) {
            Ok(planned) => planned,
            Err(e) => {
                outcome
                    .skipped
                    .push(format!("app `{}` skipped:\n{e}", app.name));
                continue;
            }
        };
        // The preflight of `apply`: an app whose account may not reach its files would fail
        // at start; it is skipped, saying why. Only a refusal by the permissions of a path
        // that exists counts here: at boot a file system or a network account may still be
        // on its way.
        if let Some(problem) = planned
            .access
            .iter()
            .filter_map(preflight::check_app)
            .find(preflight::Problem::is_denial)
        {
            outcome
                .skipped
                .push(format!("app `{}` skipped:\n{problem}", app.name));
            continue;
        }
        for app_plan in planned.apps {
            let name = app_plan.name.clone();
            let (app_plan, _) = apply::fingerprinted(app_plan);
            if let Err(e) = write_app(&app_plan, app.autostart, host.scope, dir, &mut outcome) {
                outcome.skipped.push(format!("app `{name}` skipped: {e}"));
            }
        }
    }
    outcome
}

/// The unit files of one app, rendered; with, for an app saved running, the `.wants/`
/// links that start it at boot.
pub fn unit_files(plan: &plan::AppPlan) -> Result<Vec<(String, String)>, String> {
    plan.units()
        .map(|u: &UnitSpec| {
            render(u)
                .map(|text| (u.name.clone(), with_header(&text)))
                .map_err(|e| e.to_string())
        })
        .collect()
}

fn with_header(text: &str) -> String {
    format!("# Automatically generated by pm2ctl-generator from pm2ctl's saved state.\n{text}")
}

fn write_app(
    plan: &plan::AppPlan,
    autostart: bool,
    scope: Scope,
    dir: &Path,
    outcome: &mut Outcome,
) -> Result<(), String> {
    // Everything is rendered before anything is written: an app is whole or absent.
    let files = unit_files(plan)?;
    for (name, text) in &files {
        let path = dir.join(name);
        std::fs::write(&path, text).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        outcome.units.push(name.clone());
    }
    let boot_target = match scope {
        Scope::System => "multi-user.target",
        Scope::User => "default.target",
    };
    let mut links = Vec::new();
    // A cron timer is armed even for an app saved stopped: PM2 starts stopped apps at
    // cron time, and pm2ctl does so after a reboot too.
    for companion in &plan.companions {
        match &companion.timer {
            Some(timer) => links.push(("timers.target", &timer.name)),
            None if autostart => links.push((boot_target, &companion.service.name)),
            None => {}
        }
    }
    if autostart {
        for instance in &plan.instances {
            links.push((boot_target, &instance.service.name));
            if let Some(socket) = &instance.socket {
                links.push(("sockets.target", &socket.name));
            }
        }
    }
    for (target, unit) in links {
        let wants = dir.join(format!("{target}.wants"));
        std::fs::create_dir_all(&wants)
            .map_err(|e| format!("cannot create {}: {e}", wants.display()))?;
        let link = wants.join(unit);
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink(dir.join(unit), &link)
            .map_err(|e| format!("cannot link {}: {e}", link.display()))?;
        outcome.wants.push(format!("{target}.wants/{unit}"));
    }
    Ok(())
}

/// Host facts without asking any process: systemd's version from its files, the pm2ctl
/// binary next to this one (or the installed one), systemd's default PATH when none is set.
pub fn host_facts(scope: Scope) -> HostFacts {
    let mut host = HostFacts::detect(scope, Some(systemd_version()));
    if std::env::var_os("PATH").is_none() {
        host.path = plan::env::SYSTEM_PATH.to_string();
    }
    host.self_exe = pm2ctl_binary();
    host.cwd = PathBuf::from("/");
    // Apps in the saved state were accepted when they were applied: one saved before root
    // apps had to be asked for must still come back at boot.
    host.require_root_opt_in = false;
    host
}

/// systemd's major version, found offline (see the module notes).
pub fn systemd_version() -> u32 {
    if let Some(v) = std::env::var(SYSTEMD_VERSION_VAR)
        .ok()
        .and_then(|v| v.trim().parse().ok())
    {
        return v;
    }
    SYSTEMD_LIB_DIRS
        .iter()
        .filter_map(|dir| std::fs::read_dir(dir).ok())
        .flatten()
        .flatten()
        .find_map(|entry| version_of_library(&entry.file_name().to_string_lossy()))
        .unwrap_or(LOWEST_SYSTEMD)
}

/// `libsystemd-shared-252.so` → 252 (Debian also ships `-252.38-1.so`-style names: the
/// digits up to the first non-digit count).
fn version_of_library(file: &str) -> Option<u32> {
    let rest = file.strip_prefix("libsystemd-shared-")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// The pm2ctl binary app units run through `exec-wrap`, as `apply` does with itself.
fn pm2ctl_binary() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os(PM2CTL_BIN_VAR).filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(bin));
    }
    let sibling = std::env::current_exe()
        .ok()
        .and_then(|exe| std::fs::canonicalize(exe).ok())
        .and_then(|exe| Some(exe.parent()?.join("pm2ctl")));
    sibling
        .filter(|p| p.is_file())
        .or_else(|| Some(PathBuf::from(INSTALLED_PM2CTL)).filter(|p| p.is_file()))
}

/// A message out of a generator: the kernel log is the one place it is seen at boot, unless
/// `$PM2CTL_GENERATOR_LOG` names a file; stderr when neither can be written.
fn log(message: &str) {
    let text = format!("pm2ctl-generator: {message}");
    let written = match std::env::var_os(LOG_FILE_VAR).filter(|v| !v.is_empty()) {
        Some(file) => append_to(Path::new(&file), &text),
        None => write_kmsg(&text),
    };
    if !written {
        eprintln!("{text}");
    }
}

/// Appends `text` (and a newline) to `file`; false when it cannot.
fn append_to(file: &Path, text: &str) -> bool {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .and_then(|mut f| f.write_all(format!("{text}\n").as_bytes()))
        .is_ok()
}

/// Writes `text` to the kernel log, one warning-level record per line; false when it cannot.
fn write_kmsg(text: &str) -> bool {
    let Ok(mut kmsg) = std::fs::OpenOptions::new().write(true).open("/dev/kmsg") else {
        return false;
    };
    text.lines()
        .all(|line| kmsg.write_all(format!("<4>{line}\n").as_bytes()).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scope_comes_from_systemd_else_from_the_path() {
        let user_path = "/usr/lib/systemd/user-generators/pm2ctl-generator";
        let system_path = "/usr/lib/systemd/system-generators/pm2ctl-generator";
        let system_dir = Path::new("/run/systemd/generator");
        let user_dir = Path::new("/run/user/1000/systemd/generator");
        assert_eq!(scope_of(Some("user"), system_path, system_dir), Scope::User);
        assert_eq!(scope_of(Some("system"), user_path, user_dir), Scope::System);
        assert_eq!(scope_of(None, user_path, system_dir), Scope::User);
        assert_eq!(scope_of(None, system_path, system_dir), Scope::System);
        // Run through a script (argv[0] is the real binary), before $SYSTEMD_SCOPE (251).
        assert_eq!(scope_of(None, system_path, user_dir), Scope::User);
    }

    #[test]
    fn versions_from_library_names() {
        assert_eq!(version_of_library("libsystemd-shared-252.so"), Some(252));
        assert_eq!(
            version_of_library("libsystemd-shared-255.4-1.so"),
            Some(255)
        );
        assert_eq!(version_of_library("libsystemd-core-252.so"), None);
        assert_eq!(version_of_library("libsystemd-shared-.so"), None);
    }
}

#[cfg(test)]
mod output_tests {
    use super::*;
    use std::collections::BTreeMap;

    /// The system manager's host facts as the generator sees them at boot.
    fn boot_host() -> HostFacts {
        let mut host = HostFacts::detect(Scope::System, Some(LOWEST_SYSTEMD));
        host.self_exe = Some(PathBuf::from("/usr/bin/pm2ctl"));
        host.require_root_opt_in = false;
        host
    }

    /// Companions are written with their app; a cron timer is armed even for an app saved
    /// stopped, a watch agent only starts with a running app.
    #[test]
    fn companions_are_written_and_cron_timers_always_armed() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("dump.toml");
        std::fs::write(
            &file,
            "[[apps]]\nname = \"nightly\"\nscript = \"/bin/sleep\"\nargs = \"1000\"\n\
             interpreter = \"none\"\nautostart = false\ncron_restart = \"0 3 * * *\"\n\
             watch = true\n",
        )
        .unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let host = boot_host();

        let outcome = generate(&file, &host, &out, &[]);

        assert!(outcome.skipped.is_empty(), "{:?}", outcome.skipped);
        let timer = std::fs::read_to_string(out.join("pm2ctl-nightly-cron.timer")).unwrap();
        assert!(
            timer.contains("\n[Timer]\nOnCalendar=*-*-* 03:00:00\nAccuracySec=1s\n"),
            "{timer}"
        );
        let service = std::fs::read_to_string(out.join("pm2ctl-nightly-cron.service")).unwrap();
        assert!(
            service.contains("ExecStart=\"/usr/bin/pm2ctl\" \"restart\""),
            "{service}"
        );
        assert!(out.join("pm2ctl-nightly-watch.service").exists());
        assert_eq!(
            outcome.wants,
            ["timers.target.wants/pm2ctl-nightly-cron.timer"]
        );
    }

    #[test]
    fn output_is_the_rendered_plan_and_wires_what_was_saved_running() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("dump.toml");
        std::fs::write(
            &file,
            "[[apps]]\nname = \"web app\"\nscript = \"/bin/sleep\"\nargs = \"1000\"\n\
             interpreter = \"none\"\ninstances = 2\nexec_mode = \"cluster\"\nport = 3000\n\n\
             [[apps]]\nname = \"idle\"\nscript = \"/bin/sleep\"\nargs = \"1\"\n\
             interpreter = \"none\"\nautostart = false\n\n\
             [[apps]]\nname = \"broken\"\nscript = \"/no/such/file\"\n",
        )
        .unwrap();
        let out = dir.path().join("out");
        std::fs::create_dir(&out).unwrap();
        let host = boot_host();

        let outcome = generate(&file, &host, &out, &[]);

        // What apply would start: the same plan, fingerprinted, rendered.
        let eco = crate::load::ecosystem(&file).unwrap();
        let good = Ecosystem {
            apps: eco.apps[..2].to_vec(),
            ..eco
        };
        let planned = plan::plan(&good, None, &host, &SystemResolver).unwrap();
        let mut expected = BTreeMap::new();
        for app in planned.apps {
            let (app, _) = apply::fingerprinted(app);
            for unit in std::iter::once(&app.slice).chain(
                app.instances
                    .iter()
                    .flat_map(|i| i.socket.iter().chain(std::iter::once(&i.service))),
            ) {
                expected.insert(unit.name.clone(), with_header(&render(unit).unwrap()));
            }
        }
        let mut written = BTreeMap::new();
        for entry in std::fs::read_dir(&out).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_file() {
                let name = entry.file_name().to_string_lossy().into_owned();
                written.insert(name, std::fs::read_to_string(entry.path()).unwrap());
            }
        }
        assert_eq!(written, expected);
        assert!(written.contains_key("pm2ctl-web\\x20app@1.service"));

        let mut wants = outcome.wants.clone();
        wants.sort();
        assert_eq!(
            wants,
            vec![
                "multi-user.target.wants/pm2ctl-web\\x20app@0.service",
                "multi-user.target.wants/pm2ctl-web\\x20app@1.service",
                "sockets.target.wants/pm2ctl-web\\x20app@0.socket",
                "sockets.target.wants/pm2ctl-web\\x20app@1.socket",
            ]
        );
        let link = out.join("multi-user.target.wants/pm2ctl-web\\x20app@0.service");
        assert_eq!(
            std::fs::read_link(link).unwrap(),
            out.join("pm2ctl-web\\x20app@0.service")
        );
        assert_eq!(outcome.skipped.len(), 1, "{:?}", outcome.skipped);
        assert!(outcome.skipped[0].contains("broken"));
    }

    /// An app `apply` took over since the boot is left out, the others still written.
    #[test]
    fn handed_over_apps_are_left_out() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("dump.toml");
        std::fs::write(
            &file,
            "[[apps]]\nname = \"taken\"\nscript = \"/bin/sleep\"\nargs = \"1000\"\n\
             interpreter = \"none\"\n\n[[apps]]\nname = \"kept\"\nscript = \"/bin/sleep\"\n\
             args = \"1000\"\ninterpreter = \"none\"\n",
        )
        .unwrap();
        let host = boot_host();
        let outcome = generate(&file, &host, dir.path(), &["taken".to_string()]);
        assert!(outcome.skipped.is_empty(), "{:?}", outcome.skipped);
        assert_eq!(outcome.handed_over, ["taken"]);
        assert_eq!(
            outcome.wants,
            ["multi-user.target.wants/pm2ctl-kept@0.service"]
        );
        assert!(!dir.path().join("pm2ctl-taken@0.service").exists());
    }

    #[test]
    fn a_corrupt_file_writes_nothing_and_says_why() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("dump.toml");
        std::fs::write(&file, "[[apps]\nname = ").unwrap();
        let host = HostFacts::detect(Scope::System, Some(252));
        let outcome = generate(&file, &host, dir.path(), &[]);
        assert!(outcome.units.is_empty());
        assert_eq!(outcome.skipped.len(), 1);
        assert!(outcome.skipped[0].contains("dump.toml"));
    }
}

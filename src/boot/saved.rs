//! The saved state: what runs now, written as an `ecosystem.toml` that survives reboots.
//!
//! `pm2ctl save` writes it, `pm2ctl resurrect` applies it, and `pm2ctl-generator` turns it
//! into unit files at every boot. It is an ordinary ecosystem file (the loader reads it
//! back, a person can read and edit it), never a dump of process state: each app is its
//! definition with the `--env` it was applied with folded into `env`, its relative paths
//! made absolute (the file lives elsewhere than the one it came from) and its instance
//! count as it runs now.

use crate::boot::generator;
use crate::ecosystem::{self, App, Ecosystem, ExecMode, Instances, LogTarget};
use crate::host::Host;
use crate::plan::{self, Scope};
use crate::state::{AppRecord, Desired, State};
use crate::systemd::Client;
use anyhow::{bail, Context, Result};
use std::fs;
use std::path::{Path, PathBuf};

/// Overrides the config directory for either scope (tests, sandboxes, packaging).
pub const CONFIG_DIR_VAR: &str = "PM2CTL_CONFIG_DIR";

/// The saved state's file name in the config directory.
pub const SAVED_FILE: &str = "dump.toml";

/// The config directory for `scope`: `$PM2CTL_CONFIG_DIR` if set, else `/etc/pm2ctl` for
/// the system manager and `$XDG_CONFIG_HOME/pm2ctl` (default `~/.config/pm2ctl`) for a
/// user's manager.
pub fn config_dir(scope: Scope) -> Result<PathBuf> {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = var(CONFIG_DIR_VAR) {
        return Ok(PathBuf::from(dir));
    }
    match scope {
        Scope::System => Ok(PathBuf::from("/etc/pm2ctl")),
        Scope::User => {
            // The XDG spec says relative values are invalid and must be ignored.
            if let Some(xdg) = var("XDG_CONFIG_HOME")
                .map(PathBuf::from)
                .filter(|p| p.is_absolute())
            {
                return Ok(xdg.join("pm2ctl"));
            }
            match var("HOME") {
                Some(home) => Ok(PathBuf::from(home).join(".config/pm2ctl")),
                None => bail!(
                    "cannot find pm2ctl's config directory: neither {CONFIG_DIR_VAR}, \
                     XDG_CONFIG_HOME nor HOME is set"
                ),
            }
        }
    }
}

/// The file in the config directory that `pm2ctl unstartup` writes (and `startup`
/// removes): while it exists the generator brings nothing up at boot, the saved file kept.
pub const BOOT_OFF_FILE: &str = "startup-disabled";

/// True when `unstartup` turned boot start off for `scope`.
pub fn boot_disabled(scope: Scope) -> bool {
    config_dir(scope).is_ok_and(|dir| dir.join(BOOT_OFF_FILE).exists())
}

/// The saved file for `scope`.
pub fn saved_file(scope: Scope) -> Result<PathBuf> {
    Ok(config_dir(scope)?.join(SAVED_FILE))
}

/// The ecosystem that recreates the apps of `state` as they run now. An app whose
/// definition cannot be found any more (its file gone or changed) is left out and named in
/// the returned warnings.
pub fn ecosystem_of(
    host: &Host,
    state: &State,
    saved: &Path,
    home: &Path,
) -> (Ecosystem, Vec<String>) {
    let mut apps = Vec::new();
    let mut warnings = Vec::new();
    for record in state.apps.values() {
        match saved_app(host, record, home) {
            Ok(app) => apps.push(app),
            Err(e) => warnings.push(format!("{}: not saved: {e:#}", record.name)),
        }
    }
    let eco = Ecosystem {
        source: saved.to_path_buf(),
        base_dir: saved.parent().unwrap_or(Path::new("/")).to_path_buf(),
        apps,
        deploy: Default::default(),
    };
    (eco, warnings)
}

/// The first line of every saved file: how a saved file is told from a user's.
const HEADER: &str =
    "# What pm2ctl ran when `pm2ctl save` wrote this file: `pm2ctl resurrect` applies it,\n\
     # and pm2ctl-generator turns it into unit files at every boot.\n";

/// The TOML text of a saved ecosystem; one with no app is [`empty_toml`].
pub fn to_toml(eco: &Ecosystem) -> String {
    if eco.apps.is_empty() && eco.deploy.is_empty() {
        return empty_toml();
    }
    format!("{HEADER}{}", ecosystem::apps_toml(eco))
}

/// A saved file that holds no app (`cleardump`, `delete` of every saved app): read back
/// as nothing to run, where a user's file without apps is an error.
pub fn empty_toml() -> String {
    format!("{HEADER}apps = []\n")
}

/// Reads `text`, the content of the saved file `path`: a saved file emptied by `delete` or
/// `cleardump` is an ecosystem of no app; anything else is loaded as any ecosystem.toml.
pub fn load_text(path: &Path, text: &str) -> Result<Ecosystem, ecosystem::LoadError> {
    if is_empty_saved(text) {
        return Ok(Ecosystem {
            source: path.to_path_buf(),
            base_dir: path.parent().unwrap_or(Path::new("/")).to_path_buf(),
            apps: Vec::new(),
            deploy: Default::default(),
        });
    }
    ecosystem::load_text(path, text, ecosystem::Format::Toml)
}

/// `ecosystem::load_with_warnings`, except that a saved file with no app loads as no app.
pub fn load(path: &Path) -> Result<(Ecosystem, Vec<ecosystem::Warning>), ecosystem::LoadError> {
    match fs::read_to_string(path) {
        Ok(text) if is_empty_saved(&text) => load_text(path, &text).map(|eco| (eco, Vec::new())),
        _ => crate::load::ecosystem_with_warnings(path),
    }
}

/// A saved file (it starts with the header `save` writes) whose only content is no app:
/// `apps = []`, or nothing at all (as older versions wrote it).
fn is_empty_saved(text: &str) -> bool {
    let Some(rest) = text.strip_prefix(HEADER) else {
        return false;
    };
    match toml::from_str::<toml::Table>(rest) {
        Ok(table) => match table.get("apps") {
            None => table.is_empty(),
            Some(toml::Value::Array(apps)) => apps.is_empty() && table.len() == 1,
            Some(_) => false,
        },
        Err(_) => false,
    }
}

/// The saved file of one manager: on this machine, or with `-H` on the remote host (read and
/// replaced over ssh, see `crate::host::remote::store`).
#[derive(Debug, Clone)]
pub struct SavedFile {
    path: PathBuf,
    host: Host,
}

impl SavedFile {
    /// The saved file of `scope` on `host`.
    pub fn of(host: &Host, scope: Scope) -> Result<SavedFile> {
        Ok(match host.ssh() {
            Some(dest) => SavedFile {
                path: crate::host::remote::RemoteDir::Config(scope)
                    .resolve(dest)?
                    .join(SAVED_FILE),
                host: host.clone(),
            },
            None => SavedFile::local(saved_file(scope)?),
        })
    }

    /// A saved file on this machine.
    pub fn local(path: PathBuf) -> SavedFile {
        SavedFile {
            path,
            host: Host::local(),
        }
    }

    /// The copy `save` keeps of the saved state it replaced (`dump.toml.bak`), which
    /// `resurrect` falls back to when the saved file cannot be read, as PM2 does with
    /// `dump.pm2.bak`.
    pub fn backup(&self) -> SavedFile {
        let mut name = self.path.file_name().unwrap_or_default().to_os_string();
        name.push(".bak");
        SavedFile {
            path: self.path.with_file_name(name),
            host: self.host.clone(),
        }
    }

    /// Its path, on the machine it is on.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its text; `None` when there is none.
    pub fn read(&self) -> Result<Option<String>> {
        match self.host.ssh() {
            Some(dest) => crate::host::remote::read_file(dest, &self.path),
            None => match fs::read_to_string(&self.path) {
                Ok(text) => Ok(Some(text)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e).with_context(|| format!("cannot read {self}")),
            },
        }
    }

    /// Replaces it with `text`, atomically.
    pub fn write(&self, text: &str) -> Result<()> {
        match self.host.ssh() {
            Some(dest) => crate::host::remote::write_file(dest, &self.path, text),
            None => crate::safe_path::write_atomic(&self.path, text.as_bytes()),
        }
    }
}

impl std::fmt::Display for SavedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.host.ssh() {
            Some(dest) => write!(f, "{}:{}", dest.target, self.path.display()),
            None => write!(f, "{}", self.path.display()),
        }
    }
}

/// Removes the apps named `names` from the saved file `file` (`delete` after `save`: a
/// deleted app must not come back at the next boot). The other apps are written back as
/// they were; the file is only rewritten when it holds one of them. Returns the names
/// removed, in the file's order; none when there is no saved file.
pub fn forget(file: &SavedFile, names: &[String]) -> Result<Vec<String>> {
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let Some(text) = file.read()? else {
        return Ok(Vec::new());
    };
    let mut eco = load_text(file.path(), &text)
        .map_err(anyhow::Error::new)
        .with_context(|| format!("cannot read the saved state {file}"))?;
    let (gone, kept): (Vec<App>, Vec<App>) = std::mem::take(&mut eco.apps)
        .into_iter()
        .partition(|app| names.contains(&app.name));
    if gone.is_empty() {
        return Ok(Vec::new());
    }
    eco.apps = kept;
    file.write(&to_toml(&eco))?;
    Ok(gone.into_iter().map(|app| app.name).collect())
}

/// Takes apps deleted as a whole (`delete`, `apply --prune`) out of the saved file of the
/// client's manager, so they do not come back at the next boot (PM2 needs another `pm2 save`
/// for that; here the saved file follows at once). When systemd still has unit files the
/// generator wrote for them (`units`: the apps came back at boot), a `daemon-reload` runs the
/// generator again, so they go now rather than at the next boot. Returns what to tell the
/// user when the file held one of them.
pub fn unsave(client: &Client, names: &[String], units: &[String]) -> Result<Option<String>> {
    if names.is_empty() {
        return Ok(None);
    }
    let file = SavedFile::of(client.host(), client.scope())?;
    let removed = forget(&file, names).with_context(|| {
        format!(
            "the saved state was not updated: {} comes back at the next boot until \
             `pm2ctl save` runs",
            names.join(", ")
        )
    })?;
    if removed.is_empty() {
        return Ok(None);
    }
    let said = format!(
        "Removed {} from the saved state ({file}): not started at boot any more",
        removed.join(", "),
    );
    if generator::generated(client.host(), client.scope(), units) {
        client.daemon_reload().with_context(|| {
            format!("{said}, but systemd could not be reloaded to drop the generated units")
        })?;
    }
    Ok(Some(said))
}

/// One app as it should be saved.
fn saved_app(host: &Host, record: &AppRecord, home: &Path) -> Result<App> {
    let (mut app, base_dir) = definition(host, record)?;
    let env_name = record.source.env.as_deref();
    // The selected `env_<NAME>` overlays `env`, as the plan does; the saved file has no
    // `--env` of its own.
    if let Some(overlay) = env_name.and_then(|name| app.env_by_name.get(name)) {
        let overlay = overlay.clone();
        app.env.extend(overlay);
    }
    app.env_by_name.clear();
    app.name = record.name.clone();
    app.append_env_to_name = false;
    let mut app = anchored(app, &base_dir, home);
    let running = u32::try_from(record.instances.len()).unwrap_or(u32::MAX);
    let cpus = std::thread::available_parallelism()
        .map(|n| u32::try_from(n.get()).unwrap_or(u32::MAX))
        .unwrap_or(1);
    if plan::instance_count(app.instances, cpus) != running {
        // An app given no `instances` ran in fork mode; saved with a count it must stay
        // in fork mode (PM2's rule would switch a node app with `instances` to cluster).
        if app.instances.is_none() && app.exec_mode.is_none() {
            app.exec_mode = Some(ExecMode::Fork);
        }
        app.instances = Some(Instances::Count(running));
    }
    app.autostart = record.desired == Desired::Running;
    Ok(app)
}

/// `app` with the paths that were relative to its file's directory `base_dir` made
/// absolute (its working directory, log and pid files), so it means the same wherever it
/// is recorded.
pub fn anchored(mut app: App, base_dir: &Path, home: &Path) -> App {
    let cwd = plan::exec::working_directory(&app, base_dir, home);
    app.cwd = Some(cwd);
    for target in [&mut app.out_file, &mut app.error_file, &mut app.log_file] {
        if let LogTarget::File(p) = target {
            *p = absolute(p, base_dir);
        }
    }
    if let Some(p) = &app.pid_file {
        app.pid_file = Some(absolute(p, base_dir));
    }
    app
}

/// `~/` paths keep their meaning at boot; relative ones are joined to `base`.
fn absolute(p: &Path, base: &Path) -> PathBuf {
    if p.is_absolute() || p.starts_with("~") {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}

/// The definition an app runs, with the directory its relative paths start from: the
/// recorded one (`start` makes its paths absolute), else the app in its ecosystem file.
fn definition(host: &Host, record: &AppRecord) -> Result<(App, PathBuf)> {
    if let Some(app) = &record.definition {
        return Ok((app.clone(), PathBuf::from("/")));
    }
    let Some(file) = &record.source.file else {
        bail!("it was started without a file and its definition was not recorded");
    };
    // With -H, the file as the remote host has it: the state is that host's.
    let eco = crate::host::remote::load_recorded(host, file)?;
    let env = record.source.env.as_deref();
    let app = eco
        .apps
        .into_iter()
        .find(|a| {
            a.name == record.name
                || (a.append_env_to_name
                    && env.is_some_and(|e| format!("{}-{e}", a.name) == record.name))
        })
        .with_context(|| format!("it is no longer in {}", file.display()))?;
    Ok((app, eco.base_dir))
}

/// `pm2ctl save`: writes the saved state of `scope`'s manager on `host` from what its
/// store records, keeping the state it replaces as the backup; returns the file written.
pub fn save(host: &Host, scope: Scope) -> Result<SavedFile> {
    // Under the store's lock: a `delete` running meanwhile edits the saved file too.
    let store = crate::state::lock_current(host, scope)?;
    let state = store.state();
    let file = SavedFile::of(host, scope)?;
    let home = match host.ssh() {
        Some(dest) => crate::host::remote::facts::home(dest)?,
        None => plan::HostFacts::detect(scope, Some(0)).home,
    };
    let (eco, warnings) = ecosystem_of(host, state, file.path(), &home);
    for warning in &warnings {
        eprintln!("warning: {warning}");
    }
    // The state it replaces, when it reads, is kept for `resurrect` to fall back to.
    if let Some(previous) = file.read()? {
        if load_text(file.path(), &previous).is_ok() {
            let backup = file.backup();
            backup
                .write(&previous)
                .with_context(|| format!("the previous saved state was not kept in {backup}"))?;
        }
    }
    file.write(&to_toml(&eco))
        .with_context(|| format!("the saved state was not written to {file}"))?;
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::tests::plan as running;
    use crate::state::Source;

    #[test]
    fn the_saved_file_loads_back_as_the_apps_run_now() {
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("eco.toml");
        std::fs::write(
            &source,
            "[[apps]]\nname = \"api\"\nscript = \"server.js\"\nout_file = \"logs/out.log\"\n\
             append_env_to_name = true\nenv = { A = \"1\", B = \"base\" }\n\
             env_production = { B = \"prod\" }\n\n\
             [[apps]]\nname = \"worker\"\nscript = \"w.js\"\ncwd = \"jobs\"\n",
        )
        .unwrap();
        let mut state = State::default();
        let src = Source {
            file: Some(source.clone()),
            env: Some("production".into()),
        };
        state.upsert_app(
            running("api-production", 3),
            "f".into(),
            src.clone(),
            Desired::Running,
            0,
        );
        state.upsert_app(running("worker", 1), "g".into(), src, Desired::Stopped, 0);
        state.upsert_app(
            running("gone", 1),
            "h".into(),
            Source {
                file: Some(dir.path().join("missing.toml")),
                env: None,
            },
            Desired::Running,
            0,
        );

        let saved = dir.path().join("config").join(SAVED_FILE);
        let (eco, warnings) = ecosystem_of(&Host::local(), &state, &saved, Path::new("/home/u"));
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].starts_with("gone: not saved"), "{warnings:?}");
        crate::safe_path::write_atomic(&saved, to_toml(&eco).as_bytes()).unwrap();

        let back = crate::load::ecosystem(&saved).unwrap_or_else(|e| panic!("{e}"));
        let api = &back.apps[0];
        assert_eq!(api.name, "api-production");
        assert!(!api.append_env_to_name);
        assert_eq!(api.env.get("B").map(String::as_str), Some("prod"));
        assert_eq!(api.env.get("A").map(String::as_str), Some("1"));
        assert_eq!(api.cwd.as_deref(), Some(dir.path()));
        assert_eq!(
            api.out_file,
            LogTarget::File(dir.path().join("logs/out.log"))
        );
        assert_eq!(api.instances, Some(Instances::Count(3)));
        assert_eq!(api.exec_mode, Some(ExecMode::Fork));
        assert!(api.autostart);

        let worker = &back.apps[1];
        assert_eq!(
            worker.cwd.as_deref(),
            Some(dir.path().join("jobs").as_path())
        );
        assert_eq!(worker.instances, None);
        assert!(!worker.autostart, "a stopped app is saved stopped");
    }

    #[test]
    fn forgetting_an_app_leaves_the_others_as_saved() {
        let dir = tempfile::tempdir().unwrap();
        let saved = dir.path().join(SAVED_FILE);
        assert!(
            forget(&SavedFile::local(saved.clone()), &["api".into()])
                .unwrap()
                .is_empty(),
            "no file"
        );
        std::fs::write(
            &saved,
            "[[apps]]\nname = \"api\"\nscript = \"/srv/a.js\"\ninstances = 2\n\n\
             [[apps]]\nname = \"worker\"\nscript = \"/srv/w.js\"\nenv = { A = \"1\" }\n",
        )
        .unwrap();
        let before = crate::load::ecosystem(&saved).unwrap_or_else(|e| panic!("{e}"));

        assert!(forget(&SavedFile::local(saved.clone()), &["other".into()])
            .unwrap()
            .is_empty());
        assert_eq!(
            forget(
                &SavedFile::local(saved.clone()),
                &["api".into(), "other".into()]
            )
            .unwrap(),
            ["api"]
        );
        let after = crate::load::ecosystem(&saved).unwrap_or_else(|e| panic!("{e}"));
        // The same definition (only its line in the file moved).
        let mut worker = before.apps[1].clone();
        worker.span = after.apps[0].span;
        assert_eq!(after.apps, [worker]);
        // No temporary file is left next to it.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);

        std::fs::write(&saved, "[[apps]\n").unwrap();
        let err = format!(
            "{:#}",
            forget(&SavedFile::local(saved.clone()), &["worker".into()]).unwrap_err()
        );
        assert!(err.contains(&saved.display().to_string()), "{err}");
    }
}

//! What makes the saved state (`pm2ctl save`) come back at every boot, and what undoes it
//! (`pm2ctl startup`, `pm2ctl unstartup`).
//!
//! `pm2 startup` prints a command that installs an init script running `pm2 resurrect`;
//! here systemd's own generator does that job, so `startup` checks that
//! `pm2ctl-generator` is where systemd runs generators (and says what is missing if not),
//! makes sure the config directory exists, turns boot start on, and `daemon-reload`s so the
//! generator runs now. For a user's manager it also enables lingering through
//! systemd-logind, so that manager (and the apps) start at boot without a login.
//! `unstartup` turns boot start off (and lingering, for a user) and keeps the saved file
//! unless `--delete-saved` is given. Always this machine: booting is set up where it boots.

use crate::boot::saved;
use crate::plan::Scope;
use crate::systemd::{self, Client};
use anyhow::{bail, Context, Result};
use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

/// The generator's file name in systemd's generator directories.
const GENERATOR: &str = "pm2ctl-generator";

/// systemd's generator directories for `scope`, in its order of precedence
/// (systemd.generator(7)).
pub fn generator_dirs(scope: Scope) -> Vec<PathBuf> {
    let kind = match scope {
        Scope::System => "system-generators",
        Scope::User => "user-generators",
    };
    [
        "/run/systemd",
        "/etc/systemd",
        "/usr/local/lib/systemd",
        "/usr/lib/systemd",
        "/lib/systemd",
    ]
    .iter()
    .map(|base| Path::new(base).join(kind))
    .collect()
}

/// The installed generator for `scope`: the first executable `pm2ctl-generator` in
/// systemd's generator directories.
fn installed_generator(scope: Scope) -> Option<PathBuf> {
    generator_dirs(scope)
        .into_iter()
        .map(|dir| dir.join(GENERATOR))
        .find(|path| {
            std::fs::metadata(path)
                .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// `startup`: checks the generator is installed, turns boot start on (a user's manager:
/// lingering too), runs the generator now and says what it will bring up.
pub fn startup(scope: Scope) -> Result<()> {
    let Some(generator) = installed_generator(scope) else {
        let dirs: Vec<String> = generator_dirs(scope)
            .iter()
            .map(|d| d.display().to_string())
            .collect();
        let built = std::env::current_exe()
            .ok()
            .and_then(|exe| Some(exe.parent()?.join(GENERATOR)))
            .filter(|p| p.exists())
            .map_or_else(|| GENERATOR.to_string(), |p| p.display().to_string());
        bail!(
            "{GENERATOR} is not installed where systemd runs generators (looked in {}): nothing \
             would bring the saved apps back at boot. Install the pm2ctl package, or as root: \
             `install -m 755 {built} /usr/local/lib/systemd/{}/`",
            dirs.join(", "),
            match scope {
                Scope::System => "system-generators",
                Scope::User => "user-generators",
            }
        );
    };
    println!("[PM2] {GENERATOR} found: {}", generator.display());

    let dir = saved::config_dir(scope)?;
    std::fs::create_dir_all(&dir)
        .with_context(|| format!("cannot create the config directory {}", dir.display()))?;
    let off = dir.join(saved::BOOT_OFF_FILE);
    match std::fs::remove_file(&off) {
        Ok(()) => println!(
            "[PM2] Boot start turned back on (removed {})",
            off.display()
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot remove {}", off.display())),
    }

    if scope == Scope::User {
        let uid = nix::unistd::getuid().as_raw();
        systemd::set_user_linger(uid, true)?;
        println!(
            "[PM2] Lingering enabled for uid {uid}: your systemd manager, and the saved apps, \
             start at boot without a login"
        );
    }

    reload(scope)?;
    print_saved(scope)
}

/// `unstartup`: boot start off (a user's manager: lingering too); the saved file is kept
/// unless `delete_saved`.
pub fn unstartup(scope: Scope, delete_saved: bool) -> Result<()> {
    let dir = saved::config_dir(scope)?;
    let file = dir.join(saved::SAVED_FILE);
    if delete_saved {
        match std::fs::remove_file(&file) {
            Ok(()) => println!("[PM2] Deleted the saved state {}", file.display()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot delete {}", file.display())),
        }
    } else {
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create the config directory {}", dir.display()))?;
        let off = dir.join(saved::BOOT_OFF_FILE);
        crate::safe_path::write_atomic(
            &off,
            "# Written by `pm2ctl unstartup`: pm2ctl-generator starts nothing at boot.\n\
             # `pm2ctl startup` removes this file.\n"
                .as_bytes(),
        )?;
        println!(
            "[PM2] Saved apps no longer start at boot; {} is kept (`pm2ctl startup` turns \
             boot start back on, `pm2ctl unstartup --delete-saved` deletes it)",
            file.display()
        );
    }
    // Before lingering goes: without it logind may stop the user's manager at once.
    reload(scope)?;
    if scope == Scope::User {
        let uid = nix::unistd::getuid().as_raw();
        systemd::set_user_linger(uid, false)?;
        println!(
            "[PM2] Lingering disabled for uid {uid}: your systemd manager starts at your login"
        );
    }
    Ok(())
}

/// `daemon-reload`, so the generator runs now with what changed. A user's manager that is
/// not running is no error: it runs the generator when it starts.
fn reload(scope: Scope) -> Result<()> {
    // Never another host: `startup` sets up this machine's boot.
    match Client::connect(&crate::host::Host::local(), scope) {
        Ok(client) => {
            client.daemon_reload()?;
            println!("[PM2] systemd reloaded: the generator ran with the saved state");
            Ok(())
        }
        Err(e) if scope == Scope::User => {
            println!(
                "[PM2] Your systemd manager is not reachable now ({e:#}); it runs the \
                 generator when it starts"
            );
            Ok(())
        }
        Err(e) => Err(e),
    }
}

/// What the generator will bring up at boot, from the saved file.
fn print_saved(scope: Scope) -> Result<()> {
    let file = saved::saved_file(scope)?;
    if !file.exists() {
        println!(
            "[PM2] Nothing saved yet ({} does not exist): `pm2ctl save` records what runs now",
            file.display()
        );
        return Ok(());
    }
    let eco = crate::load::ecosystem(&file)
        .map_err(anyhow::Error::new)
        .with_context(|| format!("the saved state {} does not load", file.display()))?;
    println!("[PM2] At boot, from {}:", file.display());
    let cpus = std::thread::available_parallelism()
        .map(|n| u32::try_from(n.get()).unwrap_or(u32::MAX))
        .unwrap_or(1);
    for app in &eco.apps {
        let count = crate::plan::instance_count(app.instances, cpus);
        if app.autostart {
            let s = if count == 1 { "" } else { "s" };
            println!("  {}: started, {count} instance{s}", app.name);
        } else {
            println!("  {}: saved stopped, not started", app.name);
        }
    }
    if eco.apps.is_empty() {
        println!("  (no app)");
    }
    Ok(())
}

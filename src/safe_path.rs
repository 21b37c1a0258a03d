//! Paths pm2ctl writes through (log files, the state directory) must not be redirected by
//! another user. In a world-writable directory such as /tmp or /var/tmp anyone can plant a
//! symlink at a name pm2ctl will use and make it append an app's output to, or write the
//! state (app environments, secrets) into, a place of their choosing. So no component of such
//! a path that sits in a world-writable directory may be a symlink; elsewhere a symlink is
//! its owner's choice (e.g. logs on a shared volume) and is followed.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The first component of `path` that is a symlink inside a world-writable directory, if
/// any. Components that do not exist yet are fine (they will be created, not followed).
pub fn symlink_in_world_writable(path: &Path) -> Option<PathBuf> {
    let components: Vec<&Path> = path.ancestors().collect();
    // From the top down, so the message names the outermost culprit.
    for a in components.into_iter().rev() {
        let Some(parent) = a.parent().filter(|p| !p.as_os_str().is_empty()) else {
            continue;
        };
        let world_writable = std::fs::metadata(parent)
            .is_ok_and(|m| m.is_dir() && m.permissions().mode() & 0o002 != 0);
        if world_writable && std::fs::symlink_metadata(a).is_ok_and(|m| m.file_type().is_symlink())
        {
            return Some(a.to_path_buf());
        }
    }
    None
}

/// A directory pm2ctl keeps private data in must be this user's and writable by no one else;
/// one another user made (say in /tmp, before pm2ctl first ran) is refused, not used.
pub fn check_private_dir(dir: &Path) -> Result<(), String> {
    if let Some(link) = symlink_in_world_writable(dir) {
        return Err(format!(
            "{} is a symlink in a world-writable directory; refusing to follow it",
            link.display()
        ));
    }
    let meta = std::fs::metadata(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let me = nix::unistd::geteuid().as_raw();
    if meta.uid() != me {
        return Err(format!(
            "{} belongs to uid {}, not to this user ({me}); refusing to keep private data there",
            dir.display(),
            meta.uid()
        ));
    }
    if meta.permissions().mode() & 0o022 != 0 {
        return Err(format!(
            "{} is writable by other users (mode {:o}); refusing to keep private data there",
            dir.display(),
            meta.permissions().mode() & 0o7777
        ));
    }
    Ok(())
}

/// `replace_file`, creating the directory first if needed, with the path in its errors.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use anyhow::Context;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    replace_file(path, bytes).with_context(|| format!("cannot write {}", path.display()))
}

/// Replaces `path` with `bytes` atomically: a reader (or a crash) sees the old file or the
/// new one, never half of one. The bytes go to a temporary file beside it (`.NAME.PID.tmp`,
/// mode 0600, created new and never through a symlink: a leftover of a killed pm2ctl with the
/// same pid is removed first), which is fsynced and renamed over `path`, and the directory
/// is fsynced.
pub fn replace_file(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.{}.tmp", std::process::id()));
    let write = || -> std::io::Result<()> {
        match std::fs::remove_file(&tmp) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        let mut file = std::fs::OpenOptions::new()
            .create_new(true)
            .write(true)
            .mode(0o600)
            .custom_flags(nix::libc::O_NOFOLLOW)
            .open(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)?;
        std::fs::File::open(dir)?.sync_all()
    };
    write().inspect_err(|_| {
        let _ = std::fs::remove_file(&tmp);
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replaced_file_is_whole_private_and_alone() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join("state.json");
        std::fs::write(&path, "old").expect("write");
        // A leftover temporary file of a killed pm2ctl with this pid: replaced, not followed.
        let tmp = dir
            .path()
            .join(format!(".state.json.{}.tmp", std::process::id()));
        let elsewhere = dir.path().join("elsewhere");
        std::os::unix::fs::symlink(&elsewhere, &tmp).expect("symlink");
        replace_file(&path, b"new").expect("replace");
        assert_eq!(std::fs::read_to_string(&path).ok().as_deref(), Some("new"));
        let mode = std::fs::metadata(&path).map(|m| m.permissions().mode() & 0o777);
        assert_eq!(mode.ok(), Some(0o600));
        assert!(!elsewhere.exists());
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .expect("list")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(names, ["state.json"]);
    }

    fn world_writable_dir() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o1777)).unwrap();
        dir
    }

    #[test]
    fn a_symlinked_directory_in_a_world_writable_one_is_found() {
        let tmp = world_writable_dir();
        let elsewhere = tempfile::tempdir().unwrap();
        let link = tmp.path().join("logs");
        std::os::unix::fs::symlink(elsewhere.path(), &link).unwrap();
        assert_eq!(
            symlink_in_world_writable(&link.join("deep/app.log")),
            Some(link.clone())
        );
        // Not yet existing components are fine, and so is a symlink in a private directory.
        assert_eq!(
            symlink_in_world_writable(&tmp.path().join("new/app.log")),
            None
        );
        let private = tempfile::tempdir().unwrap();
        let own_link = private.path().join("logs");
        std::os::unix::fs::symlink(elsewhere.path(), &own_link).unwrap();
        assert_eq!(symlink_in_world_writable(&own_link.join("app.log")), None);
    }

    #[test]
    fn a_private_directory_is_ours_and_closed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        check_private_dir(dir.path()).unwrap();

        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let err = check_private_dir(dir.path()).unwrap_err();
        assert!(err.contains("writable by other users"), "{err}");

        let tmp = world_writable_dir();
        let link = tmp.path().join("state");
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        std::os::unix::fs::symlink(dir.path(), &link).unwrap();
        let err = check_private_dir(&link).unwrap_err();
        assert!(
            err.contains("symlink in a world-writable directory"),
            "{err}"
        );

        if nix::unistd::geteuid().is_root() {
            let theirs = tempfile::tempdir().unwrap();
            std::fs::set_permissions(theirs.path(), std::fs::Permissions::from_mode(0o700))
                .unwrap();
            nix::unistd::chown(theirs.path(), Some(nix::unistd::Uid::from_raw(65534)), None)
                .unwrap();
            let err = check_private_dir(theirs.path()).unwrap_err();
            assert!(err.contains("belongs to uid 65534"), "{err}");
        }
    }
}

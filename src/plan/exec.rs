//! The command line of an app: which interpreter PM2 would pick, and the
//! absolute paths systemd needs (it searches a fixed PATH, not the caller's).

use super::paths::{normalize, resolve as resolve_path, to_utf8};
use super::{FileKind, HostFacts, Resolver};
use crate::ecosystem::{App, Interpreter};
use crate::unit::ExecCommand;
use std::path::{Path, PathBuf};

/// What kind of runtime executes the app; decides the Node-only extras.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Runtime {
    /// `node` itself: gets `--enable-source-maps` and the shim.
    Node,
    /// A Node-based launcher (`ts-node`): gets the shim through NODE_OPTIONS.
    NodeLauncher,
    /// Bun: PM2 treats it as cluster-capable, but it has no `--require` shim.
    Bun,
    Python,
    /// Anything else, including scripts run directly.
    Other,
}

impl Runtime {
    /// Node processes that load the shim (socket adoption, `process.send`).
    pub fn loads_node_shim(self) -> bool {
        matches!(self, Runtime::Node | Runtime::NodeLauncher)
    }

    /// PM2 defaults to cluster mode only for node and bun.
    pub fn cluster_capable(self) -> bool {
        matches!(self, Runtime::Node | Runtime::NodeLauncher | Runtime::Bun)
    }
}

/// The resolved command of one app.
#[derive(Debug, Clone, PartialEq)]
pub struct AppCommand {
    pub exec: ExecCommand,
    pub runtime: Runtime,
    /// The absolute working directory.
    pub cwd: PathBuf,
    /// The script file an interpreter loads (`None` when the command is the script itself,
    /// or a shell line).
    pub script: Option<PathBuf>,
}

/// The working directory: `cwd` against the file's directory, or that directory.
pub fn working_directory(app: &App, base_dir: &Path, home: &Path) -> PathBuf {
    match &app.cwd {
        Some(cwd) => resolve_path(cwd, base_dir, home),
        None => normalize(base_dir),
    }
}

/// Resolves script, interpreter and arguments to an `ExecStart` entry.
pub fn resolve(
    app: &App,
    base_dir: &Path,
    host: &HostFacts,
    resolver: &dyn Resolver,
) -> Result<AppCommand, String> {
    let cwd = working_directory(app, base_dir, &host.home);
    let script = resolve_script(app, &cwd, host, resolver)?;

    let (script_path, interpreter) = match script {
        // PM2 runs a script containing spaces that is not a file through bash.
        Script::ShellLine(line) => {
            let bash = which(resolver, host, "bash")?;
            let mut argv = vec![bash.clone(), "-c".to_string(), line];
            if !app.args.is_empty() {
                // `bash -c LINE NAME ARGS…`: the args are "$@" inside LINE.
                argv.push(app.name.clone());
                argv.extend(app.args.iter().cloned());
            }
            let exec = ExecCommand {
                path: bash,
                argv,
                ignore_failure: false,
            };
            return Ok(AppCommand {
                exec,
                runtime: Runtime::Other,
                cwd,
                script: None,
            });
        }
        Script::File { path, kind } => {
            let interpreter = choose_interpreter(app, &path, kind, &cwd, host, resolver)?;
            (to_utf8(&path, "script")?, interpreter)
        }
    };

    let script = interpreter.is_some().then(|| PathBuf::from(&script_path));
    let (exec, runtime) = match interpreter {
        None => {
            let mut argv = vec![script_path.clone()];
            argv.extend(app.args.iter().cloned());
            let exec = ExecCommand {
                path: script_path,
                argv,
                ignore_failure: false,
            };
            (exec, Runtime::Other)
        }
        Some((interp, runtime)) => {
            let mut argv = vec![interp.clone()];
            argv.extend(app.node_args.iter().cloned());
            let source_maps = "--enable-source-maps";
            if runtime == Runtime::Node
                && app.source_map_support
                && !app.node_args.iter().any(|a| a == source_maps)
            {
                argv.push(source_maps.to_string());
            }
            argv.push(script_path);
            argv.extend(app.args.iter().cloned());
            let exec = ExecCommand {
                path: interp,
                argv,
                ignore_failure: false,
            };
            (exec, runtime)
        }
    };
    Ok(AppCommand {
        exec,
        runtime,
        cwd,
        script,
    })
}

enum Script {
    File { path: PathBuf, kind: FileKind },
    ShellLine(String),
}

/// PM2's rule: the script against the working directory; if that is not a file
/// and the name has no slash, `$PATH`; a string with spaces becomes `bash -c`.
fn resolve_script(
    app: &App,
    cwd: &Path,
    host: &HostFacts,
    resolver: &dyn Resolver,
) -> Result<Script, String> {
    let candidate = normalize(&cwd.join(&app.script));
    match resolver.file_kind(&candidate) {
        kind @ (FileKind::Executable | FileKind::Other) => {
            return Ok(Script::File {
                path: candidate,
                kind,
            })
        }
        FileKind::Directory => {
            return Err(format!(
                "script `{}` is a directory ({})",
                app.script,
                candidate.display()
            ))
        }
        FileKind::Missing => {}
    }
    if app.script.chars().any(char::is_whitespace) {
        return Ok(Script::ShellLine(app.script.clone()));
    }
    if !app.script.contains('/') {
        if let Some(found) = resolver.which(&app.script, &host.path) {
            let kind = resolver.file_kind(&found);
            return Ok(Script::File { path: found, kind });
        }
    }
    Err(format!(
        "script `{}` not found: {} does not exist{}",
        app.script,
        candidate.display(),
        if app.script.contains('/') {
            ""
        } else {
            " and it is not on PATH"
        }
    ))
}

/// `None` means the script runs directly.
fn choose_interpreter(
    app: &App,
    script: &Path,
    kind: FileKind,
    cwd: &Path,
    host: &HostFacts,
    resolver: &dyn Resolver,
) -> Result<Option<(String, Runtime)>, String> {
    match &app.interpreter {
        Interpreter::None => Ok(None),
        Interpreter::Named(name) => {
            // A path (`./venv/bin/python`, `~/.nvm/…/node`) is taken as written, relative
            // to the working directory; a bare name is looked up on the caller's PATH.
            let path = if name.contains('/') {
                to_utf8(
                    &resolve_path(Path::new(name), cwd, &host.home),
                    "interpreter",
                )?
            } else {
                which(resolver, host, name)?
            };
            Ok(Some((path.clone(), runtime_of(&path))))
        }
        Interpreter::Auto => {
            let ext = script
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_ascii_lowercase)
                .unwrap_or_default();
            let candidates: &[&str] = match ext.as_str() {
                "js" | "cjs" | "mjs" => &["node"],
                "sh" => &["bash"],
                "py" => &["python3", "python"],
                "rb" => &["ruby"],
                "php" => &["php"],
                "pl" => &["perl"],
                "coffee" => &["coffee"],
                "ls" => &["lsc"],
                "ts" | "tsx" | "mts" | "cts" => &["bun", "ts-node"],
                // An executable (ELF or `#!`) runs directly; PM2 would hand a
                // `#!` script to node, which is never what its author meant.
                _ if kind == FileKind::Executable => return Ok(None),
                _ => &["node"],
            };
            for c in candidates {
                if let Some(p) = resolver.which(c, &host.path) {
                    let p = to_utf8(&p, "interpreter")?;
                    return Ok(Some((p.clone(), runtime_of(&p))));
                }
            }
            Err(format!(
                "no interpreter for `{}`: {} not found on PATH ({}); set `interpreter`",
                script.display(),
                candidates.join(" or "),
                host.path
            ))
        }
    }
}

fn which(resolver: &dyn Resolver, host: &HostFacts, name: &str) -> Result<String, String> {
    match resolver.which(name, &host.path) {
        Some(p) => to_utf8(&p, "interpreter"),
        None => Err(format!("`{name}` not found on PATH ({})", host.path)),
    }
}

fn runtime_of(interpreter: &str) -> Runtime {
    let base = Path::new(interpreter)
        .file_name()
        .and_then(|f| f.to_str())
        .unwrap_or("");
    if base == "node" || base == "nodejs" || base.starts_with("node-") {
        Runtime::Node
    } else if base == "ts-node" {
        Runtime::NodeLauncher
    } else if base == "bun" {
        Runtime::Bun
    } else if base.starts_with("python") {
        Runtime::Python
    } else {
        Runtime::Other
    }
}

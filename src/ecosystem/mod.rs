//! Ecosystem files: loading (TOML, PM2's JSON and JS), validation with spans, and
//! the validated model. `load` is the only entry point the rest of pm2ctl needs;
//! `to_toml` writes a model back (`pm2ctl import`).
//!
//! The flow: text ─▶ a format-neutral tree with positions (`toml_format`,
//! `js_format`) ─▶ one validator (`validate`) walking the option table (`schema`)
//! ─▶ the model, or every problem found. `--env NAME` is not applied here: every
//! `env_<name>` table is kept in `App::env_by_name` (and `deploy.<name>.env` in
//! `Ecosystem::deploy`), and `plan` overlays the one selected, so one loaded file
//! serves every environment.

mod convert;
pub mod cron;
pub mod docs;
mod js_format;
pub mod model;
pub mod pm2_dump;
mod schema;
mod toml_format;
mod toml_write;
mod tree;
pub mod units;
mod validate;
mod yaml_format;

pub use convert::check_name;
pub use js_format::{NoNode, NodeCall, NodeRun, RunNode, MAX_NODE_OUTPUT, NODE_TIMEOUT};
pub use model::*;
pub use toml_write::{apps_toml, to_toml};

use std::fmt;
use std::path::{Path, PathBuf};

/// One problem found in a user's file. Rendered as
/// `FILE:LINE:COL: error: KEY: MESSAGE` plus an optional `help:` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub file: PathBuf,
    pub span: Option<Span>,
    /// Dotted path of the offending key, e.g. `apps[1].instances` (`apps[1]` is the
    /// second `[[apps]]` table, 0-based as in TOML arrays).
    pub key: Option<String>,
    pub message: String,
    /// e.g. "did you mean `max_memory_restart`?"
    pub help: Option<String>,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.render(f, "error")
    }
}

/// A diagnostic that does not stop the file from loading, rendered `FILE:LINE:COL:
/// warning: KEY: MESSAGE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning(pub Diagnostic);

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.render(f, "warning")
    }
}

impl Diagnostic {
    fn render(&self, f: &mut fmt::Formatter<'_>, severity: &str) -> fmt::Result {
        write!(f, "{}", self.file.display())?;
        if let Some(s) = self.span {
            write!(f, ":{}:{}", s.line, s.column)?;
        }
        write!(f, ": {severity}: ")?;
        if let Some(k) = &self.key {
            write!(f, "{k}: ")?;
        }
        write!(f, "{}", self.message)?;
        if let Some(h) = &self.help {
            write!(f, "\n  help: {h}")?;
        }
        Ok(())
    }
}

/// Every problem found in a file, not just the first. `pm2ctl` exits with code 2.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadError {
    pub diagnostics: Vec<Diagnostic>,
}

impl fmt::Display for LoadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, d) in self.diagnostics.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{d}")?;
        }
        Ok(())
    }
}

impl std::error::Error for LoadError {}

/// Files larger than this are refused before parsing: no ecosystem file is near it,
/// and it bounds the memory and time a mistaken path (a log, a binary) can cost.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// The file formats `load` understands, chosen from the file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Toml,
    /// PM2's `.json` (strict JSON first; PM2 evaluates it as JavaScript, so node is the fallback).
    Json,
    /// `.js`, `.cjs`, `.mjs`: evaluated by `node`.
    JavaScript,
    /// PM2's `.yml` / `.yaml`.
    Yaml,
}

impl Format {
    pub fn of(path: &Path) -> Result<Format, String> {
        let ext = path
            .extension()
            .map(|e| e.to_string_lossy().to_ascii_lowercase())
            .unwrap_or_default();
        match ext.as_str() {
            "json" => Ok(Format::Json),
            "js" | "cjs" | "mjs" => Ok(Format::JavaScript),
            "yml" | "yaml" => Ok(Format::Yaml),
            // pm2ctl's own format; any other name (e.g. `apps.conf`) is read as TOML.
            _ => Ok(Format::Toml),
        }
    }
}

/// Validates `text` as the content of `path` in `format`, for the formats read without
/// running anything (TOML, YAML, strict JSON): JavaScript is refused as if node were
/// missing. `crate::load` reads files and runs node for PM2's JavaScript ones.
pub fn load_text(path: &Path, text: &str, format: Format) -> Result<Ecosystem, LoadError> {
    load_text_with_warnings(path, text, format, &NoNode).map(|(eco, _)| eco)
}

/// Validates `text` as the content of `path` in `format`, with the problems that did not
/// stop it from loading (unknown keys in PM2's own formats), for the user to see.
/// JavaScript (and PM2's non-strict JSON) is evaluated from the file at `path` by `node`.
pub fn load_text_with_warnings(
    path: &Path,
    text: &str,
    format: Format,
    node: &dyn RunNode,
) -> Result<(Ecosystem, Vec<Warning>), LoadError> {
    let root = match format {
        Format::Toml => toml_format::parse(text).map_err(|errors| LoadError {
            diagnostics: errors
                .into_iter()
                .map(|e| Diagnostic {
                    file: path.to_path_buf(),
                    span: e.span,
                    key: None,
                    message: format!("TOML syntax error: {}", e.message),
                    help: None,
                })
                .collect(),
        })?,
        Format::Json | Format::JavaScript => {
            js_format::parse(path, text, format, node).map_err(|(p, span)| single(path, p, span))?
        }
        Format::Yaml => yaml_format::parse(text).map_err(|(p, span)| single(path, p, span))?,
    };
    validate_tree(path, &root, format)
}

/// Whether `path` is PM2's process dump (`dump.pm2`, `dump.pm2.bak`, any `*.pm2`).
pub fn is_pm2_dump(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    name.ends_with(".pm2") || name.ends_with(".pm2.bak")
}

/// Reads PM2's process dump (`text`, the content of `path`) as the ecosystem that starts
/// the same apps (see `pm2_dump`), validated as PM2's own files are.
pub fn load_pm2_dump_text(path: &Path, text: &str) -> Result<(Ecosystem, Vec<Warning>), LoadError> {
    let json =
        pm2_dump::ecosystem_json(text).map_err(|m| single(path, convert::Problem::new(m), None))?;
    // Positions would be the generated text's: the messages name keys only.
    let root = js_format::json_tree(&json.to_string(), false)
        .map_err(|(p, span)| single(path, p, span))?;
    validate_tree(path, &root, Format::Json)
}

fn single(path: &Path, problem: convert::Problem, span: Option<Span>) -> LoadError {
    LoadError {
        diagnostics: vec![Diagnostic {
            file: path.to_path_buf(),
            span,
            key: None,
            message: problem.message,
            help: problem.help,
        }],
    }
}

fn validate_tree(
    path: &Path,
    root: &tree::Node,
    format: Format,
) -> Result<(Ecosystem, Vec<Warning>), LoadError> {
    let layout = match format {
        Format::Toml => validate::Layout::Toml,
        _ => validate::Layout::Pm2,
    };
    let mut ck = validate::Checker::new(path);
    ck.unknown_keys_warn = layout == validate::Layout::Pm2;
    match validate::ecosystem(root, layout, &mut ck, path, &base_dir_of(path)) {
        Some(eco) if ck.diagnostics.is_empty() => {
            let mut warnings = ck.warnings;
            warnings.sort_by_key(|d| d.span.map_or((usize::MAX, 0), |s| (s.line, s.column)));
            Ok((eco, warnings.into_iter().map(Warning).collect()))
        }
        _ => {
            let mut diagnostics = ck.diagnostics;
            // Reading order: by position, problems without one last.
            diagnostics.sort_by_key(|d| d.span.map_or((usize::MAX, 0), |s| (s.line, s.column)));
            Err(LoadError { diagnostics })
        }
    }
}

fn base_dir_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// An ecosystem file's bytes (at most [`MAX_FILE_BYTES`] + 1 of them read) as UTF-8 text,
/// refusing huge files and binary content.
pub fn text_of(path: &Path, mut bytes: Vec<u8>) -> Result<String, LoadError> {
    use convert::Problem;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(single(
            path,
            Problem::new(format!(
                "the file is larger than {} KiB, the limit for an ecosystem file",
                MAX_FILE_BYTES / 1024
            ))
            .with_help("is this the right file?"),
            None,
        ));
    }
    // A UTF-8 byte order mark (left by some Windows editors) is not content.
    if bytes.starts_with(b"\xef\xbb\xbf") {
        bytes.drain(..3);
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        let at = e.utf8_error().valid_up_to();
        let prefix = String::from_utf8_lossy(&e.as_bytes()[..at]).into_owned();
        let span = tree::LineIndex::new(&prefix).span(prefix.len());
        single(
            path,
            Problem::new("the file is not valid UTF-8"),
            Some(span),
        )
    })?;
    if let Some(at) = text.find('\0') {
        let span = tree::LineIndex::new(&text).span(at);
        return Err(single(
            path,
            Problem::new("the file contains a NUL byte; is it a binary file?"),
            Some(span),
        ));
    }
    Ok(text)
}

/// A file that could not be read at all, as a diagnostic of it.
pub fn unreadable(path: &Path, what: &str, e: &std::io::Error) -> LoadError {
    single(path, convert::Problem::new(format!("{what}: {e}")), None)
}

/// A file whose name says no format, as a diagnostic of it.
pub fn format_of(path: &Path) -> Result<Format, LoadError> {
    Format::of(path).map_err(|m| single(path, convert::Problem::new(m), None))
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod proptests;

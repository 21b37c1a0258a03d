//! Ecosystem files: loading (TOML, PM2's JSON and JS), validation with spans, and
//! the validated model. `load` is the only entry point the rest of pm2ctl needs.

pub mod model;

pub use model::*;

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
        write!(f, "{}", self.file.display())?;
        if let Some(s) = self.span {
            write!(f, ":{}:{}", s.line, s.column)?;
        }
        write!(f, ": error: ")?;
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

/// Reads and validates an ecosystem file, choosing the format from its name.
pub fn load(path: &Path) -> Result<Ecosystem, LoadError> {
    Err(LoadError {
        diagnostics: vec![Diagnostic {
            file: path.to_path_buf(),
            span: None,
            key: None,
            message: "ecosystem loading is not implemented yet".into(),
            help: None,
        }],
    })
}

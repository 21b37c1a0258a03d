//! `pm2ctl validate FILE`: load an ecosystem file and report every problem in it.

use crate::ecosystem::Ecosystem;
use anyhow::Result;
use std::path::Path;
use std::process::ExitCode;

/// Exit 0 with a one-line summary on stdout, or 2 with every diagnostic on stderr.
pub fn run(file: &Path) -> Result<ExitCode> {
    match super::load_file(file) {
        Ok(eco) => {
            for note in notes(&eco) {
                eprintln!("{note}");
            }
            println!("{}", summary(&eco));
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{e}");
            let n = e.diagnostics.len();
            eprintln!(
                "{}: {n} problem{} found",
                file.display(),
                if n == 1 { "" } else { "s" }
            );
            Ok(ExitCode::from(2))
        }
    }
}

/// `ecosystem.toml: ok, 2 apps (api, worker), 1 deploy target (production)`.
pub fn summary(eco: &Ecosystem) -> String {
    let names: Vec<&str> = eco.apps.iter().map(|a| a.name.as_str()).collect();
    let mut line = format!(
        "{}: ok, {} app{} ({})",
        eco.source.display(),
        names.len(),
        if names.len() == 1 { "" } else { "s" },
        names.join(", ")
    );
    if !eco.deploy.is_empty() {
        let targets: Vec<&str> = eco.deploy.keys().map(String::as_str).collect();
        line.push_str(&format!(
            ", {} deploy target{} ({})",
            targets.len(),
            if targets.len() == 1 { "" } else { "s" },
            targets.join(", ")
        ));
    }
    line
}

/// PM2 options that were accepted but have no effect under systemd, one note per app.
pub fn notes(eco: &Ecosystem) -> Vec<String> {
    eco.apps
        .iter()
        .filter(|a| !a.ignored_options.is_empty())
        .map(|a| {
            format!(
                "{}: note: app {:?}: ignored PM2 options with no effect here: {}",
                eco.source.display(),
                a.name,
                a.ignored_options.join(", ")
            )
        })
        .collect()
}

//! `pm2ctl __generate man|completions DIR`: the man pages and shell completions the packages
//! ship, rendered from the CLI definition the binary itself parses with, so they cannot drift
//! from it. packaging/build runs it on the freshly built binary.
//!
//! The verb is recognised before the CLI is parsed and is not part of the CLI definition, so
//! no help text, man page or completion mentions it. Hidden verbs of the CLI (such as
//! `exec-wrap`, the ExecStart of app units) are left out of the completions here, because
//! clap_complete offers hidden subcommands and options as readily as visible ones.

use anyhow::{Context, Result};
use clap::Parser;
use clap_complete::Shell;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

/// The first argument that selects this entry point.
pub const VERB: &str = "__generate";

#[derive(Parser, Debug)]
#[command(
    name = "pm2ctl __generate",
    about = "Write pm2ctl's man pages or shell completions into DIR (for building packages)"
)]
struct Args {
    kind: Kind,
    dir: PathBuf,
}

/// Runs `pm2ctl __generate KIND DIR` for `cli`, the definition of the whole CLI.
pub fn main(cli: clap::Command) -> ExitCode {
    let args = Args::parse_from(std::env::args_os().skip(1));
    match generate(args.kind, cli, &args.dir) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("pm2ctl __generate: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// What `__generate` writes.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `pm2ctl.1` and one `pm2ctl-<verb>.1` per visible subcommand (roff, uncompressed).
    Man,
    /// `pm2ctl.bash`, `_pm2ctl` (zsh) and `pm2ctl.fish`.
    Completions,
}

/// The completion file for each shell pm2ctl ships one for, under the name its loader expects
/// once installed in that shell's vendor directory.
pub const COMPLETIONS: [(Shell, &str); 3] = [
    (Shell::Bash, "pm2ctl.bash"),
    (Shell::Zsh, "_pm2ctl"),
    (Shell::Fish, "pm2ctl.fish"),
];

/// Writes the files of `kind` for `cmd` into `dir` (created if missing) and returns their paths.
pub fn generate(kind: Kind, cmd: clap::Command, dir: &Path) -> Result<Vec<PathBuf>> {
    fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    match kind {
        Kind::Man => man_pages(cmd, dir),
        Kind::Completions => completions(cmd, dir),
    }
}

fn man_pages(cmd: clap::Command, dir: &Path) -> Result<Vec<PathBuf>> {
    clap_mangen::generate_to(cmd.clone(), dir)
        .with_context(|| format!("cannot write man pages into {}", dir.display()))?;
    // The top page again, with what the CLI definition cannot say.
    let top = dir.join(format!("{}.1", cmd.get_name()));
    let version = cmd.get_version().unwrap_or_default().to_string();
    let page = top_page(cmd).context("cannot render the man page")?;
    fs::write(&top, page).with_context(|| format!("cannot write {}", top.display()))?;
    // The file format and the generator, which no verb's definition describes.
    for (name, page) in [
        ("pm2ctl-ecosystem.5", ecosystem_page(&version)),
        ("pm2ctl-generator.8", generator_page(&version)),
    ] {
        let path = dir.join(name);
        fs::write(&path, page).with_context(|| format!("cannot write {}", path.display()))?;
    }
    let mut pages: Vec<PathBuf> = list(dir)?
        .into_iter()
        .filter(|p| {
            p.extension()
                .is_some_and(|e| e == "1" || e == "5" || e == "8")
        })
        .collect();
    pages.sort();
    Ok(pages)
}

/// The environment variables pm2ctl reads, for ENVIRONMENT in pm2ctl(1).
const ENVIRONMENT: [(&str, &str); 4] = [
    (
        crate::host::installed::NODE_SHIM_VAR,
        "The Node shim that node apps are started with (--require). Default: the installed \
         one, /usr/lib/pm2ctl/pm2ctl-shim.js.",
    ),
    (
        crate::load::NODE_VAR,
        "The node binary that evaluates PM2's JavaScript ecosystem files (.js, .cjs, .mjs, and \
         .json that is not strict JSON). Default: node, looked up in PATH.",
    ),
    (
        crate::state::STATE_DIR_VAR,
        "Where pm2ctl keeps what systemd cannot hold for it (stopped apps, ids, the units each \
         app runs). Default: /var/lib/pm2ctl for the system manager, $XDG_STATE_HOME/pm2ctl \
         (~/.local/state/pm2ctl) for a user's manager.",
    ),
    (
        crate::logs::diagnostics::FILTER_VAR,
        "Which of pm2ctl's own diagnostics to show, as a tracing EnvFilter (default: warn). \
         They go to stderr on a terminal and to the journal otherwise.",
    ),
];

/// The files pm2ctl uses, for FILES in pm2ctl(1).
const FILES: [(&str, &str); 3] = [
    (
        "/var/lib/pm2ctl/",
        "The state for the system manager, root only (created by systemd-tmpfiles from \
         /usr/lib/tmpfiles.d/pm2ctl.conf).",
    ),
    ("~/.local/state/pm2ctl/", "The state for a user's manager."),
    (
        crate::host::installed::NODE_SHIM_INSTALLED,
        "The Node shim: socket activation for cluster apps, process.send('ready') as READY=1.",
    ),
];

/// pm2ctl(1): clap_mangen's page with ENVIRONMENT, FILES and SEE ALSO before VERSION.
fn top_page(cmd: clap::Command) -> Result<String> {
    use roff::{roman, Roff};
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut page)?;
    let mut page = String::from_utf8(page).context("the man page is not UTF-8")?;

    let mut extra = Roff::new();
    definitions(&mut extra, "ENVIRONMENT", &ENVIRONMENT);
    definitions(&mut extra, "FILES", &FILES);
    extra.control("SH", ["SEE ALSO"]);
    extra.text([roman(
        "systemctl(1), journalctl(1), systemd.service(5), systemd.resource-control(5), \
         systemd-tmpfiles(8)",
    )]);
    // Every rendering starts with the same preamble; the page has it already.
    let preamble = Roff::new().render();
    let extra = extra.render();
    let extra = extra.strip_prefix(&preamble).unwrap_or(&extra);
    match page.find("\n.SH VERSION") {
        Some(at) => page.insert_str(at + 1, extra),
        None => page.push_str(extra),
    }
    Ok(page)
}

/// A section of NAME, then what it is, entries (ENVIRONMENT, FILES).
fn definitions(page: &mut roff::Roff, title: &str, entries: &[(&str, &str)]) {
    page.control("SH", [title]);
    for (name, what) in entries {
        page.control("TP", []);
        page.text([roff::bold(*name)]);
        page.text([roff::roman(*what)]);
    }
}

/// A paragraph of plain text.
fn para(page: &mut roff::Roff, text: &str) {
    page.control("PP", []);
    page.text([roff::roman(text)]);
}

/// `TITLE(SECTION)`'s header and NAME.
fn header(title: &str, section: &str, version: &str, name: &str, what: &str) -> roff::Roff {
    let mut page = roff::Roff::new();
    let upper = title.to_uppercase();
    let source = format!("pm2ctl {version}");
    page.control("TH", [upper.as_str(), section, "", source.as_str()]);
    page.control("SH", ["NAME"]);
    page.text([roff::roman(format!("{name} - {what}"))]);
    page
}

/// One option of the loader's table: its keys, then type, default, what it becomes under
/// systemd and an example.
fn option_entry(page: &mut roff::Roff, option: &crate::ecosystem::docs::Documented) {
    use roff::{bold, italic, line_break, roman};
    page.control("TP", []);
    let mut names = vec![bold(option.key)];
    if !option.aliases.is_empty() {
        names.push(roman(format!(" (also {})", option.aliases.join(", "))));
    }
    page.text(names);
    let Some(doc) = option.doc else {
        // The tests refuse an undocumented option; a page is still written.
        page.text([roman("Undocumented.")]);
        return;
    };
    page.text([roman(doc.text)]);
    page.control("RS", []);
    page.text([
        italic("Type: "),
        roman(doc.kind),
        line_break(),
        italic("Default: "),
        roman(doc.default),
        line_break(),
        italic("systemd: "),
        roman(doc.systemd),
        line_break(),
        italic("Example: "),
        bold(doc.example),
    ]);
    page.control("RE", []);
}

/// pm2ctl-ecosystem(5): the file format, every option from the loader's own tables.
pub fn ecosystem_page(version: &str) -> String {
    use crate::ecosystem::docs;
    let mut page = header(
        "pm2ctl-ecosystem",
        "5",
        version,
        "pm2ctl-ecosystem",
        "the ecosystem file pm2ctl applies: PM2's options, in TOML",
    );
    page.control("SH", ["SYNOPSIS"]);
    page.text([
        roff::bold("ecosystem.toml"),
        roff::roman(", ecosystem.config.json, ecosystem.config.js"),
    ]);
    page.control("SH", ["DESCRIPTION"]);
    para(&mut page, "An ecosystem file lists apps, each an [[apps]] table, and optionally [deploy.<name>] tables. Options keep PM2's names and meanings, with TOML's types; PM2's aliases and the camelCase form of every key are accepted. Unknown keys are errors, with a \"did you mean\"; PM2 options that mean nothing under systemd are accepted and listed by pm2ctl validate.");
    para(&mut page, "Sizes take PM2's \"300M\" and \"1G\" (1024-based; a bare number is bytes); durations \"500ms\", \"10s\", \"5m\", \"1h\" (a bare number is milliseconds). A relative cwd is resolved against the file's directory, and script against cwd, so a file means the same from a shell, from cron and at boot.");
    para(&mut page, "PM2's own files load too: ecosystem.config.json as strict JSON, ecosystem.config.js, .cjs and .mjs through node. pm2ctl import converts one to TOML.");
    para(&mut page, "Before any unit is touched, pm2ctl plan, apply, start and resurrect check that each app's account exists and can reach its script, interpreter, working directory, the Node shim and the directories of its log files; otherwise they exit 2 naming the app, the account and the directory in the way.");
    page.control("SH", ["APP OPTIONS"]);
    for option in docs::app_options().iter().filter(|o| !o.ignored) {
        option_entry(&mut page, option);
    }
    page.control("TP", []);
    page.text([roff::bold("env_<name>")]);
    page.text([roff::roman(
        "A table of variables added to env with --env <name> (env_production).",
    )]);
    page.control("SH", ["ACCEPTED WITHOUT EFFECT"]);
    let ignored: Vec<&str> = docs::app_options()
        .iter()
        .filter(|o| o.ignored)
        .map(|o| o.key)
        .collect();
    para(&mut page, &format!("These PM2 options are accepted so that PM2 files load, and have no effect under systemd: {}.", ignored.join(", ")));
    page.control("SH", ["DEPLOY OPTIONS"]);
    para(&mut page, "Keys of a [deploy.<name>] table, for pm2ctl deploy; host, ref, repo and path are required.");
    for option in docs::deploy_options() {
        option_entry(&mut page, &option);
    }
    page.control("SH", ["EXAMPLE"]);
    page.control("EX", []);
    for line in include_str!("../../examples/ecosystem.toml").lines() {
        page.text([roff::roman(line)]);
        page.control("br", []);
    }
    page.control("EE", []);
    page.control("SH", ["SEE ALSO"]);
    page.text([roff::roman("pm2ctl(1), pm2ctl-plan(1), pm2ctl-apply(1), pm2ctl-generator(8), systemd.exec(5), systemd.service(5), systemd.resource-control(5)")]);
    page.render()
}

/// pm2ctl-generator(8): what brings saved apps back at boot.
pub fn generator_page(version: &str) -> String {
    let mut page = header(
        "pm2ctl-generator",
        "8",
        version,
        "pm2ctl-generator",
        "systemd generator that brings pm2ctl's saved apps back at boot",
    );
    page.control("SH", ["SYNOPSIS"]);
    page.text([
        roff::bold("/usr/lib/systemd/system-generators/pm2ctl-generator"),
        roff::roman(" normal-dir [early-dir late-dir]"),
    ]);
    page.control("br", []);
    page.text([
        roff::bold("/usr/lib/systemd/user-generators/pm2ctl-generator"),
        roff::roman(" normal-dir [early-dir late-dir]"),
    ]);
    page.control("SH", ["DESCRIPTION"]);
    para(&mut page, "Transient units are gone after a reboot. pm2ctl save writes what runs to dump.toml in the config directory (/etc/pm2ctl for the system manager, $XDG_CONFIG_HOME/pm2ctl for a user's). At every boot and daemon-reload, systemd runs pm2ctl-generator, which plans that file as pm2ctl apply would and writes the units into normal-dir, with .wants/ links from multi-user.target (default.target for a user), sockets.target and timers.target. They carry the names and fingerprints apply gives, so pm2ctl list, restart and delete see one app, and a later apply or resurrect finds them unchanged.");
    para(&mut page, "A generator may not talk to any process: systemd's version is read from the libsystemd-shared-NNN.so file name. An app saved stopped gets its units without the boot links (a cron timer is armed still). Apps that pm2ctl apply has taken over since the boot (marked in /run/pm2ctl/handed-over) are left out.");
    para(&mut page, "A corrupt file or a broken app is skipped with a message in the kernel log; so is an app whose account may not pass, read or run a path it needs (the check of pm2ctl apply; a path or account that does not exist yet is not a reason to skip, as file systems and network accounts may still be on their way). The others are generated. The generator always exits 0, so a boot never fails because of it.");
    definitions(
        &mut page,
        "ENVIRONMENT",
        &[
            (
                crate::boot::saved::CONFIG_DIR_VAR,
                "The directory holding dump.toml, instead of the default.",
            ),
            (
                crate::boot::generator::LOG_FILE_VAR,
                "A file for the generator's messages, instead of the kernel log.",
            ),
            (
                crate::boot::generator::SYSTEMD_VERSION_VAR,
                "The systemd version to plan for, instead of the one found.",
            ),
        ],
    );
    definitions(
        &mut page,
        "FILES",
        &[
            (
                "/etc/pm2ctl/dump.toml",
                "What pm2ctl save wrote; an ordinary ecosystem file.",
            ),
            (
                "/etc/pm2ctl/startup-disabled",
                "Written by pm2ctl unstartup: the generator does nothing.",
            ),
            ("/run/systemd/generator/", "Where the units are written."),
        ],
    );
    page.control("SH", ["SEE ALSO"]);
    page.text([roff::roman("pm2ctl(1), pm2ctl-save(1), pm2ctl-resurrect(1), pm2ctl-startup(1), pm2ctl-ecosystem(5), systemd.generator(7)")]);
    page.render()
}

fn completions(cmd: clap::Command, dir: &Path) -> Result<Vec<PathBuf>> {
    let mut cmd = visible_only(cmd);
    let name = cmd.get_name().to_owned();
    let mut written = Vec::new();
    for (shell, file) in COMPLETIONS {
        // clap_complete panics on a failed write, so render into memory and write here.
        let mut script = Vec::new();
        clap_complete::generate(shell, &mut cmd, &name, &mut script);
        let path = dir.join(file);
        fs::write(&path, script).with_context(|| format!("cannot write {}", path.display()))?;
        written.push(path);
    }
    Ok(written)
}

/// A copy of `cmd` without hidden subcommands and options, at every level. clap cannot remove
/// a subcommand, so this rebuilds each level from what completion needs: the name, the help
/// texts, visible aliases, the visible arguments (as they are) and the visible subcommands.
fn visible_only(mut cmd: clap::Command) -> clap::Command {
    cmd.build();
    visible_copy(&cmd)
}

fn visible_copy(cmd: &clap::Command) -> clap::Command {
    let mut copy = clap::Command::new(cmd.get_name().to_owned())
        .visible_aliases(
            cmd.get_visible_aliases()
                .map(str::to_owned)
                .collect::<Vec<_>>(),
        )
        .args(
            cmd.get_arguments()
                .filter(|a| !a.is_hide_set())
                .cloned()
                .collect::<Vec<_>>(),
        )
        .subcommands(
            cmd.get_subcommands()
                .filter(|s| !s.is_hide_set())
                .map(visible_copy)
                .collect::<Vec<_>>(),
        )
        // The help and version flags were copied with the other arguments when present.
        .disable_help_flag(true)
        .disable_version_flag(true)
        .disable_help_subcommand(true);
    if let Some(about) = cmd.get_about() {
        copy = copy.about(about.clone());
    }
    if let Some(version) = cmd.get_version() {
        copy = copy.version(version.to_owned());
    }
    copy
}

fn list(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))?;
    let mut paths = Vec::new();
    for entry in entries {
        paths.push(
            entry
                .with_context(|| format!("cannot read {}", dir.display()))?
                .path(),
        );
    }
    Ok(paths)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cli() -> clap::Command {
        clap::Command::new("pm2ctl")
            .version("1.2.3")
            .about("test CLI")
            .subcommand(
                clap::Command::new("validate")
                    .about("Check a file")
                    .arg(clap::Arg::new("strict").long("strict"))
                    .arg(
                        clap::Arg::new("internal-flag")
                            .long("internal-flag")
                            .hide(true),
                    ),
            )
            .subcommand(clap::Command::new("exec-wrap").hide(true))
    }

    #[test]
    fn a_man_page_per_verb_with_the_version() {
        let dir = tempfile::tempdir().unwrap();
        let written = generate(Kind::Man, cli(), dir.path()).unwrap();
        let names: Vec<_> = written
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            names,
            [
                "pm2ctl-ecosystem.5",
                "pm2ctl-generator.8",
                "pm2ctl-validate.1",
                "pm2ctl.1"
            ]
        );
        for extra in ["pm2ctl-ecosystem.5", "pm2ctl-generator.8"] {
            let page = fs::read_to_string(dir.path().join(extra)).unwrap();
            assert!(page.contains("pm2ctl 1.2.3"), "{extra}: {page}");
        }
        let page = fs::read_to_string(dir.path().join("pm2ctl.1")).unwrap();
        assert!(page.contains("pm2ctl 1.2.3"), "{page}");
        for section in ["SUBCOMMANDS", "ENVIRONMENT", "FILES", "SEE ALSO", "VERSION"] {
            assert!(page.contains(section), "no {section}:\n{page}");
        }
        assert!(
            page.contains(crate::host::installed::NODE_SHIM_VAR),
            "{page}"
        );
        assert!(
            page.find("ENVIRONMENT") < page.find("VERSION"),
            "ENVIRONMENT after VERSION:\n{page}"
        );
        assert_eq!(page.matches(".ds Aq").count(), 2, "one preamble:\n{page}");
    }

    #[test]
    fn completions_for_three_shells_name_the_verbs() {
        let dir = tempfile::tempdir().unwrap();
        let written = generate(Kind::Completions, cli(), &dir.path().join("new")).unwrap();
        assert_eq!(written.len(), 3);
        for path in written {
            let script = fs::read_to_string(&path).unwrap();
            assert!(script.contains("validate"), "{}", path.display());
            assert!(script.contains("strict"), "{}", path.display());
            assert!(!script.contains("exec-wrap"), "{}", path.display());
            assert!(!script.contains("internal-flag"), "{}", path.display());
        }
    }
}

//! The package layout in Cargo.toml, and what `pm2ctl __generate` writes for it, checked
//! without building a package (that is `packaging/build` and `packaging/test`, see
//! packaging/README.md): fast enough for every test run, so the layout cannot rot between
//! package builds.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

const REPO: &str = env!("CARGO_MANIFEST_DIR");

fn manifest() -> toml::Table {
    let text = std::fs::read_to_string(Path::new(REPO).join("Cargo.toml")).unwrap();
    text.parse().unwrap()
}

fn metadata(manifest: &toml::Table, tool: &str) -> toml::Table {
    manifest["package"]["metadata"][tool]
        .as_table()
        .unwrap()
        .clone()
}

/// (source, destination file or directory) for each .deb asset. cargo-deb takes
/// `[source, dest, mode]` or a table: `{ source, dest, mode }`, or `{ dest, link_name }` for a
/// symlink (its source is then the link's target).
fn deb_assets(manifest: &toml::Table) -> Vec<(String, String)> {
    metadata(manifest, "deb")["assets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let (source, dest) = match a.as_array() {
                Some(a) => (&a[0], &a[1]),
                None => (a.get("source").unwrap_or(&a["link_name"]), &a["dest"]),
            };
            let dest = format!("/{}", dest.as_str().unwrap());
            (source.as_str().unwrap().to_owned(), dest)
        })
        .collect()
}

fn rpm_assets(manifest: &toml::Table) -> Vec<(String, String)> {
    metadata(manifest, "generate-rpm")["assets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            let source = a["source"].as_str().unwrap().to_owned();
            (source, a["dest"].as_str().unwrap().to_owned())
        })
        .collect()
}

/// Where each asset lands as a full path (a directory destination keeps the file name),
/// with zsh's vendor directory, which differs between Debian and Fedora, made equal.
fn installed_paths(assets: &[(String, String)]) -> BTreeSet<String> {
    assets
        .iter()
        .map(|(source, dest)| {
            let dest = if dest.ends_with('/') {
                let name = Path::new(source).file_name().unwrap().to_string_lossy();
                format!("{dest}{name}")
            } else {
                dest.clone()
            };
            dest.replace("/zsh/vendor-completions/", "/zsh/site-functions/")
        })
        .collect()
}

/// Every binary target: `[[bin]]` entries and files under src/bin/.
fn binaries(manifest: &toml::Table) -> BTreeSet<String> {
    let mut bins: BTreeSet<String> = manifest
        .get("bin")
        .and_then(|b| b.as_array())
        .into_iter()
        .flatten()
        .map(|b| b["name"].as_str().unwrap().to_owned())
        .collect();
    if let Ok(entries) = std::fs::read_dir(Path::new(REPO).join("src/bin")) {
        for entry in entries {
            let path = entry.unwrap().path();
            if path.extension().is_some_and(|e| e == "rs") {
                bins.insert(path.file_stem().unwrap().to_string_lossy().into_owned());
            }
        }
    }
    bins
}

#[test]
fn both_packages_install_the_same_files() {
    let manifest = manifest();
    let deb = installed_paths(&deb_assets(&manifest));
    let rpm = installed_paths(&rpm_assets(&manifest));
    assert_eq!(deb, rpm, "the .deb and .rpm layouts in Cargo.toml differ");
    for path in [
        "/usr/bin/pm2ctl",
        "/usr/lib/pm2ctl/pm2ctl-shim.js",
        "/usr/lib/tmpfiles.d/pm2ctl.conf",
        "/usr/share/bash-completion/completions/pm2ctl",
        "/usr/share/doc/pm2ctl/README.md",
    ] {
        assert!(deb.contains(path), "{path} is not packaged: {deb:#?}");
    }
}

#[test]
fn every_binary_target_is_packaged() {
    let manifest = manifest();
    let sources: BTreeSet<String> = deb_assets(&manifest)
        .into_iter()
        .chain(rpm_assets(&manifest))
        .map(|(source, _)| source)
        .collect();
    for bin in binaries(&manifest) {
        // Both tools read target/release/ as "the real target directory".
        let source = format!("target/release/{bin}");
        assert!(
            sources.contains(&source),
            "binary `{bin}` is built but not packaged: add it to both asset lists in \
             Cargo.toml (packaging/README.md says where each binary goes)"
        );
    }
}

#[test]
fn every_source_file_of_an_asset_exists() {
    let manifest = manifest();
    let links = deb_links(&manifest);
    for (source, _) in deb_assets(&manifest)
        .into_iter()
        .chain(rpm_assets(&manifest))
    {
        if source.starts_with("target/") {
            continue; // built by packaging/build
        }
        if links.iter().any(|(_, target)| *target == source) {
            continue; // a symlink in the package, checked below
        }
        let path = Path::new(REPO).join(&source);
        let found = match source.strip_suffix("/*") {
            Some(dir) => {
                std::fs::read_dir(Path::new(REPO).join(dir)).is_ok_and(|mut d| d.next().is_some())
            }
            None => path.is_file(),
        };
        assert!(found, "asset source {source} does not exist");
    }
}

/// The .deb's symlink assets: (dest, link_name).
fn deb_links(manifest: &toml::Table) -> Vec<(String, String)> {
    metadata(manifest, "deb")["assets"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| {
            let link = a.get("link_name")?.as_str()?.to_owned();
            Some((format!("/{}", a["dest"].as_str()?), link))
        })
        .collect()
}

#[test]
fn every_symlink_asset_points_at_a_packaged_file() {
    let manifest = manifest();
    let dests: Vec<String> = deb_assets(&manifest).into_iter().map(|(_, d)| d).collect();
    for (dest, link) in deb_links(&manifest) {
        let dir = Path::new(&dest).parent().unwrap();
        let mut target = dir.to_path_buf();
        for part in Path::new(&link).components() {
            match part {
                std::path::Component::ParentDir => {
                    target.pop();
                }
                other => target.push(other),
            }
        }
        let target = target.display().to_string();
        let packaged = dests.iter().any(|d| {
            *d == target
                || (d.ends_with('/')
                    && Path::new(d).join(Path::new(&target).file_name().unwrap())
                        == Path::new(&target))
        });
        assert!(packaged, "{dest} links to {target}, which is not packaged");
    }
}

#[test]
fn the_debian_changelog_names_the_crate_version() {
    let manifest = manifest();
    let version = manifest["package"]["version"].as_str().unwrap();
    let changelog =
        std::fs::read_to_string(Path::new(REPO).join("packaging/debian/changelog")).unwrap();
    let first = changelog.lines().next().unwrap();
    assert!(
        first.starts_with(&format!("pm2ctl ({version}-1) ")),
        "packaging/debian/changelog starts with `{first}`; Cargo.toml says {version}: \
         add an entry for the new version"
    );
}

#[test]
fn maintainer_scripts_are_valid_shell() {
    for script in [
        "packaging/debian/postinst",
        "packaging/debian/prerm",
        "packaging/debian/postrm",
        "packaging/rpm/post.sh",
        "packaging/rpm/postun.sh",
        "packaging/rpm/user-generator",
    ] {
        let out = Command::new("sh")
            .arg("-n")
            .arg(Path::new(REPO).join(script))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{script}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

fn generate(kind: &str) -> (tempfile::TempDir, PathBuf) {
    let tmp = tempfile::tempdir_in(env!("CARGO_TARGET_TMPDIR")).unwrap();
    let dir = tmp.path().join(kind);
    let out = Command::new(env!("CARGO_BIN_EXE_pm2ctl"))
        .args(["__generate", kind])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pm2ctl __generate {kind}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (tmp, dir)
}

/// The "Commands:" block of `pm2ctl --help`.
fn commands_help() -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_pm2ctl"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    let block = help.split("Commands:\n").nth(1).unwrap();
    block.split("\n\n").next().unwrap().to_owned()
}

/// The verbs `pm2ctl --help` lists (without clap's own `help`): the first word of each entry
/// (a wrapped description continues on a line indented further).
fn verbs() -> Vec<String> {
    commands_help()
        .lines()
        .filter(|l| l.starts_with("  ") && !l.starts_with("   "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|v| *v != "help")
        .map(str::to_owned)
        .collect()
}

/// The aliases `pm2ctl --help` shows, as `[aliases: ls, l]` (possibly wrapped).
fn aliases() -> BTreeSet<String> {
    let block = commands_help()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let pattern = regex::Regex::new(r"\[aliases?: ([^\]]+)\]").unwrap();
    pattern
        .captures_iter(&block)
        .flat_map(|c| c[1].split(", ").map(str::to_owned).collect::<Vec<_>>())
        .collect()
}

#[test]
fn a_man_page_renders_for_pm2ctl_and_each_verb() {
    let (_tmp, dir) = generate("man");
    let mut pages = vec!["pm2ctl.1".to_owned()];
    pages.extend(verbs().iter().map(|v| format!("pm2ctl-{v}.1")));
    // The file format and the generator, which no verb describes.
    pages.extend([
        "pm2ctl-ecosystem.5".to_owned(),
        "pm2ctl-generator.8".to_owned(),
    ]);
    for page in pages {
        let path = dir.join(&page);
        assert!(path.is_file(), "no man page {page}");
        // man -l renders the file as `man pm2ctl` would; -ww makes groff report every problem.
        let out = Command::new("man")
            .args(["-l", "--warnings=w"])
            .arg(&path)
            .env("MANWIDTH", "80")
            .output()
            .expect("man (man-db) is needed: tests/prerequisites installs it");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "man -l {page} failed");
        assert!(
            out.stderr.is_empty(),
            "man -l {page}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            text.contains("SYNOPSIS"),
            "{page} renders without a synopsis:\n{text}"
        );
    }
}

#[test]
fn bash_completes_every_verb() {
    let (_tmp, dir) = generate("completions");
    // What bash-completion does on `pm2ctl <TAB>`: load the file, call the function it
    // registered for pm2ctl with the words typed so far.
    let script = r#"
        source "$1" || exit 3
        fn=$(complete -p pm2ctl | sed -n 's/.* -F \([^ ]*\) .*/\1/p')
        [ -n "$fn" ] || exit 4
        COMP_WORDS=(pm2ctl ""); COMP_CWORD=1; COMP_LINE="pm2ctl "; COMP_POINT=${#COMP_LINE}
        "$fn" pm2ctl "" pm2ctl
        printf '%s\n' "${COMPREPLY[@]}"
    "#;
    let out = Command::new("bash")
        .args(["--noprofile", "--norc", "-c", script, "bash"])
        .arg(dir.join("pm2ctl.bash"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "bash: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let offered: BTreeSet<String> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    // Exactly the verbs `--help` lists, their aliases and clap's `help`: no hidden verb
    // such as exec-wrap.
    let aliases = aliases();
    let offered_verbs: BTreeSet<String> = offered
        .into_iter()
        .filter(|w| !w.starts_with('-') && w != "help" && !aliases.contains(w))
        .collect();
    let listed: BTreeSet<String> = verbs().into_iter().collect();
    assert_eq!(
        offered_verbs, listed,
        "`pm2ctl <TAB>` offers other verbs than --help lists"
    );
    for file in ["_pm2ctl", "pm2ctl.fish"] {
        assert!(dir.join(file).is_file(), "no {file}");
    }
}

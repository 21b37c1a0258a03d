//! Golden tests of the plan, as data: each folder under `tests/plan/` is one case.
//!
//! - `ecosystem.toml`: the input (loaded with the real loader);
//! - `args` (optional): `--env NAME`, `--systemd-version N`, `--scope user|system`,
//!   `--caller NAME:UID`, `--wrap` (apps run through `pm2ctl exec-wrap`), `--cpus N`;
//! - `expected.txt`: every unit and property in `plan::show::text` form, then the warnings;
//!   or the plan's errors when the file cannot be planned.
//!
//! The host is fixed (4 CPUs, root, systemd 252) and the filesystem fake: the ecosystem's
//! directory is presented as `/srv/app`, and a path there exists when the case folder holds
//! it (with its execute bit). Commands (`node`, `python3`, …) are in `/usr/bin`.
//! `UPDATE_GOLDEN=1 cargo nextest run --test plan_golden` rewrites the expected files.

use crate::common;

use common::plan_cases;
use pm2ctl::plan;
use std::path::Path;

fn run_case(dir: &Path) -> Result<String, String> {
    Ok(match plan_cases::plan_case(dir, None)? {
        Ok(p) => {
            for unit in p.units() {
                pm2ctl::unit::render(unit)
                    .map_err(|e| format!("a planned unit does not render: {e}"))?;
            }
            plan::show::text(&p)
        }
        Err(e) => format!("{e}\n"),
    })
}

#[test]
fn plan_golden_cases() {
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let cases = plan_cases::cases();
    assert!(cases.len() >= 40, "only {} golden cases", cases.len());
    let mut failures = Vec::new();
    for dir in &cases {
        let name = dir.file_name().unwrap().to_string_lossy().into_owned();
        let actual = match run_case(dir) {
            Ok(a) => a,
            Err(e) => {
                failures.push(format!("{name}: {e}"));
                continue;
            }
        };
        let expected_path = dir.join("expected.txt");
        if update {
            std::fs::write(&expected_path, &actual).unwrap();
            continue;
        }
        let expected = std::fs::read_to_string(&expected_path).unwrap_or_default();
        if expected != actual {
            let line = expected
                .lines()
                .zip(actual.lines())
                .position(|(a, b)| a != b)
                .unwrap_or(expected.lines().count().min(actual.lines().count()));
            failures.push(format!(
                "{name}: differs at line {}:\n  expected: {:?}\n  actual:   {:?}",
                line + 1,
                expected.lines().nth(line).unwrap_or("<end>"),
                actual.lines().nth(line).unwrap_or("<end>"),
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} golden cases failed (UPDATE_GOLDEN=1 rewrites them after review):\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

//! `pm2ctl-generator NORMAL-DIR [EARLY-DIR LATE-DIR]`: systemd's generator for pm2ctl's
//! saved state (see `pm2ctl::boot::generator`). Installed as
//! `/usr/lib/systemd/system-generators/pm2ctl-generator` (and, for user managers, under a
//! name containing "user" in `user-generators`).

fn main() {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    std::process::exit(pm2ctl::boot::generator::main(&argv));
}

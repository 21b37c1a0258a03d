//! The integration tests, one binary (each test binary links the whole crate, so one binary
//! builds and links once): a module per area, sharing `common` (the sandbox, fixtures, load).
//! docs/testing.md says what each needs and how they run.

mod common;

mod ansible;
mod apply;
mod apply_engine;
mod broken;
mod cli_import;
mod cli_plan;
mod cli_validate;
mod deploy;
mod faults;
mod first_run;
mod gate;
mod generator;
mod hardening;
mod lifecycle;
mod list;
mod logs;
mod memory_restart;
mod node_shim;
mod packaging;
mod plan_golden;
mod plan_transient;
mod pm2_compat;
mod preflight;
mod reload;
mod remote_host;
mod render_props;
mod sandbox;
mod unit_files;
mod user_mode;
mod watch_cron;

//! pm2ctl: PM2's features with systemd as the supervisor.
//!
//! The flow, one way only:
//! file ─▶ `ecosystem` (load, validate) ─▶ model ─▶ `plan` (pure) ─▶ `unit::UnitSpec`s
//! ─▶ `systemd` (transient units over D-Bus) or `unit` rendering (unit files, generator).

pub mod apply;
pub mod boot;
pub mod checkpoint;
pub mod cli;
pub mod deploy;
pub mod ecosystem;
pub mod host;
pub mod inspect;
pub mod lifecycle;
pub mod load;
pub mod logs;
pub mod plan;
pub mod preflight;
pub mod safe_path;
pub mod state;
pub mod status;
pub mod systemd;
pub mod target;
pub mod unit;
pub mod watch;

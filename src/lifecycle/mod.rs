//! PM2's lifecycle verbs over systemd: which instances a target selects (`processes`), and
//! what `stop`, `restart`, `delete` and `sendSignal` do to their units (`actions`).
//!
//! An instance ("process" in PM2's words) is one `pm2ctl-<esc>@<i>.service`, plus its
//! `pm2ctl-<esc>@<i>.socket` for a cluster app on a port.

pub mod actions;
pub mod engine;
pub mod processes;
pub mod record;
pub mod scale;

pub use actions::{Action, Report};
pub use processes::Proc;

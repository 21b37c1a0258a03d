//! PM2's lifecycle verbs over systemd.
//!
//! * `processes`: the process list targets select from (the state store's instances joined
//!   with systemd's view, plus owned units the store does not know);
//! * `actions`: what `stop`, `restart`, `delete`, `reset` and `sendSignal` do to units;
//! * `record`: what they change in the state store (pure);
//! * `scale`: adding and removing instances of one app;
//! * `engine`: the one way the verbs create units, through `apply`'s diff and executor;
//! * `targets`: ecosystem files and scripts as targets (standing for their apps);
//! * `act`: select, act, report (`stop`, `restart`, `delete`, `reset`, `sendSignal`,
//!   `reload`); `stop` with its watch and cron sides;
//! * `redefine`: `restart` with changes (`--update-env`, `--node-args`, `--cron-restart`,
//!   `--name`);
//! * `start`, `start_or`: PM2's `start` and `startOr…` (files through the engine, known
//!   apps restarted, scripts recorded and applied);
//! * `outcome`: how a verb fails, as its exit code tells it.
//!
//! An instance ("process" in PM2's words) is one `pm2ctl-<esc>@<i>.service`, plus its
//! `pm2ctl-<esc>@<i>.socket` for a cluster app on a port.

pub mod act;
pub mod actions;
pub mod engine;
pub mod memory;
pub mod outcome;
pub mod processes;
pub mod readiness;
pub mod record;
pub mod redefine;
pub mod reload;
pub mod scale;
pub mod start;
pub mod start_or;
pub mod stop;
pub mod targets;

pub use actions::{Action, Report};
pub use processes::Proc;

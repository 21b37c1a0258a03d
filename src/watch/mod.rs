//! `watch`: restart an app when its files change.
//!
//! The plan gives a watched app a companion unit, `pm2ctl-<esc>-watch.service`, running
//! `pm2ctl watch-agent` (see `plan::companion`); systemd supervises it beside the app, so
//! there is no daemon of pm2ctl's own. `ignore` decides which paths do not count, `agent`
//! watches, debounces and restarts; `toggle` turns watching on and off for apps that run
//! (PM2's `restart --watch`, `stop --watch`, `start NAME --watch`).

pub mod agent;
pub mod ignore;
pub mod toggle;

//! Logs through journald: apps' stdout and stderr become journal entries of their unit
//! (stdout at priority 6, stderr at 3), tagged `PM2_APP`/`PM2_INSTANCE`/`PM2_NAMESPACE`
//! by the unit's `LogExtraFields`, and `pm2ctl logs` reads them back the way PM2 shows them.

pub mod diagnostics;
pub mod file_format;
pub mod marks;
pub mod query;
pub mod reader;
pub mod record;
pub mod render;
pub mod stream;
pub mod targets;
pub mod timefmt;
pub mod view;
pub mod wrap;

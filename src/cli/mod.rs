//! One module per `pm2ctl` verb; `main.rs` only parses arguments and dispatches here.

pub mod validate;

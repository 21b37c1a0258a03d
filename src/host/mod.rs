//! The machine pm2ctl acts on: this one, or another over ssh (`-H`).
//!
//! * [`local`]: this machine's facts for the plan (`HostFacts::detect`) and its filesystem
//!   (`SystemResolver`);
//! * [`remote`]: another machine's systemd, journal, state store and facts, over ssh;
//! * [`ssh`]: running ssh itself; [`installed`]: where the packages put pm2ctl's own files.

pub mod installed;
pub mod local;
pub mod remote;
pub mod ssh;

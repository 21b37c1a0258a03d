//! The machine pm2ctl acts on: this one, or another over ssh (`-H`).
//!
//! * [`local`]: this machine's facts for the plan (`HostFacts::detect`) and its filesystem
//!   (`SystemResolver`);
//! * [`remote`]: another machine's systemd, journal, state store and facts, over ssh;
//! * [`ssh`]: running ssh itself; [`installed`]: where the packages put pm2ctl's own files.

pub mod installed;
pub mod local;
pub mod procfs;
pub mod remote;
pub mod ssh;

use anyhow::Result;
use remote::Remote;
use ssh::Destination;
use std::sync::Arc;

/// The machine a run acts on: this one, or another reached over ssh (`-H`). `main` builds
/// it once from the command line and every layer that reaches the machine is handed it;
/// clones share the one ssh login, which ends when the last clone is dropped.
#[derive(Debug, Clone, Default)]
pub struct Host(Option<Arc<Remote>>);

impl Host {
    /// This machine.
    pub fn local() -> Host {
        Host(None)
    }

    /// `target` (`[user@]host`), reached over ssh when first used.
    pub fn remote(target: &str) -> Result<Host> {
        Ok(Host(Some(Arc::new(Remote::new(target)?))))
    }

    pub fn is_local(&self) -> bool {
        self.0.is_none()
    }

    /// The `[user@]host` of another machine, as given (nothing is connected to ask this).
    pub fn target(&self) -> Option<&str> {
        self.0.as_deref().map(Remote::target)
    }

    /// How sessions reach another machine (the first call logs in), or `None` for this one.
    pub fn ssh(&self) -> Option<&Destination> {
        self.0.as_deref().map(Remote::destination)
    }
}

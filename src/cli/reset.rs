//! `pm2ctl reset TARGETS`: restart counters back to zero (see `lifecycle::actions`).

use super::TargetArgs;
use crate::lifecycle::Action;
use anyhow::Result;

pub fn run(args: &TargetArgs) -> Result<()> {
    args.act(Action::Reset)
}

//! `pm2ctl delete TARGETS`: stop processes and forget them; an app deleted as a whole
//! leaves the saved state too (see `lifecycle::act`).

use super::TargetArgs;
use crate::lifecycle::Action;
use anyhow::Result;

pub fn run(args: &TargetArgs) -> Result<()> {
    args.act(Action::Delete)
}

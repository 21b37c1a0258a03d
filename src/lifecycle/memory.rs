//! The graceful memory check (`pm2ctl memory-check`, run by an app's
//! `pm2ctl-<esc>-memory.service` from its timer; see `plan::memory`).
//!
//! What is measured: the resident memory (`VmRSS`) of the instance's main process plus its
//! descendants, read from `/proc`. That is PM2's measure (it reads the process' RSS), it is
//! the same on cgroup v1 and v2, and it leaves out the page cache, which the cgroup's own
//! count (`MemoryCurrent`, `memory.usage_in_bytes`) includes and the kernel reclaims before
//! it kills anything: an app writing big files would otherwise be restarted for memory it
//! does not hold. On a cgroup v1 host systemd's `MemoryCurrent` comes from the unified
//! hierarchy, which has no memory controller there, and undercounts. The hard limit
//! (`MemoryMax`) stays the kernel's business and covers whatever RSS misses.

use super::outcome::ActionFailed;
use super::processes::Proc;
use super::readiness::process_tree;
use super::reload;
use crate::host::Host;
use crate::inspect::collect::process_rss_bytes;
use crate::plan::Scope;
use crate::state::{self, Store};
use crate::status::Status;
use crate::systemd::Client;
use anyhow::{Context, Result};

/// One instance above the mark.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OverMark {
    pub pm_id: u32,
    pub index: u32,
    pub pid: u32,
    pub resident: u64,
}

/// Resident bytes of the process tree rooted at `main_pid`; `None` when the main process
/// is gone.
pub fn resident_bytes(main_pid: u32) -> Option<u64> {
    let main = process_rss_bytes(main_pid)?;
    let children: u64 = process_tree(main_pid)
        .into_iter()
        .skip(1)
        .filter_map(process_rss_bytes)
        .sum();
    Some(main.saturating_add(children))
}

/// The online instances of `app` among `procs` whose resident memory (`measure`) is above
/// `mark` bytes, in pm_id order.
pub fn over_mark(
    procs: &[Proc],
    app: &str,
    mark: u64,
    measure: impl Fn(u32) -> Option<u64>,
) -> Vec<OverMark> {
    let mut over: Vec<OverMark> = procs
        .iter()
        .filter(|p| p.name == app && p.loaded && p.status == Status::Online)
        .filter_map(|p| {
            let pid = p.main_pid?;
            let resident = measure(pid)?;
            (resident > mark).then_some(OverMark {
                pm_id: p.pm_id,
                index: p.index,
                pid,
                resident,
            })
        })
        .collect();
    over.sort_by_key(|o| o.pm_id);
    over
}

/// `pm2ctl memory-check`: reloads gracefully, one at a time, each instance of `app` whose
/// resident memory is above `mark` bytes, saying which and why; quiet when none is.
pub fn reload_over_mark(host: &Host, scope: Scope, app: &str, mark: u64) -> Result<()> {
    let client = Client::connect(host, scope)?;
    let dir = state::default_dir(scope)?;
    // A look without the lock first: the check runs every 30 s and must not queue behind a
    // user's long `reload` only to find nothing to do.
    let procs = super::processes::list(&client, &state::read(&dir)?)
        .context("cannot list pm2ctl's processes")?;
    if over_mark(&procs, app, mark, resident_bytes).is_empty() {
        return Ok(());
    }
    // Measured again under the lock: another pm2ctl may have restarted them meanwhile.
    let mut store = Store::lock(&dir)?;
    let procs =
        super::processes::list(&client, store.state()).context("cannot list pm2ctl's processes")?;
    let over = over_mark(&procs, app, mark, resident_bytes);
    for o in &over {
        println!(
            "[PM2][WORKER] Process {} ({}, pid {}) exceeds the memory mark: {} bytes resident, \
             mark {} bytes ({}% of max_memory_restart); reloading it gracefully",
            o.pm_id,
            app,
            o.pid,
            o.resident,
            mark,
            crate::plan::memory::MARK_PERCENT
        );
    }
    let selected: Vec<&Proc> = procs
        .iter()
        .filter(|p| over.iter().any(|o: &OverMark| o.pm_id == p.pm_id))
        .collect();
    let report = reload::run(
        &client,
        &mut store,
        &selected,
        1,
        &mut reload::Printer { done: "replaced " },
    )?;
    if report.all_ok() {
        Ok(())
    } else {
        Err(ActionFailed("the graceful memory restart failed for some processes".into()).into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proc(name: &str, index: u32, pid: u32, status: Status) -> Proc {
        Proc {
            status,
            ..Proc::online(name, index, index, pid)
        }
    }

    #[test]
    fn only_online_instances_of_the_app_above_the_mark() {
        let procs = [
            proc("api", 0, 100, Status::Online),
            proc("api", 1, 101, Status::Online),
            proc("api", 2, 102, Status::Stopped),
            proc("web", 3, 103, Status::Online),
        ];
        let measure = |pid: u32| Some(if pid == 101 || pid >= 102 { 500 } else { 100 });
        assert_eq!(
            over_mark(&procs, "api", 400, measure),
            [OverMark {
                pm_id: 1,
                index: 1,
                pid: 101,
                resident: 500
            }]
        );
        assert!(over_mark(&procs, "api", 500, measure).is_empty());
        assert!(over_mark(&procs, "api", 1, |_| None).is_empty());
    }

    #[test]
    fn this_process_has_resident_memory() {
        let me = std::process::id();
        assert!(resident_bytes(me).is_some_and(|b| b > 0));
    }
}

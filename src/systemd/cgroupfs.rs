//! A running service's figures read from the kernel instead of asked of systemd: its cgroup
//! (`cgroup.procs`, memory, CPU) and its main process in `/proc`.
//!
//! `list` and its kin show hundreds of instances; a `GetAll` of each service costs systemd
//! and the bus about half a millisecond of CPU (systemd formats some 250 properties, reading
//! cgroup files for several), these files a few microseconds. systemd's own figures come from
//! the same files, so they keep their meaning:
//! * `MemoryCurrent`: the unit cgroup's `memory.current` (cgroup v2), or
//!   `memory.usage_in_bytes` of the v1 memory controller (hybrid and legacy hosts).
//! * `CPUUsageNSec`: `usage_usec` of the cgroup's `cpu.stat` (v2), or the v1 `cpuacct.usage`,
//!   less what the cgroup had used when the unit started: nothing, since systemd creates a
//!   unit's cgroup when it starts and removes it once empty.
//! * `MainPID`: the one process of the cgroup whose parent is outside it (the one systemd
//!   forked); with several such (a control process beside the main one) none is guessed.
//! * `ExecMainStartTimestamp`: when that process was forked (`/proc/PID/stat`'s start time,
//!   to a clock tick).
//!
//! Only this machine's cgroups can be read so: with `-H` the caller asks systemd.

use crate::host::procfs::{self, stat_field, ticks_per_second};
use std::collections::HashSet;
use std::path::{Path, PathBuf};

/// One cgroup hierarchy as this process sees it mounted.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Mount {
    /// The cgroup (in this process' cgroup namespace) mounted there, `/` for the whole tree.
    root: String,
    point: PathBuf,
}

impl Mount {
    /// The directory of cgroup `path` (as systemd names it, from the namespace's root).
    fn dir(&self, path: &str) -> Option<PathBuf> {
        let inside = if self.root == "/" {
            path
        } else {
            let rest = path.strip_prefix(self.root.as_str())?;
            if !(rest.is_empty() || rest.starts_with('/')) {
                return None;
            }
            rest
        };
        Some(self.point.join(inside.trim_start_matches('/')))
    }
}

/// Where the hierarchies the figures come from are mounted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchies {
    /// Where units' processes are listed, in the order tried: the unified hierarchy, then
    /// systemd's named v1 one (a v2 host may have one mounted for old containers, empty).
    procs: Vec<Mount>,
    /// The v1 memory controller, when mounted.
    memory_v1: Option<Mount>,
    /// The v1 cpuacct controller, when mounted.
    cpuacct_v1: Option<Mount>,
    /// The unified hierarchy when it is the only one (cgroup v2): memory and CPU are read
    /// there. On a hybrid host they are the v1 controllers' alone, as systemd reads them
    /// (none when such a controller is not mounted, though the unified `cpu.stat` exists).
    unified: Option<Mount>,
}

/// What the kernel says about one running service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample {
    pub main_pid: u32,
    /// The main process' start time in clock ticks since boot: with the pid, it names one
    /// process for as long as the machine runs (a pid is reused only by a later process).
    pub start_ticks: u64,
    /// When the main process was forked, µs since the epoch.
    pub started_at_us: u64,
    /// The main process' resident memory (its `stat` line's `rss`, the figure `statm` and
    /// `VmRSS` show), bytes.
    pub main_rss: Option<u64>,
    /// The main process' threads (`num_threads`).
    pub main_threads: u64,
    /// Bytes, as systemd's `MemoryCurrent`; `None` where the cgroup has no memory figure.
    pub memory: Option<u64>,
    /// ns, as systemd's `CPUUsageNSec`; `None` where the cgroup has no CPU figure.
    pub cpu_ns: Option<u64>,
}

impl Hierarchies {
    /// This process' cgroup mounts (`/proc/self/mountinfo`); `None` when none holds units.
    pub fn detect() -> Option<Hierarchies> {
        let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
        Hierarchies::from_mountinfo(&text)
    }

    fn from_mountinfo(text: &str) -> Option<Hierarchies> {
        let mut unified = None;
        let mut named = None;
        let mut memory_v1 = None;
        let mut cpuacct_v1 = None;
        for line in text.lines() {
            let Some((before, after)) = line.split_once(" - ") else {
                continue;
            };
            let fields: Vec<&str> = before.split(' ').collect();
            let (Some(root), Some(point)) = (fields.get(3), fields.get(4)) else {
                continue;
            };
            let mount = Mount {
                root: unescape(root),
                point: PathBuf::from(unescape(point)),
            };
            let mut post = after.split(' ');
            let fstype = post.next().unwrap_or_default();
            let options: Vec<&str> = post.nth(1).unwrap_or_default().split(',').collect();
            match fstype {
                "cgroup2" => unified = unified.or(Some(mount)),
                "cgroup" if options.contains(&"name=systemd") => named = named.or(Some(mount)),
                "cgroup" if options.contains(&"memory") => memory_v1 = memory_v1.or(Some(mount)),
                "cgroup" if options.contains(&"cpuacct") => cpuacct_v1 = cpuacct_v1.or(Some(mount)),
                _ => {}
            }
        }
        let procs: Vec<Mount> = unified.iter().chain(&named).cloned().collect();
        if procs.is_empty() {
            return None;
        }
        let all_unified = named.is_none() && memory_v1.is_none() && cpuacct_v1.is_none();
        Some(Hierarchies {
            procs,
            memory_v1,
            cpuacct_v1,
            unified: unified.filter(|_| all_unified),
        })
    }

    /// The figures of service `unit` in `slice`, under a manager whose own cgroup is
    /// `manager_root` (systemd's `ControlGroup`, `/` for the system manager); `None` when its
    /// cgroup is gone or its main process cannot be told apart.
    pub fn sample(&self, manager_root: &str, slice: &str, unit: &str) -> Option<Sample> {
        let path = unit_cgroup(manager_root, slice, unit);
        let procs = self.procs.iter().find_map(|m| {
            procfs::read(m.dir(&path)?.join("cgroup.procs"))
                .ok()
                .filter(|pids| !pids.trim().is_empty())
        })?;
        let pids: HashSet<u32> = procs
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect();
        let mut forked = pids.iter().filter_map(|pid| {
            let stat = procfs::read(format!("/proc/{pid}/stat")).ok()?;
            let (ppid, start_ticks) = stat_parent_and_start(&stat)?;
            (!pids.contains(&ppid)).then_some((*pid, start_ticks, stat))
        });
        let (main_pid, start_ticks, stat) = forked.next()?;
        if forked.next().is_some() {
            return None;
        }
        let memory = match (&self.unified, &self.memory_v1) {
            (Some(u), _) => read_u64(&u.dir(&path)?.join("memory.current")),
            (None, Some(m)) => read_u64(&m.dir(&path)?.join("memory.usage_in_bytes")),
            (None, None) => None,
        };
        let cpu_ns = match (&self.unified, &self.cpuacct_v1) {
            (Some(u), _) => procfs::read(u.dir(&path)?.join("cpu.stat"))
                .ok()
                .and_then(|stat| cpu_stat_usage_usec(&stat))
                .map(|us| us.saturating_mul(1000)),
            (None, Some(c)) => read_u64(&c.dir(&path)?.join("cpuacct.usage")),
            (None, None) => None,
        };
        Some(Sample {
            main_pid,
            start_ticks,
            started_at_us: started_at_us(start_ticks)?,
            main_rss: stat_rss_bytes(&stat),
            main_threads: stat_field(&stat, 20).unwrap_or(0),
            memory,
            cpu_ns,
        })
    }
}

/// The cgroup systemd gives `unit` in `slice`: the slice's ancestors by its dashes
/// (`a-b.slice` lives in `a.slice`), under the manager's own cgroup. None of pm2ctl's names
/// is one that systemd escapes in cgroup paths (those starting with `_`, `.` or `cgroup.`).
pub fn unit_cgroup(manager_root: &str, slice: &str, unit: &str) -> String {
    let mut path = manager_root.trim_end_matches('/').to_string();
    if let Some(prefix) = slice.strip_suffix(".slice").filter(|p| *p != "-") {
        let mut upto = 0;
        for part in prefix.split('-') {
            upto += part.len();
            path.push('/');
            path.push_str(&prefix[..upto]);
            path.push_str(".slice");
            upto += 1;
        }
    }
    path.push('/');
    path.push_str(unit);
    path
}

/// mountinfo escapes space, tab, newline and backslash as octal (`\040`).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| bytes[i] == b'\\' && d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match octal {
            Some(d) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn read_u64(path: &Path) -> Option<u64> {
    procfs::read(path).ok()?.trim().parse().ok()
}

/// `usage_usec` of a v2 `cpu.stat`.
fn cpu_stat_usage_usec(stat: &str) -> Option<u64> {
    stat.lines()
        .find_map(|l| l.strip_prefix("usage_usec ")?.trim().parse().ok())
}

/// The parent pid (field 4) and start time in clock ticks since boot (field 22) of a
/// `/proc/PID/stat` line, whose command name in parentheses may hold spaces and parentheses.
fn stat_parent_and_start(stat: &str) -> Option<(u32, u64)> {
    let parent = u32::try_from(stat_field(stat, 4)?).ok()?;
    Some((parent, stat_field(stat, 22)?))
}

/// Resident memory from a `/proc/PID/stat` line: field 24, in pages.
fn stat_rss_bytes(stat: &str) -> Option<u64> {
    let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE).ok()??;
    let page = u64::try_from(page).ok().filter(|p| *p > 0)?;
    Some(stat_field(stat, 24)?.saturating_mul(page))
}

/// A start time in clock ticks since boot, as µs since the epoch.
fn started_at_us(ticks: u64) -> Option<u64> {
    use nix::time::{clock_gettime, ClockId};
    let per_second = ticks_per_second()?;
    let micros = |clock| {
        let t = clock_gettime(clock).ok()?;
        Some(t.tv_sec() as u64 * 1_000_000 + t.tv_nsec() as u64 / 1000)
    };
    let now = micros(ClockId::CLOCK_REALTIME)?;
    let since_boot = micros(ClockId::CLOCK_BOOTTIME)?;
    let started_since_boot = ticks.saturating_mul(1_000_000) / per_second;
    Some(now.saturating_sub(since_boot.saturating_sub(started_since_boot)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_nest_by_their_dashes() {
        assert_eq!(
            unit_cgroup("/", "pm2ctl-api.slice", "pm2ctl-api@0.service"),
            "/pm2ctl.slice/pm2ctl-api.slice/pm2ctl-api@0.service"
        );
        // An escaped dash in an app's name is no level.
        assert_eq!(
            unit_cgroup(
                "/user.slice/user-1000.slice/user@1000.service",
                "pm2ctl-my\\x2dapi.slice",
                "pm2ctl-my\\x2dapi@3.service"
            ),
            "/user.slice/user-1000.slice/user@1000.service/pm2ctl.slice/pm2ctl-my\\x2dapi.slice/pm2ctl-my\\x2dapi@3.service"
        );
        assert_eq!(unit_cgroup("/", "-.slice", "x.service"), "/x.service");
    }

    const HYBRID: &str = "\
25 30 0:23 / /sys/fs/cgroup ro,nosuid shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:24 / /sys/fs/cgroup/unified rw,nosuid shared:10 - cgroup2 cgroup2 rw,nsdelegate
27 25 0:25 / /sys/fs/cgroup/systemd rw,nosuid shared:11 - cgroup cgroup rw,xattr,name=systemd
31 25 0:29 / /sys/fs/cgroup/memory rw,nosuid shared:15 - cgroup cgroup rw,memory
32 25 0:30 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:16 - cgroup cgroup rw,cpu,cpuacct
";

    #[test]
    fn hybrid_hosts_read_memory_and_cpu_from_v1_controllers() {
        let h = Hierarchies::from_mountinfo(HYBRID).unwrap();
        assert_eq!(h.procs[0].point, Path::new("/sys/fs/cgroup/unified"));
        assert_eq!(h.procs[1].point, Path::new("/sys/fs/cgroup/systemd"));
        assert_eq!(
            h.memory_v1.unwrap().dir("/pm2ctl.slice/a.service"),
            Some(PathBuf::from(
                "/sys/fs/cgroup/memory/pm2ctl.slice/a.service"
            ))
        );
        assert_eq!(
            h.cpuacct_v1.unwrap().point,
            Path::new("/sys/fs/cgroup/cpu,cpuacct")
        );
        assert!(h.unified.is_none());
        // Without a cpuacct mount, no CPU figure: not the unified hierarchy's `cpu.stat`.
        let no_cpuacct: String = HYBRID
            .lines()
            .filter(|l| !l.contains("cpuacct"))
            .collect::<Vec<_>>()
            .join("\n");
        let h = Hierarchies::from_mountinfo(&no_cpuacct).unwrap();
        assert!(h.cpuacct_v1.is_none() && h.unified.is_none());
    }

    #[test]
    fn unified_hosts_read_everything_from_v2() {
        let h = Hierarchies::from_mountinfo(
            "30 22 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n",
        )
        .unwrap();
        assert_eq!(h.procs.len(), 1);
        assert_eq!(h.procs[0].point, Path::new("/sys/fs/cgroup"));
        assert!(h.memory_v1.is_none() && h.cpuacct_v1.is_none() && h.unified.is_some());
        assert!(Hierarchies::from_mountinfo("1 0 8:1 / / rw - ext4 /dev/sda1 rw\n").is_none());
    }

    #[test]
    fn a_mount_of_a_subtree_holds_only_its_cgroups() {
        let m = Mount {
            root: "/machine.slice".into(),
            point: "/sys/fs/cgroup".into(),
        };
        assert_eq!(
            m.dir("/machine.slice/x.service"),
            Some(PathBuf::from("/sys/fs/cgroup/x.service"))
        );
        assert_eq!(m.dir("/machine.slicex/y"), None);
        assert_eq!(m.dir("/system.slice"), None);
        assert_eq!(unescape("/a\\040b\\\\"), "/a b\\\\");
    }

    #[test]
    fn proc_and_cgroup_files_parse() {
        let stat =
            "4242 (node (x) y) S 17 4242 4242 0 -1 4194560 1 0 0 0 250 50 0 0 20 0 11 0 98765 1 2";
        assert_eq!(stat_parent_and_start(stat), Some((17, 98765)));
        assert_eq!(stat_parent_and_start("nonsense"), None);
        assert_eq!(stat_field(stat, 20), Some(11), "num_threads");
        let page = nix::unistd::sysconf(nix::unistd::SysconfVar::PAGE_SIZE)
            .ok()
            .flatten()
            .map(|p| p as u64);
        assert_eq!(stat_rss_bytes(stat), page.map(|p| 2 * p));
        assert_eq!(
            cpu_stat_usage_usec("usage_usec 1234\nuser_usec 1000\n"),
            Some(1234)
        );
        assert_eq!(cpu_stat_usage_usec("user_usec 1\n"), None);
    }
}

//! Whether a restarted instance serves its socket yet, seen from outside the process.
//!
//! A socket-activated service gets its listening socket as fd 3 (`LISTEN_FDS`). An
//! event-loop server (Node, Go, asyncio, nginx…) starts accepting by adding that socket
//! to an epoll set, and `/proc/<pid>/fdinfo/<epoll fd>` lists the inode of every file the
//! set watches. So "accepting" is: some process of the instance (its main process or a
//! descendant) watches the socket's inode with epoll. Servers that block in `accept()` or
//! use `poll`/`select` are not visible this way; for them the reload waits `listen_timeout`.

use crate::host::procfs;
use std::collections::{BTreeSet, HashMap};
use std::fs;

/// The first fd systemd passes (`SD_LISTEN_FDS_START`).
const FIRST_PASSED_FD: u32 = 3;

/// True when a process of the tree rooted at `main_pid` watches the socket systemd passed
/// (its fd 3) with epoll. False when that cannot be seen (no such socket, no permission).
pub fn accepting_on_passed_socket(main_pid: u32) -> bool {
    let tree = process_tree(main_pid);
    let Some(socket) = tree
        .iter()
        .find_map(|pid| socket_inode(*pid, FIRST_PASSED_FD))
    else {
        return false;
    };
    tree.iter()
        .any(|pid| epoll_watched_inodes(*pid).contains(&socket))
}

/// `main_pid` and its descendants, from the parent pids in `/proc/*/stat`.
pub(crate) fn process_tree(main_pid: u32) -> Vec<u32> {
    let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
    if let Ok(entries) = fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse().ok()) else {
                continue;
            };
            if let Some(ppid) = procfs::read(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|stat| procfs::stat_field(&stat, 4))
                .and_then(|ppid| u32::try_from(ppid).ok())
            {
                children.entry(ppid).or_default().push(pid);
            }
        }
    }
    let mut tree = vec![main_pid];
    let mut next = 0;
    while next < tree.len() {
        if let Some(kids) = children.get(&tree[next]) {
            tree.extend(kids);
        }
        next += 1;
    }
    tree
}

/// The inode of the socket open as `fd` in `pid`.
fn socket_inode(pid: u32, fd: u32) -> Option<u64> {
    let target = fs::read_link(format!("/proc/{pid}/fd/{fd}")).ok()?;
    parse_socket_link(target.to_str()?)
}

/// `socket:[12345]` → 12345.
fn parse_socket_link(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// The inodes watched by every epoll set `pid` has open.
fn epoll_watched_inodes(pid: u32) -> BTreeSet<u64> {
    let mut inodes = BTreeSet::new();
    let Ok(fds) = fs::read_dir(format!("/proc/{pid}/fd")) else {
        return inodes;
    };
    for fd in fds.flatten() {
        let is_epoll = fs::read_link(fd.path())
            .is_ok_and(|target| target.to_str() == Some("anon_inode:[eventpoll]"));
        if !is_epoll {
            continue;
        }
        let info_path = format!("/proc/{pid}/fdinfo/{}", fd.file_name().to_string_lossy());
        if let Ok(info) = procfs::read(info_path) {
            inodes.extend(parse_epoll_fdinfo(&info));
        }
    }
    inodes
}

/// The `ino:` (hexadecimal) of each `tfd:` line of an epoll fd's fdinfo, e.g.
/// `tfd:       21 events:       19 data:       1500000015  pos:0 ino:3b0f sdev:8`.
fn parse_epoll_fdinfo(info: &str) -> impl Iterator<Item = u64> + '_ {
    info.lines()
        .filter(|line| line.starts_with("tfd:"))
        .filter_map(|line| {
            let ino = line
                .split_whitespace()
                .find_map(|field| field.strip_prefix("ino:"))?;
            u64::from_str_radix(ino, 16).ok()
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn stat_lines_with_odd_command_names_parse() {
        // The parent pid, as `process_tree` reads it.
        assert_eq!(procfs::stat_field("42 (node) S 7 42 42 0 -1", 4), Some(7));
        assert_eq!(procfs::stat_field("42 (a) b (c) R 9 1 1", 4), Some(9));
        assert_eq!(procfs::stat_field("garbage", 4), None);
    }

    #[test]
    fn socket_links_and_epoll_fdinfo_parse() {
        assert_eq!(parse_socket_link("socket:[12345]"), Some(12345));
        assert_eq!(parse_socket_link("pipe:[12345]"), None);
        let info = "pos:\t0\nflags:\t02000002\nmnt_id:\t15\nino:\t1057\n\
                    tfd:       21 events:       19 data:       1500000015  pos:0 ino:3b0f sdev:8\n\
                    tfd:        3 events:       19 data:        300000003  pos:0 ino:ff sdev:8\n";
        assert_eq!(parse_epoll_fdinfo(info).collect::<Vec<_>>(), [0x3b0f, 0xff]);
    }

    #[test]
    fn a_socket_in_this_process_epoll_set_is_seen() {
        use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let pid = std::process::id();
        let fd = u32::try_from(listener.as_raw_fd()).expect("fd");
        let inode = socket_inode(pid, fd).expect("the listener's inode");
        assert!(!epoll_watched_inodes(pid).contains(&inode));

        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC).expect("epoll");
        epoll
            .add(&listener, EpollEvent::new(EpollFlags::EPOLLIN, 0))
            .expect("watch the listener");
        assert!(epoll_watched_inodes(pid).contains(&inode));
    }
}

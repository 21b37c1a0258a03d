//! This machine's `/proc/PID/stat`, as proc(5) lays it out: the command name in parentheses
//! may hold spaces and parentheses, so fields are counted after its closing one.

/// Field `n` of a `/proc/PID/stat` line, numbered as proc(5) numbers them (1 is the pid,
/// 3 the state, 14 utime, 22 starttime), as a number.
pub fn stat_field(stat: &str, n: usize) -> Option<u64> {
    // After the name the state is field 3: field N is the (N - 3)th word from there.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name
        .split_whitespace()
        .nth(n.checked_sub(3)?)?
        .parse()
        .ok()
}

/// A small kernel file (`/proc`, cgroupfs) as text. `std::fs::read_to_string` first asks the
/// file's size and position to size its buffer (`statx`, `lseek`), which these files do not
/// know: `list` reads several per instance, so the calls saved count at hundreds.
pub fn read(path: impl AsRef<std::path::Path>) -> std::io::Result<String> {
    use std::io::Read;
    // `File`'s own `read_to_string` asks the size (and the position) first: read in chunks.
    let mut file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = file.read(&mut chunk)?;
        if n == 0 {
            break;
        }
        bytes.extend_from_slice(&chunk[..n]);
    }
    String::from_utf8(bytes).map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))
}

/// Clock ticks per second (`CLK_TCK`), the unit of the stat line's times.
pub fn ticks_per_second() -> Option<u64> {
    let ticks = nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK).ok()??;
    u64::try_from(ticks).ok().filter(|t| *t > 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_counted_after_the_command_name() {
        let stat = "42 (a) b (c) S 17 42 42 0 -1 4194560 1 0 0 0 100 200 0 0 20 0 1 0 98765 1 2";
        assert_eq!(stat_field(stat, 4), Some(17));
        assert_eq!(stat_field(stat, 14), Some(100));
        assert_eq!(stat_field(stat, 15), Some(200));
        assert_eq!(stat_field(stat, 22), Some(98765));
        assert_eq!(stat_field(stat, 3), None, "the state is no number");
        assert_eq!(stat_field("nonsense", 4), None);
        assert!(ticks_per_second().is_some());
    }
}

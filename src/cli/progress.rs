//! `apply`'s progress on a terminal: one counting line for the per-unit lines, so an apply of
//! hundreds of units stays readable; every other line (an app's change, a failure, a warning)
//! is printed as it comes. In a pipe every line is kept, for logs and scripts.

use std::io::Write;

/// Per-unit lines start with one of these (see `apply::execute`).
const COUNTED: [(&str, usize); 4] = [
    ("  started ", 0),
    ("  stopped ", 1),
    ("  replaced ", 2),
    ("  updated ", 3),
];
const WORDS: [&str; 4] = ["started", "stopped", "replaced", "updated"];

/// Wraps a terminal: per-unit lines become one counting line rewritten in place.
pub struct Counting<W: Write> {
    out: W,
    partial: Vec<u8>,
    counts: [usize; 4],
    /// The counting line is on screen (no newline after it yet).
    shown: bool,
}

impl<W: Write> Counting<W> {
    pub fn new(out: W) -> Counting<W> {
        Counting {
            out,
            partial: Vec::new(),
            counts: [0; 4],
            shown: false,
        }
    }

    fn summary(&self) -> String {
        let parts: Vec<String> = WORDS
            .iter()
            .zip(self.counts)
            .filter(|(_, n)| *n > 0)
            .map(|(word, n)| format!("{n} {word}"))
            .collect();
        format!("  units: {}", parts.join(", "))
    }

    fn line(&mut self, line: &str) -> std::io::Result<()> {
        if let Some((_, at)) = COUNTED.iter().find(|(p, _)| line.starts_with(p)) {
            self.counts[*at] += 1;
            let summary = self.summary();
            write!(self.out, "\r\x1b[K{summary}")?;
            self.shown = true;
        } else {
            if self.shown {
                write!(self.out, "\r\x1b[K")?;
                self.shown = false;
            }
            writeln!(self.out, "{line}")?;
        }
        self.out.flush()
    }

    /// Leaves the counting line on screen with a newline after it.
    pub fn finish(&mut self) -> std::io::Result<()> {
        if !self.partial.is_empty() {
            let rest = String::from_utf8_lossy(&std::mem::take(&mut self.partial)).into_owned();
            self.line(&rest)?;
        }
        if self.counts.iter().any(|n| *n > 0) {
            let summary = self.summary();
            writeln!(self.out, "\r\x1b[K{summary}")?;
            self.shown = false;
            self.counts = [0; 4];
        }
        self.out.flush()
    }
}

impl<W: Write> Drop for Counting<W> {
    fn drop(&mut self) {
        // Nothing to report a failed write of the last line to: stderr is gone then.
        let _ = self.finish();
    }
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.partial.extend_from_slice(buf);
        while let Some(end) = self.partial.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.partial.drain(..=end).collect();
            let text = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
            self.line(&text)?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_lines_are_counted_and_the_rest_printed() {
        let mut out = Vec::new();
        {
            let mut counting = Counting::new(&mut out);
            write!(
                counting,
                "api: create\n  started pm2ctl-api.slice\n  started pm2ctl-api@0.service\n\
                 web: roll instance 0 one at a time (x)\n  replaced pm2ctl-web@0.service: ready\n"
            )
            .expect("write");
            counting.finish().expect("finish");
        }
        let text = String::from_utf8(out).expect("utf-8");
        assert_eq!(
            text,
            "api: create\n\r\x1b[K  units: 1 started\r\x1b[K  units: 2 started\r\x1b[K\
             web: roll instance 0 one at a time (x)\n\r\x1b[K  units: 2 started, 1 replaced\
             \r\x1b[K  units: 2 started, 1 replaced\n"
        );
    }
}

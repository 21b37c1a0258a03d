//! A `$` in the command line of a unit that runs pm2ctl itself (the log wrapper `exec-wrap`,
//! the companions).
//!
//! systemd expands `$NAME` and `${NAME}` in every word of an `Exec*` command line when it runs
//! it, whether the line came from a unit file or over D-Bus, and reads `$$` as one `$`. But
//! systemd 252 writes each `$` of a transient unit's command line as `\$` in the file it keeps
//! under /run/systemd/transient, and after a `daemon-reload` reads that back as the two
//! characters `\$`: no spelling of `$` survives both. So where pm2ctl runs itself, the words
//! after its verb are sent with each `$` written as a token that holds none, named right after
//! the verb: `pm2ctl exec-wrap --dollar-as {dollar} -- node app.js {dollar}HOME`. pm2ctl puts
//! the `$` back before it reads its arguments (`decode`). A command line without `$` is left as
//! it is.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};

/// The option naming the token, right after pm2ctl's verb.
pub const FLAG: &str = "--dollar-as";

/// Writes every `$` in `argv[at..]` (the words after pm2ctl's verb, which is `argv[at - 1]`) as
/// a token none of them holds, and names the token with `FLAG` at `at`.
pub fn encode(argv: &mut Vec<String>, at: usize) {
    let Some(words) = argv.get(at..) else {
        return;
    };
    if !words.iter().any(|w| w.contains('$')) {
        return;
    }
    let token = token_for(words);
    for w in &mut argv[at..] {
        *w = w.replace('$', &token);
    }
    argv.splice(at..at, [FLAG.to_string(), token]);
}

/// `{dollar}`, or `{dollarN}` with the smallest N none of `words` holds. The token's only `{`
/// is its first character, so a token cannot start inside another one or inside the text
/// around it, and replacing tokens back is unambiguous.
fn token_for(words: &[String]) -> String {
    let mut n = 0usize;
    loop {
        let token = if n == 0 {
            "{dollar}".to_string()
        } else {
            format!("{{dollar{n}}}")
        };
        if !words.iter().any(|w| w.contains(&token)) {
            return token;
        }
        n += 1;
    }
}

/// pm2ctl's own arguments with the `$` put back, when its verb (`args[1]`) is followed by
/// `FLAG TOKEN`; otherwise unchanged.
pub fn decode(args: Vec<OsString>) -> Vec<OsString> {
    let token = match (args.get(2), args.get(3)) {
        (Some(flag), Some(token)) if flag.as_bytes() == FLAG.as_bytes() => token.clone(),
        _ => return args,
    };
    let token = token.into_vec();
    if token.is_empty() || token.contains(&b'$') {
        return args;
    }
    let mut out: Vec<OsString> = args.iter().take(2).cloned().collect();
    out.extend(
        args.into_iter()
            .skip(4)
            .map(|a| OsString::from_vec(replace(a.as_bytes(), &token, b"$"))),
    );
    out
}

/// `decode` for a command line as the plan holds it.
pub fn decode_strings(argv: &[String]) -> Vec<String> {
    decode(argv.iter().map(OsString::from).collect())
        .into_iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

fn replace(haystack: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(haystack.len());
    let mut i = 0;
    while i < haystack.len() {
        if haystack[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(haystack[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(words: &[&str]) -> Vec<String> {
        words.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn a_line_without_dollars_is_unchanged() {
        let mut argv = strings(&["/usr/bin/pm2ctl", "exec-wrap", "--", "node", "a%i\\b"]);
        let before = argv.clone();
        encode(&mut argv, 2);
        assert_eq!(argv, before);
        assert_eq!(decode_strings(&argv), before);
    }

    #[test]
    fn dollars_travel_as_a_token_and_come_back() {
        let literal = strings(&[
            "/usr/bin/pm2ctl",
            "exec-wrap",
            "--out-file",
            "/srv/$app.log",
            "--",
            "node",
            "$HOME",
            "${PATH}$$",
            "{dollar}",
            "{dollar",
            "{dollar1}$",
        ]);
        let mut argv = literal.clone();
        encode(&mut argv, 2);
        assert_eq!(
            argv[1], "exec-wrap",
            "the verb stays where readers look for it"
        );
        assert_eq!(&argv[2..4], ["--dollar-as", "{dollar2}"]);
        assert!(argv.iter().all(|a| !a.contains('$')), "{argv:?}");
        assert_eq!(decode_strings(&argv), literal);
    }

    #[test]
    fn decode_leaves_other_command_lines_alone() {
        for argv in [
            strings(&["pm2ctl", "list"]),
            strings(&["pm2ctl", "start", "app.js", "--dollar-as", "x"]),
            strings(&["pm2ctl", "exec-wrap", "--dollar-as", "", "--", "a"]),
            strings(&["pm2ctl", "exec-wrap", "--dollar-as", "$", "--", "a"]),
        ] {
            assert_eq!(decode_strings(&argv), argv);
        }
    }
}

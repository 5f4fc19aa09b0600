//! How brake writes text that comes from an input (a command, a value, a file name) where a
//! terminal or a line-based reader will see it: the joblog's Command column and every
//! `brake:` line on stderr. One function for both, so what the log records is what a message
//! shows.
//!
//! Control characters never pass raw: a value holding `ESC ]2;…BEL` must not retitle the
//! terminal, a carriage return must not overwrite the line, and a newline must not start a
//! line of its own in the joblog. `\` is written `\\`; tab, newline and carriage return `\t`,
//! `\n` and `\r`; the other C0 controls and DEL `\xHH`; the C1 controls `\u{HHHH}`. Everything
//! else, invalid UTF-8 aside (written lossily, U+FFFD), is kept as it is.

use std::ffi::OsStr;
use std::fmt::Write as _;

/// Appends `text` to `out`, escaped (see the module docs).
pub fn escape_into(out: &mut String, text: &str) {
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\t' => out.push_str("\\t"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            // Writing to a String cannot fail.
            c if c.is_ascii_control() => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:04x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
}

/// `text` escaped (see the module docs).
pub fn escape(text: &OsStr) -> String {
    let text = text.to_string_lossy();
    let mut out = String::with_capacity(text.len());
    escape_into(&mut out, &text);
    out
}

/// `text` escaped and cut to `max` characters (then `…`), for a one-line message.
pub fn shorten(text: &OsStr, max: usize) -> String {
    cut(&escape(text), max)
}

/// Text already escaped (a joblog's Command column) cut to `max` characters (then `…`). A
/// control character still in it (GNU parallel writes commands raw) is escaped; a `\` is
/// taken as the start of an escape and kept.
pub fn cut(escaped: &str, max: usize) -> String {
    let mut out = String::with_capacity(escaped.len().min(4 * max));
    for (i, c) in escaped.chars().enumerate() {
        if i == max {
            out.push('…');
            break;
        }
        if c.is_control() {
            let mut buffer = [0u8; 4];
            escape_into(&mut out, c.encode_utf8(&mut buffer));
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;
    use std::os::unix::ffi::OsStringExt;

    use super::*;

    #[test]
    fn control_characters_never_pass_raw() {
        let title = OsStr::new("a\u{1b}]2;pwned\u{7}b");
        assert_eq!(escape(title), "a\\x1b]2;pwned\\x07b");
        assert_eq!(escape(OsStr::new("x\ty\nz\r\\")), "x\\ty\\nz\\r\\\\");
        assert_eq!(escape(OsStr::new("\u{7f}\u{9b}2J")), "\\x7f\\u{009b}2J");
        assert_eq!(escape(OsStr::new("café ✓")), "café ✓");
        let invalid = OsString::from_vec(b"caf\xe9".to_vec());
        assert_eq!(escape(&invalid), "caf\u{fffd}");
        for c in (0..0x20).chain(0x7f..0xa0).filter_map(char::from_u32) {
            let escaped = escape(OsStr::new(&c.to_string()));
            assert!(!escaped.chars().any(char::is_control), "{c:?}");
        }
    }

    #[test]
    fn long_text_is_cut_after_escaping() {
        let long = OsString::from("x".repeat(200));
        assert_eq!(shorten(&long, 80).chars().count(), 81);
        assert_eq!(shorten(OsStr::new("a\nb"), 80), "a\\nb");
        assert_eq!(shorten(OsStr::new("\u{1b}abc"), 3), "\\x1…");
        assert_eq!(cut("a\\tb\u{1b}", 80), "a\\tb\\x1b");
    }
}

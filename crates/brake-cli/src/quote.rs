//! Quoting for POSIX `sh`: how an input value goes into a shell command line as exactly one
//! literal word, or one literal piece of a word inside quotes, whatever bytes it holds.

use std::borrow::Cow;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

use crate::template::Quote;

/// Whether `sh` leaves this byte alone in any word position: no expansion, splitting,
/// globbing or syntax. `~` (tilde expansion at a word's start) and `=` (an assignment in the
/// first word) are left out on purpose.
pub fn is_safe_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"_-./,:@%+".contains(&byte)
}

/// Whether `bytes` can stand in a shell command line unquoted: non-empty, and safe bytes only.
pub fn is_safe_literal(bytes: &[u8]) -> bool {
    !bytes.is_empty() && bytes.iter().all(|&b| is_safe_byte(b))
}

/// `arg` as one literal `sh` word: unchanged when it is safe (so commands stay readable in
/// `--dry-run` and the joblog), otherwise in single quotes, each `'` written `'\''`. Newlines,
/// `$(…)`, backquotes, globs and invalid UTF-8 all stay literal inside single quotes.
pub fn quote(arg: &OsStr) -> Cow<'_, OsStr> {
    let bytes = arg.as_bytes();
    if is_safe_literal(bytes) {
        return Cow::Borrowed(arg);
    }
    let mut out = Vec::with_capacity(bytes.len() + 2);
    push_quoted(&mut out, bytes);
    Cow::Owned(OsString::from_vec(out))
}

/// Appends `bytes` to `out` as one literal `sh` word (see [`quote`]).
pub fn push_quoted(out: &mut Vec<u8>, bytes: &[u8]) {
    if is_safe_literal(bytes) {
        out.extend_from_slice(bytes);
        return;
    }
    out.push(b'\'');
    for &byte in bytes {
        if byte == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(byte);
        }
    }
    out.push(b'\'');
}

/// Appends `value` as one literal piece of data where the template's text has `quote` around
/// it, inside `backquotes` levels of backquoted command substitutions.
pub fn push_in_context(out: &mut Vec<u8>, value: &[u8], quote: Quote, backquotes: u8) {
    let push = |out: &mut Vec<u8>, value: &[u8]| match quote {
        Quote::Bare => push_quoted(out, value),
        Quote::Single => push_in_single_quotes(out, value),
        Quote::Double => push_in_double_quotes(out, value),
        Quote::AnsiC => push_in_ansi_c_quotes(out, value),
    };
    if backquotes == 0 {
        return push(out, value);
    }
    let mut text = Vec::with_capacity(value.len() + 2);
    push(&mut text, value);
    for _ in 0..backquotes {
        let mut outer = Vec::with_capacity(text.len() + 4);
        for &byte in &text {
            if matches!(byte, b'\\' | b'`' | b'$') {
                outer.push(b'\\');
            }
            outer.push(byte);
        }
        text = outer;
    }
    out.extend_from_slice(&text);
}

/// `value` inside the template's single quotes: each `'` closes them, is escaped, and reopens
/// them; nothing else is special there.
fn push_in_single_quotes(out: &mut Vec<u8>, value: &[u8]) {
    for &byte in value {
        if byte == b'\'' {
            out.extend_from_slice(b"'\\''");
        } else {
            out.push(byte);
        }
    }
}

/// `value` inside the template's double quotes: `$`, `` ` ``, `"` and `\` get a backslash, the
/// only characters the shell acts on there.
fn push_in_double_quotes(out: &mut Vec<u8>, value: &[u8]) {
    for &byte in value {
        if matches!(byte, b'$' | b'`' | b'"' | b'\\') {
            out.push(b'\\');
        }
        out.push(byte);
    }
}

/// `value` inside the template's `$'…'`: `\` is written `\\` and `'` is written `\047`, so that
/// a shell without `$'…'` (dash), which reads plain single quotes there, still finds no quote
/// in it; every other byte stands for itself.
fn push_in_ansi_c_quotes(out: &mut Vec<u8>, value: &[u8]) {
    for &byte in value {
        match byte {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\'' => out.extend_from_slice(b"\\047"),
            _ => out.push(byte),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::process::Command;

    fn quoted(text: &str) -> String {
        quote(OsStr::new(text)).to_string_lossy().into_owned()
    }

    #[test]
    fn safe_words_stay_as_they_are() {
        assert_eq!(quoted("file-1.txt"), "file-1.txt");
        assert_eq!(quoted("/tmp/a,b:c@d%e+f"), "/tmp/a,b:c@d%e+f");
    }

    #[test]
    fn everything_else_is_single_quoted() {
        assert_eq!(quoted(""), "''");
        assert_eq!(quoted("a b"), "'a b'");
        assert_eq!(quoted("it's"), "'it'\\''s'");
        assert_eq!(
            quoted("$(touch pwned); rm -rf x"),
            "'$(touch pwned); rm -rf x'"
        );
        assert_eq!(quoted("~root"), "'~root'");
        assert_eq!(quoted("a=b"), "'a=b'");
    }

    /// What `sh` makes of `word`: the arguments it passes to printf, NUL-terminated.
    fn through_sh(word: &OsStr) -> Vec<u8> {
        let mut script = b"printf '%s\\0' ".to_vec();
        script.extend_from_slice(word.as_bytes());
        let out = Command::new("/bin/sh")
            .arg("-c")
            .arg(OsStr::from_bytes(&script))
            .output()
            .expect("run sh");
        assert!(out.status.success(), "sh failed on {script:?}");
        out.stdout
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]

        #[test]
        fn any_bytes_arrive_as_one_literal_argument(
            bytes in prop::collection::vec(
                prop_oneof![
                    1u8..=255,
                    prop::sample::select(b"'\"\\$`!*?[]{}()<>|&;#~= \t\n".to_vec()),
                ],
                0..24,
            )
        ) {
            let arg = OsString::from_vec(bytes.clone());
            let mut expected = bytes;
            expected.push(0);
            prop_assert_eq!(through_sh(&quote(&arg)), expected);
        }
    }
}

//! Where a block may end: between a record's end (`--recend`, `\n` by default) and the next
//! record's start (`--recstart`, nothing by default), as literal text or, with `--regexp`,
//! regular expressions.

use memchr::memmem;
use regex::bytes::Regex;

/// The split points of a stream of records.
#[derive(Debug, Clone)]
pub struct Records {
    how: How,
    /// Bytes past a split point that must be read to know it is one (`--recstart`'s length).
    lookahead: usize,
}

#[derive(Debug, Clone)]
enum How {
    Literal {
        end: Vec<u8>,
        start: Vec<u8>,
    },
    /// One expression, `(?:END)()(?:START)`: the empty group marks the split.
    Regex(Regex),
}

impl Records {
    /// Records ending with `end` and starting with `start` (already unescaped).
    pub fn literal(end: Vec<u8>, start: Vec<u8>) -> Records {
        Records {
            lookahead: start.len(),
            how: How::Literal { end, start },
        }
    }

    /// Records whose end and start match these regular expressions. `lookahead` bytes past a
    /// split are read before it is trusted.
    pub fn regex(end: &str, start: &str, lookahead: usize) -> Result<Records, String> {
        let pattern = format!("(?s-u:{end})()(?s-u:{start})");
        let regex = Regex::new(&pattern).map_err(|err| {
            let first = err.to_string();
            let first = first.lines().last().unwrap_or("").trim().to_owned();
            format!(
                "--recend {end:?} / --recstart {start:?} is not a regular expression \
                 ({first}); without --regexp they are plain text"
            )
        })?;
        Ok(Records {
            how: How::Regex(regex),
            lookahead,
        })
    }

    /// How many bytes past a split point must be there to know it is one.
    pub fn lookahead(&self) -> usize {
        self.lookahead
    }

    /// The last split point `p` with `0 < p <= limit` in `data`: `data[..p]` ends a record
    /// and `data[p..]` begins one.
    pub fn last_split(&self, data: &[u8], limit: usize) -> Option<usize> {
        let limit = limit.min(data.len());
        match &self.how {
            How::Literal { end, start } => {
                let starts_at = |p: usize| p > 0 && data[p..].starts_with(start);
                if end.is_empty() {
                    if start.is_empty() {
                        return (limit > 0).then_some(limit);
                    }
                    let window = &data[..(limit + start.len()).min(data.len())];
                    return memmem::rfind_iter(window, start).find(|&p| p > 0 && p <= limit);
                }
                let mut window = limit;
                while let Some(at) = memmem::rfind(&data[..window], end) {
                    let p = at + end.len();
                    if starts_at(p) {
                        return Some(p);
                    }
                    // An occurrence overlapping this one may still end a record.
                    window = p - 1;
                }
                None
            }
            How::Regex(regex) => {
                let mut last = None;
                let mut from = 0;
                while let Some(caps) = regex.captures_at(data, from) {
                    let p = caps.get(1).map_or(0, |m| m.start());
                    if p > limit {
                        break;
                    }
                    if p > 0 {
                        last = Some(p);
                    }
                    // Every split point counts, even where matches would overlap.
                    from = caps.get(0).map_or(data.len(), |m| m.start() + 1);
                    if from > data.len() {
                        break;
                    }
                }
                last
            }
        }
    }

    /// The first split point `p >= from` in `data`, if `data` shows one.
    pub fn first_split(&self, data: &[u8], from: usize) -> Option<usize> {
        match &self.how {
            How::Literal { end, start } => {
                if end.is_empty() && start.is_empty() {
                    return (from.max(1) <= data.len()).then_some(from.max(1));
                }
                let mut at = from.max(1).saturating_sub(end.len());
                loop {
                    let hay = data.get(at..)?;
                    let found = if end.is_empty() {
                        memmem::find(hay, start)? + at
                    } else {
                        memmem::find(hay, end)? + at + end.len()
                    };
                    if found >= from.max(1) && data[found..].starts_with(start) {
                        return Some(found);
                    }
                    at = if end.is_empty() {
                        found + 1
                    } else {
                        found - end.len() + 1
                    };
                }
            }
            How::Regex(regex) => {
                let mut at = 0;
                while let Some(caps) = regex.captures_at(data, at) {
                    let p = caps.get(1).map_or(0, |m| m.start());
                    if p >= from.max(1) {
                        return Some(p);
                    }
                    at = caps.get(0).map_or(data.len(), |m| m.start() + 1);
                    if at > data.len() {
                        return None;
                    }
                }
                None
            }
        }
    }
}

/// `--recend` / `--recstart` text with its backslash escapes turned into bytes: `\n`, `\t`,
/// `\r`, `\0`, `\\` and `\xHH`; any other backslash stays as written.
pub fn unescape(text: &str) -> Vec<u8> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'\\' || i + 1 == bytes.len() {
            out.push(bytes[i]);
            i += 1;
            continue;
        }
        let escaped = match bytes[i + 1] {
            b'n' => Some(b'\n'),
            b't' => Some(b'\t'),
            b'r' => Some(b'\r'),
            b'0' => Some(0),
            b'\\' => Some(b'\\'),
            b'x' => text
                .get(i + 2..i + 4)
                .and_then(|hex| u8::from_str_radix(hex, 16).ok())
                .inspect(|_| i += 2),
            _ => None,
        };
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 2;
            }
            None => {
                out.push(b'\\');
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lit(end: &str, start: &str) -> Records {
        Records::literal(unescape(end), unescape(start))
    }

    #[test]
    fn lines_split_after_the_last_newline_within_the_limit() {
        let lines = lit("\\n", "");
        assert_eq!(lines.last_split(b"1\n2\n3\n4", 5), Some(4));
        assert_eq!(lines.last_split(b"9\n10\n11\n", 5), Some(5));
        assert_eq!(lines.last_split(b"abcdef\n", 5), None);
        assert_eq!(lines.last_split(b"\nabc", 3), Some(1));
        assert_eq!(lines.first_split(b"1\n2\n3\n", 5), Some(6));
        assert_eq!(lines.first_split(b"1\n2\n3\n", 4), Some(4));
        assert_eq!(lines.first_split(b"1\n2\n3", 5), None);
    }

    #[test]
    fn a_record_start_must_follow_the_end() {
        let fasta = lit("\\n", ">");
        let data = b">a\nAC\nGT\n>b\nTT\n";
        assert_eq!(fasta.last_split(data, 12), Some(9));
        assert_eq!(fasta.last_split(data, 8), None);
        assert_eq!(fasta.first_split(data, 1), Some(9));
        let start_only = lit("", ">");
        assert_eq!(start_only.last_split(data, 12), Some(9));
        assert_eq!(start_only.last_split(b">a>b", 4), Some(2));
        let both = lit("X", "Y");
        assert_eq!(both.last_split(b"aXYbXYc", 4), Some(2));
        assert_eq!(both.last_split(b"YbXYc", 4), Some(3));
        assert_eq!(both.first_split(b"aXYbXYc", 3), Some(5));
    }

    #[test]
    fn overlapping_ends_are_each_tried() {
        let double = lit("aa", "b");
        assert_eq!(double.last_split(b"xaaab", 5), Some(4));
        assert_eq!(double.first_split(b"xaaab", 1), Some(4));
    }

    #[test]
    fn regular_expressions_split_between_end_and_start() {
        let re = Records::regex("\\n", "[0-9]", 1).unwrap();
        assert_eq!(re.last_split(b"a\n1\nb\n2", 7), Some(6));
        assert_eq!(re.last_split(b"a\n1\nb\n2", 5), Some(2));
        assert_eq!(re.first_split(b"a\n1\nb\n2", 3), Some(6));
        assert!(Records::regex("(", "", 0)
            .unwrap_err()
            .contains("is not a regular expression"));
    }

    #[test]
    fn escapes_become_bytes() {
        assert_eq!(unescape("\\n"), b"\n");
        assert_eq!(unescape("a\\tb\\0\\\\\\x41\\q\\"), b"a\tb\0\\A\\q\\");
        assert_eq!(unescape("\\xZZ"), b"\\xZZ");
    }
}

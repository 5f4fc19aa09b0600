//! The options that put many values in one command, as GNU parallel and xargs have them:
//! `-N`, `-n`, `-L`/`-l`, `-X`, `-m`, `--xargs`, `-s`, and what they decide together (see
//! [`Packing`]).

use std::ffi::OsString;

/// Values per command (GNU parallel's `-N`, `-n`, `-L`, `-X`, `-m`, `--xargs`, `-s`).
#[derive(clap::Args, Debug, Default, Clone)]
#[command(next_help_heading = "Many values per command")]
pub struct PackArgs {
    /// N values per job, {1} … {N} each one of them, {} repeated per value in its word; the
    /// last job may have fewer. -N0 runs one job per value and passes none
    #[arg(short = 'N', long = "max-replace-args", value_name = "N", value_parser = parse_count)]
    pub max_replace_args: Option<usize>,

    /// At most N values per job, where {} stands or at the end (as xargs -n); -n0 is -N0
    #[arg(short = 'n', long = "max-args", value_name = "N", value_parser = parse_count)]
    pub max_args: Option<usize>,

    /// At most N input lines per job; a line ending in a blank goes on on the next line. -L0
    /// is -N0
    #[arg(short = 'L', value_name = "N", value_parser = parse_count)]
    pub lines: Option<usize>,

    /// Like -L, N optional (1, also for 0)
    ///
    /// As in GNU parallel, the word after -l is its N only when it is a count: in -l echo,
    /// echo is the command.
    #[arg(short = 'l', long = "max-lines", value_name = "N", num_args = 0..=1,
          default_missing_value = "1")]
    pub max_lines: Option<OsString>,

    /// As many values per job as the command line holds, each word holding {} repeated per
    /// value (pict{}.jpg → pict1.jpg pict2.jpg); spread over the job slots at the end
    #[arg(short = 'X')]
    pub context: bool,

    /// As many values per job as the command line holds, all of them where {} stands,
    /// separated by spaces; spread over the job slots at the end
    #[arg(short = 'm')]
    pub multiple: bool,

    /// As many values per job as the command line holds (like -m, without the spreading)
    #[arg(long)]
    pub xargs: bool,

    /// Command lines (the shell line brake runs) shorter than N bytes; a value that does not
    /// fit alone stops the run (exit 255)
    #[arg(short = 's', long = "max-chars", value_name = "N", value_parser = parse_count)]
    pub max_chars: Option<usize>,

    /// Print the command line limits, then run as asked
    #[arg(long)]
    pub show_limits: bool,
}

/// How a value goes where `{}` stands when a job has many.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// One value per job: nothing packed.
    One,
    /// `-m`, `--xargs`, `-n`: every value where `{}` stands, separated by spaces.
    Join,
    /// `-X`, `-N`, `-L`: the word holding `{}` repeated for each value.
    Context,
}

/// What the options decide together.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packing {
    /// How `{}` takes a job's values.
    pub style: Style,
    /// The most input records per job: `None` for as many as fit; `Some(0)` reads one and
    /// passes none.
    pub per_job: Option<usize>,
    /// `-L`/`-l`: records are lines, and a line ending in a blank goes on on the next.
    pub lines: bool,
    /// `-s`: the most bytes per command line, when given.
    pub max_chars: Option<usize>,
    /// `-m`, `-X`: at the end of the input, the last values are spread over the job slots.
    pub spread: bool,
}

impl Packing {
    /// One record per job, nothing packed: brake without these options.
    pub const ONE: Packing = Packing {
        style: Style::One,
        per_job: Some(1),
        lines: false,
        max_chars: None,
        spread: false,
    };

    /// Whether jobs' command line lengths count: whenever a job can have more than one record,
    /// or `-s` asks.
    pub fn measured(&self) -> bool {
        self.max_chars.is_some() || !matches!(self.per_job, Some(0 | 1))
    }
}

impl PackArgs {
    /// `-l`'s count, when the word after it is one.
    fn max_lines_count(&self) -> Option<usize> {
        let word = self.max_lines.as_ref()?;
        Some(word.to_str().and_then(|w| parse_count(w).ok())?.max(1))
    }

    /// The command's words: those clap left, after the word `-l` took that is no count.
    pub fn command(&self, words: &[OsString]) -> Vec<OsString> {
        match &self.max_lines {
            Some(word) if self.max_lines_count().is_none() => std::iter::once(word.clone())
                .chain(words.iter().cloned())
                .collect(),
            _ => words.to_vec(),
        }
    }

    /// The packing these options ask for, as GNU parallel combines them.
    pub fn packing(&self) -> Packing {
        let lines = self.lines.or_else(|| {
            self.max_lines
                .as_ref()
                .map(|_| self.max_lines_count().unwrap_or(1))
        });
        let per_job = self.max_replace_args.or(self.max_args).or(lines);
        let many = self.context || self.multiple || self.xargs;
        let style = if self.max_replace_args.is_some() {
            Style::Context
        } else if self.multiple || self.xargs {
            Style::Join
        } else if self.context || self.lines.is_some() {
            Style::Context
        } else if per_job.is_some() || (self.max_chars.is_some() && many) {
            Style::Join
        } else {
            Style::One
        };
        let per_job = match per_job {
            Some(n) => Some(n),
            None if many => None,
            None => Some(1),
        };
        let per_job = match style {
            Style::One => Some(1),
            _ => per_job,
        };
        Packing {
            style,
            per_job,
            lines: lines.is_some(),
            max_chars: self.max_chars,
            spread: self.context || self.multiple,
        }
    }
}

/// A count with GNU parallel's unit suffixes: k m g t p (powers of 1000) and K M G T P
/// (powers of 1024).
fn parse_count(text: &str) -> Result<usize, String> {
    let bad = || format!("{text:?} is not a count: write a whole number such as 10, or 2k or 1M");
    let (digits, scale) = match text.char_indices().last() {
        Some((at, c)) if c.is_ascii_alphabetic() => {
            let power = match c.to_ascii_lowercase() {
                'k' => 1,
                'm' => 2,
                'g' => 3,
                't' => 4,
                'p' => 5,
                _ => return Err(bad()),
            };
            let base: u64 = if c.is_ascii_uppercase() { 1024 } else { 1000 };
            (&text[..at], base.pow(power))
        }
        _ => (text, 1),
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let n: u64 = digits.parse().map_err(|_| bad())?;
    n.checked_mul(scale)
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    #[derive(clap::Parser)]
    struct Wrapper {
        #[command(flatten)]
        pack: PackArgs,
    }

    fn packing(line: &str) -> Packing {
        let argv = std::iter::once("x").chain(line.split_whitespace());
        Wrapper::try_parse_from(argv).unwrap().pack.packing()
    }

    #[test]
    fn counts_take_unit_suffixes() {
        assert_eq!(parse_count("12"), Ok(12));
        assert_eq!(parse_count("2k"), Ok(2000));
        assert_eq!(parse_count("1K"), Ok(1024));
        assert!(parse_count("-1").unwrap_err().contains("not a count"));
        assert!(parse_count("x").is_err());
        assert!(parse_count("").is_err());
    }

    #[test]
    fn options_combine_as_gnu_parallel_does() {
        let one = packing("");
        assert_eq!((one.style, one.per_job), (Style::One, Some(1)));
        let n = packing("-N 3");
        assert_eq!(
            (n.style, n.per_job, n.spread),
            (Style::Context, Some(3), false)
        );
        assert_eq!(packing("-N2 -m").style, Style::Context);
        assert_eq!(packing("-n 2").style, Style::Join);
        assert_eq!(packing("-n 2 -X").style, Style::Context);
        let x = packing("-X");
        assert_eq!((x.style, x.per_job, x.spread), (Style::Context, None, true));
        let m = packing("-m");
        assert_eq!((m.style, m.per_job, m.spread), (Style::Join, None, true));
        let xargs = packing("--xargs -s 100");
        assert_eq!((xargs.style, xargs.spread), (Style::Join, false));
        assert_eq!(xargs.max_chars, Some(100));
        assert_eq!(packing("-L 2").style, Style::Context);
        assert!(packing("-L 2").lines);
        assert_eq!(packing("-l").per_job, Some(1));
        assert_eq!(packing("-l0").per_job, Some(1));
        assert_eq!(packing("-l2").style, Style::Join);
        assert_eq!(packing("-l 2").per_job, Some(2));
        let args = Wrapper::try_parse_from(["x", "-l", "echo"]).unwrap().pack;
        assert_eq!(args.packing().per_job, Some(1));
        assert_eq!(args.command(&[OsString::from("a")]), ["echo", "a"]);
        assert_eq!(packing("-L0").per_job, Some(0));
        let s = packing("-s 80");
        assert_eq!(
            (s.style, s.per_job, s.max_chars),
            (Style::One, Some(1), Some(80))
        );
    }
}

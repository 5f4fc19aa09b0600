//! GNU parallel's scheduling and output options that brake takes as GNU parallel does: the
//! ones that only print a fact and exit (`--number-of-cores`, `--minversion`), the ones that
//! change nothing here (`--will-cite`, `--gnu`, `--plain`), and those that shape when jobs
//! start and where their output goes (`--delay`, `--shuf`, `--nice`, `--tagstring`, `--files`,
//! `--results`). Values are checked here, before anything runs.

use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Duration;

/// The GNU parallel release whose behaviour brake follows: what `--minversion` compares with.
pub const GNU_VERSION: u32 = 20221122;

/// GNU parallel's scheduling and output options.
#[derive(clap::Args, Debug, Default, Clone)]
#[command(next_help_heading = "Scheduling and output (as in GNU parallel)")]
pub struct Options {
    /// Wait this long between job starts (30, 0.5, 500ms, 2m); a stop ends the wait at once
    #[arg(long, value_name = "DURATION", value_parser = parse_delay, allow_hyphen_values = true)]
    pub delay: Option<Duration>,

    /// Show progress on stderr: brake's --bar (done and running jobs, the ETA)
    #[arg(long)]
    pub progress: bool,

    /// Show the estimated time left on stderr: brake's --bar (done and running jobs, the ETA)
    #[arg(long)]
    pub eta: bool,

    /// Start a job only while fewer processes than MAX are running on the machine; MAX as -j
    /// writes it (N, +N, -N, N% of the CPUs; 0 means none may be)
    #[arg(long, value_name = "MAX", value_parser = super::parse_jobs, allow_hyphen_values = true)]
    pub load: Option<super::Jobs>,

    /// Start a job only while the machine has at least SIZE of memory available (K, M, G, T, P
    /// count in 1024s, k, m, g, t, p in 1000s)
    #[arg(long, value_name = "SIZE", value_parser = parse_size)]
    pub memfree: Option<u64>,

    /// Run the jobs in random order (all the input is read first)
    #[arg(long)]
    pub shuf: bool,

    /// Run jobs at this niceness (a level below brake's own is not possible without privilege:
    /// brake's is kept)
    #[arg(long, value_name = "N", value_parser = parse_nice, allow_hyphen_values = true)]
    pub nice: Option<i32>,

    /// Prefix each output line with STR and a tab; STR may hold replacement strings ({} {#}
    /// {%} {1} {.} …), put in as they are (they are not shell-quoted there)
    #[arg(long, value_name = "STR")]
    pub tagstring: Option<OsString>,

    /// Print the output of each job to a file of its own in $TMPDIR (or --tmpdir) and the
    /// file's name instead of the output
    #[arg(long)]
    pub files: bool,

    /// Where --files puts its files [default: $TMPDIR, else /tmp]
    #[arg(long, value_name = "DIR")]
    pub tmpdir: Option<PathBuf>,

    /// Save each job's output under NAME: NAME/1/VALUE/stdout, …/stderr and …/seq (one level
    /// per source), or a file per job when NAME holds replacement strings, or one table when
    /// NAME ends in .csv, .tsv or .json
    #[arg(long, visible_alias = "res", value_name = "NAME")]
    pub results: Option<OsString>,

    /// Count CPUs as cores, not threads, for -j (GNU's --use-cores-instead-of-threads)
    #[arg(long, visible_alias = "use-cores-instead-of-threads")]
    pub use_cpus_instead_of_cores: bool,

    /// Print the number of CPU cores and exit
    #[arg(long)]
    pub number_of_cores: bool,

    /// Print the number of CPU cores and exit (GNU's older name for --number-of-cores)
    #[arg(long)]
    pub number_of_cpus: bool,

    /// Print the number of CPU threads and exit
    #[arg(long)]
    pub number_of_threads: bool,

    /// Print the number of CPU sockets and exit
    #[arg(long)]
    pub number_of_sockets: bool,

    /// Print the GNU parallel version brake follows (20221122) and exit 0, or 255 when it is
    /// older than VERSION
    #[arg(long, value_name = "VERSION")]
    pub minversion: Option<String>,

    /// Accepted for GNU parallel's command lines: brake prints no citation notice
    #[arg(long, hide = true)]
    pub will_cite: bool,

    /// Accepted for GNU parallel's command lines: brake prints no citation notice
    #[arg(long, hide = true)]
    pub no_notice: bool,

    /// Accepted for GNU parallel's command lines: brake always behaves as GNU parallel
    #[arg(long, hide = true)]
    pub gnu: bool,

    /// Accepted for GNU parallel's command lines: brake reads no $PARALLEL nor profile
    #[arg(long, hide = true)]
    pub plain: bool,
}

/// The ids of the options that answer without a command.
pub const ANSWER_ONLY: [&str; 5] = [
    "number_of_cores",
    "number_of_cpus",
    "number_of_threads",
    "number_of_sockets",
    "minversion",
];

impl Options {
    /// For an option that prints a fact and exits: the text for stdout and the exit status.
    /// A bad `--minversion` is a usage error.
    pub fn answer(&self) -> Option<Result<(String, u8), String>> {
        if let Some(wanted) = &self.minversion {
            return Some(minversion(wanted));
        }
        let cpus = Cpus::here();
        let number = if self.number_of_cores || self.number_of_cpus {
            cpus.cores
        } else if self.number_of_threads {
            cpus.threads
        } else if self.number_of_sockets {
            cpus.sockets
        } else {
            return None;
        };
        Some(Ok((format!("{number}\n"), 0)))
    }

    /// The number of CPUs that `-j` counts from: threads, or cores with
    /// `--use-cpus-instead-of-cores`.
    pub fn cpus(&self) -> usize {
        let cpus = Cpus::here();
        if self.use_cpus_instead_of_cores {
            cpus.cores
        } else {
            cpus.threads
        }
    }
}

/// `--minversion`: GNU's version on stdout, and 255 when it is older than `wanted`.
fn minversion(wanted: &str) -> Result<(String, u8), String> {
    let wanted: u64 = wanted.trim().parse().map_err(|_| {
        format!("--minversion {wanted:?}: expected a GNU parallel version, a date such as 20170422")
    })?;
    let status = if u64::from(GNU_VERSION) >= wanted {
        0
    } else {
        255
    };
    Ok((format!("{GNU_VERSION}\n"), status))
}

/// The machine's CPUs counted three ways.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cpus {
    sockets: usize,
    cores: usize,
    threads: usize,
}

impl Cpus {
    /// The CPUs brake may use: threads as the scheduler allows them, and the cores and sockets
    /// that `/proc/cpuinfo` shows (no more than the threads).
    fn here() -> Cpus {
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let info = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        Cpus::from_cpuinfo(&info, threads)
    }

    fn from_cpuinfo(info: &str, threads: usize) -> Cpus {
        let mut sockets = std::collections::BTreeSet::new();
        let mut cores = std::collections::BTreeSet::new();
        let mut socket = "";
        for line in info.lines() {
            let Some((key, value)) = line.split_once(':') else {
                continue;
            };
            match key.trim() {
                "physical id" => {
                    socket = value.trim();
                    sockets.insert(socket);
                }
                "core id" => {
                    cores.insert((socket, value.trim()));
                }
                _ => {}
            }
        }
        let count = |n: usize| if n == 0 { threads } else { n.min(threads) };
        Cpus {
            sockets: if sockets.is_empty() {
                1
            } else {
                sockets.len().min(threads)
            },
            cores: count(cores.len()),
            threads,
        }
    }
}

/// `--timeout`: a fixed time, or GNU parallel's share of the median run time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Timeout {
    /// This long.
    After(Duration),
    /// This percentage of the median run time of the jobs that succeeded so far.
    Percent(f64),
}

impl Timeout {
    /// The fixed time, if it is one.
    pub fn fixed(self) -> Option<Duration> {
        match self {
            Timeout::After(duration) => Some(duration),
            Timeout::Percent(_) => None,
        }
    }

    /// The share in percent, if it is one.
    pub fn percent(self) -> Option<f64> {
        match self {
            Timeout::After(_) => None,
            Timeout::Percent(percent) => Some(percent),
        }
    }
}

/// `--timeout`: a duration (see `parse_duration`) or `N%`.
pub fn parse_timeout(text: &str) -> Result<Timeout, String> {
    match text.trim().strip_suffix('%') {
        Some(percent) => match percent.parse::<f64>() {
            Ok(p) if p.is_finite() && p > 0.0 => Ok(Timeout::Percent(p)),
            _ => Err(format!(
                "{text:?} is not a share of the median run time (e.g. --timeout 200%)"
            )),
        },
        None => super::parse_duration(text).map(Timeout::After),
    }
}

/// `--delay`: seconds (or with a unit, as `--timeout`), 0 included.
fn parse_delay(text: &str) -> Result<Duration, String> {
    if text.ends_with("auto") {
        return Err(format!(
            "--delay {text:?}: brake has no self-adjusting delay; give a fixed one (e.g. --delay 0.5)"
        ));
    }
    if text.trim().parse::<f64>().is_ok_and(|secs| secs == 0.0) {
        return Ok(Duration::ZERO);
    }
    super::parse_duration(text)
        .map_err(|err| format!("--delay: {}", err.replace("a timeout", "a delay")))
}

/// `--memfree`: a number of bytes, with GNU parallel's unit letters.
fn parse_size(text: &str) -> Result<u64, String> {
    let bad = || {
        format!("{text:?} is not a size: write a number of bytes, or with K, M, G, T or P (e.g. --memfree 1G)")
    };
    let trimmed = text.trim();
    let (number, scale) = match trimmed.char_indices().last() {
        Some((at, unit)) if unit.is_ascii_alphabetic() => {
            let scale: f64 = match unit {
                'K' => 1024.0,
                'M' => 1024.0 * 1024.0,
                'G' => 1024.0 * 1024.0 * 1024.0,
                'T' => 1024f64.powi(4),
                'P' => 1024f64.powi(5),
                'k' => 1e3,
                'm' => 1e6,
                'g' => 1e9,
                't' => 1e12,
                'p' => 1e15,
                _ => return Err(bad()),
            };
            (&trimmed[..at], scale)
        }
        _ => (trimmed, 1.0),
    };
    let value: f64 = number.parse().map_err(|_| bad())?;
    let bytes = value * scale;
    if !bytes.is_finite() || bytes < 0.0 || bytes > u64::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes as u64)
}

/// `--nice`: a niceness from -20 to 19.
fn parse_nice(text: &str) -> Result<i32, String> {
    match text.parse::<i32>() {
        Ok(n) if (-20..=19).contains(&n) => Ok(n),
        _ => Err(format!(
            "{text:?} is not a niceness: --nice takes a whole number from -20 to 19 (e.g. --nice 10)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpus_are_counted_from_cpuinfo() {
        let info = "processor\t: 0\nphysical id\t: 0\ncore id\t\t: 0\n\n\
                    processor\t: 1\nphysical id\t: 0\ncore id\t\t: 0\n\n\
                    processor\t: 2\nphysical id\t: 0\ncore id\t\t: 1\n\n\
                    processor\t: 3\nphysical id\t: 1\ncore id\t\t: 0\n";
        assert_eq!(
            Cpus::from_cpuinfo(info, 4),
            Cpus {
                sockets: 2,
                cores: 3,
                threads: 4
            }
        );
        assert_eq!(Cpus::from_cpuinfo("", 6).cores, 6);
        assert_eq!(
            Cpus::from_cpuinfo(info, 2).cores,
            2,
            "no more than the threads"
        );
    }

    #[test]
    fn minversion_compares_with_gnus_release() {
        assert_eq!(minversion("20170422"), Ok(("20221122\n".into(), 0)));
        assert_eq!(minversion("20221122"), Ok(("20221122\n".into(), 0)));
        assert_eq!(minversion("20991231"), Ok(("20221122\n".into(), 255)));
        assert!(minversion("new").unwrap_err().contains("a date such as"));
    }

    #[test]
    fn timeouts_take_a_share_of_the_median() {
        assert_eq!(parse_timeout("200%"), Ok(Timeout::Percent(200.0)));
        assert_eq!(
            parse_timeout("1.5"),
            Ok(Timeout::After(Duration::from_millis(1500)))
        );
        assert!(parse_timeout("0%").unwrap_err().contains("median"));
        assert!(parse_timeout("x%").is_err());
        assert!(parse_timeout("-5").unwrap_err().contains("more than zero"));
    }

    #[test]
    fn sizes_take_gnus_units() {
        assert_eq!(parse_size("1M"), Ok(1 << 20));
        assert_eq!(parse_size("2k"), Ok(2000));
        assert_eq!(parse_size("0.5G"), Ok(1 << 29));
        assert_eq!(parse_size("300"), Ok(300));
        assert!(parse_size("1X").unwrap_err().contains("not a size"));
        assert!(parse_size("-1M").is_err());
    }

    #[test]
    fn delays_and_niceness_are_checked() {
        assert_eq!(parse_delay("0"), Ok(Duration::ZERO));
        assert_eq!(parse_delay("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_delay("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_delay("-1")
            .unwrap_err()
            .contains("a delay must be more"));
        assert!(parse_delay("1sauto").unwrap_err().contains("fixed one"));
        assert_eq!(parse_nice("17"), Ok(17));
        assert!(parse_nice("20").unwrap_err().contains("-20 to 19"));
        assert!(parse_nice("x").is_err());
    }
}

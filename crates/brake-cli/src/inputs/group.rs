//! Many values per job (`-N`, `-n`, `-L`, `-X`, `-m`, `--xargs`, `-s`): the inputs' records
//! (one value per source) gathered into jobs, as GNU parallel gathers them.
//!
//! A job's values are its records' values in order, record after record. A job takes records
//! until it has as many as asked, or until the next would make its command line reach the
//! length limit (`-s`, else what the system allows, as GNU parallel computes it); a record
//! whose command line is too long alone ends the input with an error. With `-X` and `-m`,
//! the records left when the input ends are spread evenly over the job slots. With `-L`, a
//! line that ends in a blank goes on on the next line. `-N0` reads one record per job and
//! gives the job no value.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;

use super::{InputError, Inputs};
use crate::cli::pack::Packing;
use crate::escape::shorten;
use crate::job::MAX_ARG_BYTES;
use crate::template::Template;

/// The length of a job's command line with these values (its shell line, in bytes).
pub type Measure = Box<dyn Fn(&[OsString]) -> usize + Send>;

type Records = Box<dyn Iterator<Item = Result<Vec<OsString>, InputError>> + Send>;

/// The jobs' values: one `Vec` per job, in order. An input error, or a record too long for a
/// command line, is yielded as an item, and then the iteration ends.
pub struct Grouped {
    records: Records,
    /// Values per record: the number of sources.
    width: usize,
    total: Option<u64>,
    packing: Packing,
    /// The job's command line length and the bound it stays under, when lengths count.
    measure: Option<(Measure, usize)>,
    /// Job slots the last records are spread over.
    slots: usize,
    /// The most records per job now (`None`: as many as fit); lowered by the spreading.
    per_job: Option<usize>,
    spread: bool,
    /// Records read and not yet in a job, their values one after the other.
    ahead: Vec<OsString>,
    /// Records seen so far, for messages.
    read: u64,
    /// The records have ended; `failed`: with this error, yielded after the records before it.
    ended: bool,
    failed: Option<InputError>,
    done: bool,
}

impl Grouped {
    /// The inputs as they are: one record per job.
    pub fn plain(inputs: Inputs) -> Grouped {
        let width = inputs.sources();
        let total = inputs.total();
        Grouped::new(Box::new(inputs), width, total, Packing::ONE, None, 1)
    }

    /// The inputs gathered as `packing` says; `measure` gives a job's command line length,
    /// `limit` the bound it must stay under; `slots` is the number of jobs at once.
    pub fn packed(
        inputs: Inputs,
        packing: Packing,
        measure: Measure,
        limit: usize,
        slots: usize,
    ) -> Grouped {
        let width = inputs.sources();
        let total = inputs.total();
        Grouped::new(
            Box::new(inputs),
            width,
            total,
            packing,
            Some((measure, limit)),
            slots,
        )
    }

    fn new(
        records: Records,
        width: usize,
        total: Option<u64>,
        packing: Packing,
        measure: Option<(Measure, usize)>,
        slots: usize,
    ) -> Grouped {
        Grouped {
            records,
            width: width.max(1),
            total,
            packing,
            measure,
            slots: slots.max(1),
            per_job: packing.per_job,
            spread: packing.spread,
            ahead: Vec::new(),
            read: 0,
            ended: false,
            failed: None,
            done: false,
        }
    }

    /// The number of jobs, when known without reading further (see [`Inputs::total`]): only
    /// while each record is a job of its own.
    pub fn total(&self) -> Option<u64> {
        match self.per_job {
            Some(0 | 1) => self.total,
            _ => self.total.filter(|&t| t == 0),
        }
    }

    /// The most values a job has: the number of sources times the records per job (the
    /// sources alone when it is not bounded).
    pub fn sources(&self) -> usize {
        match self.per_job {
            Some(n) if n > 1 => self.width * n,
            _ => self.width,
        }
    }

    /// Records waiting in `ahead`.
    fn buffered(&self) -> usize {
        self.ahead.len() / self.width
    }

    /// Reads until `count` records wait, or the records end.
    fn fill(&mut self, count: usize) {
        while !self.ended && self.buffered() < count {
            match self.records.next() {
                None => self.ended = true,
                Some(Err(err)) => {
                    self.ended = true;
                    self.failed = Some(err);
                }
                Some(Ok(mut record)) => {
                    self.read += 1;
                    if self.packing.lines && record.len() == 1 {
                        self.continue_line(&mut record[0]);
                    }
                    self.ahead.extend(record);
                }
            }
        }
    }

    /// `-L`: a line ending in a space or a tab goes on with the next line.
    fn continue_line(&mut self, line: &mut OsString) {
        while matches!(line.as_bytes().last(), Some(b' ' | b'\t')) {
            match self.records.next() {
                Some(Ok(next)) if next.len() == 1 => {
                    self.read += 1;
                    line.push(&next[0]);
                }
                Some(Ok(_)) | None => {
                    self.ended = true;
                    return;
                }
                Some(Err(err)) => {
                    self.ended = true;
                    self.failed = Some(err);
                    return;
                }
            }
        }
    }

    /// Whether the first `count` waiting records fit in one command line.
    fn fits(&self, count: usize) -> bool {
        match &self.measure {
            // No bound: nothing to render.
            Some((_, usize::MAX)) | None => true,
            Some((measure, limit)) => measure(&self.ahead[..count * self.width]) < *limit,
        }
    }

    /// How many of the waiting records the next job takes (reading more as needed): as many
    /// as asked and as fit, found by doubling and then halving the count. `Err` with the
    /// length when even one does not fit.
    fn take_count(&mut self) -> Result<usize, usize> {
        let most = self.per_job.unwrap_or(usize::MAX).max(1);
        let mut fitting = 0;
        let mut over = None;
        let mut count = 1;
        loop {
            self.fill(count);
            let count_now = count.min(self.buffered());
            if count_now == fitting {
                break;
            }
            if self.fits(count_now) {
                fitting = count_now;
                if count_now == most || count_now < count {
                    break;
                }
                count = count.saturating_mul(2).min(most);
            } else {
                over = Some(count_now);
                break;
            }
        }
        if let Some(mut high) = over {
            while high - fitting > 1 {
                let middle = fitting + (high - fitting) / 2;
                if self.fits(middle) {
                    fitting = middle;
                } else {
                    high = middle;
                }
            }
        }
        if fitting == 0 && self.buffered() > 0 {
            let length = self
                .measure
                .as_ref()
                .map_or(0, |(measure, _)| measure(&self.ahead[..self.width]));
            return Err(length);
        }
        Ok(fitting)
    }

    fn too_long(&self, length: usize) -> InputError {
        let limit = self.measure.as_ref().map_or(0, |(_, limit)| *limit);
        let values: Vec<&[u8]> = self.ahead[..self.width]
            .iter()
            .map(|v| v.as_bytes())
            .collect();
        let shown = shorten(std::ffi::OsStr::from_bytes(&values.join(&b' ')), 50);
        InputError(format!(
            "the command line for input {} is {length} bytes, not under the limit of {limit} \
             (-s, else the system's): {shown}; raise -s, or pass big data on stdin",
            self.read - self.buffered() as u64 + 1,
        ))
    }
}

impl Iterator for Grouped {
    type Item = Result<Vec<OsString>, InputError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        if self.measure.is_none() && self.per_job == Some(1) && !self.packing.lines {
            return self.records.next();
        }
        if self.per_job == Some(0) {
            self.fill(1);
            if self.buffered() > 0 {
                self.ahead.drain(..self.width);
                return Some(Ok(Vec::new()));
            }
        } else {
            let count = match self.take_count() {
                Ok(count) => count,
                Err(length) => {
                    self.done = true;
                    return Some(Err(self.too_long(length)));
                }
            };
            if count > 0 {
                let mut count = count;
                if self.spread {
                    // GNU parallel's -X and -m: once the rest of the input fits in this job,
                    // it is shared out over the job slots instead.
                    self.fill(count + 1);
                    if self.buffered() == count {
                        self.spread = false;
                        if count > 1 {
                            let share = count.div_ceil(self.slots);
                            self.per_job = Some(share);
                            count = share;
                        }
                    }
                }
                let rest = self.ahead.split_off(count * self.width);
                return Some(Ok(std::mem::replace(&mut self.ahead, rest)));
            }
        }
        self.done = true;
        self.failed.take().map(Err)
    }
}

/// The inputs opened and the packing decided, before the template and the job slots are
/// known.
pub struct PackedInputs {
    inputs: Inputs,
    packing: Packing,
    /// The bound command lines stay under, when lengths count.
    limit: usize,
}

impl PackedInputs {
    /// With the notes for stderr: `-s` over what the system allows. `show_limits`
    /// (`--show-limits`) prints the limits on stdout.
    pub fn new(inputs: Inputs, packing: Packing, show_limits: bool) -> (PackedInputs, Vec<String>) {
        let mut notes = Vec::new();
        let (limit, usable) = if packing.measured() || show_limits {
            let (found, usable) = command_limits();
            if show_limits {
                println!(
                    "Maximal size of command: {found}\nMaximal usable size of command: \
                     {usable}\n\nbrake runs the jobs now, reading the input as usual (give \
                     it </dev/null to run none)"
                );
            }
            (packing.max_chars.unwrap_or(usable), usable)
        } else {
            (0, 0)
        };
        let limit = if limit > usable {
            notes.push(format!(
                "brake: -s {limit} is over the {usable} bytes a command line can use here; \
                 using {usable}"
            ));
            usable
        } else {
            limit
        };
        (
            PackedInputs {
                inputs,
                packing,
                limit,
            },
            notes,
        )
    }

    /// The number of jobs, when known without reading further.
    pub fn total(&self) -> Option<u64> {
        let total = self.inputs.total();
        match self.packing.per_job {
            Some(0 | 1) => total,
            _ => total.filter(|&t| t == 0),
        }
    }

    /// The jobs' values, lengths measured by `template`'s command lines, the last values
    /// spread over `slots` job slots.
    pub fn group(self, template: &Template, slots: usize) -> Grouped {
        if !self.packing.measured() && self.packing.per_job == Some(1) && !self.packing.lines {
            return Grouped::plain(self.inputs);
        }
        let template = template.clone();
        let measure: Measure =
            Box::new(move |values: &[OsString]| template.render(values, 1, 1).text.len());
        let limit = if self.packing.measured() {
            self.limit
        } else {
            usize::MAX
        };
        Grouped::packed(self.inputs, self.packing, measure, limit, slots)
    }
}

/// The longest shell line GNU parallel finds a command can have here, and the share of it it
/// uses for jobs' command lines (half, less 3000 bytes for its wrapping), as
/// `--show-limits` reports them.
pub fn command_limits() -> (usize, usize) {
    let found = longest_line();
    (found, found.saturating_sub(3000) / 2)
}

/// GNU parallel's search for the longest command line: multiply a guess by 16 while a line
/// that long runs, then halve the interval until it is within 1 %. The search is replayed
/// here against the known limits (one argument under `MAX_ARG_BYTES`, and the arguments and
/// environment under `ARG_MAX`), so that the lengths agree with GNU parallel's own.
fn longest_line() -> usize {
    // SAFETY: sysconf has no preconditions; it returns -1 when the limit is indeterminate.
    let arg_max = unsafe { libc::sysconf(libc::_SC_ARG_MAX) };
    let arg_max = usize::try_from(arg_max).unwrap_or(MAX_ARG_BYTES * 16);
    let pointer = std::mem::size_of::<usize>();
    let environment: usize = std::env::vars_os()
        .map(|(name, value)| name.len() + value.len() + 2 + pointer)
        .sum();
    // `sh -c LINE`: three arguments and the pointers' end markers.
    let runs = |length: usize| {
        length < MAX_ARG_BYTES && length + 1 + 6 + 4 * pointer + environment <= arg_max
    };
    let upper = 100_000_000;
    let mut length = 324;
    let mut lower;
    loop {
        if length > upper {
            return length;
        }
        lower = length;
        length *= 16;
        if !runs(length) {
            break;
        }
    }
    let (mut low, mut high) = (lower, length);
    while !(low == high || low + 1 == high || low as f64 / high as f64 > 0.99) {
        let middle = (high - low) / 2 + low;
        if runs(middle) {
            low = middle;
        } else {
            high = middle;
        }
    }
    low
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::pack::Style;

    fn records(values: &[&str]) -> Records {
        let owned: Vec<Result<Vec<OsString>, InputError>> =
            values.iter().map(|v| Ok(vec![OsString::from(v)])).collect();
        Box::new(owned.into_iter())
    }

    fn packing(per_job: Option<usize>, spread: bool) -> Packing {
        Packing {
            style: Style::Context,
            per_job,
            lines: false,
            max_chars: None,
            spread,
        }
    }

    /// The length of `echo V1 V2 …`.
    fn echo() -> Measure {
        Box::new(|values: &[OsString]| 4 + values.iter().map(|v| v.len() + 1).sum::<usize>())
    }

    fn jobs(grouped: Grouped) -> Vec<String> {
        grouped
            .map(|job| match job {
                Ok(values) => values
                    .iter()
                    .map(|v| v.to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join(" "),
                Err(err) => format!("error: {err}"),
            })
            .collect()
    }

    fn grouped(values: &[&str], packing: Packing, limit: usize, slots: usize) -> Vec<String> {
        let records = records(values);
        jobs(Grouped::new(
            records,
            1,
            None,
            packing,
            Some((echo(), limit)),
            slots,
        ))
    }

    #[test]
    fn records_are_gathered_n_at_a_time() {
        let values = ["A", "B", "C", "D", "E", "F", "G", "H"];
        assert_eq!(
            grouped(&values, packing(Some(3), false), 1000, 2),
            ["A B C", "D E F", "G H"]
        );
        assert_eq!(
            grouped(&values[..3], packing(Some(0), false), 1000, 2),
            ["", "", ""]
        );
    }

    #[test]
    fn several_sources_make_records_of_several_values() {
        let owned: Vec<Result<Vec<OsString>, InputError>> = ["a", "b", "c"]
            .iter()
            .map(|v| Ok(vec![OsString::from(v), OsString::from("1")]))
            .collect();
        let grouped = Grouped::new(
            Box::new(owned.into_iter()),
            2,
            Some(3),
            packing(Some(2), false),
            Some((echo(), 1000)),
            1,
        );
        assert_eq!(grouped.sources(), 4);
        assert_eq!(grouped.total(), None);
        assert_eq!(jobs(grouped), ["a 1 b 1", "c 1"]);
    }

    #[test]
    fn lines_fill_up_to_the_limit() {
        let values: Vec<String> = (1..=10).map(|i| i.to_string()).collect();
        let values: Vec<&str> = values.iter().map(String::as_str).collect();
        // `echo 1 2 3` is 10 bytes: under 12, `echo 1 2 3 4` is not.
        assert_eq!(
            grouped(&values, packing(None, false), 12, 1),
            ["1 2 3", "4 5 6", "7 8 9", "10"]
        );
        assert_eq!(
            grouped(&values, packing(Some(2), false), 100, 1),
            ["1 2", "3 4", "5 6", "7 8", "9 10"]
        );
    }

    #[test]
    fn a_value_too_long_alone_ends_the_input() {
        let out = grouped(
            &["a", "bbbbbbbbbbbbbbbbbb", "c"],
            packing(None, false),
            15,
            1,
        );
        assert_eq!(out.len(), 2, "{out:?}");
        assert_eq!(out[0], "a");
        assert!(
            out[1].starts_with(
                "error: the command line for input 2 is 23 bytes, not under the limit of 15"
            ),
            "{}",
            out[1]
        );
    }

    #[test]
    fn the_rest_is_spread_over_the_slots() {
        let values: Vec<String> = (1..=10).map(|i| i.to_string()).collect();
        let values: Vec<&str> = values.iter().map(String::as_str).collect();
        assert_eq!(
            grouped(&values, packing(None, true), 1000, 3),
            ["1 2 3 4", "5 6 7 8", "9 10"]
        );
        assert_eq!(
            grouped(&values, packing(None, true), 1000, 1),
            ["1 2 3 4 5 6 7 8 9 10"]
        );
        // Full lines first; what is left at the end is spread.
        assert_eq!(
            grouped(&values, packing(None, true), 16, 2),
            ["1 2 3 4 5", "6 7 8", "9 10"]
        );
    }

    #[test]
    fn a_line_ending_in_a_blank_goes_on() {
        let mut lines = packing(Some(2), false);
        lines.lines = true;
        assert_eq!(
            grouped(&["a b", "c d ", "e", "f"], lines, 1000, 1),
            ["a b c d e", "f"]
        );
    }

    fn opened(values: &[&str]) -> Inputs {
        let values = values.iter().map(OsString::from).collect();
        Inputs::open(vec![super::super::Source::Args(values)]).unwrap()
    }

    #[test]
    fn packed_inputs_know_their_total_only_one_record_a_job() {
        let template = Template::parse(&[OsString::from("echo")], 1, false).unwrap();
        let one = PackedInputs::new(opened(&["a", "b", "c"]), Packing::ONE, false).0;
        assert_eq!(one.total(), Some(3));
        assert_eq!(jobs(one.group(&template, 2)), ["a", "b", "c"]);
        let pairs = packing(Some(2), false);
        let packed = PackedInputs::new(opened(&["a", "b", "c"]), pairs, false).0;
        assert_eq!(packed.total(), None);
        assert_eq!(jobs(packed.group(&template, 2)), ["a b", "c"]);
        let mut huge = packing(None, false);
        huge.max_chars = Some(usize::MAX / 2);
        let (_, notes) = PackedInputs::new(opened(&["a"]), huge, false);
        assert!(
            notes[0].contains("bytes a command line can use here"),
            "{notes:?}"
        );
    }

    #[test]
    fn the_limits_replay_gnu_parallels_search() {
        let (found, usable) = command_limits();
        assert!(
            found < MAX_ARG_BYTES && found > MAX_ARG_BYTES / 2,
            "{found}"
        );
        assert_eq!(usable, (found - 3000) / 2);
    }
}

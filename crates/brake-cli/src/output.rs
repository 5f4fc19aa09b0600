//! Where jobs' output goes: whole per job (`--group`), line by line (`--line-buffer`), or
//! straight through (`--ungroup`); in input order with `--keep-order`; prefixed with the
//! inputs under `--tag`. It owns brake's stdout and stderr while a run lasts, so that a
//! progress bar never tears a line and a job's output is never split by another's.

use std::collections::BTreeMap;
use std::io::{self, Write};

use indicatif::ProgressBar;

/// The most read from a job's pipe at once: a pipe's default capacity.
const READ_SIZE: usize = 64 * 1024;

/// How jobs' output is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Captured, printed whole when the job ends: stdout to stdout, then stderr to stderr.
    Group,
    /// Captured, printed a complete line at a time as it arrives.
    LineBuffer,
    /// Not captured: jobs inherit brake's stdout and stderr.
    Ungroup,
}

/// Which of a job's streams a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Its stdout.
    Out,
    /// Its stderr.
    Err,
}

/// What one job has written and not yet printed.
#[derive(Debug, Default)]
pub struct JobOutput {
    /// `--tag`: the prefix of each line (the inputs joined by spaces, then a tab).
    tag: Option<Vec<u8>>,
    /// The job's number, for `--line-buffer --keep-order`: the oldest job's lines stream.
    seq: Option<u64>,
    out: Vec<u8>,
    err: Vec<u8>,
}

impl JobOutput {
    /// A job's buffers, with the `--tag` prefix for its lines if there is one.
    pub fn new(tag: Option<Vec<u8>>) -> JobOutput {
        JobOutput {
            tag,
            seq: None,
            out: Vec::new(),
            err: Vec::new(),
        }
    }
}

impl JobOutput {
    /// What the job wrote to stdout, taken; `replacement` is printed in its place.
    pub fn swap_stdout(&mut self, replacement: Vec<u8>) -> Vec<u8> {
        std::mem::replace(&mut self.out, replacement)
    }

    /// Numbers the job's output, so that under `--line-buffer --keep-order` its lines are
    /// printed as they come while it is the oldest job not yet printed.
    pub fn set_seq(&mut self, seq: u64) {
        self.seq = Some(seq);
    }

    /// Nothing of what the job wrote is printed.
    pub fn clear(&mut self) {
        self.out.clear();
        self.err.clear();
    }

    /// What the job wrote to stdout and stderr so far.
    pub fn written(&self) -> (&[u8], &[u8]) {
        (&self.out, &self.err)
    }
}

/// A finished job held back under `--keep-order` until the jobs before it are printed.
enum Held {
    Printable(JobOutput),
    /// A job with nothing to print (skipped on resume, never started): only its place.
    Nothing,
}

/// The run's output.
pub struct Output {
    mode: Mode,
    keep_order: bool,
    bar: Option<ProgressBar>,
    /// `--keep-order`: the next job to print.
    next_seq: u64,
    held: BTreeMap<u64, Held>,
    /// The buffer jobs' pipes are read into, made once: a fresh one per read would be zeroed
    /// each time, which a stop with many jobs pays for a thousand times over.
    scratch: Vec<u8>,
}

impl Output {
    /// Output in `mode`; `bar` is suspended around each write so it never tears a line.
    pub fn new(mode: Mode, keep_order: bool, bar: Option<ProgressBar>) -> Output {
        Output {
            mode,
            // Line by line and in order: the oldest job's lines stream, the others' wait.
            keep_order: keep_order && mode != Mode::Ungroup,
            bar,
            next_seq: 1,
            held: BTreeMap::new(),
            scratch: Vec::new(),
        }
    }

    /// The read buffer, lent out (see [`return_scratch`](Output::return_scratch)).
    pub fn take_scratch(&mut self) -> Vec<u8> {
        let mut scratch = std::mem::take(&mut self.scratch);
        if scratch.is_empty() {
            scratch = vec![0; READ_SIZE];
        }
        scratch
    }

    /// Gives the read buffer back.
    pub fn return_scratch(&mut self, scratch: Vec<u8>) {
        self.scratch = scratch;
    }

    /// Whether jobs' output is captured through pipes.
    pub fn captures(&self) -> bool {
        self.mode != Mode::Ungroup
    }

    /// A chunk a job wrote. Under `--line-buffer` its complete lines are printed now (with
    /// `--keep-order`, only while it is the oldest job not yet printed); otherwise it is kept
    /// for [`finished`](Output::finished).
    pub fn chunk(&mut self, job: &mut JobOutput, stream: Stream, data: &[u8]) -> io::Result<()> {
        let buffer = match stream {
            Stream::Out => &mut job.out,
            Stream::Err => &mut job.err,
        };
        buffer.extend_from_slice(data);
        let streams = !self.keep_order || job.seq == Some(self.next_seq);
        if self.mode != Mode::LineBuffer || !streams {
            return Ok(());
        }
        let Some(last_newline) = buffer.iter().rposition(|&b| b == b'\n') else {
            return Ok(());
        };
        let lines: Vec<u8> = buffer.drain(..=last_newline).collect();
        let tag = job.tag.as_deref();
        self.write(stream, tag, &lines)
    }

    /// Job `seq` ended (finished, failed, or interrupted by a stop): what it wrote is printed
    /// now, or once the jobs before it are, under `--keep-order`.
    pub fn finished(&mut self, seq: u64, job: JobOutput) -> io::Result<()> {
        if !self.keep_order {
            return self.print(&job);
        }
        self.held.insert(seq, Held::Printable(job));
        self.release()
    }

    /// Job `seq` has nothing to print and will not run (skipped on resume); under
    /// `--keep-order` the jobs after it need not wait for it.
    pub fn skipped(&mut self, seq: u64) -> io::Result<()> {
        if !self.keep_order {
            return Ok(());
        }
        self.held.insert(seq, Held::Nothing);
        self.release()
    }

    /// The end of the run: whatever `--keep-order` still holds (jobs after one that never ran)
    /// is printed, in order.
    pub fn finish(&mut self) -> io::Result<()> {
        let held = std::mem::take(&mut self.held);
        for (_, held) in held {
            if let Held::Printable(job) = held {
                self.print(&job)?;
            }
        }
        Ok(())
    }

    fn release(&mut self) -> io::Result<()> {
        while let Some(held) = self.held.remove(&self.next_seq) {
            self.next_seq += 1;
            if let Held::Printable(job) = held {
                self.print(&job)?;
            }
        }
        Ok(())
    }

    fn print(&mut self, job: &JobOutput) -> io::Result<()> {
        let tag = job.tag.as_deref();
        self.write(Stream::Out, tag, &job.out)?;
        self.write(Stream::Err, tag, &job.err)
    }

    /// Writes `data` (with `tag` before each line) in one go, with the bar out of the way.
    fn write(&mut self, stream: Stream, tag: Option<&[u8]>, data: &[u8]) -> io::Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        let tagged;
        let bytes = match tag {
            Some(tag) => {
                tagged = with_tag(tag, data);
                &tagged[..]
            }
            None => data,
        };
        let put = || -> io::Result<()> {
            match stream {
                Stream::Out => {
                    let mut out = io::stdout().lock();
                    out.write_all(bytes)?;
                    out.flush()
                }
                Stream::Err => io::stderr().lock().write_all(bytes),
            }
        };
        match &self.bar {
            Some(bar) if !bar.is_hidden() => bar.suspend(put),
            _ => put(),
        }
    }
}

/// `data` with `tag` before each of its lines (a last line without a newline included).
fn with_tag(tag: &[u8], data: &[u8]) -> Vec<u8> {
    let lines = data.split_inclusive(|&b| b == b'\n');
    let mut out = Vec::with_capacity(data.len() + tag.len() * 4);
    for line in lines {
        out.extend_from_slice(tag);
        out.extend_from_slice(line);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_go_before_every_line() {
        assert_eq!(with_tag(b"a\t", b"x\ny\n"), b"a\tx\na\ty\n");
        assert_eq!(with_tag(b"a\t", b"x\ny"), b"a\tx\na\ty");
        assert_eq!(with_tag(b"a\t", b""), b"");
    }

    #[test]
    fn line_buffering_keeps_the_partial_line() {
        let mut output = Output::new(Mode::LineBuffer, false, None);
        let mut job = JobOutput::new(None);
        // Printed lines leave the buffer; the partial one stays for later.
        output.chunk(&mut job, Stream::Err, b"").unwrap();
        output.chunk(&mut job, Stream::Err, b"partial").unwrap();
        assert_eq!(job.err, b"partial");
    }

    #[test]
    fn line_buffering_in_order_streams_the_oldest_job_only() {
        let mut output = Output::new(Mode::LineBuffer, true, None);
        let mut first = JobOutput::new(None);
        first.set_seq(1);
        let mut second = JobOutput::new(None);
        second.set_seq(2);
        output.chunk(&mut second, Stream::Out, b"b\n").unwrap();
        assert_eq!(second.out, b"b\n", "job 2 waits for job 1");
        output.chunk(&mut first, Stream::Out, b"a\npart").unwrap();
        assert_eq!(first.out, b"part", "job 1's whole lines are printed");
        output.finished(1, first).unwrap();
        assert_eq!(output.next_seq, 2);
        output.chunk(&mut second, Stream::Out, b"c\n").unwrap();
        assert!(second.out.is_empty(), "job 2 is the oldest now");
    }

    #[test]
    fn keep_order_holds_later_jobs() {
        let mut output = Output::new(Mode::Group, true, None);
        let mut second = JobOutput::new(None);
        output.chunk(&mut second, Stream::Out, b"").unwrap();
        output.finished(2, second).unwrap();
        assert!(output.held.contains_key(&2), "job 2 waits for job 1");
        output.skipped(1).unwrap();
        assert!(output.held.is_empty(), "a skipped job 1 releases job 2");
        assert_eq!(output.next_seq, 3);
    }
}

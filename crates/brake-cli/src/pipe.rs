//! `--pipe` and `--pipepart`: the input is cut into blocks of whole records and each job gets
//! one block, on its stdin (or, with `--cat` / `--fifo`, in a file or named pipe `{}` names).
//!
//! This module owns the decisions (`PipePlan`, from the options), the producer of blocks that
//! runs on the input thread in place of the lines of `inputs.rs` (`Feed`), and the delivery of
//! a block to a started job (`deliver`). Blocks are read only as fast as jobs start: the
//! input thread is at most a block or two ahead of the slots, so a stop leaves the rest of
//! stdin unread.

mod blocks;
mod deal;
mod deliver;
mod part;
mod records;

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Write};
use std::os::fd::AsFd;
use std::path::PathBuf;
use std::sync::Arc;

use crate::cli::pipe::{BlockSize, PipeArgs};
use crate::inputs::{InputError, Source};

use self::blocks::{Blocks, Next};
use self::deal::{Dealer, Stream};
pub use self::deliver::{deliver, stdin_io};
use self::part::Parts;
use self::records::{unescape, Records};

/// `--block`'s default, as GNU parallel's: 1 MiB.
const DEFAULT_BLOCK: u64 = 1024 * 1024;

/// `--pipepart` without `--block`: this many blocks per job slot.
const PART_BLOCKS_PER_SLOT: u64 = 10;

/// What `--pipe` / `--pipepart` decided.
#[derive(Debug, Clone)]
pub struct PipePlan {
    /// Where the blocks come from.
    pub source: PipeSource,
    /// `--block`.
    pub block: BlockSize,
    /// `--recend`, `--recstart`, `--regexp`.
    pub records: Records,
    /// How a job gets its block.
    pub delivery: Delivery,
    /// `--round-robin`: one job per slot, the blocks dealt to them.
    pub round_robin: bool,
}

/// Where `--pipe`'s blocks come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PipeSource {
    /// `--pipe`: stdin, read through.
    Stdin,
    /// `--pipepart`: these files, split by seeking.
    Files(Vec<PathBuf>),
}

/// How a job gets its block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Delivery {
    /// On its stdin.
    Stdin,
    /// `--cat`: in a temporary file, `{}`.
    Cat,
    /// `--fifo`: through a named pipe, `{}`.
    Fifo,
}

/// One job's block, held until the job ends for good (a retry gets the same block).
#[derive(Debug)]
pub enum Block {
    /// Bytes read from stdin.
    Bytes(Arc<Vec<u8>>),
    /// A part of a file, read by the kernel straight into the job's stdin.
    Part(Part),
    /// `--cat`: the block in a temporary file, removed with the job.
    File(tempfile::TempPath, u64),
    /// `--fifo`: a named pipe in a directory of its own, removed with the job.
    Fifo(deliver::Fifo),
    /// `--round-robin`: the blocks dealt to the job, as they come.
    Stream(Stream),
}

/// A part of a file: `len` bytes at `offset`.
#[derive(Debug, Clone)]
pub struct Part {
    /// The file, opened once for all its parts.
    pub file: Arc<File>,
    /// Where the part begins.
    pub offset: u64,
    /// Its length.
    pub len: u64,
}

impl Block {
    /// The name `{}` gives it: its file's or named pipe's path, else nothing.
    pub fn name(&self) -> &std::ffi::OsStr {
        match self {
            Block::File(path, _) => path.as_os_str(),
            Block::Fifo(fifo) => fifo.path().as_os_str(),
            Block::Bytes(_) | Block::Part(_) | Block::Stream(_) => std::ffi::OsStr::new(""),
        }
    }

    /// Its size in bytes (the joblog's Send).
    pub fn len(&self) -> u64 {
        match self {
            Block::Bytes(bytes) => bytes.len() as u64,
            Block::Part(part) => part.len,
            Block::File(_, len) => *len,
            Block::Fifo(fifo) => fifo.len(),
            Block::Stream(stream) => stream.sent(),
        }
    }
}

/// The refusal of `--pipe` options that make no sense together or with the rest of the line;
/// `None` when neither `--pipe` nor `--pipepart` is on.
pub fn plan(
    args: &PipeArgs,
    sources: &[Source],
    remote: bool,
    resume: bool,
    retries: u32,
) -> Result<Option<PipePlan>, String> {
    if !args.any() {
        // GNU parallel ignores --block, --recend, --recstart and --regexp without --pipe, and
        // so does brake; these three would change what jobs get.
        if args.round_robin || args.cat || args.fifo {
            return Err(
                "--round-robin, --cat and --fifo give jobs the blocks of --pipe or \
                        --pipepart: add one of them"
                    .into(),
            );
        }
        return Ok(None);
    }
    let option = if args.pipepart {
        "--pipepart"
    } else {
        "--pipe"
    };
    if args.pipe && args.pipepart {
        return Err(
            "--pipe and --pipepart cannot be used together: --pipe splits stdin, \
                    --pipepart splits the files of :::: FILE"
                .into(),
        );
    }
    if remote {
        return Err(format!(
            "{option} cannot be used with -S yet: brake gives blocks to jobs on this machine only"
        ));
    }
    if resume {
        return Err(format!(
            "--resume cannot be used with {option}: a joblog cannot tell that the input and \
             --block are those of the run that wrote it, so blocks could be skipped wrongly; \
             run it again without --resume"
        ));
    }
    if args.round_robin && (args.pipepart || args.cat || args.fifo) {
        return Err(
            "--round-robin deals stdin's blocks to the jobs' stdin: it cannot be \
                    used with --pipepart, --cat or --fifo"
                .into(),
        );
    }
    if args.round_robin && retries > 1 {
        return Err(
            "--round-robin cannot be used with --retries: a job's blocks are dealt \
                    once and cannot be given to it again"
                .into(),
        );
    }
    let source = if args.pipepart {
        let mut files = Vec::new();
        for source in sources {
            match source {
                Source::File(path) if !source.is_stdin() => files.push(path.clone()),
                _ => {
                    return Err(
                        "--pipepart splits files given with :::: FILE (not stdin, not \
                                ::: values): e.g. brake --pipepart wc -l :::: big.txt"
                            .into(),
                    )
                }
            }
        }
        if files.is_empty() {
            return Err(
                "--pipepart needs a file to split: brake --pipepart CMD :::: FILE (use \
                        --pipe to split stdin)"
                    .into(),
            );
        }
        PipeSource::Files(files)
    } else {
        if !sources.is_empty() {
            return Err(
                "--pipe splits stdin among jobs, so it takes no ::: or :::: source \
                        (give the data on stdin, or use --pipepart CMD :::: FILE)"
                    .into(),
            );
        }
        PipeSource::Stdin
    };
    let block = match args.block {
        None if args.pipepart => BlockSize::PerSlot(PART_BLOCKS_PER_SLOT),
        None => BlockSize::Bytes(DEFAULT_BLOCK),
        Some(BlockSize::PerSlot(_)) if !args.pipepart => {
            return Err(
                "--block -N (N blocks per job slot) is for --pipepart; with --pipe \
                        give a size, e.g. --block 10M"
                    .into(),
            )
        }
        Some(block) => block,
    };
    let records = records(args)?;
    let delivery = if args.cat {
        Delivery::Cat
    } else if args.fifo {
        Delivery::Fifo
    } else {
        Delivery::Stdin
    };
    Ok(Some(PipePlan {
        source,
        block,
        records,
        delivery,
        round_robin: args.round_robin,
    }))
}

/// `--recend` and `--recstart`: each defaults to nothing when only the other is given, and
/// `--recend` to `\n` when neither is.
fn records(args: &PipeArgs) -> Result<Records, String> {
    let (end, start) = match (&args.recend, &args.recstart) {
        (None, None) => ("\\n", ""),
        (Some(end), None) => (end.as_str(), ""),
        (None, Some(start)) => ("", start.as_str()),
        (Some(end), Some(start)) => (end.as_str(), start.as_str()),
    };
    if args.regexp {
        // A regular expression's match has no fixed length: a few KiB past a split are read
        // to see the next record's start.
        let lookahead = if start.is_empty() { 0 } else { 4096 };
        Records::regex(end, start, lookahead)
    } else {
        Ok(Records::literal(unescape(end), unescape(start)))
    }
}

/// The blocks, one job's values and block at a time, for the input thread.
pub struct Feed {
    blocks: Source2,
    delivery: Delivery,
    /// Whether `{}` is in the command: otherwise `--pipe` appends nothing (GNU parallel
    /// appends `{}` only for `--cat` / `--fifo`, where it names the block).
    names_block: bool,
    /// Stop after the first error.
    failed: bool,
    /// `--round-robin`.
    dealer: Option<Dealer>,
}

enum Source2 {
    Stdin(Blocks<File>),
    Files(Parts),
}

impl Feed {
    /// Opens the source of `plan`: stdin, or each file (a missing one is refused now). `jobs`
    /// is the number of slots, for `--block -N`; `names_block` whether the command has `{}`.
    pub fn open(plan: &PipePlan, jobs: usize, names_block: bool) -> Result<Feed, InputError> {
        let blocks = match &plan.source {
            PipeSource::Stdin => {
                let stdin = io::stdin()
                    .as_fd()
                    .try_clone_to_owned()
                    .map_err(|err| InputError::new(format!("cannot read stdin: {err}")))?;
                let BlockSize::Bytes(size) = plan.block else {
                    unreachable!("--block -N is refused without --pipepart")
                };
                Source2::Stdin(Blocks::new(
                    File::from(stdin),
                    plan.records.clone(),
                    usize::try_from(size).unwrap_or(usize::MAX),
                ))
            }
            PipeSource::Files(files) => Source2::Files(Parts::open(
                files,
                plan.block,
                jobs as u64,
                plan.records.clone(),
            )?),
        };
        Ok(Feed {
            blocks,
            delivery: plan.delivery,
            names_block,
            failed: false,
            dealer: plan.round_robin.then(|| Dealer::new(jobs)),
        })
    }

    fn next_raw(&mut self) -> Option<Result<Block, InputError>> {
        match &mut self.blocks {
            Source2::Stdin(blocks) => loop {
                match blocks.next_block() {
                    Ok(Next::Block(bytes)) => return Some(Ok(Block::Bytes(Arc::new(bytes)))),
                    Ok(Next::Grew { from, to }) => say!(
                        "brake: warning: a record was longer than {from} bytes; --block is \
                         now {to}"
                    ),
                    Ok(Next::End) => return None,
                    Err(err) => {
                        return Some(Err(InputError::new(format!("cannot read stdin: {err}"))))
                    }
                }
            },
            Source2::Files(parts) => parts.next().map(|part| part.map(Block::Part)),
        }
    }

    /// `--round-robin`: deals blocks until one starts a new job (the first one per slot), the
    /// input ends, or every job has ended.
    fn next_dealt(&mut self) -> Option<Result<Block, InputError>> {
        loop {
            let bytes = match self.next_raw()? {
                Ok(Block::Bytes(bytes)) => bytes,
                Ok(_) => unreachable!("--round-robin reads stdin"),
                Err(err) => return Some(Err(err)),
            };
            match self.dealer.as_mut()?.deal(bytes) {
                Ok(Some(stream)) => return Some(Ok(Block::Stream(stream))),
                Ok(None) => {}
                Err(()) => return None,
            }
        }
    }

    /// The block as the job gets it: in a file or a named pipe for `--cat` / `--fifo`, and
    /// the job's values (`{}`).
    fn deliverable(&self, block: Block) -> Result<(Vec<OsString>, Block), InputError> {
        let none = || {
            if self.names_block {
                vec![OsString::new()]
            } else {
                Vec::new()
            }
        };
        match self.delivery {
            Delivery::Stdin => Ok((none(), block)),
            Delivery::Cat => {
                let (path, len) = to_temp_file(&block).map_err(|err| {
                    InputError::new(format!(
                        "cannot write a block to a temporary file (--cat): {err}"
                    ))
                })?;
                let block = Block::File(path, len);
                Ok((vec![block.name().into()], block))
            }
            Delivery::Fifo => {
                let fifo = deliver::Fifo::new(block).map_err(|err| {
                    InputError::new(format!("cannot make a named pipe (--fifo): {err}"))
                })?;
                let block = Block::Fifo(fifo);
                Ok((vec![block.name().into()], block))
            }
        }
    }
}

impl Iterator for Feed {
    type Item = Result<(Vec<OsString>, Option<Block>), InputError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let item = match self.dealer.is_some() {
            true => self.next_dealt()?,
            false => self.next_raw()?,
        };
        let item = item
            .and_then(|block| self.deliverable(block))
            .map(|(args, block)| (args, Some(block)));
        self.failed = item.is_err();
        Some(item)
    }
}

/// `--cat`: the block written to a new temporary file.
fn to_temp_file(block: &Block) -> io::Result<(tempfile::TempPath, u64)> {
    let mut file = tempfile::Builder::new().prefix("brake-block.").tempfile()?;
    match block {
        Block::Bytes(bytes) => file.write_all(bytes)?,
        Block::Part(part) => deliver::copy_part(part, file.as_file())?,
        Block::File(..) | Block::Fifo(_) | Block::Stream(_) => {
            unreachable!("a block is put in a file once")
        }
    }
    file.flush()?;
    Ok((file.into_temp_path(), block.len()))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::RunArgs;

    fn planned(line: &str) -> Result<Option<PipePlan>, String> {
        let argv = std::iter::once("brake").chain(line.split(' '));
        let args = RunArgs::try_parse_from(argv).unwrap();
        let split = crate::cli::split_sources(&args.command).unwrap();
        plan(&args.pipe, &split.sources, false, args.resume, args.retries)
    }

    #[test]
    fn pipe_takes_stdin_and_pipepart_files() {
        let plan = planned("--pipe wc -l").unwrap().unwrap();
        assert_eq!(plan.source, PipeSource::Stdin);
        assert_eq!(plan.block, BlockSize::Bytes(DEFAULT_BLOCK));
        assert_eq!(plan.delivery, Delivery::Stdin);
        let plan = planned("--pipepart --cat wc -l :::: a b").unwrap().unwrap();
        assert_eq!(plan.source, PipeSource::Files(vec!["a".into(), "b".into()]));
        assert_eq!(plan.block, BlockSize::PerSlot(PART_BLOCKS_PER_SLOT));
        assert_eq!(plan.delivery, Delivery::Cat);
        assert!(planned("--spreadstdin --block 10k wc").unwrap().is_some());
        assert!(planned("wc -l ::: a").unwrap().is_none());
        assert!(planned("--block 10 --recend x wc -l ::: a")
            .unwrap()
            .is_none());
    }

    #[test]
    fn bad_combinations_are_refused() {
        for (line, says) in [
            ("--pipe wc ::: a", "takes no ::: or ::::"),
            ("--pipepart wc", "needs a file"),
            ("--pipepart wc ::: a", "files given with :::: FILE"),
            ("--pipepart wc :::: -", "not stdin"),
            ("--pipe --pipepart wc :::: a", "cannot be used together"),
            ("--pipe --block -2 wc", "is for --pipepart"),
            ("--cat wc ::: a", "add one of them"),
            (
                "--pipe --joblog j --resume wc",
                "--resume cannot be used with --pipe",
            ),
            ("--pipepart --rr wc :::: a", "--round-robin deals stdin's"),
            (
                "--pipe --rr --retries 2 wc",
                "cannot be used with --retries",
            ),
            ("--pipe --regexp --recend ( wc", "not a regular expression"),
        ] {
            let err = planned(line)
                .err()
                .unwrap_or_else(|| panic!("{line}: accepted"));
            assert!(err.contains(says), "{line}: {err}");
        }
    }
}

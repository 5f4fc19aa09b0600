//! The options of `--pipe` and `--pipepart`: stdin (or a file) split into blocks of whole
//! records, one job per block. Only parsed here; `pipe.rs` decides what they mean together.

/// The section of `--help` these options are listed in.
const HEADING: &str = "Splitting stdin among jobs (--pipe)";

/// `--pipe`, `--pipepart` and the options that shape their blocks.
///
/// Each option names its help section itself: a `next_help_heading` on a flattened struct
/// would carry over to the options and arguments that follow it in `RunArgs`.
#[derive(clap::Args, Debug, Default, Clone)]
pub struct PipeArgs {
    /// Split stdin into blocks of whole records and give each job one block on its stdin
    #[arg(long, help_heading = HEADING, visible_alias = "spreadstdin")]
    pub pipe: bool,

    /// Like --pipe, but split the files of :::: FILE by seeking (brake never reads them
    /// through): each job reads its part of the file straight from the kernel
    #[arg(long, help_heading = HEADING)]
    pub pipepart: bool,

    /// A block's size [default: 1M]: bytes, or with k, m, g, t (powers of 1000) or K, M, G,
    /// T (powers of 1024), e.g. 10M or 1.5k. With --pipepart, -N makes N blocks per job slot
    #[arg(long, help_heading = HEADING, visible_alias = "block-size", value_name = "SIZE", value_parser = parse_block, allow_hyphen_values = true)]
    pub block: Option<BlockSize>,

    /// The text that ends a record [default: \n]; \n, \t, \r, \0, \\ and \xHH are escapes
    #[arg(long, help_heading = HEADING, value_name = "TEXT")]
    pub recend: Option<String>,

    /// The text that begins a record [default: none]; escapes as --recend
    #[arg(long, help_heading = HEADING, value_name = "TEXT")]
    pub recstart: Option<String>,

    /// --recend and --recstart are regular expressions
    #[arg(long, help_heading = HEADING)]
    pub regexp: bool,

    /// Start one job per job slot and deal the blocks to them, rather than one job per block
    #[arg(long = "round-robin", help_heading = HEADING, visible_aliases = ["rr", "roundrobin"])]
    pub round_robin: bool,

    /// Give each job its block in a temporary file, named by {} (stdin stays empty)
    #[arg(long, help_heading = HEADING, conflicts_with = "fifo")]
    pub cat: bool,

    /// Give each job its block through a named pipe, named by {} (stdin stays empty)
    #[arg(long, help_heading = HEADING)]
    pub fifo: bool,
}

impl PipeArgs {
    /// Whether `--pipe` or `--pipepart` is on.
    pub fn any(&self) -> bool {
        self.pipe || self.pipepart
    }
}

/// `--block`: a size in bytes, or with `--pipepart` a number of blocks per job slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockSize {
    /// This many bytes (at least 1).
    Bytes(u64),
    /// `-N`: N blocks for each job slot, for `--pipepart`.
    PerSlot(u64),
}

/// `--block`: a number, maybe with a fraction, then an optional unit.
fn parse_block(text: &str) -> Result<BlockSize, String> {
    let bad = || {
        format!(
            "{text:?} is not a block size: write bytes, maybe with a unit (e.g. --block 10M, \
             1.5k; k m g t are powers of 1000, K M G T of 1024), or -N for N blocks per job \
             slot with --pipepart"
        )
    };
    let (negative, rest) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let split = rest
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(rest.len());
    let (number, unit) = rest.split_at(split);
    let scale: f64 = match unit {
        "" => 1.0,
        "k" => 1e3,
        "m" => 1e6,
        "g" => 1e9,
        "t" => 1e12,
        "p" => 1e15,
        "K" => 1024.0,
        "M" => 1024.0 * 1024.0,
        "G" => 1024.0 * 1024.0 * 1024.0,
        "T" => 1024f64.powi(4),
        "P" => 1024f64.powi(5),
        _ => return Err(bad()),
    };
    if number.is_empty() || number.starts_with('.') && number.len() == 1 {
        return Err(bad());
    }
    let value: f64 = number.parse().map_err(|_| bad())?;
    let bytes = (value * scale).floor();
    if !bytes.is_finite() || bytes < 1.0 || bytes > u64::MAX as f64 / 2.0 {
        return Err(format!(
            "{text:?}: a block must be at least one byte (e.g. --block 1M)"
        ));
    }
    let bytes = bytes as u64;
    Ok(if negative {
        BlockSize::PerSlot(bytes)
    } else {
        BlockSize::Bytes(bytes)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_sizes_take_gnu_units() {
        assert_eq!(parse_block("1M"), Ok(BlockSize::Bytes(1 << 20)));
        assert_eq!(parse_block("1k"), Ok(BlockSize::Bytes(1000)));
        assert_eq!(parse_block("1K"), Ok(BlockSize::Bytes(1024)));
        assert_eq!(parse_block("1.5k"), Ok(BlockSize::Bytes(1500)));
        assert_eq!(parse_block("10m"), Ok(BlockSize::Bytes(10_000_000)));
        assert_eq!(parse_block("2G"), Ok(BlockSize::Bytes(2 << 30)));
        assert_eq!(parse_block("17"), Ok(BlockSize::Bytes(17)));
        assert_eq!(parse_block("-10"), Ok(BlockSize::PerSlot(10)));
        for bad in ["", "x", "1x", "M", ".", "1..2", "--1"] {
            assert!(
                parse_block(bad)
                    .unwrap_err()
                    .contains("is not a block size"),
                "{bad}"
            );
        }
        for small in ["0", "0.5", "-0"] {
            assert!(
                parse_block(small)
                    .unwrap_err()
                    .contains("at least one byte"),
                "{small}"
            );
        }
    }
}

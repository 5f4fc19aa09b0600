//! `--pipe`: stdin cut into blocks of whole records. A block is at most `--block` bytes and
//! ends at the last split point within that size; a record longer than the block makes the
//! block grow for the rest of the run (by 30% and a byte, with GNU parallel's warning), and
//! at the end of the input what is left (shorter than a block) is the last block, with or
//! without a final record end.

use std::io::{self, Read};

use super::records::Records;

/// Blocks read from a stream, in order.
pub struct Blocks<R> {
    input: R,
    records: Records,
    /// The size a block may reach: `--block`, grown past records longer than it.
    block: usize,
    /// Read and not yet given out.
    buffer: Vec<u8>,
    /// The input has ended.
    ended: bool,
}

/// What [`Blocks::next_block`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Next {
    /// A block of whole records (the last may lack its end, at the end of the input).
    Block(Vec<u8>),
    /// A record was longer than the block, which grew: GNU parallel's warning.
    Grew { from: usize, to: usize },
    /// The input has ended and every block was given.
    End,
}

impl<R: Read> Blocks<R> {
    /// Blocks of at most `block` bytes (at least 1) from `input`.
    pub fn new(input: R, records: Records, block: usize) -> Blocks<R> {
        Blocks {
            input,
            records,
            block: block.max(1),
            buffer: Vec::new(),
            ended: false,
        }
    }

    /// The next block, a warning, or the end.
    pub fn next_block(&mut self) -> io::Result<Next> {
        let wanted = self.block.saturating_add(self.records.lookahead());
        self.fill(wanted)?;
        if self.buffer.is_empty() {
            return Ok(Next::End);
        }
        // A rest as long as the block is split all the same, as GNU parallel does.
        if self.ended && self.buffer.len() < self.block {
            return Ok(Next::Block(std::mem::take(&mut self.buffer)));
        }
        match self.records.last_split(&self.buffer, self.block) {
            Some(split) => {
                // The block keeps the buffer (no copy of it); the few bytes after the split
                // start the next one.
                let rest = self.buffer[split..].to_vec();
                let mut block = std::mem::replace(&mut self.buffer, rest);
                block.truncate(split);
                Ok(Next::Block(block))
            }
            None => {
                let from = self.block;
                self.block = grown(from);
                Ok(Next::Grew {
                    from,
                    to: self.block,
                })
            }
        }
    }

    /// Reads until the buffer holds `wanted` bytes or the input ends.
    fn fill(&mut self, wanted: usize) -> io::Result<()> {
        if self.ended || self.buffer.len() >= wanted {
            return Ok(());
        }
        let missing = wanted - self.buffer.len();
        self.buffer.reserve_exact(missing);
        loop {
            let before = self.buffer.len();
            let want = (wanted - before) as u64;
            match (&mut self.input).take(want).read_to_end(&mut self.buffer) {
                Ok(0) => {
                    self.ended = true;
                    return Ok(());
                }
                Ok(_) if self.buffer.len() >= wanted => return Ok(()),
                Ok(_) => {}
                Err(err) if err.kind() == io::ErrorKind::Interrupted => {}
                Err(err) => return Err(err),
            }
        }
    }
}

/// The block size after a record longer than `block`: 30% more and a byte, rounded up.
pub fn grown(block: usize) -> usize {
    block
        .saturating_mul(13)
        .saturating_add(19)
        .checked_div(10)
        .unwrap_or(usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(input: &[u8], records: Records, block: usize) -> Vec<String> {
        let mut blocks = Blocks::new(input, records, block);
        let mut out = Vec::new();
        loop {
            match blocks.next_block().unwrap() {
                Next::Block(block) => out.push(String::from_utf8(block).unwrap()),
                Next::Grew { from, to } => out.push(format!("<{from}->{to}>")),
                Next::End => return out,
            }
        }
    }

    fn lines() -> Records {
        Records::literal(b"\n".to_vec(), Vec::new())
    }

    #[test]
    fn blocks_end_at_the_last_record_end_within_the_size() {
        let input = b"1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n";
        assert_eq!(
            split(input, lines(), 5),
            ["1\n2\n", "3\n4\n", "5\n6\n", "7\n8\n", "9\n10\n", "11\n", "12\n"]
        );
        assert_eq!(
            split(input, lines(), 1000),
            [std::str::from_utf8(input).unwrap()]
        );
    }

    #[test]
    fn a_long_record_grows_the_block_for_good() {
        assert_eq!(
            split(b"a\nbbbbbbbbbbbb\nc\nd\ne\nf\ng\n", lines(), 5),
            [
                "a\n",
                "<5->8>",
                "<8->12>",
                "<12->17>",
                "bbbbbbbbbbbb\nc\nd\n",
                "e\nf\ng\n"
            ]
        );
        assert_eq!(
            split(b"x\n\n\n\ny\n", lines(), 1),
            ["<1->3>", "x\n\n", "\n\n", "y\n"]
        );
        assert_eq!(grown(10), 14);
        assert_eq!(grown(66), 87);
    }

    #[test]
    fn the_last_record_may_lack_its_end_and_empty_input_has_no_block() {
        assert_eq!(split(b"a\nb", lines(), 1000), ["a\nb"]);
        assert_eq!(
            split(b"a\nbbbbbbbbbbbbbbb", lines(), 5),
            ["a\n", "<5->8>", "<8->12>", "<12->17>", "bbbbbbbbbbbbbbb"]
        );
        assert!(split(b"", lines(), 5).is_empty());
        // A rest exactly a block long is split (or grows the block) like any other block.
        assert_eq!(split(b"aaa", lines(), 4), ["aaa"]);
        assert_eq!(split(b"aaaa", lines(), 4), ["<4->7>", "aaaa"]);
    }

    #[test]
    fn record_starts_are_looked_ahead_for() {
        let fasta = Records::literal(b"\n".to_vec(), b">".to_vec());
        assert_eq!(
            split(b">a\nAC\nGT\n>b\nTT\n>c\nGG\n", fasta, 8),
            ["<8->12>", ">a\nAC\nGT\n", ">b\nTT\n", ">c\nGG\n"]
        );
    }
}

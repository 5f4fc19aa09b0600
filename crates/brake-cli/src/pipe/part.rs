//! `--pipepart`: files cut into parts of whole records without reading them through. Each
//! part starts where the last ended and ends at the first split point at least `--block`
//! bytes further on, found by reading a small window there; `--block -N` makes the block
//! size the file's size over N blocks per job slot.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::records::Records;
use super::Part;
use crate::cli::pipe::BlockSize;
use crate::escape::escape;
use crate::inputs::InputError;

/// The first window read around a part's end; doubled until it shows a split point.
const WINDOW: usize = 64 * 1024;

/// The parts of the files, in order.
pub struct Parts {
    files: std::vec::IntoIter<(PathBuf, File)>,
    current: Option<Current>,
    block: BlockSize,
    slots: u64,
    records: Records,
}

struct Current {
    file: Arc<File>,
    name: String,
    size: u64,
    block: u64,
    at: u64,
}

impl Parts {
    /// Opens every file now (a missing one is refused before anything runs).
    pub fn open(
        files: &[PathBuf],
        block: BlockSize,
        slots: u64,
        records: Records,
    ) -> Result<Parts, InputError> {
        let mut opened = Vec::with_capacity(files.len());
        for path in files {
            let file = File::open(path).map_err(|err| {
                InputError::new(format!(
                    "cannot read the file {} for --pipepart: {err}",
                    escape(path.as_os_str())
                ))
            })?;
            opened.push((path.clone(), file));
        }
        Ok(Parts {
            files: opened.into_iter(),
            current: None,
            block,
            slots: slots.max(1),
            records,
        })
    }

    fn next_file(&mut self) -> Option<Result<Current, InputError>> {
        let (path, file) = self.files.next()?;
        let name = escape(path.as_os_str());
        let size = match file.metadata() {
            Ok(meta) => meta.len(),
            Err(err) => return Some(Err(read_error(&path, &err))),
        };
        let block = match self.block {
            BlockSize::Bytes(bytes) => bytes,
            BlockSize::PerSlot(n) => size / n.saturating_mul(self.slots).max(1) + 1,
        };
        Some(Ok(Current {
            file: Arc::new(file),
            name,
            size,
            block: block.max(1),
            at: 0,
        }))
    }

    /// Where the part starting at `current.at` ends: the first split point at least a block
    /// on, or the end of the file.
    fn part_end(&self, current: &Current) -> std::io::Result<u64> {
        let target = current.at.saturating_add(current.block);
        if target >= current.size {
            return Ok(current.size);
        }
        // The window starts early enough to see a record end that finishes at the target.
        let back = (target - current.at).min(WINDOW as u64 / 4);
        let start = target - back;
        let mut len = WINDOW;
        loop {
            let wanted = (current.size - start).min(len as u64) as usize;
            let mut window = vec![0; wanted];
            current.file.read_exact_at(&mut window, start)?;
            let complete = start + wanted as u64 == current.size;
            let found = self
                .records
                .first_split(&window, back as usize)
                .filter(|&p| complete || p + self.records.lookahead() <= window.len());
            match found {
                Some(p) if (start + p as u64) < current.size => return Ok(start + p as u64),
                Some(_) => return Ok(current.size),
                None if complete => return Ok(current.size),
                None => len = len.saturating_mul(2),
            }
        }
    }
}

fn read_error(path: &Path, err: &std::io::Error) -> InputError {
    InputError::new(format!(
        "cannot read the file {} for --pipepart: {err}",
        escape(path.as_os_str())
    ))
}

impl Iterator for Parts {
    type Item = Result<Part, InputError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if self.current.as_ref().is_none_or(|c| c.at >= c.size) {
                match self.next_file()? {
                    Ok(current) => self.current = Some(current),
                    Err(err) => return Some(Err(err)),
                }
                continue;
            }
            let current = self.current.as_ref()?;
            let end = match self.part_end(current) {
                Ok(end) => end,
                Err(err) => {
                    return Some(Err(InputError::new(format!(
                        "cannot read the file {} for --pipepart: {err}",
                        current.name
                    ))))
                }
            };
            let part = Part {
                file: Arc::clone(&current.file),
                offset: current.at,
                len: end - current.at,
            };
            if let Some(current) = self.current.as_mut() {
                current.at = end;
            }
            return Some(Ok(part));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn parts(content: &[u8], block: BlockSize, slots: u64) -> Vec<String> {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(content).unwrap();
        let records = Records::literal(b"\n".to_vec(), Vec::new());
        Parts::open(&[file.path().to_owned()], block, slots, records)
            .unwrap()
            .map(|part| {
                let part = part.unwrap();
                let mut bytes = vec![0; part.len as usize];
                part.file.read_exact_at(&mut bytes, part.offset).unwrap();
                String::from_utf8(bytes).unwrap()
            })
            .collect()
    }

    #[test]
    fn parts_end_at_the_first_record_end_a_block_on() {
        let twelve = b"1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n";
        assert_eq!(
            parts(twelve, BlockSize::Bytes(5), 1),
            ["1\n2\n3\n", "4\n5\n6\n", "7\n8\n9\n", "10\n11\n", "12\n"]
        );
        assert_eq!(
            parts(twelve, BlockSize::PerSlot(2), 2),
            ["1\n2\n3\n4\n", "5\n6\n7\n8\n", "9\n10\n11\n", "12\n"]
        );
        assert_eq!(parts(b"a\nb", BlockSize::Bytes(1), 1), ["a\n", "b"]);
        assert!(parts(b"", BlockSize::Bytes(5), 1).is_empty());
    }
}

//! `--dry-run`: the commands, one per line, nothing run and no joblog touched.

use std::ffi::OsString;
use std::io::{self, Write};

use brake::Stop;

use super::STDOUT_CLOSED;
use crate::inputs::InputError;
use crate::summary::INTERNAL_ERROR;
use crate::template::Template;

/// Prints the command of every job, `{%}` as if `jobs` ran at once, until the input ends or
/// the run stops; with `trace` (`-t`) on stderr too, as GNU parallel does. Returns the exit
/// status.
pub(super) fn dry_run(
    template: &Template,
    inputs: impl Iterator<Item = Result<Vec<OsString>, InputError>>,
    jobs: usize,
    trace: bool,
    stop: &Stop,
) -> u8 {
    let stdout = io::stdout();
    let mut out = io::BufWriter::with_capacity(64 * 1024, stdout.lock());
    let mut seq = 0u64;
    for item in inputs {
        if stop.is_stopping() {
            break;
        }
        let args = match item {
            Ok(args) => args,
            Err(err) => {
                let _ = out.flush();
                say!("brake: reading the input: {err}");
                return INTERNAL_ERROR;
            }
        };
        seq += 1;
        let slot = ((seq - 1) % jobs as u64) as usize + 1;
        let rendered = template.render(&args, seq, slot);
        if trace {
            let mut line = rendered.text.as_encoded_bytes().to_vec();
            line.push(b'\n');
            let _ = io::stderr().write_all(&line);
        }
        let written = out
            .write_all(rendered.text.as_encoded_bytes())
            .and_then(|()| out.write_all(b"\n"));
        if written.is_err() {
            return STDOUT_CLOSED;
        }
    }
    if out.flush().is_err() {
        return STDOUT_CLOSED;
    }
    stop.wait_announced();
    stop.exit_code()
        .and_then(|code| u8::try_from(code).ok())
        .unwrap_or(0)
}

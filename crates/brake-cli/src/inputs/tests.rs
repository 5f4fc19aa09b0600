use super::*;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

fn args(values: &[&str]) -> Source {
    Source::Args(values.iter().map(OsString::from).collect())
}

fn joined(inputs: Inputs) -> Vec<String> {
    inputs
        .map(|job| {
            job.unwrap()
                .iter()
                .map(|v| v.to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

fn file_with(dir: &tempfile::TempDir, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    path
}

#[test]
fn the_first_source_varies_slowest() {
    let inputs = Inputs::open(vec![args(&["a", "b"]), args(&["1", "2", "3"])]).unwrap();
    assert_eq!(inputs.total(), Some(6));
    assert_eq!(inputs.sources(), 2);
    assert_eq!(joined(inputs), ["a 1", "a 2", "a 3", "b 1", "b 2", "b 3"]);
}

#[test]
fn three_sources_with_a_file_among_them() {
    let dir = tempfile::tempdir().unwrap();
    let numbers = file_with(&dir, "numbers", b"1\n2\n");
    let inputs = Inputs::open(vec![
        args(&["a", "b"]),
        Source::File(numbers),
        args(&["x", "y"]),
    ])
    .unwrap();
    // The file is buffered, so the count is known.
    assert_eq!(inputs.total(), Some(8));
    assert_eq!(inputs.sources(), 3);
    assert_eq!(
        joined(inputs),
        ["a 1 x", "a 1 y", "a 2 x", "a 2 y", "b 1 x", "b 1 y", "b 2 x", "b 2 y"]
    );
}

#[test]
fn a_streamed_first_source_combines_with_the_rest() {
    let dir = tempfile::tempdir().unwrap();
    let letters = file_with(&dir, "letters", b"a\nb\n");
    let inputs = Inputs::open(vec![Source::File(letters), args(&["1", "2"])]).unwrap();
    assert_eq!(inputs.total(), None);
    assert_eq!(joined(inputs), ["a 1", "a 2", "b 1", "b 2"]);
}

#[test]
fn empty_sources_give_no_jobs() {
    let inputs = Inputs::open(vec![args(&[])]).unwrap();
    assert_eq!(inputs.total(), Some(0));
    assert!(joined(inputs).is_empty());

    let inputs = Inputs::open(vec![args(&["a"]), args(&[])]).unwrap();
    assert_eq!(inputs.total(), Some(0));
    assert!(joined(inputs).is_empty());

    let dir = tempfile::tempdir().unwrap();
    let empty = file_with(&dir, "empty", b"");
    let inputs = Inputs::open(vec![Source::File(empty.clone())]).unwrap();
    assert!(joined(inputs).is_empty());
    let inputs = Inputs::open(vec![args(&["a", "b"]), Source::File(empty)]).unwrap();
    assert_eq!(inputs.total(), Some(0));
    assert!(joined(inputs).is_empty());

    let inputs = Inputs::open(Vec::new()).unwrap();
    assert_eq!((inputs.total(), inputs.sources()), (Some(0), 0));
    assert!(joined(inputs).is_empty());
}

#[test]
fn file_lines_keep_cr_empty_lines_invalid_utf8_and_a_last_line_without_newline() {
    let dir = tempfile::tempdir().unwrap();
    let path = file_with(&dir, "in.txt", b"one\r\n\nthr\xffee\n\xc3\nlast");
    let inputs = Inputs::open(vec![Source::File(path)]).unwrap();
    assert_eq!(inputs.total(), None);
    let values: Vec<Vec<u8>> = inputs
        .map(|job| job.unwrap()[0].as_bytes().to_vec())
        .collect();
    let expected: [&[u8]; 5] = [b"one\r", b"", b"thr\xffee", b"\xc3", b"last"];
    assert_eq!(values, expected);
}

#[test]
fn a_file_ending_in_newline_has_no_extra_empty_value() {
    let dir = tempfile::tempdir().unwrap();
    let path = file_with(&dir, "in.txt", b"a\n\n");
    let inputs = Inputs::open(vec![Source::File(path)]).unwrap();
    assert_eq!(joined(inputs), ["a", ""]);
}

#[test]
fn a_missing_file_is_named_with_the_reason() {
    let err = Inputs::open(vec![Source::File("/no/such/inputs.txt".into())])
        .err()
        .unwrap();
    let text = err.to_string();
    assert!(
        text.starts_with("cannot read the input file /no/such/inputs.txt: No such file"),
        "{text}"
    );
    assert!(!text.contains('\n'), "{text}");

    // Also as a buffered (second) source.
    let err = Inputs::open(vec![args(&["a"]), Source::File("/no/such/b.txt".into())])
        .err()
        .unwrap();
    assert!(err.to_string().contains("/no/such/b.txt"), "{err}");
}

#[test]
fn a_read_error_is_an_item_and_ends_the_jobs() {
    // A process's memory opens, but its first page (unmapped) cannot be read.
    let mem = PathBuf::from("/proc/self/mem");
    let mut inputs = Inputs::open(vec![Source::File(mem)]).unwrap();
    let err = inputs.next().unwrap().unwrap_err().to_string();
    assert!(err.contains("/proc/self/mem"), "{err}");
    assert!(err.contains("after its line 0"), "{err}");
    assert!(inputs.next().is_none());
}

#[test]
fn a_directory_is_refused_when_opened() {
    let dir = tempfile::tempdir().unwrap();
    let err = Inputs::open(vec![Source::File(dir.path().to_owned())])
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.ends_with(&format!(
            "{}: it is a directory; check the path given after :::: or -a",
            dir.path().display()
        )),
        "{err}"
    );
}

#[test]
fn stdin_is_one_source_at_most() {
    let err = Inputs::open(vec![Source::Stdin, Source::File("-".into())])
        .err()
        .unwrap();
    assert!(err.to_string().contains("one input source"), "{err}");
    let err = Inputs::open(vec![
        args(&["a"]),
        Source::File("-".into()),
        Source::File("-".into()),
    ])
    .err()
    .unwrap();
    assert!(err.to_string().contains("one input source"), "{err}");
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Any shape of sources gives the plain cartesian product, first source slowest.
    #[test]
    fn jobs_are_the_cartesian_product(sizes in proptest::collection::vec(0usize..4, 1..5)) {
        let sources: Vec<Vec<String>> = sizes
            .iter()
            .enumerate()
            .map(|(s, &n)| (0..n).map(|v| format!("{s}.{v}")).collect())
            .collect();
        let mut expected = vec![String::new()];
        for values in &sources {
            expected = expected
                .iter()
                .flat_map(|prefix| values.iter().map(move |v| format!("{prefix} {v}")))
                .collect();
        }
        let expected: Vec<String> = expected.iter().map(|j| j[1..].to_owned()).collect();
        let inputs = Inputs::open(
            sources
                .iter()
                .map(|values| Source::Args(values.iter().map(OsString::from).collect()))
                .collect(),
        )
        .unwrap();
        proptest::prop_assert_eq!(inputs.total(), Some(expected.len() as u64));
        proptest::prop_assert_eq!(joined(inputs), expected);
    }
}

#[test]
fn the_first_source_streams() {
    // A writer pushes a million lines into a pipe, counting what the pipe has taken. A
    // streaming reader has the first job while the writer is still blocked on a full pipe;
    // one that read everything first could not return before the writer finished.
    const LINES: u64 = 1_000_000;
    const CHUNK: u64 = 1_000;
    let (read_end, write_end) = rustix::pipe::pipe().unwrap();
    let path = PathBuf::from(format!("/proc/self/fd/{}", read_end.as_raw_fd()));
    let written = Arc::new(AtomicU64::new(0));
    let counter = Arc::clone(&written);
    let writer = std::thread::spawn(move || {
        let mut pipe = File::from(write_end);
        let mut chunk = String::new();
        for start in (0..LINES).step_by(CHUNK as usize) {
            chunk.clear();
            for i in start..start + CHUNK {
                chunk.push_str(&i.to_string());
                chunk.push('\n');
            }
            pipe.write_all(chunk.as_bytes()).unwrap();
            counter.fetch_add(CHUNK, Ordering::SeqCst);
        }
    });
    let mut inputs = Inputs::open(vec![Source::File(path)]).unwrap();
    drop(read_end);
    assert_eq!(inputs.total(), None);
    assert_eq!(inputs.next().unwrap().unwrap(), ["0"]);
    // Time for a writer that could go on to do so.
    std::thread::sleep(std::time::Duration::from_millis(100));
    let so_far = written.load(Ordering::SeqCst);
    assert!(
        so_far < LINES / 10,
        "{so_far} lines were taken before the second job was read"
    );
    let mut count = 1u64;
    let mut last = OsString::new();
    for job in inputs {
        last = job.unwrap().pop().unwrap();
        count += 1;
    }
    assert_eq!(count, LINES);
    assert_eq!(last, (LINES - 1).to_string().as_str());
    writer.join().unwrap();
}

fn reading() -> Reading {
    Reading::default()
}

fn colsep(pattern: &str) -> Option<regex::bytes::Regex> {
    Some(regex::bytes::Regex::new(pattern).unwrap())
}

fn opened(sources: Vec<Source>, reading: Reading) -> Vec<String> {
    joined(Inputs::open_with(sources, reading).unwrap())
}

#[test]
fn a_delimiter_ends_records_in_files_and_splits_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let path = file_with(&dir, "in", b"a\nb\r\nc\r\nd");
    let crlf = Reading {
        delimiter: Some(b"\r\n".to_vec()),
        ..reading()
    };
    assert_eq!(opened(vec![Source::File(path)], crlf), ["a\nb", "c", "d"]);
    let comma = Reading {
        delimiter: Some(b",".to_vec()),
        ..reading()
    };
    assert_eq!(
        opened(vec![args(&["x,y", "z,"])], comma),
        ["x", "y", "z", ""]
    );
    // Without -d, a value of ::: stays whole.
    assert_eq!(opened(vec![args(&["x\ny"])], reading()), ["x\ny"]);
}

#[test]
fn nul_records_keep_their_newlines() {
    let dir = tempfile::tempdir().unwrap();
    let path = file_with(&dir, "in", b"a\nb\0c\n");
    let null = Reading {
        delimiter: Some(vec![0]),
        ..reading()
    };
    assert_eq!(opened(vec![Source::File(path)], null), ["a\nb", "c\n"]);
}

#[test]
fn the_eof_marker_ends_its_source_only() {
    let eof = Reading {
        eof: Some(b"b".to_vec()),
        ..reading()
    };
    assert_eq!(
        opened(vec![args(&["a", "b", "c"]), args(&["x", "b", "y"])], eof),
        ["a x"]
    );
    let empty = Reading {
        eof: Some(Vec::new()),
        ..reading()
    };
    assert_eq!(opened(vec![args(&["a", "", "c"])], empty), ["a", "", "c"]);
}

#[test]
fn no_run_if_empty_skips_blank_values_of_every_source() {
    let blank = Reading {
        skip_blank: true,
        ..reading()
    };
    assert_eq!(
        opened(
            vec![args(&["", " ", "a", "  b"]), args(&["", "x", "\t"])],
            blank
        ),
        ["a x", "  b x"]
    );
}

#[test]
fn skip_first_line_drops_the_first_sources_first_value() {
    let skip = Reading {
        skip_first_line: true,
        ..reading()
    };
    assert_eq!(
        opened(vec![args(&["h", "a"]), args(&["x", "y"])], skip),
        ["a x", "a y"]
    );
}

#[test]
fn linked_sources_pair_up_cut_to_the_shortest() {
    let linked = Reading {
        linked: vec![false, true, false, true],
        ..reading()
    };
    let inputs = Inputs::open_with(
        vec![
            args(&["a", "b", "c", "d"]),
            args(&["1", "2", "3"]),
            args(&["X", "Y"]),
            args(&["11", "22", "33"]),
        ],
        linked,
    )
    .unwrap();
    assert_eq!(inputs.total(), Some(6));
    assert_eq!(
        joined(inputs),
        ["a 1 X 11", "a 1 Y 22", "b 2 X 11", "b 2 Y 22", "c 3 X 11", "c 3 Y 22"]
    );
}

#[test]
fn link_wraps_shorter_sources_around() {
    let link = Reading {
        link_all: true,
        ..reading()
    };
    assert_eq!(
        opened(
            vec![args(&["1", "2"]), args(&["a", "b", "c", "d"]), args(&["X"])],
            link
        ),
        ["1 a X", "2 b X", "1 c X", "2 d X"]
    );
}

#[test]
fn linked_files_stream_nothing_but_pair_all_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let first = file_with(&dir, "first", b"a\nb\nc\n");
    let second = file_with(&dir, "second", b"1\n2\n");
    let linked = Reading {
        linked: vec![false, true],
        ..reading()
    };
    let inputs =
        Inputs::open_with(vec![Source::File(first), Source::File(second)], linked).unwrap();
    assert_eq!(inputs.total(), Some(2));
    assert_eq!(joined(inputs), ["a 1", "b 2"]);
}

#[test]
fn columns_of_all_sources_follow_each_other() {
    let columns = Reading {
        colsep: colsep(","),
        ..reading()
    };
    let jobs: Vec<Vec<OsString>> =
        Inputs::open_with(vec![args(&["a,b", "c"]), args(&["x,y"])], columns)
            .unwrap()
            .map(Result::unwrap)
            .collect();
    assert_eq!(jobs, [vec!["a", "b", "x", "y"], vec!["c", "x", "y"]]);
}

#[test]
fn columns_split_as_perl_does() {
    let split = |pattern: &str, value: &str| {
        let columns = Reading {
            colsep: colsep(pattern),
            ..reading()
        };
        Inputs::open_with(vec![args(&[value])], columns)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
    };
    assert_eq!(split(",", "a,,"), ["a", "", ""]);
    assert_eq!(split(",", ",a"), ["", "a"]);
    assert_eq!(split("x*", "abc"), ["a", "b", "c", ""]);
    assert_eq!(split("(x)|(,)", "a,b"), ["a", "", ",", "b"]);
    assert_eq!(split("-+", "A--B"), ["A", "B"]);
}

#[test]
fn trim_takes_whitespace_off_each_column() {
    let trimmed = |trim, colsep_pattern: Option<&str>| {
        let reading = Reading {
            trim,
            colsep: colsep_pattern.and_then(colsep),
            ..reading()
        };
        joined(Inputs::open_with(vec![args(&[" a , b "])], reading).unwrap())
    };
    assert_eq!(trimmed(Trim::Both, Some(",")), ["a b"]);
    assert_eq!(trimmed(Trim::Left, Some(",")), ["a  b "]);
    assert_eq!(trimmed(Trim::Right, None), [" a , b"]);
    assert_eq!(trimmed(Trim::None, None), [" a , b "]);
    for (text, trim) in [
        ("n", Trim::None),
        ("l", Trim::Left),
        ("r", Trim::Right),
        ("lr", Trim::Both),
        ("rl", Trim::Both),
    ] {
        assert_eq!(Trim::parse(text), Ok(trim));
    }
    assert!(Trim::parse("x")
        .unwrap_err()
        .starts_with("--trim x: write n"));
}

#[test]
fn headers_name_the_columns() {
    let header = Reading {
        header: true,
        colsep: colsep(","),
        ..reading()
    };
    let inputs =
        Inputs::open_with(vec![args(&["f1,f2", "A,B"]), args(&["f3", "C"])], header).unwrap();
    assert_eq!(inputs.width(), 3);
    let words: Vec<OsString> = ["echo", "{f3}{f1.}", "{f2/}x{f2//}", "{f1/.}", "{f4}", "{}"]
        .into_iter()
        .map(OsString::from)
        .collect();
    assert_eq!(
        inputs.name_columns(&words),
        ["echo", "{3}{1.}", "{2/}x{2//}", "{1/.}", "{f4}", "{}"]
    );
    assert_eq!(joined(inputs), ["A B C"]);
}

#[test]
fn gnu_delimiter_escapes() {
    assert_eq!(unescape_delimiter(br"\n\t\r\0"), b"\n\t\r\0");
    assert_eq!(unescape_delimiter(br"\101\000"), b"A\0");
    assert_eq!(unescape_delimiter(br"\\\q\12"), br"\\\q\12");
    assert_eq!(unescape_delimiter(b"_"), b"_");
}

#[test]
fn the_widest_job_is_known_by_reading_the_first_source_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = file_with(&dir, "in", b"a,b,c\nd\n");
    let columns = Reading {
        colsep: colsep(","),
        ..reading()
    };
    let mut inputs =
        Inputs::open_with(vec![Source::File(path), args(&["x,y", "z"])], columns).unwrap();
    assert_eq!(inputs.total(), None);
    assert_eq!(inputs.widest().unwrap(), 5);
    assert_eq!(inputs.total(), Some(4));
    assert_eq!(joined(inputs), ["a b c x y", "a b c z", "d x y", "d z"]);
}

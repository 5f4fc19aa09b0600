//! The differential suite: GNU parallel command lines (from its tutorial, manual, examples and
//! test suite, and everyday use), each run with `bash -c` twice in the same fresh folder and
//! environment, once with GNU parallel as `parallel` and once with brake as `parallel`.
//! stdout (sorted unless the entry is `ordered`), the exit status and the files left behind
//! are compared; stderr is only shown.
//!
//! Every entry of `corpus.txt` records what brake does with it today (see `corpus.rs`). The
//! test fails when a `same` line no longer agrees, and when a `differs` or `refused` line now
//! agrees: promote it. It prints one table: how many lines agree, and what the others need.
//!
//! - `BRAKE_DIFF_FILTER=TEXT` runs only the entries whose id or line contains TEXT.
//! - `BRAKE_DIFF_VERBOSE=1` shows both sides of each line that does not agree.
//! - `BRAKE_DIFF_WRITE=FILE` writes the corpus to FILE with the verdicts observed (the
//!   recorded reason kept where the kind stays the same), for review before it replaces
//!   `corpus.txt`.
//! - `BRAKE_DIFF_JOBS=N` runs N lines at once (each line's two runs stay one after the other).
//!
//! Without GNU parallel the test says so and passes, except under `CI=true`, where it fails.

#[path = "../support/mod.rs"]
mod support;

mod corpus;
mod options;
mod sandbox;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use corpus::{Entry, Verdict};
use sandbox::{Node, Outcome, Sandbox, Status};

const CORPUS: &str = include_str!("corpus.txt");

/// How long one run of one line may take. Most lines take well under a second under GNU
/// parallel, but those with a hundred jobs start a hundred Perl interpreters, which takes
/// several seconds on a loaded two-core machine: the limit only has to tell a hang.
const LIMIT: Duration = Duration::from_secs(60);

/// How much of each side the verbose report shows.
const SHOWN_LINES: usize = 6;

/// Writes to the real stderr: the test harness captures `eprintln!`, and the table is for
/// every run, passing or not.
fn say(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes());
    let _ = err.flush();
}

#[test]
fn gnu_parallel_and_brake_agree() {
    let Some((gnu, version)) = gnu_parallel() else {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true");
        assert!(
            !ci,
            "differential: GNU parallel is not installed, and CI=true needs it \
             (apt-get install -y parallel)"
        );
        say("differential: SKIPPED: GNU parallel is not installed (apt-get install -y parallel)\n");
        return;
    };
    let entries = corpus::parse(CORPUS).unwrap_or_else(|err| panic!("corpus.txt: {err}"));
    let filter = std::env::var("BRAKE_DIFF_FILTER").unwrap_or_default();
    let selected: Vec<&Entry> = entries
        .iter()
        .filter(|e| e.id.contains(&filter) || e.line.contains(&filter))
        .collect();
    let brake = PathBuf::from(support::BRAKE);
    let known = options::brake_options(&brake);
    let started = Instant::now();
    let results = run_all(&selected, &gnu, &brake);
    let report = Report::new(&selected, &results, &known);
    let verbose = std::env::var("BRAKE_DIFF_VERBOSE").is_ok_and(|v| !v.is_empty() && v != "0");
    if verbose {
        for (entry, result) in selected.iter().zip(&results) {
            if result.observed != Verdict::Same {
                say(&describe(entry, result));
            }
        }
    }
    say(&report.table(
        &version,
        entries.len(),
        &filter,
        started.elapsed(),
        &selected,
        &results,
    ));
    if let Ok(path) = std::env::var("BRAKE_DIFF_WRITE") {
        let text = rewrite(&selected, &results, &known);
        std::fs::write(&path, text).unwrap_or_else(|err| panic!("write {path}: {err}"));
        say(&format!(
            "differential: observed verdicts written to {path}\n"
        ));
    }
    assert!(
        report.failures.is_empty(),
        "differential: {} entries do not hold (see above):\n{}",
        report.failures.len(),
        report.failures.join("\n")
    );
}

/// GNU parallel's path and version line, if it is installed (and is GNU's, not moreutils').
fn gnu_parallel() -> Option<(PathBuf, String)> {
    let path = std::env::var_os("PATH")?;
    let program = std::env::split_paths(&path)
        .map(|dir| dir.join("parallel"))
        .find(|candidate| candidate.is_file())?;
    let out = Command::new(&program)
        .arg("--version")
        .env("HOME", std::env::temp_dir())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let version = text.lines().next()?.trim().to_owned();
    version
        .starts_with("GNU parallel")
        .then(|| (std::fs::canonicalize(&program).unwrap_or(program), version))
}

/// Both runs of one line, and what they add up to.
struct Compared {
    gnu: Outcome,
    brake: Outcome,
    /// What differs: `stdout`, `exit status`, `files`.
    differences: Vec<&'static str>,
    observed: Verdict,
}

/// Runs the entries on a few workers, each with a sandbox of its own; results in entry order.
fn run_all(entries: &[&Entry], gnu: &Path, brake: &Path) -> Vec<Compared> {
    let workers = std::env::var("BRAKE_DIFF_JOBS")
        .ok()
        .and_then(|n| n.parse::<usize>().ok())
        .unwrap_or_else(|| {
            let cpus = std::thread::available_parallelism().map_or(2, |n| n.get());
            (cpus + 1).clamp(2, 4)
        })
        .max(1);
    let next = AtomicUsize::new(0);
    let base = tempfile::tempdir().expect("a folder for the sandboxes");
    let mut results: Vec<Option<Compared>> = (0..entries.len()).map(|_| None).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|worker| {
                let next = &next;
                let sandbox = Sandbox::new(base.path().join(format!("w{worker}")));
                scope.spawn(move || {
                    let mut done = Vec::new();
                    loop {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        let Some(entry) = entries.get(index) else {
                            return done;
                        };
                        let token = format!("brake-differential-{}-{index}", std::process::id());
                        let gnu = sandbox.run(gnu, &entry.line, &token, LIMIT);
                        let brake = sandbox.run(brake, &entry.line, &token, LIMIT);
                        done.push((index, judge(entry, gnu, brake)));
                    }
                })
            })
            .collect();
        for handle in handles {
            for (index, result) in handle.join().expect("a worker panicked") {
                results[index] = Some(result);
            }
        }
    });
    results.into_iter().map(Option::unwrap).collect()
}

/// Compares the two runs of `entry`.
fn judge(entry: &Entry, gnu: Outcome, brake: Outcome) -> Compared {
    let mut differences = Vec::new();
    if comparable(&gnu.stdout, entry.ordered) != comparable(&brake.stdout, entry.ordered) {
        differences.push("stdout");
    }
    if gnu.status != brake.status {
        differences.push("exit status");
    }
    if gnu.files != brake.files {
        differences.push("files");
    }
    let observed = if differences.is_empty() {
        Verdict::Same
    } else if brake.status == Status::Exited(255) && gnu.status != Status::Exited(255) {
        Verdict::Refused(String::new())
    } else {
        Verdict::Differs(differences.join(", "))
    };
    Compared {
        gnu,
        brake,
        differences,
        observed,
    }
}

/// stdout's lines, sorted unless their order counts.
fn comparable(stdout: &[u8], ordered: bool) -> Vec<&[u8]> {
    let mut lines: Vec<&[u8]> = stdout.split_inclusive(|&b| b == b'\n').collect();
    if !ordered {
        lines.sort();
    }
    lines
}

/// The counts, the failures, and what the lines that do not agree need.
struct Report {
    runnable: usize,
    same: usize,
    differs: usize,
    refused: usize,
    /// Lines GNU parallel itself did not finish within the limit.
    broken: Vec<String>,
    /// What each line that does not agree needs, by how many lines need it.
    needs: BTreeMap<String, usize>,
    /// Entries whose verdict no longer holds, one line each.
    failures: Vec<String>,
    /// Entries that still do not agree, but in another way than recorded.
    drift: Vec<String>,
}

impl Report {
    fn new(entries: &[&Entry], results: &[Compared], known: &BTreeSet<String>) -> Report {
        let mut report = Report {
            runnable: 0,
            same: 0,
            differs: 0,
            refused: 0,
            broken: Vec::new(),
            needs: BTreeMap::new(),
            failures: Vec::new(),
            drift: Vec::new(),
        };
        for (entry, result) in entries.iter().zip(results) {
            if result.gnu.status == Status::TimedOut {
                report.broken.push(entry.id.clone());
                report.failures.push(format!(
                    "  {}: GNU parallel did not finish within {LIMIT:?}: the line does not \
                     belong in the corpus (or the machine is overloaded)",
                    entry.id
                ));
                continue;
            }
            report.runnable += 1;
            match &result.observed {
                Verdict::Same => report.same += 1,
                Verdict::Differs(_) => report.differs += 1,
                Verdict::Refused(_) => report.refused += 1,
            }
            if result.observed != Verdict::Same {
                *report.needs.entry(need(entry, known)).or_default() += 1;
            }
            match (&entry.expect, &result.observed) {
                (Verdict::Same, Verdict::Same) => {}
                (Verdict::Same, observed) => report.failures.push(format!(
                    "  {}: regression: recorded same, now {} ({}): {}",
                    entry.id,
                    observed.kind(),
                    result.differences.join(", "),
                    entry.line
                )),
                (expected, Verdict::Same) => report.failures.push(format!(
                    "  {}: now the same as GNU parallel (recorded {}): promote it to same",
                    entry.id,
                    expected.kind()
                )),
                (expected, observed) if expected.kind() != observed.kind() => {
                    report.drift.push(format!(
                        "  {}: recorded {}, now {}",
                        entry.id,
                        expected.kind(),
                        observed.kind()
                    ))
                }
                _ => {}
            }
        }
        report
    }

    fn table(
        &self,
        version: &str,
        total: usize,
        filter: &str,
        took: Duration,
        entries: &[&Entry],
        results: &[Compared],
    ) -> String {
        let mut out = String::new();
        let subset = if filter.is_empty() {
            String::new()
        } else {
            format!(
                " ({} selected by BRAKE_DIFF_FILTER={filter:?})",
                entries.len()
            )
        };
        let rate = if self.runnable == 0 {
            0.0
        } else {
            self.same as f64 * 100.0 / self.runnable as f64
        };
        let _ = writeln!(
            out,
            "\ndifferential: brake against {version}, in {took:.1?}"
        );
        let _ = writeln!(out, "  total     {total:4}{subset}");
        let _ = writeln!(out, "  runnable  {:4}", self.runnable);
        let _ = writeln!(out, "  same      {:4}", self.same);
        let _ = writeln!(out, "  differs   {:4}", self.differs);
        let _ = writeln!(out, "  refused   {:4}", self.refused);
        let _ = writeln!(
            out,
            "  pass rate {rate:.1}% (same / runnable = {}/{})",
            self.same, self.runnable
        );
        if !self.broken.is_empty() {
            let _ = writeln!(
                out,
                "  not runnable (GNU parallel timed out): {}",
                self.broken.join(" ")
            );
        }
        if !self.needs.is_empty() {
            let _ = writeln!(
                out,
                "  what the other lines need (the first option brake lacks, else the reason):"
            );
            let mut needs: Vec<(&String, &usize)> = self.needs.iter().collect();
            needs.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            for (need, count) in needs {
                let _ = writeln!(out, "    {count:4}  {need}");
            }
        }
        if !self.drift.is_empty() {
            let _ = writeln!(
                out,
                "  recorded kind changed (update corpus.txt; see BRAKE_DIFF_WRITE):"
            );
            for line in &self.drift {
                let _ = writeln!(out, "  {line}");
            }
        }
        let slowest = results
            .iter()
            .zip(entries)
            .max_by_key(|(r, _)| r.gnu.elapsed.max(r.brake.elapsed));
        if let Some((result, entry)) = slowest {
            let _ = writeln!(
                out,
                "  slowest line: {} (GNU {:.2?}, brake {:.2?})",
                entry.id, result.gnu.elapsed, result.brake.elapsed
            );
        }
        out
    }
}

/// What a line that does not agree needs: the first option (or syntax) brake lacks, else the
/// recorded reason, else what differs.
fn need(entry: &Entry, known: &BTreeSet<String>) -> String {
    if let Some(option) = options::first_unsupported(&entry.line, known) {
        return option;
    }
    match entry.expect.reason() {
        "" => "(no reason recorded)".to_owned(),
        reason => reason.to_owned(),
    }
}

/// Both sides of a line that does not agree, diff-style: `-` GNU parallel, `+` brake.
fn describe(entry: &Entry, result: &Compared) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n=== {} [{}; recorded {}]\n    {}",
        entry.id,
        result.observed.kind(),
        entry.expect,
        entry.line
    );
    if result.differences.contains(&"exit status") {
        let _ = writeln!(
            out,
            "  status: - {}  + {}",
            result.gnu.status, result.brake.status
        );
    }
    if result.differences.contains(&"stdout") {
        let order = if entry.ordered { "" } else { " (sorted)" };
        let _ = writeln!(out, "  stdout{order}:");
        let gnu = comparable(&result.gnu.stdout, entry.ordered);
        let brake = comparable(&result.brake.stdout, entry.ordered);
        let common = gnu.iter().zip(&brake).take_while(|(a, b)| a == b).count();
        for (mark, lines) in [("-", &gnu), ("+", &brake)] {
            for line in lines.iter().skip(common).take(SHOWN_LINES) {
                let _ = writeln!(
                    out,
                    "    {mark} {}",
                    String::from_utf8_lossy(line).trim_end_matches('\n')
                );
            }
            if lines.len() > common + SHOWN_LINES {
                let _ = writeln!(
                    out,
                    "    {mark} … {} more",
                    lines.len() - common - SHOWN_LINES
                );
            }
        }
    }
    if result.differences.contains(&"files") {
        let _ = writeln!(out, "  files:");
        let names: BTreeSet<&String> = result
            .gnu
            .files
            .keys()
            .chain(result.brake.files.keys())
            .collect();
        for name in names {
            let (a, b) = (result.gnu.files.get(name), result.brake.files.get(name));
            if a != b {
                let _ = writeln!(out, "    {name}: - {}  + {}", node(a), node(b));
            }
        }
    }
    for (mark, stderr) in [("-", &result.gnu.stderr), ("+", &result.brake.stderr)] {
        let text = String::from_utf8_lossy(stderr);
        for line in text.lines().take(3) {
            let _ = writeln!(out, "  stderr {mark} {line}");
        }
    }
    out
}

/// A folder entry in a few words.
fn node(node: Option<&Node>) -> String {
    match node {
        None => "absent".to_owned(),
        Some(Node::Dir) => "a folder".to_owned(),
        Some(Node::Special) => "a special file".to_owned(),
        Some(Node::Link(target)) => format!("a link to {}", target.display()),
        Some(Node::File(bytes)) => {
            let text = String::from_utf8_lossy(bytes);
            let mut shown: String = text.chars().take(60).collect();
            if shown.len() < text.len() {
                shown.push('…');
            }
            format!("{:?}", shown)
        }
    }
}

/// The corpus with each run entry's verdict as observed: a recorded verdict of the same kind
/// stays as it is (its reason is the better one); a new `differs` or `refused` gets the first
/// option brake lacks, or else what differs, as its reason.
fn rewrite(entries: &[&Entry], results: &[Compared], known: &BTreeSet<String>) -> String {
    let observed: BTreeMap<&str, Verdict> = entries
        .iter()
        .zip(results)
        .map(|(entry, result)| {
            let verdict = if result.observed.kind() == entry.expect.kind() {
                entry.expect.clone()
            } else {
                let reason = match options::first_unsupported(&entry.line, known) {
                    Some(option) => format!("no {option} yet"),
                    None => result.observed.reason().to_owned(),
                };
                match result.observed {
                    Verdict::Same => Verdict::Same,
                    Verdict::Differs(_) => Verdict::Differs(reason),
                    Verdict::Refused(_) => Verdict::Refused(reason),
                }
            };
            (entry.id.as_str(), verdict)
        })
        .collect();
    let all = corpus::parse(CORPUS).expect("parsed before");
    let id_width = all.iter().map(|e| e.id.len()).max().unwrap_or(0);
    let verdicts: Vec<Verdict> = all
        .iter()
        .map(|e| observed.get(e.id.as_str()).unwrap_or(&e.expect).clone())
        .collect();
    let width = verdicts
        .iter()
        .map(|v| v.to_string().len())
        .max()
        .unwrap_or(0);
    let mut by_id: BTreeMap<&str, String> = all
        .iter()
        .zip(&verdicts)
        .map(|(e, v)| (e.id.as_str(), e.render(v, id_width, width)))
        .collect();
    let mut out = String::new();
    for raw in CORPUS.lines() {
        let id = raw.split(corpus::SEP).next().unwrap_or("").trim();
        let is_entry = !raw.trim().is_empty() && !raw.trim_start().starts_with('#');
        match by_id.remove(id) {
            Some(rendered) if is_entry => out.push_str(&rendered),
            _ => out.push_str(raw),
        }
        out.push('\n');
    }
    out
}

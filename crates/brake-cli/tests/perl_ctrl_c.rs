//! The stop contract with GNU parallel's Perl replacement strings: the run's `perl` process
//! (see `template/perl.rs`) is one more process of the run, and one Ctrl-C leaves neither it
//! nor any job behind.

use std::time::{Duration, Instant};

use brake_testkit::marked_processes;

mod support;
use support::start_in;

const LIMIT: Duration = Duration::from_secs(120);

#[test]
fn one_press_ends_the_jobs_and_the_perl_process() {
    let dir = tempfile::tempdir().unwrap();
    let session = start_in(
        dir.path(),
        [
            "-j",
            "2",
            "--plus",
            "echo begin {= $_ .= '-' . seq() =} {%.gz}; sleep 30; echo end {}",
            ":::",
            "1.gz",
            "2.gz",
            "3.gz",
            "4.gz",
        ],
    );
    // Two jobs asleep, and the perl that rendered them alive beside them.
    let until = Instant::now() + LIMIT;
    loop {
        let marked = marked_processes(session.marker());
        let sleeping = marked.iter().filter(|p| p.cmdline == "sleep 30").count();
        let perl = marked.iter().any(|p| p.cmdline.starts_with("perl"));
        if sleeping == 2 && perl {
            break;
        }
        assert!(
            Instant::now() < until,
            "jobs or perl missing: {marked:?}: {}",
            session.output()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let finished = support::one_press_stops(session, LIMIT);
    let output = &finished.output;
    assert!(output.contains("begin 1.gz-1 1\n"), "{output}");
    assert!(!output.contains("\nend "), "{output}");
    assert!(!output.contains("begin 3.gz"), "{output}");
}

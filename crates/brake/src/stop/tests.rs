//! The stop's own tests: phases, grace, waits, listeners and notices.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use super::*;
use crate::sync::lock;

fn quiet() -> Stop {
    let stop = Stop::new();
    stop.set_notice(Notice::Off);
    stop
}

#[test]
fn phases_only_move_forward() {
    let stop = quiet();
    stop.set_grace(Duration::MAX);
    assert_eq!(stop.phase(), Phase::Running);
    assert!(stop.check().is_ok());
    assert!(stop.request(Reason::Signal(libc::SIGINT)));
    assert!(
        !stop.request(Reason::Requested),
        "a second request changes nothing"
    );
    assert_eq!(stop.phase(), Phase::Stopping);
    assert_eq!(stop.check(), Err(Stopped));
    assert!(stop.force());
    assert!(!stop.force());
    assert!(!stop.request(Reason::Requested));
    assert_eq!(stop.phase(), Phase::Forcing);
    assert_eq!(
        stop.stopping().unwrap().reason,
        Reason::Signal(libc::SIGINT)
    );
    assert_eq!(stop.forcing().unwrap().reason, Reason::Requested);
    assert_eq!(stop.exit_code(), Some(130));
}

#[test]
fn force_from_running_records_both_phases() {
    let stop = quiet();
    assert!(stop.force_because(Reason::TimedOut));
    assert_eq!(stop.stopping().unwrap().reason, Reason::TimedOut);
    assert_eq!(stop.forcing().unwrap().reason, Reason::TimedOut);
    assert_eq!(stop.exit_code(), None);
}

#[test]
fn grace_forces_after_the_period_and_not_before() {
    let stop = quiet();
    stop.set_grace(Duration::from_millis(200));
    stop.request(Reason::Requested);
    let begun = stop.stopping().unwrap().at;
    stop.wait_for(Phase::Forcing);
    let forced = stop.forcing().unwrap();
    assert_eq!(forced.reason, Reason::GraceElapsed);
    assert!(forced.at - begun >= Duration::from_millis(200));
}

#[test]
fn zero_grace_forces_at_once() {
    let stop = quiet();
    stop.set_grace(Duration::ZERO);
    stop.request(Reason::Signal(libc::SIGINT));
    assert_eq!(
        stop.phase(),
        Phase::Forcing,
        "forced before request returned"
    );
    assert_eq!(stop.forcing().unwrap().reason, Reason::GraceElapsed);
}

#[test]
fn endless_grace_never_forces_by_itself() {
    let stop = quiet();
    stop.set_grace(Duration::MAX);
    stop.request(Reason::Requested);
    assert!(!stop.wait_for_deadline(Phase::Forcing, Instant::now() + Duration::from_millis(100)));
}

#[test]
fn waits_return_when_another_thread_stops() {
    let stop = quiet();
    stop.set_grace(Duration::MAX);
    let waiter = {
        let stop = stop.clone();
        thread::spawn(move || {
            let slept = stop.sleep(Duration::from_secs(600));
            stop.wait_for(Phase::Stopping);
            (slept, stop.phase())
        })
    };
    thread::sleep(Duration::from_millis(20));
    stop.request(Reason::Requested);
    let (slept, phase) = waiter.join().unwrap();
    assert_eq!(slept, Sleep::Interrupted);
    assert_eq!(phase, Phase::Stopping);
    assert_eq!(stop.sleep(Duration::from_millis(1)), Sleep::Interrupted);
}

#[test]
fn uninterrupted_sleep_completes() {
    let stop = quiet();
    assert_eq!(stop.sleep(Duration::from_millis(5)), Sleep::Completed);
    assert!(!stop.wait_for_deadline(Phase::Stopping, Instant::now() + Duration::from_millis(5)));
}

#[test]
fn listeners_hear_each_change_until_dropped() {
    let stop = quiet();
    stop.set_grace(Duration::MAX);
    let heard = Arc::new(AtomicUsize::new(0));
    let subscription = {
        let heard = heard.clone();
        stop.on_change(move |phase| {
            heard.fetch_add(phase as usize, Ordering::SeqCst);
        })
    };
    stop.request(Reason::Requested);
    assert_eq!(heard.load(Ordering::SeqCst), 1);
    drop(subscription);
    stop.force();
    assert_eq!(heard.load(Ordering::SeqCst), 1);
}

#[test]
fn activity_sums_every_source() {
    let stop = quiet();
    assert_eq!(stop.activity(), None);
    let _a = stop.report_activity(|| Activity {
        running: 3,
        not_started: 90,
    });
    let _b = stop.report_activity(|| Activity {
        running: 1,
        not_started: 6,
    });
    assert_eq!(
        stop.activity(),
        Some(Activity {
            running: 4,
            not_started: 96
        })
    );
}

#[test]
fn the_notice_line_speaks_for_signals_only() {
    let transition = |reason| Transition {
        reason,
        at: Instant::now(),
    };
    let event = |phase, reason| NoticeEvent {
        phase,
        transition: transition(reason),
        activity: Some(Activity {
            running: 4,
            not_started: 96,
        }),
        unforceable: 0,
    };
    assert_eq!(
        event(Phase::Stopping, Reason::Signal(libc::SIGINT))
            .line(ForcedWork::StillRunning)
            .unwrap(),
        "brake: stopping — 4 running, 96 not started (Ctrl-C again to force)"
    );
    assert_eq!(
        event(Phase::Stopping, Reason::Signal(libc::SIGTERM))
            .line(ForcedWork::StillRunning)
            .unwrap(),
        "brake: stopping — 4 running, 96 not started (SIGTERM again to force)"
    );
    assert_eq!(
        event(Phase::Forcing, Reason::GraceElapsed)
            .line(ForcedWork::StillRunning)
            .unwrap(),
        "brake: grace period over, forcing stop — 4 still running"
    );
    assert_eq!(
        event(Phase::Forcing, Reason::Signal(libc::SIGINT)).line(ForcedWork::Killing),
        Some("brake: forcing stop now — killing 4 running".to_string())
    );
    assert_eq!(
        event(Phase::Stopping, Reason::Requested).line(ForcedWork::StillRunning),
        None
    );
}

#[test]
fn the_finishing_line_promises_no_force() {
    let event = |phase, reason, activity| NoticeEvent {
        phase,
        transition: Transition {
            reason,
            at: Instant::now(),
        },
        activity,
        unforceable: 0,
    };
    let sigint = Reason::Signal(libc::SIGINT);
    let line = |phase, reason, activity| {
        event(phase, reason, activity)
            .line(ForcedWork::Finishing)
            .unwrap()
    };
    assert_eq!(
        line(Phase::Stopping, sigint, None),
        "brake: stopping — running work finishes first"
    );
    let counted = Some(Activity {
        running: 4,
        not_started: 96,
    });
    assert_eq!(
        line(Phase::Stopping, sigint, counted),
        "brake: stopping — 4 running, 96 not started; running work finishes first"
    );
    assert_eq!(
        line(Phase::Forcing, sigint, None),
        "brake: running work cannot be forced (Ctrl-C again after 1 s exits at once)"
    );
    assert_eq!(
        line(Phase::Forcing, Reason::Signal(libc::SIGTERM), counted),
        "brake: running work cannot be forced — 4 still running (SIGTERM again after 1 s exits \
         at once)"
    );
    assert_eq!(
        line(Phase::Forcing, Reason::GraceElapsed, None),
        "brake: grace period over, running work cannot be forced (Ctrl-C after 1 s exits at once)"
    );
    assert_eq!(
        event(Phase::Stopping, Reason::Requested, None).line(ForcedWork::Finishing),
        None
    );
    // The other wordings are unchanged by it.
    assert_eq!(
        event(Phase::Forcing, sigint, counted).line(ForcedWork::Killing),
        Some("brake: forcing stop now — killing 4 running".to_string())
    );
    let worded = Notice::Worded(ForcedWork::Finishing);
    assert_eq!(
        worded.line(&event(Phase::Stopping, sigint, None)),
        Some("brake: stopping — running work finishes first".to_string())
    );
}

#[test]
fn custom_notice_sees_every_change() {
    let stop = Stop::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    stop.set_notice(Notice::custom(move |event| {
        lock(&log).push(event.phase);
        None
    }));
    stop.request(Reason::Requested);
    stop.force();
    assert_eq!(*lock(&seen), vec![Phase::Stopping, Phase::Forcing]);
}

#[test]
fn the_default_notice_promises_no_force_while_unforceable_work_runs() {
    let event = |activity, unforceable| NoticeEvent {
        phase: Phase::Stopping,
        transition: Transition {
            reason: Reason::Signal(libc::SIGINT),
            at: Instant::now(),
        },
        activity,
        unforceable,
    };
    let idle = Some(Activity::default());
    let busy = Some(Activity {
        running: 2,
        not_started: 8,
    });
    let default = |activity, unforceable| Notice::Default.line(&event(activity, unforceable));
    assert_eq!(
        default(idle, 1).as_deref(),
        Some("brake: stopping — running work finishes first")
    );
    assert_eq!(
        default(busy, 1).as_deref(),
        Some("brake: stopping — 2 running, 8 not started; running work finishes first")
    );
    assert_eq!(
        default(busy, 0).as_deref(),
        Some("brake: stopping — 2 running, 8 not started (Ctrl-C again to force)")
    );
}

#[test]
fn unforceable_guards_are_counted_while_they_live() {
    let stop = Stop::new();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    stop.set_notice(Notice::custom(move |event| {
        lock(&log).push(event.unforceable);
        None
    }));
    let outer = stop.unforceable();
    let inner = stop.unforceable();
    drop(inner);
    stop.request(Reason::Requested);
    drop(outer);
    stop.force();
    assert_eq!(*lock(&seen), vec![1, 0]);
}

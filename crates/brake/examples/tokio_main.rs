//! An async program in the usual shape, `#[tokio::main] async fn main()`, with one task stuck
//! in blocking code, and what ends it.
//!
//! ```text
//! cargo run --features tokio --example tokio_main
//! ```
//!
//! Prints `task started` as each task begins, the report, and `main exit`. After one Ctrl-C
//! the sleeping tasks return at once and the blocked one is abandoned when the grace period
//! is over; the report and `main exit` follow. Then `main` returns and `#[tokio::main]` drops
//! the runtime, which waits for ever for the blocked task's thread: a Ctrl-C (or closing the
//! terminal) a second or more after the stop was forced ends the process. Programs whose
//! tasks may block avoid the wait altogether with `brake::run_async` (see the `tasks` example).

#[macro_use]
#[path = "support/say.rs"]
mod say;

use std::time::Duration;

use brake::{Report, Stop, TaskGroup};

#[tokio::main]
async fn main() -> Result<Report, brake::Error> {
    let stop = Stop::new();
    stop.install_signals()?;
    let group = TaskGroup::new(&stop);
    group.spawn(async {
        say!("task started");
        #[allow(clippy::infinite_loop)] // the point: a task that never returns
        loop {
            std::thread::sleep(Duration::from_millis(100)); // blocking, never awaits
        }
        #[allow(unreachable_code)]
        Ok(())
    });
    for _ in 0..3 {
        group.spawn_with_stop(|stop| async move {
            say!("task started");
            if stop
                .sleep_async(Duration::from_secs(3600))
                .await
                .is_interrupted()
            {
                return Err(brake::Stopped.into());
            }
            Ok(())
        });
    }
    let report = group.join().await;
    say!("{report}");
    say!("main exit");
    Ok(report)
}

//! Process pools: the multiprocessing model, with one Ctrl-C that ends it all.
//!
//! Workers are this same program started again (as multiprocessing's *spawn* mode does), turned
//! into workers by [`main`] (or [`init`] first thing in `main`) before the program's own code
//! runs; `ps` shows them as `brake-worker`. Tasks are registered functions ([`Task`],
//! [`Registry`]); arguments and values travel over pipes, serialized with postcard.
//!
//! ```no_run
//! use brake::process::{init, ProcessPool, Registry, Task};
//! use brake::Stop;
//!
//! static SQUARE: Task<u64, u64> = Task::new("square", |_stop, n| Ok(n * n));
//!
//! fn main() -> Result<(), brake::Error> {
//!     let mut registry = Registry::new();
//!     registry.register(&SQUARE)?;
//!     init(&registry); // in a worker, runs tasks and never returns
//!
//!     let stop = Stop::new();
//!     stop.install_signals()?;
//!     let pool = ProcessPool::new(&stop, &registry, 3)?;
//!     let nine = pool.submit(&SQUARE, &3);
//!     assert_eq!(nine.wait().done(), Some(9));
//!     println!("{}", pool.join());
//!     Ok(())
//! }
//! ```

mod ledger;
mod manager;
mod pool;
mod task;
mod wire;
mod worker;

pub use pool::{Builder, Handle, Map, MapUnordered, ProcessPool};
pub use task::{Registry, Task};
pub use worker::{init, main, WORKER_VAR};

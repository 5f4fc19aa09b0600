//! Tasks that cross a process boundary: typed [`Task`] definitions and the [`Registry`] that
//! finds them by name in a worker.
//!
//! Closures cannot travel to another process; a task is a plain function with a name, the same
//! in the pool and in its workers because both run the same executable.

use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;

use serde::de::DeserializeOwned;
use serde::Serialize;

use super::wire::{decode, encode_into, ItemEnd};
use crate::error::Error;
use crate::outcome::TaskResult;
use crate::stop::Stop;

/// A function a process pool can run: a name, an argument type `A` and a value type `R`, both
/// carried with serde.
///
/// The function is a plain `fn`, not a closure: it runs in another process, so it cannot
/// capture anything. Whatever it needs travels in its argument (or is a `static`, built alike in
/// every start of the program).
///
/// ```
/// use brake::process::Task;
///
/// static SQUARE: Task<u64, u64> = Task::new("square", |_stop, n| Ok(n * n));
/// assert_eq!(SQUARE.name(), "square");
/// ```
pub struct Task<A, R> {
    name: &'static str,
    run: fn(&Stop, A) -> TaskResult<R>,
    _types: PhantomData<fn(A) -> R>,
}

impl<A, R> Task<A, R> {
    /// A task named `name` that runs `run` in a worker process, with that worker's [`Stop`].
    pub const fn new(name: &'static str, run: fn(&Stop, A) -> TaskResult<R>) -> Self {
        Task {
            name,
            run,
            _types: PhantomData,
        }
    }

    /// The name the task is registered and sent under.
    pub fn name(&self) -> &'static str {
        self.name
    }
}

impl<A, R> fmt::Debug for Task<A, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task").field("name", &self.name).finish()
    }
}

/// A registered task with its types erased: runs on a serialized argument, leaves the
/// serialized value (or the failure's message) in the buffer, and says how it ended.
pub(crate) type Erased = Box<dyn Fn(&Stop, &[u8], &mut Vec<u8>) -> ItemEnd + Send + Sync>;

/// Makes `message` the item's bytes, in place of anything written before, and says the item
/// ended as `ended` (failed or panicked: the ends that carry a message).
pub(crate) fn with_message(bytes: &mut Vec<u8>, ended: ItemEnd, message: &str) -> ItemEnd {
    bytes.clear();
    bytes.extend_from_slice(message.as_bytes());
    ended
}

/// Makes `message` the item's bytes and says the item failed.
pub(crate) fn failed(bytes: &mut Vec<u8>, message: &str) -> ItemEnd {
    with_message(bytes, ItemEnd::Failed, message)
}

/// The tasks a program's process pools may run, by name.
///
/// Build the same registry in every start of the program, before calling
/// [`init`](crate::process::init): a worker looks tasks up in it.
#[derive(Default)]
pub struct Registry {
    tasks: HashMap<&'static str, Erased>,
}

impl fmt::Debug for Registry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.tasks.keys()).finish()
    }
}

impl Registry {
    /// An empty registry.
    pub fn new() -> Self {
        Registry::default()
    }

    /// Adds `task`; two tasks under one name are refused with [`Error::DuplicateTask`].
    pub fn register<A, R>(&mut self, task: &'static Task<A, R>) -> Result<&mut Self, Error>
    where
        A: DeserializeOwned + 'static,
        R: Serialize + 'static,
    {
        if self.tasks.contains_key(task.name) {
            return Err(Error::DuplicateTask(task.name));
        }
        let name = task.name;
        let run = task.run;
        let erased: Erased = Box::new(move |stop, bytes, out| {
            let arg = match decode::<A>(bytes) {
                Ok(arg) => arg,
                Err(err) => {
                    return failed(
                        out,
                        &format!("cannot decode the argument of task {name:?}: {err}"),
                    )
                }
            };
            match run(stop, arg) {
                Ok(value) => match encode_into(&value, out) {
                    Ok(()) => ItemEnd::Done,
                    Err(err) => failed(
                        out,
                        &format!("cannot encode the value of task {name:?}: {err}"),
                    ),
                },
                Err(err) if err.is_stopped() => ItemEnd::Interrupted,
                Err(err) => failed(out, &err.to_string()),
            }
        });
        self.tasks.insert(name, erased);
        Ok(self)
    }

    /// The names of the registered tasks.
    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.tasks.keys().copied()
    }

    /// True when a task of that name is registered.
    pub fn contains(&self, name: &str) -> bool {
        self.tasks.contains_key(name)
    }

    /// The task registered as `name`.
    pub(crate) fn find(&self, name: &str) -> Option<&Erased> {
        self.tasks.get(name)
    }
}

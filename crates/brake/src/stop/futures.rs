//! The async side of a [`Stop`] (feature `tokio`): futures that end with its phases
//! ([`Stop::stopped`], [`Stop::forced`], [`Stop::sleep_async`]) and tokio-util cancellation
//! tokens cancelled with them ([`Stop::cancellation_token`]).

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::core::Stop;
use super::phase::{Phase, Sleep};

impl Stop {
    /// A tokio-util [`CancellationToken`] cancelled when stopping begins (a child of the stop's
    /// own token: cancelling it yourself cancels only it, not the stop).
    ///
    /// For `select!` and libraries that take a token. To ask "stopping?" in a loop, prefer
    /// [`Stop::is_stopping`]: one atomic load, where `is_cancelled` takes a lock.
    pub fn cancellation_token(&self) -> CancellationToken {
        self.tokens().stopping.child_token()
    }

    /// A [`CancellationToken`] cancelled when the stop is forced (a child token, as above).
    pub fn forcing_token(&self) -> CancellationToken {
        self.tokens().forcing.child_token()
    }

    /// The root token cancelled when the stop is forced, for brake's own futures: cloning it
    /// adds no node to the token tree.
    pub(crate) fn forcing_root(&self) -> CancellationToken {
        self.tokens().forcing.clone()
    }

    /// Waits until stopping begins (returns at once if it has); returns the phase then.
    pub async fn stopped(&self) -> Phase {
        if !self.is_stopping() {
            self.tokens().stopping.cancelled().await;
        }
        self.phase()
    }

    /// Waits until the stop is forced (returns at once if it is).
    pub async fn forced(&self) {
        if !self.is_forcing() {
            self.tokens().forcing.cancelled().await;
        }
    }

    /// Sleeps for `duration` on the tokio timer, or less if stopping begins first; says which.
    pub async fn sleep_async(&self, duration: Duration) -> Sleep {
        if self.is_stopping() {
            return Sleep::Interrupted;
        }
        tokio::select! {
            _ = self.tokens().stopping.cancelled() => Sleep::Interrupted,
            _ = tokio::time::sleep(duration) => {
                if self.is_stopping() { Sleep::Interrupted } else { Sleep::Completed }
            }
        }
    }
}

//! The two root cancellation tokens of a stop's async side (feature `tokio`): one cancelled when
//! stopping begins, one when the stop is forced. The stop cancels them as its phase moves; the
//! futures and tokens handed out are made from them (see `futures.rs`).

use tokio_util::sync::CancellationToken;

use super::phase::Phase;

/// A stop's root tokens, made on first use.
pub(crate) struct StopTokens {
    /// Cancelled when stopping begins.
    pub(crate) stopping: CancellationToken,
    /// Cancelled when the stop is forced.
    pub(crate) forcing: CancellationToken,
}

impl StopTokens {
    pub(super) fn new() -> StopTokens {
        StopTokens {
            stopping: CancellationToken::new(),
            forcing: CancellationToken::new(),
        }
    }

    /// Cancels the tokens of every phase up to `phase`; cancelling twice changes nothing.
    pub(super) fn cancel_for(&self, phase: Phase) {
        if phase >= Phase::Stopping {
            self.stopping.cancel();
        }
        if phase == Phase::Forcing {
            self.forcing.cancel();
        }
    }
}

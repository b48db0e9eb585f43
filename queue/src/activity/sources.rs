//! The activity sources a sidecar's gateway announces: each heard from by name, with the
//! credential that announced it; at most `max_sources` of them, and an admin forgets a stale or
//! invented one (which would otherwise keep requests waiting for good).

use std::sync::Arc;

use tokio::time::Instant;

use super::{ActivityTracker, State};

/// A source lull will not track.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// One more distinct source than `max_sources`.
    #[error(
        "lull already tracks {max} activity sources (max_sources); an admin can forget a stale one (`lull source forget NAME`) or raise max_sources"
    )]
    TooManySources {
        /// `max_sources`.
        max: usize,
    },
}

impl ActivityTracker {
    /// A run's call marks its source alive, but never fails over `max_sources`: refusing to
    /// track a run, or to keep or end one, would let invented source names cut a live
    /// conversation. A source that does not fit is only logged.
    pub(super) fn note_run_source(&self, state: &mut State, source: Option<&str>, by: &str) {
        if let Err(error) = self.mark_source(state, source, by) {
            tracing::warn!(%error, source = source.unwrap_or_default(), "a run's source is not tracked");
        }
    }

    /// Records an inbound chat message a sidecar's `source` reports, announced by `by`.
    pub fn note_source_activity(&self, source: &str, by: &str) -> Result<(), SourceError> {
        let mut state = self.state();
        self.mark_source(&mut state, Some(source), by)?;
        state.last_activity = (Instant::now(), self.inner.wall.now());
        self.inner.gate.touch();
        Ok(())
    }

    /// Records that a source is alive, without activity, announced by `by`.
    pub fn source_heartbeat(&self, source: &str, by: &str) -> Result<(), SourceError> {
        let mut state = self.state();
        self.mark_source(&mut state, Some(source), by)
    }

    /// Whether lull tracks the activity source `name`.
    pub fn has_source(&self, name: &str) -> bool {
        self.state().sources.contains_key(name)
    }

    /// Forgets the activity source `name` (an admin's call: a stale or invented name that would
    /// block maintenance); `false` if lull tracks no such source.
    pub fn forget_source(&self, name: &str) -> bool {
        let forgotten = self.state().sources.remove(name).is_some();
        if forgotten {
            // A silent source may have been what requests waited on.
            self.wake_scheduler();
        }
        forgotten
    }

    pub(super) fn mark_source(
        &self,
        state: &mut State,
        source: Option<&str>,
        by: &str,
    ) -> Result<(), SourceError> {
        let Some(source) = source else {
            return Ok(());
        };
        let now = Instant::now();
        let revived = match state.sources.get(source) {
            None => {
                let max = self.inner.settings.max_sources;
                if state.sources.len() >= max {
                    return Err(SourceError::TooManySources { max });
                }
                true
            }
            Some((last, ..)) => now.duration_since(*last) > self.inner.settings.source_ttl,
        };
        state.sources.insert(
            source.to_owned(),
            (now, self.inner.wall.now(), Arc::from(by)),
        );
        if revived {
            self.wake_scheduler();
        }
        Ok(())
    }
}

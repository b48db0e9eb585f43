//! The operator's controls on the scheduler: pause and resume, the host's drain, and an admin's
//! release of a wedged run. Each is a store change the next look sees.

use std::time::Duration;

use super::Scheduler;
use crate::drain::Drain;
use crate::error::Error;
use crate::events::QueueEvent;
use crate::pause::Pause;

impl Scheduler {
    /// Pauses all execution, until resumed or for `duration`.
    pub async fn pause(
        &self,
        duration: Option<Duration>,
        by: &str,
        reason: &str,
    ) -> Result<Pause, Error> {
        let since = self.shared.store.now();
        let pause = Pause {
            since,
            until: duration.map(|d| since.saturating_add(d)),
            by: by.to_owned(),
            reason: reason.to_owned(),
        };
        self.shared.store.set_pause(Some(pause.clone()), by).await?;
        Ok(pause)
    }

    /// Resumes execution.
    pub async fn resume(&self, by: &str) -> Result<(), Error> {
        self.shared.store.set_pause(None, by).await
    }

    /// The host announces it is draining for `ttl`.
    pub async fn drain(&self, ttl: Duration, by: &str) -> Result<Drain, Error> {
        let since = self.shared.store.now();
        let drain = Drain {
            since,
            until: since.saturating_add(ttl),
            by: by.to_owned(),
        };
        self.shared.store.set_drain(Some(drain.clone()), by).await?;
        Ok(drain)
    }

    /// The host ends its drain.
    pub async fn end_drain(&self, by: &str) -> Result<(), Error> {
        self.shared.store.set_drain(None, by).await
    }

    /// An admin forgets the activity source `name` (a stale or invented one that would keep
    /// requests waiting); audited. Not found if lull tracks no such source.
    pub async fn forget_source(&self, name: &str, by: &str) -> Result<(), Error> {
        let not_found = || Error::NotFound {
            query: format!("activity source {name}"),
        };
        if !self.shared.tracker.has_source(name) {
            return Err(not_found());
        }
        // Audited first: a forget the log cannot record does not happen.
        self.shared
            .store
            .record(by, "source_forgotten", format!("source {name}"), None)
            .await?;
        if self.shared.tracker.forget_source(name) {
            Ok(())
        } else {
            Err(not_found())
        }
    }

    /// An admin releases the hold of a (wedged) run of `session`; audited.
    pub async fn release(&self, session: &str, by: &str) -> Result<usize, Error> {
        let released = self.shared.tracker.release(session);
        if released == 0 {
            return Err(Error::NotFound {
                query: format!("live run in session {session}"),
            });
        }
        let event = QueueEvent::Released {
            session: session.to_owned(),
            by: by.to_owned(),
        };
        let detail = format!("session {session}: {released} run(s)");
        self.shared
            .store
            .record(by, "released", detail, Some(event))
            .await?;
        Ok(released)
    }
}

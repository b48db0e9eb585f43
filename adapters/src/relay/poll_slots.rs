//! How many notice long polls may wait at once: a few per consumer and a bounded number in all,
//! so a host (or anyone holding the relay token) cannot pile up waiting requests. One more is
//! refused at once (`429 too_many_polls`) rather than queued.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Long polls one consumer may have waiting at once. A host polls with one; a restart may
/// overlap the old process's last poll with the new one's first.
pub(crate) const MAX_POLLS_PER_CONSUMER: usize = 4;

/// Long polls waiting at once, all consumers together: room for a fleet of 100 host processes
/// polling one at a time (lull-bench measures that), still a bound on what one token can pile up.
pub(crate) const MAX_POLLS: usize = 128;

/// The polls waiting now, by consumer.
#[derive(Default)]
pub(crate) struct PollSlots {
    waiting: Mutex<HashMap<String, usize>>,
}

/// Why a poll was refused a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The consumer already has [`MAX_POLLS_PER_CONSUMER`] waiting.
    Consumer,
    /// [`MAX_POLLS`] are waiting.
    All,
}

impl PollSlots {
    /// A slot for one poll of `consumer`, given back when the returned guard drops.
    pub(crate) fn take(self: &Arc<Self>, consumer: &str) -> Result<PollSlot, Refused> {
        let mut waiting = self.waiting.lock().unwrap_or_else(|e| e.into_inner());
        if waiting.get(consumer).copied().unwrap_or(0) >= MAX_POLLS_PER_CONSUMER {
            return Err(Refused::Consumer);
        }
        if waiting.values().sum::<usize>() >= MAX_POLLS {
            return Err(Refused::All);
        }
        *waiting.entry(consumer.to_owned()).or_default() += 1;
        Ok(PollSlot {
            slots: self.clone(),
            consumer: consumer.to_owned(),
        })
    }
}

/// One waiting poll's slot.
pub(crate) struct PollSlot {
    slots: Arc<PollSlots>,
    consumer: String,
}

impl Drop for PollSlot {
    fn drop(&mut self) {
        let mut waiting = self.slots.waiting.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = waiting.get_mut(&self.consumer) {
            *count -= 1;
            if *count == 0 {
                waiting.remove(&self.consumer);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_consumer_gets_a_few_slots_and_everyone_together_a_bounded_number() {
        let slots = Arc::new(PollSlots::default());
        let mine: Vec<_> = (0..MAX_POLLS_PER_CONSUMER)
            .map(|_| slots.take("host").unwrap())
            .collect();
        assert_eq!(slots.take("host").err(), Some(Refused::Consumer));
        drop(mine);
        assert!(slots.take("host").is_ok(), "given back when they end");

        let all: Vec<_> = (0..MAX_POLLS)
            .map(|n| {
                slots
                    .take(&format!("c{}", n / MAX_POLLS_PER_CONSUMER))
                    .unwrap()
            })
            .collect();
        assert_eq!(slots.take("another").err(), Some(Refused::All));
        drop(all);
        assert!(slots.waiting.lock().unwrap().is_empty());
    }
}

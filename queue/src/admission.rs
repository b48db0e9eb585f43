//! The admission gate: one atomic word holding the live-run count, an activity generation and
//! the "closed" bit, so that the scheduler's final check and the closing of admission are a
//! single compare-and-swap.
//!
//! Layout of the word: bit 63 = closed, bits 32..63 = live runs, bits 0..32 = generation. Every
//! begin, end and inbound activity bumps the generation. The scheduler reads the word, checks
//! every condition against the facts read together with it, and then closes admission with a
//! compare-and-swap *expecting that exact word*: if any run began or ended, or any activity was
//! noted, in between, the swap fails and the scheduler looks again. A `begin` therefore either
//! happened before the close (and the request waits) or sees the closed bit and is refused with
//! `Executing`; never both.

use std::sync::atomic::{AtomicU64, Ordering};

const CLOSED: u64 = 1 << 63;
const COUNT_SHIFT: u32 = 32;
const COUNT_MASK: u64 = ((1 << 31) - 1) << COUNT_SHIFT;
const GEN_MASK: u64 = (1 << 32) - 1;

/// A snapshot of the gate's word.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GateWord(u64);

impl GateWord {
    /// Live runs admitted and not yet ended.
    pub fn live(self) -> u64 {
        (self.0 & COUNT_MASK) >> COUNT_SHIFT
    }

    /// Whether admission is closed (maintenance is executing).
    pub fn closed(self) -> bool {
        self.0 & CLOSED != 0
    }

    fn with(self, closed: bool, live: u64, bump: bool) -> GateWord {
        let generation = if bump {
            (self.0 & GEN_MASK).wrapping_add(1) & GEN_MASK
        } else {
            self.0 & GEN_MASK
        };
        GateWord(u64::from(closed) << 63 | (live << COUNT_SHIFT) & COUNT_MASK | generation)
    }
}

/// Admission was closed: maintenance is executing, so no new run may begin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the gateway is restarting or updating now; begin the run again once it is back")]
pub struct Executing;

/// The gate itself; see the module documentation.
#[derive(Debug, Default)]
pub struct AdmissionGate {
    word: AtomicU64,
}

impl AdmissionGate {
    /// The current word.
    pub fn load(&self) -> GateWord {
        GateWord(self.word.load(Ordering::SeqCst))
    }

    fn update(
        &self,
        mut f: impl FnMut(GateWord) -> Option<GateWord>,
    ) -> Result<GateWord, GateWord> {
        self.word
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |w| {
                f(GateWord(w)).map(|g| g.0)
            })
            .map(GateWord)
            .map_err(GateWord)
    }

    /// Admits a run unless admission is closed.
    pub fn enter(&self) -> Result<(), Executing> {
        self.update(|w| (!w.closed()).then(|| w.with(false, w.live() + 1, true)))
            .map(drop)
            .map_err(|_| Executing)
    }

    /// Ends an admitted run.
    pub fn leave(&self) {
        let _ = self.update(|w| Some(w.with(w.closed(), w.live().saturating_sub(1), true)));
    }

    /// Records activity that holds no run (an inbound message): any pending close must recheck.
    pub fn touch(&self) {
        let _ = self.update(|w| Some(w.with(w.closed(), w.live(), true)));
    }

    /// The scheduler's atomic step: closes admission only if the word is still exactly
    /// `checked` (nothing began, ended or happened since) and no run is live.
    pub fn close_if_unchanged(&self, checked: GateWord) -> bool {
        if checked.closed() || checked.live() != 0 {
            return false;
        }
        self.word
            .compare_exchange(
                checked.0,
                checked.0 | CLOSED,
                Ordering::SeqCst,
                Ordering::SeqCst,
            )
            .is_ok()
    }

    /// Closes admission if no run is live, whatever happened before (the restart step after an
    /// update waits for zero live runs, not for a new idle window).
    pub fn close_if_idle(&self) -> bool {
        self.update(|w| (!w.closed() && w.live() == 0).then(|| w.with(true, 0, false)))
            .is_ok()
    }

    /// Opens admission again.
    pub fn reopen(&self) {
        let _ = self.update(|w| Some(w.with(false, w.live(), true)));
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::AtomicBool;

    use super::*;

    #[test]
    fn a_changed_word_refuses_to_close() {
        let gate = AdmissionGate::default();
        let checked = gate.load();
        gate.enter().unwrap();
        gate.leave();
        assert_eq!(gate.load().live(), 0);
        assert!(
            !gate.close_if_unchanged(checked),
            "a run began and ended since the check"
        );
        let checked = gate.load();
        gate.touch();
        assert!(
            !gate.close_if_unchanged(checked),
            "activity since the check"
        );
        let checked = gate.load();
        assert!(gate.close_if_unchanged(checked));
        assert_eq!(gate.enter(), Err(Executing));
        gate.reopen();
        gate.enter().unwrap();
        assert!(!gate.close_if_idle());
    }

    #[test]
    fn the_generation_wraps_without_touching_the_count() {
        let gate = AdmissionGate::default();
        gate.enter().unwrap();
        // Jump the generation to the wrap instead of counting to 2^32.
        gate.word.fetch_or(GEN_MASK, Ordering::SeqCst);
        gate.touch();
        let w = gate.load();
        assert_eq!((w.live(), w.closed(), w.0 & GEN_MASK), (1, false, 0));
    }

    /// Threads hammer enter/leave while another closes and reopens: a run is never admitted
    /// while the gate is closed, and the count never goes wrong.
    #[test]
    fn enter_and_close_never_overlap() {
        let gate = Arc::new(AdmissionGate::default());
        let executing = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        // Counted apart from the gate's generation, which reopening bumps too: on a loaded CI
        // machine the closer once finished before any runner was scheduled at all.
        let admitted_so_far = Arc::new(AtomicU64::new(0));
        let runners: Vec<_> = (0..3)
            .map(|_| {
                let (gate, executing, stop) = (gate.clone(), executing.clone(), stop.clone());
                let admitted_so_far = admitted_so_far.clone();
                std::thread::spawn(move || {
                    let (mut admitted, mut refused) = (0u64, 0u64);
                    while !stop.load(Ordering::SeqCst) {
                        if (admitted + refused) % 16 == 0 {
                            std::thread::yield_now();
                        }
                        match gate.enter() {
                            Ok(()) => {
                                assert!(
                                    !executing.load(Ordering::SeqCst),
                                    "admitted during execution"
                                );
                                admitted += 1;
                                admitted_so_far.fetch_add(1, Ordering::SeqCst);
                                gate.leave();
                            }
                            Err(Executing) => refused += 1,
                        }
                    }
                    (admitted, refused)
                })
            })
            .collect();
        let (mut closes, mut attempts) = (0, 0u64);
        let runs_seen = || admitted_so_far.load(Ordering::SeqCst);
        while (closes < 500 || runs_seen() < 10_000) && attempts < 200_000_000 {
            attempts += 1;
            if attempts % 1024 == 0 {
                // Lets starved runners onto a core instead of spinning through the budget alone.
                std::thread::yield_now();
            }
            let checked = gate.load();
            if gate.close_if_unchanged(checked) {
                executing.store(true, Ordering::SeqCst);
                assert_eq!(gate.load().live(), 0);
                std::hint::spin_loop();
                assert_eq!(gate.load().live(), 0, "a run got in while closed");
                executing.store(false, Ordering::SeqCst);
                gate.reopen();
                closes += 1;
            }
        }
        stop.store(true, Ordering::SeqCst);
        assert!(closes > 0, "the gate never closed in {attempts} attempts");
        let (admitted, refused) = runners
            .into_iter()
            .map(|r| r.join().unwrap())
            .fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
        assert!(
            admitted > 0,
            "runs were admitted between closes ({refused} refused)"
        );
        assert_eq!(gate.load().live(), 0);
    }
}

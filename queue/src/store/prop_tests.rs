//! Property tests: random sequences of asks, approvals, cancels, starts and finishes against a
//! real store never reach an illegal state, never leave two open requests, and a refused change
//! changes nothing.

use proptest::prelude::*;

use super::*;
use crate::ask::Ask;
use crate::request::{Event, Kind, Request, RunResult, State, next_state};
use crate::requester::Role;
use crate::settings::AgentRequests;
use crate::test_support::{TestStore, actor};

#[derive(Clone, Debug)]
enum Op {
    Submit {
        kind: Kind,
        user: u8,
        admin: bool,
        idle: u64,
        explicit: bool,
    },
    Approve {
        user: u8,
        admin: bool,
        target: Target,
    },
    Reject {
        user: u8,
        admin: bool,
        target: Target,
    },
    Cancel {
        user: u8,
        admin: bool,
        target: Target,
    },
    Start,
    Finish {
        event: Event,
    },
    ExpireApproval,
}

/// Which request an op names.
#[derive(Clone, Copy, Debug)]
enum Target {
    Open,
    Running,
    /// The n-th kept request, by id order.
    Any(usize),
}

fn user_role(user: u8, admin: bool) -> (String, Role) {
    (
        format!("u{user}"),
        if admin { Role::Admin } else { Role::Agent },
    )
}

fn target() -> impl Strategy<Value = Target> {
    prop_oneof![
        Just(Target::Open),
        Just(Target::Running),
        (0usize..8).prop_map(Target::Any)
    ]
}

fn op() -> impl Strategy<Value = Op> {
    let kind = prop_oneof![Just(Kind::Restart), Just(Kind::Update)];
    prop_oneof![
        4 => (kind, 0u8..4, any::<bool>(), prop_oneof![Just(0u64), Just(600), Just(1200)], any::<bool>())
            .prop_map(|(kind, user, admin, idle, explicit)| Op::Submit { kind, user, admin, idle, explicit }),
        1 => (0u8..4, any::<bool>(), target()).prop_map(|(user, admin, target)| Op::Approve { user, admin, target }),
        1 => (0u8..4, any::<bool>(), target()).prop_map(|(user, admin, target)| Op::Reject { user, admin, target }),
        2 => (0u8..4, any::<bool>(), target()).prop_map(|(user, admin, target)| Op::Cancel { user, admin, target }),
        2 => Just(Op::Start),
        2 => prop_oneof![Just(Event::Succeed), Just(Event::Fail), Just(Event::Interrupt), Just(Event::Cancel)]
            .prop_map(|event| Op::Finish { event }),
        1 => Just(Op::ExpireApproval),
    ]
}

/// The query an op uses for its target, or a query that matches nothing.
fn query(store: &Store, target: Target) -> String {
    let request = match target {
        Target::Open => store.open_request().unwrap(),
        Target::Running => store.running_request().unwrap(),
        Target::Any(n) => {
            let mut all = store.all_requests().unwrap();
            all.sort_by_key(|r| r.id);
            all.into_iter().nth(n)
        }
    };
    request.map_or_else(|| "rnone".to_owned(), |r| r.short_id.to_string())
}

async fn apply(store: &Store, op: &Op) -> Result<(), Error> {
    match op.clone() {
        Op::Submit {
            kind,
            user,
            admin,
            idle,
            explicit,
        } => {
            let (user, role) = user_role(user, admin);
            let ask = Ask {
                kind,
                reason: String::new(),
                idle_seconds: idle,
                idle_explicit: explicit,
                ignore_windows: false,
                actor: actor(&user, role),
            };
            store.submit(ask).await.map(drop)
        }
        Op::Approve {
            user,
            admin,
            target,
        } => {
            let (user, role) = user_role(user, admin);
            store
                .approve(&query(store, target), actor(&user, role))
                .await
                .map(drop)
        }
        Op::Reject {
            user,
            admin,
            target,
        } => {
            let (user, role) = user_role(user, admin);
            store
                .reject(&query(store, target), actor(&user, role))
                .await
                .map(drop)
        }
        Op::Cancel {
            user,
            admin,
            target,
        } => {
            let (user, role) = user_role(user, admin);
            store
                .cancel(&query(store, target), actor(&user, role))
                .await
                .map(drop)
        }
        Op::Start => match store.open_request()? {
            Some(r) => store.start(&r).await.map(drop),
            None => Ok(()),
        },
        Op::Finish { event } => match store.running_request()? {
            Some(r) => store
                .finish(r.id, event, RunResult::default(), SCHEDULER)
                .await
                .map(drop),
            None => Ok(()),
        },
        Op::ExpireApproval => match store.open_request()? {
            Some(r) => store.expire_approval(r.id).await.map(drop),
            None => Ok(()),
        },
    }
}

fn check_invariants(store: &Store) {
    let all = store.all_requests().unwrap();
    let open: Vec<_> = all.iter().filter(|r| r.state.is_open()).collect();
    let running: Vec<_> = all.iter().filter(|r| r.state == State::Running).collect();
    assert!(open.len() <= 1, "two open requests: {open:?}");
    assert!(running.len() <= 1, "two running requests: {running:?}");
    assert_eq!(
        store.open_request().unwrap().as_ref(),
        open.first().copied()
    );
    assert_eq!(
        store.running_request().unwrap().as_ref(),
        running.first().copied()
    );
    for r in &all {
        let first = r
            .transitions
            .first()
            .expect("a request has its first state");
        assert!(
            matches!(first.state, State::Queued | State::AwaitingApproval),
            "{r:?}"
        );
        let mut state = first.state;
        for t in &r.transitions[1..] {
            let legal = Event::ALL
                .into_iter()
                .any(|e| next_state(state, e) == Ok(t.state));
            assert!(legal, "illegal move {state:?} -> {:?} in {r:?}", t.state);
            state = t.state;
        }
        assert_eq!(state, r.state);
        assert_eq!(r.phase.is_some(), r.state == State::Running, "{r:?}");
        if r.state.is_open() {
            assert!(!r.requested_by.is_empty());
        }
        let mut keys: Vec<_> = r
            .requested_by
            .iter()
            .map(|q| (&q.platform, &q.user_id))
            .collect();
        keys.sort();
        keys.dedup();
        assert_eq!(
            keys.len(),
            r.requested_by.len(),
            "duplicate requester in {r:?}"
        );
    }
}

fn snapshot(store: &Store) -> (Vec<Request>, usize) {
    let mut all = store.all_requests().unwrap();
    all.sort_by_key(|r| r.id);
    (all, store.audit(None).unwrap().len())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn random_sequences_keep_the_queue_legal(approve in any::<bool>(), ops in proptest::collection::vec(op(), 1..40)) {
        let settings = QueueSettings {
            agent_requests: if approve { AgentRequests::Approve } else { AgentRequests::Queue },
            history_limit: 5,
            ..QueueSettings::default()
        };
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let t = TestStore::new(settings);
        runtime.block_on(async {
            for op in &ops {
                let before = snapshot(&t.store);
                if apply(&t.store, op).await.is_err() {
                    assert_eq!(snapshot(&t.store), before, "a refused {op:?} changed the store");
                }
                check_invariants(&t.store);
            }
        });
        let history_len = t.store.history(100).unwrap().len();
        prop_assert!(history_len <= 5);
    }
}

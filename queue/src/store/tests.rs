//! Tests of the store on a real sled database in a temporary directory. Time is a manual clock
//! the test moves, not a double of anything the store does.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::layout::{TreeId, u64_key};
use super::*;
use crate::audit::AuditNote;
use crate::dedupe::Withdrawal;
use crate::events::QueueEvent;
use crate::pause::Pause;
use crate::request::{Event, Kind, Phase, RunResult, State};
use crate::requester::{MAX_LISTED_REQUESTERS, Role};
use crate::settings::AgentRequests;
use crate::test_support::{TestStore, actor, ask, edit_on_disk, while_locked};

fn settings() -> QueueSettings {
    QueueSettings::default()
}

#[tokio::test]
async fn a_submission_is_stored_queued_with_a_short_id_and_audited() {
    let t = TestStore::new(settings());
    let s = t
        .store
        .submit(ask(Kind::Restart, "a1", Role::Agent))
        .await
        .unwrap();
    assert!(!s.deduplicated);
    assert_eq!(s.request.state, State::Queued);
    assert_eq!(t.store.open_request().unwrap(), Some(s.request.clone()));
    assert_eq!(
        t.store.find(s.request.short_id.as_str()).unwrap().id,
        s.request.id
    );
    let audit = t.store.audit(Some(s.request.id)).unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(
        (audit[0].action.as_str(), audit[0].actor.as_str()),
        ("submitted", "telegram:a1")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_concurrent_distinct_requesters_share_one_request() {
    let t = TestStore::new(settings());
    let tasks: Vec<_> = (0..1000)
        .map(|i| {
            let store = t.store.clone();
            tokio::spawn(async move {
                store
                    .submit(ask(Kind::Restart, &format!("agent{i}"), Role::Agent))
                    .await
            })
        })
        .collect();
    let mut new = 0;
    let mut ids = std::collections::HashSet::new();
    for task in tasks {
        let s = task.await.unwrap().unwrap();
        new += usize::from(!s.deduplicated);
        ids.insert(s.request.id);
    }
    assert_eq!((new, ids.len()), (1, 1));
    let open = t.store.open_request().unwrap().unwrap();
    // The record lists the first ones and counts the rest; the store keeps them all.
    assert_eq!(open.requested_by.len(), MAX_LISTED_REQUESTERS);
    assert_eq!(open.requester_count(), 1000);
    assert!(open.requested_by.iter().all(|r| r.count == 1));
    assert_eq!(stored_requesters(&t.store, open.id), 1000);
    assert_eq!(t.store.all_requests().unwrap().len(), 1);
}

/// How many requesters of request `id` the store keeps in its requesters tree.
fn stored_requesters(store: &Store, id: crate::id::RequestId) -> usize {
    store
        .tree(TreeId::Requesters)
        .scan_prefix(layout::audit_owner(Some(id)))
        .count()
}

#[tokio::test]
async fn requesters_beyond_the_listed_ones_repeat_withdraw_and_take_a_freed_place() {
    let t = TestStore::new(settings());
    let n = MAX_LISTED_REQUESTERS + 3;
    let mut request = None;
    for i in 0..n {
        request = Some(
            t.store
                .submit(ask(Kind::Restart, &format!("a{i}"), Role::Agent))
                .await
                .unwrap()
                .request,
        );
    }
    let r = request.unwrap();
    let size = t.store.stored_size(r.id).unwrap().unwrap();
    assert_eq!(
        (r.requested_by.len(), r.unlisted_requesters),
        (MAX_LISTED_REQUESTERS, 3)
    );

    // An unlisted requester asking again is a repeat, not a new requester.
    let again = t
        .store
        .submit(ask(Kind::Restart, &format!("a{}", n - 1), Role::Agent))
        .await
        .unwrap();
    assert!(!again.merge.new_requester);
    assert_eq!(again.request.requester_count(), n as u64);
    assert_eq!(
        t.store.stored_size(r.id).unwrap().unwrap(),
        size,
        "the record does not grow"
    );

    // An unlisted one withdraws: counted down, never listed.
    let c = t
        .store
        .cancel(
            r.short_id.as_str(),
            actor(&format!("a{}", n - 1), Role::Agent),
        )
        .await
        .unwrap();
    assert_eq!(
        c.withdrawal,
        Withdrawal::RequesterRemoved { remaining: n - 1 }
    );
    assert_eq!(c.request.unlisted_requesters, 2);
    // Withdrawn: asking to withdraw again is refused.
    assert!(
        t.store
            .cancel(
                r.short_id.as_str(),
                actor(&format!("a{}", n - 1), Role::Agent)
            )
            .await
            .is_err()
    );
    // A listed one withdraws: an unlisted one takes its place, so the list stays full.
    let c = t
        .store
        .cancel(r.short_id.as_str(), actor("a0", Role::Agent))
        .await
        .unwrap();
    assert_eq!(c.request.requested_by.len(), MAX_LISTED_REQUESTERS);
    assert_eq!(c.request.unlisted_requesters, 1);
    assert!(!c.request.requested_by.iter().any(|q| q.user_id == "a0"));
    assert_eq!(stored_requesters(&t.store, r.id), n - 2);

    // An admin among the unlisted requesters still may not approve what they asked for.
    t.store
        .submit(ask(Kind::Restart, "boss2", Role::Admin))
        .await
        .unwrap();
    let refused = t
        .store
        .approve(r.short_id.as_str(), actor("boss2", Role::Admin))
        .await
        .unwrap_err();
    assert!(matches!(refused, Error::Forbidden(_)), "{refused:?}");

    // Closed: its requesters go with it (the record keeps the listed ones).
    t.store
        .cancel(r.short_id.as_str(), actor("boss", Role::Admin))
        .await
        .unwrap();
    assert_eq!(stored_requesters(&t.store, r.id), 0);
}

#[tokio::test]
async fn a_schema_1_store_is_migrated_with_the_open_requests_requesters() {
    let t = TestStore::new(settings());
    let r = t
        .store
        .submit(ask(Kind::Restart, "a1", Role::Agent))
        .await
        .unwrap()
        .request;
    // What schema 1 had: the requesters only in the record.
    let t = t.reopen_edited(settings(), |db| {
        db.open_tree("meta")
            .unwrap()
            .insert(layout::META_SCHEMA, &u64_key(1))
            .unwrap();
        db.drop_tree("requesters").unwrap();
    });
    assert_eq!(stored_requesters(&t.store, r.id), 1);
    // So a1 is known: its withdrawal cancels the request.
    let c = t
        .store
        .cancel(r.short_id.as_str(), actor("a1", Role::Agent))
        .await
        .unwrap();
    assert_eq!(c.withdrawal, Withdrawal::Cancelled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_repeats_from_one_agent_count_without_growing_the_record() {
    let t = TestStore::new(settings());
    let first = t
        .store
        .submit(ask(Kind::Restart, "a1", Role::Agent))
        .await
        .unwrap()
        .request;
    let size_after_one = t.store.stored_size(first.id).unwrap().unwrap();
    let tasks: Vec<_> = (1..10_000)
        .map(|_| {
            let store = t.store.clone();
            tokio::spawn(async move { store.submit(ask(Kind::Restart, "a1", Role::Agent)).await })
        })
        .collect();
    for task in tasks {
        assert!(task.await.unwrap().unwrap().deduplicated);
    }
    let open = t.store.open_request().unwrap().unwrap();
    assert_eq!(open.requested_by.len(), 1);
    assert_eq!(open.requested_by[0].count, 10_000);
    let size_after_many = t.store.stored_size(first.id).unwrap().unwrap();
    // Only the digits of the count may differ: "1" became "10000".
    assert_eq!(size_after_many, size_after_one + 4);
}

#[tokio::test]
async fn concurrent_changes_share_flushes() {
    let t = TestStore::new(settings());
    // Hold the writer inside a change until fifty more changes wait behind it.
    let (release, released) = std::sync::mpsc::channel::<()>();
    let store = t.store.clone();
    let blocker = tokio::spawn(async move {
        store
            .change(
                move |_| {
                    released.recv().ok();
                    Ok(())
                },
                |_| None,
            )
            .await
    });
    let stats = t.store.inner.stats.clone();
    let waiting: Vec<_> = (0..50)
        .map(|i| {
            let store = t.store.clone();
            tokio::spawn(async move {
                store
                    .submit(ask(Kind::Restart, &format!("a{i}"), Role::Agent))
                    .await
            })
        })
        .collect();
    tokio::time::timeout(Duration::from_secs(30), async {
        while stats.queued.load(Ordering::SeqCst) < 50 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("fifty changes queue up behind the blocked writer");
    let (flushes_before, _) = t.store.flush_stats();
    release.send(()).unwrap();
    blocker.await.unwrap().unwrap();
    for task in waiting {
        task.await.unwrap().unwrap();
    }
    let (flushes_after, changes) = t.store.flush_stats();
    assert_eq!(changes, 51);
    assert_eq!(flushes_after - flushes_before, 1, "51 changes, one flush");
}

#[tokio::test]
async fn an_update_upgrades_the_open_restart_in_place() {
    let t = TestStore::new(settings());
    let first = t
        .store
        .submit(ask(Kind::Restart, "a1", Role::Agent))
        .await
        .unwrap();
    let second = t
        .store
        .submit(ask(Kind::Update, "a2", Role::Agent))
        .await
        .unwrap();
    assert!(second.deduplicated && second.merge.upgraded);
    assert_eq!(second.request.id, first.request.id);
    assert_eq!(second.request.kind, Kind::Update);
    let actions: Vec<_> = t
        .store
        .audit(Some(first.request.id))
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions, ["submitted", "upgraded"]);
}

#[tokio::test]
async fn agent_upgrade_under_approve_goes_back_to_awaiting_approval() {
    let approve = QueueSettings {
        agent_requests: AgentRequests::Approve,
        ..settings()
    };
    let t = TestStore::new(approve);
    let r = t
        .store
        .submit(ask(Kind::Restart, "a1", Role::Agent))
        .await
        .unwrap()
        .request;
    assert_eq!(r.state, State::AwaitingApproval);
    let r = t
        .store
        .approve(r.short_id.as_str(), actor("boss", Role::Admin))
        .await
        .unwrap();
    assert_eq!(r.state, State::Queued);
    let s = t
        .store
        .submit(ask(Kind::Update, "a1", Role::Agent))
        .await
        .unwrap();
    assert_eq!(
        (s.request.kind, s.request.state),
        (Kind::Update, State::AwaitingApproval)
    );
    let states: Vec<_> = s.request.transitions.iter().map(|t| t.state).collect();
    assert_eq!(
        states,
        [
            State::AwaitingApproval,
            State::Queued,
            State::AwaitingApproval
        ]
    );
}

#[tokio::test]
async fn approval_is_for_admins_who_did_not_ask() {
    let approve = QueueSettings {
        agent_requests: AgentRequests::Approve,
        ..settings()
    };
    let t = TestStore::new(approve);
    let r = t
        .store
        .submit(ask(Kind::Restart, "a1", Role::Agent))
        .await
        .unwrap()
        .request;
    let err = t
        .store
        .approve(r.short_id.as_str(), actor("a2", Role::Agent))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("only an admin can approve request {}", r.short_id)
    );
    let err = t
        .store
        .approve(r.short_id.as_str(), actor("a1", Role::Admin))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("someone else must approve it"),
        "{err}"
    );
    assert_eq!(
        t.store.get(r.id).unwrap().unwrap().state,
        State::AwaitingApproval,
        "nothing changed"
    );
    // An admin's own ask for the same thing approves it.
    let s = t
        .store
        .submit(ask(Kind::Restart, "boss", Role::Admin))
        .await
        .unwrap();
    assert!(s.merge.approved);
    assert_eq!(s.request.state, State::Queued);
}

#[tokio::test]
async fn a_non_admin_cancel_withdraws_only_its_own_ask() {
    let t = TestStore::new(settings());
    let r = t
        .store
        .submit(ask(Kind::Restart, "a1", Role::Agent))
        .await
        .unwrap()
        .request;
    t.store
        .submit(ask(Kind::Restart, "a2", Role::Agent))
        .await
        .unwrap();
    let c = t
        .store
        .cancel(r.short_id.as_str(), actor("a1", Role::Agent))
        .await
        .unwrap();
    assert_eq!(c.withdrawal, Withdrawal::RequesterRemoved { remaining: 1 });
    let err = t
        .store
        .cancel(r.short_id.as_str(), actor("a3", Role::Agent))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("was not requested by"), "{err}");
    let c = t
        .store
        .cancel(r.short_id.as_str(), actor("a2", Role::Agent))
        .await
        .unwrap();
    assert_eq!(c.withdrawal, Withdrawal::Cancelled);
    assert_eq!(t.store.open_request().unwrap(), None);
    let err = t
        .store
        .cancel(r.short_id.as_str(), actor("boss", Role::Admin))
        .await
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "request {} already cancelled; nothing to cancel",
            r.short_id
        )
    );
}

#[tokio::test]
async fn a_request_while_another_runs_opens_a_new_one() {
    let t = TestStore::new(settings());
    let first = t
        .store
        .submit(ask(Kind::Restart, "a1", Role::Agent))
        .await
        .unwrap()
        .request;
    t.store.start(&first).await.unwrap();
    let second = t
        .store
        .submit(ask(Kind::Restart, "a1", Role::Agent))
        .await
        .unwrap();
    assert!(!second.deduplicated);
    assert_ne!(second.request.id, first.id);
    assert_eq!(t.store.running_request().unwrap().unwrap().id, first.id);
    let err = t.store.start(&second.request).await.unwrap_err();
    assert!(err.to_string().contains("still running"), "{err}");
    let done = t
        .store
        .finish(first.id, Event::Succeed, RunResult::default(), SCHEDULER)
        .await
        .unwrap();
    assert_eq!(done.state, State::Succeeded);
    assert_eq!(t.store.running_request().unwrap(), None);
    assert_eq!(
        t.store
            .executions_since(crate::test_support::START)
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test]
async fn lookup_by_full_id_short_id_and_unique_prefix_in_any_case() {
    let t = TestStore::new(settings());
    let r = t
        .store
        .submit(ask(Kind::Restart, "a1", Role::Agent))
        .await
        .unwrap()
        .request;
    let full = r.id.to_string();
    for query in [
        full.as_str(),
        &full[..8],
        r.short_id.as_str(),
        &r.short_id.as_str().to_uppercase(),
        &r.short_id.as_str()[..2],
    ] {
        assert_eq!(t.store.find(query).unwrap().id, r.id, "{query}");
    }
    let err = t.store.find("rzzzzzz").unwrap_err();
    assert_eq!(
        err.to_string(),
        "no request matches \"rzzzzzz\"; `/maintenance status` lists the open ones"
    );
}

#[tokio::test]
async fn an_ambiguous_prefix_lists_the_candidates() {
    let t = TestStore::new(settings());
    let mut shorts = Vec::new();
    for _ in 0..40 {
        let r = t
            .store
            .submit(ask(Kind::Restart, "boss", Role::Admin))
            .await
            .unwrap()
            .request;
        t.store
            .cancel(r.short_id.as_str(), actor("boss", Role::Admin))
            .await
            .unwrap();
        shorts.push(r.short_id.to_string());
    }
    // With 40 ids over 31 first characters, some first character is shared.
    let shared = shorts
        .iter()
        .map(|s| &s[..2])
        .find(|p| shorts.iter().filter(|s| s.starts_with(p)).count() > 1)
        .unwrap();
    let err = t.store.find(shared).unwrap_err();
    let Error::Ambiguous { candidates, .. } = &err else {
        panic!("{err}")
    };
    for short in shorts.iter().filter(|s| s.starts_with(shared)) {
        assert!(
            candidates.iter().any(|c| c.starts_with(short.as_str())),
            "{err}"
        );
    }
    assert!(err.to_string().contains("type more of the id"));
    assert!(err.to_string().contains("(restart, cancelled)"), "{err}");
}

#[tokio::test]
async fn retention_prunes_the_oldest_finished_requests_and_their_audit() {
    let limited = QueueSettings {
        history_limit: 3,
        ..settings()
    };
    let t = TestStore::new(limited);
    t.store
        .set_pause(
            Some(Pause {
                since: t.store.now(),
                until: None,
                by: "telegram:boss".into(),
                reason: "early".into(),
            }),
            "telegram:boss",
        )
        .await
        .unwrap();
    let mut ids = Vec::new();
    for _ in 0..5 {
        t.clock.advance(Duration::from_secs(1));
        let r = t
            .store
            .submit(ask(Kind::Restart, "boss", Role::Admin))
            .await
            .unwrap()
            .request;
        t.store
            .cancel(&r.id.to_string(), actor("boss", Role::Admin))
            .await
            .unwrap();
        ids.push(r.id);
    }
    for pruned in &ids[..2] {
        assert_eq!(t.store.get(*pruned).unwrap(), None);
        assert!(t.store.audit(Some(*pruned)).unwrap().is_empty());
        assert!(matches!(
            t.store.find(&pruned.to_string()),
            Err(Error::NotFound { .. })
        ));
    }
    let history: Vec<_> = t
        .store
        .history(10)
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect();
    assert_eq!(history, [ids[4], ids[3], ids[2]]);
    let audit = t.store.audit(None).unwrap();
    assert!(
        audit.iter().all(|e| e.action != "paused"),
        "the pause entry predates every kept request"
    );
    assert_eq!(
        audit.len(),
        6,
        "submitted + cancelled for each kept request"
    );
    assert!(audit.windows(2).all(|w| w[0].seq < w[1].seq));
    // The counts survive a restart, so pruning continues where it left off.
    let t = t.reopen(limited);
    let r = t
        .store
        .submit(ask(Kind::Restart, "boss", Role::Admin))
        .await
        .unwrap()
        .request;
    t.store
        .cancel(r.short_id.as_str(), actor("boss", Role::Admin))
        .await
        .unwrap();
    assert_eq!(t.store.get(ids[2]).unwrap(), None);
    assert_eq!(t.store.history(10).unwrap().len(), 3);
}

#[tokio::test]
async fn everything_acknowledged_survives_a_reopen() {
    let t = TestStore::new(settings());
    let r = t
        .store
        .submit(ask(Kind::Update, "a1", Role::Agent))
        .await
        .unwrap()
        .request;
    let pause = Pause {
        since: t.store.now(),
        until: Some(t.store.now().saturating_add(Duration::from_secs(60))),
        by: "telegram:boss".into(),
        reason: "deploy".into(),
    };
    t.store
        .set_pause(Some(pause.clone()), "telegram:boss")
        .await
        .unwrap();
    let seq = t
        .store
        .outbox_push(serde_json::json!({"chat": "telegram:-100", "text": "queued"}))
        .await
        .unwrap();
    assert!(
        t.store
            .mark_event_seen("telegram:77", Duration::from_secs(3600))
            .await
            .unwrap()
    );
    let audit_len = t.store.audit(None).unwrap().len();
    let t = t.reopen(settings());
    assert_eq!(t.store.open_request().unwrap(), Some(r));
    assert_eq!(t.store.pause().unwrap(), Some(pause));
    assert_eq!(t.store.outbox_pending(10).unwrap()[0].seq, seq);
    assert!(
        !t.store
            .mark_event_seen("telegram:77", Duration::from_secs(3600))
            .await
            .unwrap()
    );
    assert_eq!(t.store.audit(None).unwrap().len(), audit_len);
    // Sequence numbers continue rather than restart.
    let next = t.store.outbox_push(serde_json::json!({})).await.unwrap();
    assert_eq!(next, seq + 1);
    assert!(t.store.outbox_ack(seq).await.unwrap());
    assert!(!t.store.outbox_ack(seq).await.unwrap());
    assert_eq!(t.store.outbox_pending(10).unwrap().len(), 1);
}

#[tokio::test]
async fn a_change_made_while_handling_an_event_records_the_event_with_it() {
    let t = TestStore::new(settings());
    let ttl = Duration::from_secs(3600);
    assert!(!t.store.event_seen("telegram:1:500").unwrap());
    let (submitted, recorded) = t
        .store
        .handling_event("telegram:1:500", ttl, async {
            t.store.submit(ask(Kind::Restart, "a1", Role::Agent)).await
        })
        .await;
    let submitted = submitted.unwrap();
    assert!(recorded, "the handler is told the id went with the change");
    assert!(t.store.event_seen("telegram:1:500").unwrap());
    // A handling that changes nothing records nothing, and says so.
    let (status, recorded) = t
        .store
        .handling_event("telegram:1:502", ttl, async { t.store.open_request() })
        .await;
    assert!(status.unwrap().is_some());
    assert!(!recorded);
    assert!(!t.store.event_seen("telegram:1:502").unwrap());
    // A change outside the scope records nothing.
    t.store
        .submit(ask(Kind::Restart, "a2", Role::Agent))
        .await
        .unwrap();
    assert!(!t.store.event_seen("telegram:1:501").unwrap());
    let t = t.reopen(settings());
    assert!(
        t.store.event_seen("telegram:1:500").unwrap(),
        "flushed with the submit"
    );
    assert_eq!(
        t.store.open_request().unwrap().map(|r| r.id),
        Some(submitted.request.id)
    );
    t.clock.advance(ttl + Duration::from_secs(1));
    assert!(!t.store.event_seen("telegram:1:500").unwrap(), "expired");
}

#[tokio::test]
async fn an_answer_kept_with_a_handled_event_survives_a_reopen_and_expires_with_it() {
    let t = TestStore::new(settings());
    let ttl = Duration::from_secs(3600);
    assert_eq!(t.store.event_answer("relay:h:e1").unwrap(), None);
    // The change records the event; the answer comes after it, with its audit note.
    t.store
        .handling_event("relay:h:e1", ttl, async {
            t.store.submit(ask(Kind::Restart, "a1", Role::Agent)).await
        })
        .await
        .0
        .unwrap();
    assert_eq!(
        t.store.event_answer("relay:h:e1").unwrap(),
        Some(Vec::new())
    );
    let note = AuditNote::new("relay:h:alice", "relay_command", "restart");
    t.store
        .answer_event("relay:h:e1", ttl, b"{\"reply\":1}".to_vec(), note)
        .await
        .unwrap();
    // An event that changed nothing gets its record and its answer together.
    let note = AuditNote::new("relay:h:alice", "relay_command", "status");
    t.store
        .answer_event("relay:h:e2", ttl, b"null".to_vec(), note)
        .await
        .unwrap();
    let t = t.reopen(settings());
    assert_eq!(
        t.store.event_answer("relay:h:e1").unwrap().as_deref(),
        Some(&b"{\"reply\":1}"[..])
    );
    assert_eq!(
        t.store.event_answer("relay:h:e2").unwrap().as_deref(),
        Some(&b"null"[..])
    );
    assert!(t.store.event_seen("relay:h:e2").unwrap());
    let notes: Vec<_> = t
        .store
        .audit(None)
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "relay_command")
        .map(|e| e.detail)
        .collect();
    assert_eq!(notes, ["restart", "status"]);
    t.clock.advance(ttl + Duration::from_secs(1));
    assert_eq!(t.store.event_answer("relay:h:e1").unwrap(), None);
    assert!(!t.store.event_seen("relay:h:e2").unwrap());
}

#[tokio::test]
async fn a_noted_acknowledgement_audits_only_a_notice_it_removed() {
    let t = TestStore::new(settings());
    let seq = t
        .store
        .outbox_push(serde_json::json!({"n": 1}))
        .await
        .unwrap();
    assert_eq!(
        t.store.outbox_entry(seq).unwrap().unwrap().payload,
        serde_json::json!({"n": 1})
    );
    let note = || AuditNote::new("relay:h", "notice_delivered", format!("n{seq}"));
    assert!(t.store.outbox_ack_noted(seq, note()).await.unwrap());
    assert!(!t.store.outbox_ack_noted(seq, note()).await.unwrap());
    assert_eq!(t.store.outbox_entry(seq).unwrap(), None);
    let delivered = t
        .store
        .audit(None)
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "notice_delivered")
        .count();
    assert_eq!(delivered, 1);
}

#[tokio::test]
async fn seen_events_expire_and_are_pruned() {
    let t = TestStore::new(settings());
    assert!(
        t.store
            .mark_event_seen("slack:Ev1", Duration::from_secs(60))
            .await
            .unwrap()
    );
    assert!(
        !t.store
            .mark_event_seen("slack:Ev1", Duration::from_secs(60))
            .await
            .unwrap()
    );
    t.clock.advance(Duration::from_secs(61));
    assert!(
        t.store
            .mark_event_seen("slack:Ev2", Duration::from_secs(60))
            .await
            .unwrap()
    );
    assert_eq!(
        t.store.inner.trees.get(TreeId::SeenEvents).len(),
        1,
        "Ev1 pruned"
    );
    assert!(
        t.store
            .mark_event_seen("slack:Ev1", Duration::from_secs(60))
            .await
            .unwrap()
    );
}

#[test]
fn a_newer_schema_is_refused_naming_the_path() {
    let t = TestStore::new(settings());
    let path = t.store.path().to_owned();
    drop(t.store);
    edit_on_disk(&path, |db| {
        db.open_tree("meta")
            .unwrap()
            .insert(layout::META_SCHEMA, &u64_key(99))
            .unwrap();
    });
    let err = while_locked(|| Store::open(&path, settings()))
        .err()
        .unwrap();
    let text = err.to_string();
    assert!(
        matches!(err, Error::NewerSchema { found: 99, .. }),
        "{err:?}"
    );
    assert!(
        text.contains(&path.display().to_string()) && text.contains("version 99"),
        "{text}"
    );
}

#[tokio::test]
async fn undecodable_data_is_refused_not_reset() {
    let t = TestStore::new(settings());
    let r = t
        .store
        .submit(ask(Kind::Restart, "a1", Role::Agent))
        .await
        .unwrap()
        .request;
    let path = t.store.path().to_owned();
    drop(t.store);
    edit_on_disk(&path, |db| {
        db.open_tree("requests")
            .unwrap()
            .insert(layout::request_key(r.id), &b"{\"id\":"[..])
            .unwrap();
    });
    let err = while_locked(|| Store::open(&path, settings()))
        .err()
        .unwrap();
    let text = err.to_string();
    assert!(matches!(err, Error::Corrupt { .. }));
    assert!(
        text.contains(&path.display().to_string()) && text.contains(&r.id.to_string()),
        "{text}"
    );
    // Still refused the second time: nothing was reset.
    assert!(matches!(
        while_locked(|| Store::open(&path, settings())),
        Err(Error::Corrupt { .. })
    ));
}

#[tokio::test]
async fn history_is_not_read_at_open_and_a_bad_finished_request_is_named_when_read() {
    let kept_three = || QueueSettings {
        history_limit: 3,
        ..settings()
    };
    let t = TestStore::new(kept_three());
    let mut finished = Vec::new();
    for _ in 0..3 {
        let r = t
            .store
            .submit(ask(Kind::Restart, "a1", Role::Agent))
            .await
            .unwrap()
            .request;
        t.store
            .cancel(r.short_id.as_str(), actor("a1", Role::Agent))
            .await
            .unwrap();
        finished.push(r.id);
    }
    let open = t
        .store
        .submit(ask(Kind::Restart, "a2", Role::Agent))
        .await
        .unwrap()
        .request;
    let t = t.reopen_edited(kept_three(), |db| {
        db.open_tree("requests")
            .unwrap()
            .insert(layout::request_key(finished[1]), &b"{\"id\":"[..])
            .unwrap();
    });
    let store = t.store;
    assert_eq!(store.open_request().unwrap().map(|r| r.id), Some(open.id));
    let err = store.history(10).unwrap_err();
    assert!(matches!(err, Error::Corrupt { .. }), "{err:?}");
    assert!(err.to_string().contains(&finished[1].to_string()), "{err}");
    // The count of finished requests, read from their keys' range at open, still drives
    // retention: closing a fourth prunes the oldest and keeps the rest.
    store
        .cancel(open.short_id.as_str(), actor("a2", Role::Agent))
        .await
        .unwrap();
    assert_eq!(store.get(finished[0]).unwrap(), None);
    assert!(store.get(finished[2]).unwrap().is_some());
    assert!(store.get(open.id).unwrap().is_some());
}

#[test]
fn a_second_open_of_the_same_path_names_the_other_process() {
    let t = TestStore::new(settings());
    // sled's lock is per process and per path; a second process is what `lull serve` would hit.
    // Within one process sled refuses too, with the same message.
    let err = Store::open(t.store.path(), settings()).err().unwrap();
    assert!(err.to_string().contains("another lull process"), "{err}");
}

#[tokio::test]
async fn update_asks_are_refused_when_no_update_command_is_configured() {
    let t = TestStore::new(QueueSettings {
        update_available: false,
        ..settings()
    });
    let err = t
        .store
        .submit(ask(Kind::Update, "a1", Role::Agent))
        .await
        .unwrap_err();
    assert!(matches!(err, Error::UpdateNotConfigured));
    assert!(err.to_string().contains("executor.update"), "{err}");
    assert_eq!(t.store.open_request().unwrap(), None, "nothing queued");
    assert!(
        t.store
            .submit(ask(Kind::Restart, "a1", Role::Agent))
            .await
            .is_ok()
    );
}

#[tokio::test]
async fn start_refuses_what_changed_since_the_scheduler_looked() {
    let t = TestStore::new(settings());
    let looked = t
        .store
        .submit(ask(Kind::Restart, "a1", Role::Agent))
        .await
        .unwrap()
        .request;
    // An update merged in after the look: the checked request is stale.
    t.store
        .submit(ask(Kind::Update, "a2", Role::Agent))
        .await
        .unwrap();
    let err = t.store.start(&looked).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("changed since the scheduler checked it"),
        "{err}"
    );
    assert!(
        matches!(err, Error::Conflict(_)),
        "a lost race is a conflict: {err:?}"
    );
    let current = t.store.open_request().unwrap().unwrap();
    // A pause that landed after the look.
    let pause = Pause {
        since: t.store.now(),
        until: None,
        by: "telegram:boss".into(),
        reason: String::new(),
    };
    t.store
        .set_pause(Some(pause.clone()), "telegram:boss")
        .await
        .unwrap();
    let err = t.store.start(&current).await.unwrap_err();
    assert!(err.to_string().contains("paused"), "{err}");
    assert_eq!(
        err.kind(),
        crate::error::ErrorKind::Conflict,
        "a pause begun meanwhile is a conflict (not now), not a refusal: {err:?}"
    );
    // The scheduler's end of an expired pause does not erase a newer one.
    let newer = Pause {
        reason: "newer".into(),
        ..pause.clone()
    };
    t.store
        .set_pause(Some(newer.clone()), "telegram:boss")
        .await
        .unwrap();
    t.store.end_pause_if(pause.clone()).await.unwrap();
    assert_eq!(t.store.pause().unwrap(), Some(newer.clone()));
    t.store.end_pause_if(newer).await.unwrap();
    assert_eq!(t.store.pause().unwrap(), None);
    // The window is read at the instant the start is written: closed by then, nothing starts.
    // (The test clock reads 2026-11-24 00:00 UTC.)
    let nightly = crate::window::Windows::parse(&["02:00-05:00"], "UTC").unwrap();
    let err = t
        .store
        .start_within(&current, &nightly, None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("window closed meanwhile"), "{err}");
    assert!(matches!(err, Error::Conflict(_)), "{err:?}");
    assert_eq!(t.store.open_request().unwrap(), Some(current.clone()));
    let started = t.store.start(&current).await.unwrap();
    assert_eq!(
        (started.state, started.phase),
        (State::Running, Some(Phase::Updating)),
        "phase from the stored kind"
    );
    // The restart step of the update re-checks the same way as it begins.
    let err = t
        .store
        .begin_restart(started.id, &nightly, None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("window closed meanwhile"), "{err}");
    t.store
        .set_pause(Some(pause.clone()), "telegram:boss")
        .await
        .unwrap();
    let always = crate::window::Windows::always();
    let err = t
        .store
        .begin_restart(started.id, &always, None)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("paused"), "{err}");
    assert_eq!(
        t.store.get(started.id).unwrap().unwrap().phase,
        Some(Phase::Updating)
    );
    t.store.set_pause(None, "telegram:boss").await.unwrap();
    let restarting = t
        .store
        .begin_restart(started.id, &always, None)
        .await
        .unwrap();
    assert_eq!(restarting.phase, Some(Phase::Restarting));
}

#[tokio::test]
async fn notices_are_flushed_with_the_change_that_caused_them() {
    let t = TestStore::new(settings());
    t.store.set_notice_hook(Arc::new(|event: &QueueEvent, _| match event {
        QueueEvent::Queued { request } | QueueEvent::Cancelled { request } => {
            vec![serde_json::json!({"short": request.short_id.as_str(), "state": request.state.as_str()})]
        }
        _ => Vec::new(),
    }));
    let r = t
        .store
        .submit(ask(Kind::Restart, "a1", Role::Agent))
        .await
        .unwrap()
        .request;
    t.store
        .submit(ask(Kind::Restart, "a2", Role::Agent))
        .await
        .unwrap();
    t.store
        .cancel(r.short_id.as_str(), actor("boss", Role::Admin))
        .await
        .unwrap();
    // One transaction per change, notices included: a failed outbox write cannot leave a
    // committed change without its notices (nor notices of a change that did not happen).
    let (_, changes) = t.store.flush_stats();
    assert_eq!(t.store.transactions(), changes);
    // A report changes nothing but writes its notices, as one transaction of its own.
    t.store
        .report(QueueEvent::Queued { request: r.clone() })
        .await
        .unwrap();
    assert_eq!(t.store.transactions(), changes + 1);
    // A change that fails writes nothing, its notices included.
    let before = t.store.transactions();
    assert!(
        t.store
            .cancel("zzzz", actor("boss", Role::Admin))
            .await
            .is_err()
    );
    assert_eq!(t.store.transactions(), before);
    // Acknowledged changes already have their notices on disk: reopen and look.
    let t = t.reopen(settings());
    let states: Vec<String> = t
        .store
        .outbox_pending(10)
        .unwrap()
        .into_iter()
        .map(|e| e.payload["state"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(states, ["queued", "cancelled", "queued"]);
}

#[tokio::test]
async fn a_start_records_its_fleet_hold_in_the_same_flush_and_refuses_one_released_meanwhile() {
    let t = TestStore::new(settings());
    let hold = crate::fleet::FleetHold {
        backend: "etcd".into(),
        group: "default".into(),
        id: "a".into(),
        key: "lull/default/slots/0".into(),
        lease: Some(7),
        token: Some(42),
        since: t.store.now(),
        request: None,
        kept: None,
    };
    let always = crate::window::Windows::always();
    let open = t
        .store
        .submit(ask(Kind::Restart, "boss", Role::Admin))
        .await
        .unwrap()
        .request;
    let started = t
        .store
        .start_within(&open, &always, Some(hold.clone()))
        .await
        .unwrap();
    assert_eq!(started.fencing_token, Some(42));
    let stored = t.store.fleet_hold().unwrap().unwrap();
    assert_eq!((stored.request, stored.token), (Some(open.id), Some(42)));
    // Reopened (a crash right after the start): both are there.
    let t = t.reopen(settings());
    assert_eq!(
        t.store.running_request().unwrap().unwrap().fencing_token,
        Some(42)
    );
    assert!(t.store.fleet_hold().unwrap().is_some());
    t.store
        .finish(
            open.id,
            crate::request::Event::Fail,
            RunResult::default(),
            SCHEDULER,
        )
        .await
        .unwrap();
    // The stored hold was released by an admin after the scheduler verified it: the next
    // start with it is refused, and nothing is recorded running.
    t.store
        .clear_fleet_hold("telegram:boss", "fleet_slot_released", String::new(), None)
        .await
        .unwrap();
    let next = t
        .store
        .submit(ask(Kind::Restart, "boss", Role::Admin))
        .await
        .unwrap()
        .request;
    let err = t
        .store
        .start_within(&next, &always, Some(stored))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("released or replaced since it was verified"),
        "{err}"
    );
    assert_eq!(t.store.running_request().unwrap(), None);
    assert_eq!(t.store.fleet_hold().unwrap(), None);
}

#[tokio::test]
async fn audit_entries_of_no_request_are_pruned_by_age_and_by_count() {
    let t = TestStore::new(QueueSettings {
        audit_retention: Duration::from_secs(24 * 3600),
        max_unowned_audit: 5,
        ..QueueSettings::default()
    });
    let note = |n: u32| t.store.record("lull", "noted", format!("note {n}"), None);
    for n in 0..4 {
        note(n).await.unwrap();
    }
    // Past the retention, the old ones go with the next change.
    t.clock.advance(Duration::from_secs(2 * 24 * 3600));
    note(4).await.unwrap();
    let kept: Vec<String> = t
        .store
        .audit(None)
        .unwrap()
        .into_iter()
        .map(|e| e.detail)
        .collect();
    assert_eq!(kept, ["note 4"]);
    // Past the count, the oldest go whatever their age.
    for n in 5..12 {
        note(n).await.unwrap();
    }
    let kept: Vec<String> = t
        .store
        .audit(None)
        .unwrap()
        .into_iter()
        .map(|e| e.detail)
        .collect();
    assert!(kept.len() <= 6, "{kept:?}");
    assert_eq!(kept.last().map(String::as_str), Some("note 11"));
    // The newest are what the tail gives, oldest first.
    let tail: Vec<String> = t
        .store
        .audit_tail(None, 2)
        .unwrap()
        .into_iter()
        .map(|e| e.detail)
        .collect();
    assert_eq!(tail, ["note 10", "note 11"]);
}

#[tokio::test]
async fn a_storm_of_asks_keeps_a_bounded_audit_but_every_change_of_the_request() {
    let t = TestStore::new(settings());
    let first = t
        .store
        .submit(ask(Kind::Restart, "a0", Role::Agent))
        .await
        .unwrap()
        .request;
    for i in 1..600 {
        t.store
            .submit(ask(Kind::Restart, &format!("a{}", i % 300), Role::Agent))
            .await
            .unwrap();
    }
    // Audited one by one: the first asks of the first 256 requesters (a0's opened the request)
    // and the 32 listed ones' first repeat; the other 44 requesters' joins, and the other
    // repeats, are only counted.
    let entries = t.store.audit(Some(first.id)).unwrap();
    assert_eq!(entries.len(), 256 + 32);
    // Every requester is still counted, audited or not.
    let open = t.store.open_request().unwrap().unwrap();
    assert_eq!(open.requester_count(), 300);
    // What changes the request is audited past the bound.
    t.store
        .submit(ask(Kind::Update, "a1", Role::Agent))
        .await
        .unwrap();
    t.store
        .cancel(open.short_id.as_str(), actor("root", Role::Admin))
        .await
        .unwrap();
    let actions: Vec<String> = t
        .store
        .audit(Some(first.id))
        .unwrap()
        .into_iter()
        .map(|e| e.action)
        .collect();
    assert_eq!(actions.len(), 256 + 32 + 2);
    assert_eq!(actions[actions.len() - 2..], ["upgraded", "cancelled"]);
}

#[tokio::test]
async fn the_last_execution_end_is_kept_and_a_schema_2_store_finds_it_once() {
    let t = TestStore::new(settings());
    assert_eq!(t.store.last_execution_end().unwrap(), None);
    let ran = t
        .store
        .submit(ask(Kind::Restart, "a1", Role::Agent))
        .await
        .unwrap()
        .request;
    t.store.start(&ran).await.unwrap();
    t.clock.advance(Duration::from_secs(5));
    let done = t
        .store
        .finish(ran.id, Event::Succeed, RunResult::default(), SCHEDULER)
        .await
        .unwrap();
    // Requests that never ran come after it and do not move it.
    for _ in 0..3 {
        let r = t
            .store
            .submit(ask(Kind::Restart, "a1", Role::Agent))
            .await
            .unwrap()
            .request;
        t.clock.advance(Duration::from_secs(1));
        t.store
            .cancel(r.short_id.as_str(), actor("a1", Role::Agent))
            .await
            .unwrap();
    }
    assert_eq!(
        t.store.last_execution_end().unwrap(),
        Some(done.state_since())
    );
    // What schema 2 had: no such record; the walk back through history finds it.
    let t = t.reopen_edited(settings(), |db| {
        let meta = db.open_tree("meta").unwrap();
        meta.insert(layout::META_SCHEMA, &u64_key(2)).unwrap();
        meta.remove(layout::META_LAST_EXECUTION_END).unwrap();
    });
    assert_eq!(
        t.store.last_execution_end().unwrap(),
        Some(done.state_since())
    );
}

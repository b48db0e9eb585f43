//! `GET /metrics`: Prometheus text.

use std::fmt::Write;

use axum::extract::State;
use axum::http::header;
use axum::response::IntoResponse;
use lull_queue::State as RequestState;

use super::{ApiError, ApiState, Caller};

pub(super) async fn metrics(
    State(s): State<ApiState>,
    _: Caller,
) -> Result<impl IntoResponse, ApiError> {
    let scheduler = s.plugin.scheduler();
    let store = scheduler.store();
    let requests = store.all_requests()?;
    let status = scheduler.status()?;
    let mut out = String::new();
    out.push_str("# HELP lull_requests Requests kept, by state.\n# TYPE lull_requests gauge\n");
    for state in RequestState::ALL {
        let n = requests.iter().filter(|r| r.state == state).count();
        let _ = writeln!(out, "lull_requests{{state=\"{}\"}} {n}", state.as_str());
    }
    out.push_str("# HELP lull_executions Executions among kept requests, by outcome.\n# TYPE lull_executions gauge\n");
    for outcome in [
        RequestState::Succeeded,
        RequestState::Failed,
        RequestState::Interrupted,
    ] {
        let n = requests
            .iter()
            .filter(|r| {
                r.state == outcome
                    && r.transitions
                        .iter()
                        .any(|t| t.state == RequestState::Running)
            })
            .count();
        let _ = writeln!(
            out,
            "lull_executions{{outcome=\"{}\"}} {n}",
            outcome.as_str()
        );
    }
    let idle = status
        .idle_since
        .map_or(0, |since| store.now().saturating_since(since).as_secs());
    let _ = writeln!(
        out,
        "# HELP lull_live_runs Agent runs live now.\n# TYPE lull_live_runs gauge\nlull_live_runs {}",
        status.live_runs.len()
    );
    let _ = writeln!(
        out,
        "# HELP lull_idle_seconds Seconds since the last activity (0 while runs are live).\n# TYPE lull_idle_seconds gauge\nlull_idle_seconds {idle}"
    );
    let _ = writeln!(
        out,
        "# HELP lull_scheduler_wakeups_total Times the scheduler woke up and looked.\n# TYPE lull_scheduler_wakeups_total counter\nlull_scheduler_wakeups_total {}",
        scheduler.wakeups()
    );
    let _ = writeln!(
        out,
        "# HELP lull_notices_pending Notices in the outbox not yet delivered.\n# TYPE lull_notices_pending gauge\nlull_notices_pending {}",
        store.outbox_pending(usize::MAX)?.len()
    );
    out.push_str("# HELP lull_blocker Why the open request waits now: 1 per blocker kind.\n# TYPE lull_blocker gauge\n");
    for blocker in &status.blockers {
        let _ = writeln!(out, "lull_blocker{{kind=\"{}\"}} 1", blocker.kind());
    }
    // Without [fleet] these are left out.
    if let Some(fleet) = &status.fleet {
        let _ = writeln!(
            out,
            "# HELP lull_fleet_slot_held Whether this replica holds a fleet slot.\n# TYPE lull_fleet_slot_held gauge\nlull_fleet_slot_held {}",
            u8::from(fleet.hold.is_some())
        );
        let _ = writeln!(
            out,
            "# HELP lull_fleet_slot_kept Whether this replica keeps its slot for an admin after a failed restart.\n# TYPE lull_fleet_slot_kept gauge\nlull_fleet_slot_kept {}",
            u8::from(fleet.hold.as_ref().is_some_and(|h| h.kept.is_some()))
        );
    }
    // Without windows configured these are left out: "always open" has no next opening.
    if let Some(windows) = &status.windows {
        let _ = writeln!(
            out,
            "# HELP lull_window_open Whether a maintenance window is open now.\n# TYPE lull_window_open gauge\nlull_window_open {}",
            u8::from(windows.open)
        );
        if let Some(opening) = windows.next_opening {
            let _ = writeln!(
                out,
                "# HELP lull_window_next_opening_timestamp_seconds Unix time of the next maintenance window opening.\n# TYPE lull_window_next_opening_timestamp_seconds gauge\nlull_window_next_opening_timestamp_seconds {}",
                opening.unix_millis() / 1000
            );
        }
    }
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out))
}

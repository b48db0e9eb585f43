//! The chat path: one invocation from one sender in one chat (text, a Discord command, a
//! clicked button, the tool's JSON posted in a chat) authorized, run and answered.

use lull_queue::{Actor, Ask, AskDraft, AskError, Error, Kind, Role, Withdrawal};

use crate::command::{self, Command, ParseError, parse};
use crate::policy::{self, Policy, Sender};
use crate::prompt::{self, Click};
use crate::reply::{self, Reply};
use crate::tool::ToolError;
use crate::{Input, Invocation, Plugin, actor};

impl Plugin {
    /// Handles one invocation. `None` means the text was not for lull (ordinary chat, or a
    /// command addressed to another bot): the adapter stays silent.
    pub async fn handle(&self, invocation: Invocation) -> Option<Reply> {
        let command = match &invocation.input {
            Input::Text(text) => match parse(text, invocation.bot_username.as_deref()) {
                Ok(command) => Ok(command),
                Err(ParseError::NotForUs) => return None,
                Err(e) => Err(e.to_string()),
            },
            Input::Command(command) => Ok(command.clone()),
            Input::Click(payload) => match prompt::parse_click(payload) {
                Ok(Click::Command(command)) => Ok(command),
                Ok(Click::KeepWaiting(id)) => {
                    return self.keep_waiting(&invocation, &id).await;
                }
                Err(forged) => Err(forged.to_string()),
            },
            Input::ToolJson(json) => {
                // Authorized like any other input; the requester is the sender, whatever the JSON says.
                let Some(role) = self.inner.config.policy.resolve(&invocation.sender) else {
                    return self.refuse_stranger(&invocation.sender).await;
                };
                let value = self
                    .tool_as(&invocation.sender, invocation.chat.as_deref(), role, json)
                    .await;
                return Some(Reply::markdown(value.to_string()));
            }
        };
        let Some(role) = self.inner.config.policy.resolve(&invocation.sender) else {
            return self.refuse_stranger(&invocation.sender).await;
        };
        let command = match command {
            Ok(command) => command,
            Err(message) => return Some(Reply::refusal(message)),
        };
        let actor = actor(&invocation.sender, invocation.chat.as_deref(), role);
        Some(self.run(command, actor).await)
    }

    /// Refuses a sender lull does not know: one reply and one audit entry per sender per
    /// minute at most (`None`, silence, for the rest), the refusals in between counted in the
    /// next entry, so a flood of strangers neither spams the chat nor grows the audit log.
    async fn refuse_stranger(&self, sender: &Sender) -> Option<Reply> {
        let key = format!("{}:{}", sender.platform, sender.user_id);
        let quieted = self
            .inner
            .strangers
            .admit(&key, tokio::time::Instant::now())?;
        let store = self.inner.scheduler.store();
        let mut detail = format!(
            "{} ({})",
            lull_queue::fold_controls(&sender.display),
            if sender.is_bot { "bot" } else { "user" }
        );
        if quieted > 0 {
            detail.push_str(&format!(
                "; {quieted} more refused since the last entry, unanswered"
            ));
        }
        if let Err(error) = store
            .record(
                &format!("{}:{}", sender.platform, sender.user_id),
                "refused",
                detail,
                None,
            )
            .await
        {
            tracing::warn!(%error, "could not audit a refused sender");
        }
        Some(Reply::refusal(Policy::stranger_message(sender)))
    }

    async fn keep_waiting(&self, invocation: &Invocation, id: &str) -> Option<Reply> {
        match self.inner.config.policy.resolve(&invocation.sender) {
            Some(Role::Admin) => {}
            Some(Role::Agent) => {
                return Some(Reply::refusal("only an admin can answer this prompt"));
            }
            None => return self.refuse_stranger(&invocation.sender).await,
        }
        let store = self.inner.scheduler.store();
        Some(match store.find(id) {
            Ok(request) if request.state.is_open() => {
                // Only time inside maintenance windows counts toward the next prompt.
                let windowed =
                    !request.ignore_windows && self.inner.scheduler.windows().configured();
                let period = reply::human(self.inner.config.max_wait);
                let when = if windowed {
                    format!("after another {period} inside the maintenance windows")
                } else {
                    format!("in {period}")
                };
                Reply::markdown(format!(
                    "Still waiting for {} — it will never be forced. Admins will be asked again {when}.",
                    reply::name(&request),
                ))
            }
            Ok(request) => Reply::refusal(format!(
                "{} is {} now; nothing is waiting.",
                reply::name(&request),
                request.state
            )),
            Err(error) => Reply::refusal(error.to_string()),
        })
    }

    /// Runs an authorized sender's command.
    async fn run(&self, command: Command, actor: Actor) -> Reply {
        if let Err(refusal) = policy::authorize(actor.role, &command) {
            self.audit_refusal(&actor, &command).await;
            return Reply::refusal(refusal.0);
        }
        self.execute(command, actor)
            .await
            .unwrap_or_else(|error| Reply::refusal(error.to_string()))
    }

    async fn execute(&self, command: Command, actor: Actor) -> Result<Reply, Error> {
        let scheduler = &self.inner.scheduler;
        let store = scheduler.store();
        let now = store.now();
        let by = actor.by();
        Ok(match command {
            Command::Help => reply::help(),
            Command::Status => reply::status(&scheduler.status()?, now),
            Command::History => reply::history(&store.history(10)?, now),
            Command::Restart(ask) => self.ask(Kind::Restart, ask, actor).await,
            Command::Update(ask) => self.ask(Kind::Update, ask, actor).await,
            Command::Cancel(id) => {
                let cancelled = store.cancel(&id, actor).await?;
                match cancelled.withdrawal {
                    Withdrawal::Cancelled => {
                        Reply::markdown(format!("Cancelled {}.", reply::name(&cancelled.request)))
                    }
                    Withdrawal::RequesterRemoved { remaining } => Reply::markdown(format!(
                        "Withdrew your ask; {} stays queued for {remaining} other requester{}.",
                        reply::name(&cancelled.request),
                        if remaining == 1 { "" } else { "s" }
                    )),
                }
                .about(&cancelled.request)
            }
            Command::Approve(id) => {
                let request = store.approve(&id, actor.clone()).await?;
                Reply::markdown(format!(
                    "Approved {} ({}, {now}); it runs when the gateway is idle.",
                    reply::name(&request),
                    actor.display
                ))
                .about(&request)
            }
            Command::Reject(id) => {
                let request = store.reject(&id, actor.clone()).await?;
                Reply::markdown(format!(
                    "Rejected {} ({}, {now}).",
                    reply::name(&request),
                    actor.display
                ))
                .about(&request)
            }
            Command::Pause(duration) => {
                let pause = scheduler.pause(duration, &by, "").await?;
                Reply::markdown(match pause.until {
                    Some(until) => format!("Maintenance paused until {until}."),
                    None => "Maintenance paused until `/maintenance resume`.".into(),
                })
            }
            Command::Resume => {
                scheduler.resume(&by).await?;
                Reply::markdown("Maintenance resumed.")
            }
            Command::Release(session) if session == command::FLEET_SLOT => {
                let hold = scheduler.release_fleet_slot(&by).await?;
                Reply::markdown(format!(
                    "Released this replica's fleet slot ({} in group {}); other replicas may restart now.",
                    hold.key, hold.group
                ))
            }
            Command::Release(session) => match scheduler.release(&session, &by).await {
                Ok(released) => Reply::markdown(format!(
                    "Released {released} run{} of {session}; it no longer holds maintenance back.",
                    if released == 1 { "" } else { "s" }
                )),
                // No live run of that name: an activity source of it (a stale or invented one
                // requests wait on) is forgotten instead.
                Err(Error::NotFound { .. }) => match scheduler.forget_source(&session, &by).await {
                    Ok(()) => Reply::markdown(format!(
                        "Forgot the activity source {session}; requests no longer wait on it."
                    )),
                    Err(Error::NotFound { .. }) => Reply::refusal(format!(
                        "No live run in session {session}, and no activity source named {session}; `/maintenance status` lists both."
                    )),
                    Err(error) => return Err(error),
                },
                Err(error) => return Err(error),
            },
        })
    }

    async fn audit_refusal(&self, actor: &Actor, command: &Command) {
        let store = self.inner.scheduler.store();
        if let Err(error) = store
            .record(&actor.by(), "refused", command.to_string(), None)
            .await
        {
            tracing::warn!(%error, "could not audit a refusal");
        }
    }

    async fn ask(&self, kind: Kind, ask: command::ChatAsk, actor: Actor) -> Reply {
        let draft = AskDraft {
            kind,
            reason: ask.reason,
            idle: ask.idle,
            ignore_windows: ask.ignore_windows,
            actor,
        };
        match self.submit(draft).await {
            Ok((request, deduplicated)) => {
                let store = self.inner.scheduler.store();
                match self.inner.scheduler.status() {
                    Ok(status) => reply::queued(&request, deduplicated, &status, store.now()),
                    Err(error) => Reply::refusal(error.to_string()),
                }
            }
            Err(error) => Reply::refusal(error.message),
        }
    }

    /// Asks for a restart or update: checks the ask ([`Ask::new`], against `[maintenance]`)
    /// and submits it. Every surface passes here (chat, the tool, the control API), so a
    /// refused `--window any` is audited alike.
    pub async fn submit(&self, draft: AskDraft) -> Result<(lull_queue::Request, bool), ToolError> {
        let (by, kind) = (draft.actor.by(), draft.kind);
        let ask = match Ask::new(draft, &self.inner.config.ask_rules()) {
            Ok(ask) => ask,
            Err(error) => {
                if error == AskError::WindowsForAdminsOnly {
                    let store = self.inner.scheduler.store();
                    let detail = format!("{kind} --window any");
                    if let Err(error) = store.record(&by, "refused", detail, None).await {
                        tracing::warn!(%error, "could not audit a refusal");
                    }
                }
                return Err(error.into());
            }
        };
        let submitted = self
            .inner
            .scheduler
            .store()
            .submit(ask)
            .await
            .map_err(ToolError::from)?;
        Ok((submitted.request, submitted.deduplicated))
    }
}

//! Doing what a click on a prompt's button decided.
//!
//! What is decided is the plugin's: who may click (the clicker is authorized again, like the
//! typed command), what the clicker is told (the [`Reply`]), and what the answered prompt says
//! ([`lull_plugin::answered`]). Doing it is the same on every platform and lives here:
//!
//! - refused or failed (an ephemeral reply): only the clicker is told, and the prompt stays, with
//!   its buttons, for someone who may;
//! - taken: the click is answered, and the prompt is replaced by its text and the outcome ("—
//!   who, when"), without buttons, so nobody clicks twice; a prompt too old to edit gets the
//!   outcome as a new message instead.

use std::future::Future;

use lull_plugin::{Reply, answered, clicked};
use lull_queue::Timestamp;

/// The prompt a click came from, over the platform's calls.
pub trait ClickedPrompt: Send + Sync {
    /// Answers the click itself; `alert` when only the clicker should see `text` (a refusal).
    fn answer(&self, text: &str, alert: bool) -> impl Future<Output = ()> + Send;

    /// The prompt's text as shown now, or `None` when it can no longer be edited.
    fn text(&self) -> Option<String>;

    /// Replaces the prompt's text with `text` and removes its buttons.
    fn replace(&self, text: &str) -> impl Future<Output = ()> + Send;

    /// Sends `reply` as a new message where the prompt is.
    fn send(&self, reply: &Reply) -> impl Future<Output = ()> + Send;
}

/// Shows the plugin's `reply` to a click by `clicker` (as the chat names them) at `at`.
pub async fn settle(prompt: &impl ClickedPrompt, reply: &Reply, clicker: &str, at: Timestamp) {
    if reply.ephemeral {
        prompt.answer(&reply.plain, true).await;
        return;
    }
    prompt.answer(&reply.plain, false).await;
    match prompt.text() {
        Some(text) => {
            prompt
                .replace(&answered(&text, &reply.plain, clicker, at))
                .await;
        }
        None => {
            let outcome = clicked(&reply.plain, clicker, at);
            prompt.send(&Reply::markdown(outcome)).await;
        }
    }
}

#[cfg(test)]
mod mock_tests;

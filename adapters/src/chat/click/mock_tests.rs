//! Settling a click against a recording prompt: who is told what, and what the prompt becomes.

use std::sync::Mutex;

use super::*;

/// Records every call; `text` is the prompt's, or `None` for one too old to edit.
#[derive(Default)]
struct Recording {
    text: Option<String>,
    calls: Mutex<Vec<String>>,
}

impl ClickedPrompt for Recording {
    async fn answer(&self, text: &str, alert: bool) {
        self.calls
            .lock()
            .unwrap()
            .push(format!("answer({text}, alert={alert})"));
    }

    fn text(&self) -> Option<String> {
        self.text.clone()
    }

    async fn replace(&self, text: &str) {
        self.calls.lock().unwrap().push(format!("replace({text})"));
    }

    async fn send(&self, reply: &Reply) {
        self.calls
            .lock()
            .unwrap()
            .push(format!("send({})", reply.plain));
    }
}

fn at() -> Timestamp {
    Timestamp::from_unix_millis(1_795_478_400_000)
}

#[tokio::test]
async fn a_refusal_is_told_to_the_clicker_alone_and_the_prompt_stays() {
    let prompt = Recording {
        text: Some("Approve r7k2?".into()),
        ..Recording::default()
    };
    settle(
        &prompt,
        &Reply::refusal("Only admins may approve."),
        "@mallory",
        at(),
    )
    .await;
    assert_eq!(
        *prompt.calls.lock().unwrap(),
        ["answer(Only admins may approve., alert=true)"]
    );
}

#[tokio::test]
async fn a_taken_click_is_answered_and_the_prompt_shows_the_outcome() {
    let prompt = Recording {
        text: Some("Approve r7k2?".into()),
        ..Recording::default()
    };
    settle(
        &prompt,
        &Reply::markdown("*Approved* `r7k2`."),
        "@alice",
        at(),
    )
    .await;
    assert_eq!(
        *prompt.calls.lock().unwrap(),
        [
            "answer(Approved r7k2., alert=false)".to_owned(),
            format!(
                "replace({})",
                lull_plugin::answered("Approve r7k2?", "Approved r7k2.", "@alice", at())
            ),
        ]
    );
}

#[tokio::test]
async fn a_prompt_too_old_to_edit_gets_the_outcome_as_a_new_message() {
    let prompt = Recording::default();
    settle(&prompt, &Reply::markdown("Cancelled r7k2."), "@alice", at()).await;
    assert_eq!(
        *prompt.calls.lock().unwrap(),
        [
            "answer(Cancelled r7k2., alert=false)".to_owned(),
            format!(
                "send({})",
                lull_plugin::clicked("Cancelled r7k2.", "@alice", at())
            ),
        ]
    );
}

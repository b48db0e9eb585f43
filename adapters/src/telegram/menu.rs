//! The bot's command menu. lull's own bot (the sidecar) gets a menu of one command; a host's bot
//! keeps its commands and gains `/maintenance` next to them, because `setMyCommands` replaces
//! the whole menu.

use teloxide::RequestError;
use teloxide::prelude::*;
use teloxide::types::BotCommand;

/// The command, without its slash.
pub(crate) const COMMAND: &str = "maintenance";
/// What the menu says about it.
pub(crate) const DESCRIPTION: &str =
    "Restart or update the gateway when no agent is busy (status, restart, update, cancel)";

fn ours() -> BotCommand {
    BotCommand::new(COMMAND, DESCRIPTION)
}

/// Sets the menu of lull's own bot to `/maintenance` alone.
pub(crate) async fn replace(bot: &Bot) -> Result<(), RequestError> {
    bot.set_my_commands([ours()]).await.map(|_| ())
}

/// Adds `/maintenance` to a host bot's menu, keeping every command already there. Returns
/// whether the menu changed.
pub async fn merge(bot: &Bot) -> Result<bool, RequestError> {
    let existing = bot.get_my_commands().await?;
    let Some(merged) = merged(existing) else {
        return Ok(false);
    };
    bot.set_my_commands(merged).await?;
    Ok(true)
}

/// The host's commands with ours in place, or `None` when it is already there as it should be.
fn merged(mut commands: Vec<BotCommand>) -> Option<Vec<BotCommand>> {
    let name = |c: &BotCommand| c.command.trim_start_matches('/').to_owned();
    match commands.iter().position(|c| name(c) == COMMAND) {
        Some(i) if commands[i].description == DESCRIPTION => None,
        Some(i) => {
            commands[i] = ours();
            Some(commands)
        }
        None => {
            commands.push(ours());
            Some(commands)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merging_keeps_the_hosts_commands_and_adds_ours_once() {
        let host = vec![
            BotCommand::new("start", "Start"),
            BotCommand::new("ask", "Ask the agent"),
        ];
        let merged = merged(host.clone()).unwrap();
        assert_eq!(&merged[..2], &host[..]);
        assert_eq!(merged[2].command, COMMAND);
        assert_eq!(super::merged(merged), None, "already there: nothing to set");
        let stale = vec![
            BotCommand::new("/maintenance", "old words"),
            host[0].clone(),
        ];
        let fixed = super::merged(stale).unwrap();
        assert_eq!(fixed.len(), 2);
        assert_eq!(fixed[0].description, DESCRIPTION);
    }
}

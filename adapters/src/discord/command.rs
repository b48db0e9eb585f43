//! The `maintenance` application command: its registration body (one subcommand per verb,
//! with the options `reason`, `idle`, `window`, `id`, `for` and `session`), registering it
//! beside whatever other commands the application has, and reading an invocation's options
//! back into the grammar's command.

use lull_plugin::{Command, ParseError};
use lull_queue::MAX_REASON_CHARS;
use serenity::all::{
    CommandDataOption, CommandDataOptionValue, CommandOptionType, CreateCommand,
    CreateCommandOption, GuildId, Http,
};

/// The command's name (`/maintenance`).
pub(crate) const NAME: &str = "maintenance";

/// The subcommands, with what Discord shows under each.
const SUBCOMMANDS: [(&str, &str); 10] = [
    ("status", "What is queued or running, and what it waits for"),
    (
        "restart",
        "Ask for a gateway restart when no chat has a live agent run",
    ),
    (
        "update",
        "Ask for a gateway update when no chat has a live agent run",
    ),
    ("cancel", "Cancel a request (or withdraw your ask)"),
    ("approve", "Approve a request that awaits an admin"),
    ("reject", "Reject a request that awaits an admin"),
    ("history", "The last finished requests"),
    ("pause", "Hold all maintenance (admins)"),
    ("resume", "Lift a pause (admins)"),
    ("release", "Release a session lull counts as live (admins)"),
];

/// The registration body.
pub(crate) fn definition() -> CreateCommand {
    let mut definition = CreateCommand::new(NAME)
        .description("Restart or update the gateway once no chat has a live agent run");
    for (name, description) in SUBCOMMANDS {
        let mut sub = CreateCommandOption::new(CommandOptionType::SubCommand, name, description);
        for option in options_of(name) {
            sub = sub.add_sub_option(option);
        }
        definition = definition.add_option(sub);
    }
    definition
}

fn string(name: &str, description: &str) -> CreateCommandOption {
    CreateCommandOption::new(CommandOptionType::String, name, description)
}

fn options_of(subcommand: &str) -> Vec<CreateCommandOption> {
    match subcommand {
        "restart" | "update" => vec![
            string("reason", "Why (shown to everyone waiting)").max_length(MAX_REASON_CHARS as u16),
            string(
                "idle",
                "How long the gateway must have been idle first, e.g. 20m",
            ),
            string(
                "window",
                "any: start outside the maintenance windows (admins)",
            )
            .add_string_choice("any", "any"),
        ],
        "cancel" | "approve" | "reject" => vec![
            string("id", "The request's id, e.g. r7k2")
                .required(true)
                .set_autocomplete(true),
        ],
        "pause" => vec![string(
            "for",
            "How long, e.g. 2h (until resumed if not given)",
        )],
        "release" => vec![
            string("session", "The session, as status shows it (platform:chat)").required(true),
        ],
        _ => Vec::new(),
    }
}

/// Creates (or updates) the command beside the application's other commands — in one guild,
/// or globally — never replacing them. `http` must know the application id.
pub(crate) async fn register(http: &Http, guild: Option<u64>) -> serenity::Result<()> {
    match guild {
        Some(guild) => {
            GuildId::new(guild)
                .create_command(http, definition())
                .await?
        }
        None => serenity::all::Command::create_global_command(http, definition()).await?,
    };
    Ok(())
}

/// The grammar's command for an invocation's options: the subcommand and its string values.
pub fn parse(options: &[CommandDataOption]) -> Result<Command, ParseError> {
    let Some(first) = options.first() else {
        return Ok(Command::Help);
    };
    let CommandDataOptionValue::SubCommand(values) = &first.value else {
        return Err(ParseError::Invalid {
            message: format!("{:?} is not a subcommand of /maintenance", first.name),
            usage: lull_plugin::usage(""),
        });
    };
    let pairs: Vec<(&str, &str)> = values
        .iter()
        .filter_map(|o| match &o.value {
            CommandDataOptionValue::String(v) => Some((o.name.as_str(), v.as_str())),
            CommandDataOptionValue::Autocomplete { value, .. } => {
                Some((o.name.as_str(), value.as_str()))
            }
            _ => None,
        })
        .collect();
    lull_plugin::from_options(&first.name, &pairs)
}

/// The option being typed in an autocomplete interaction, and its text so far.
pub(crate) fn focused(options: &[CommandDataOption]) -> Option<(&str, &str)> {
    let CommandDataOptionValue::SubCommand(values) = &options.first()?.value else {
        return None;
    };
    values.iter().find_map(|o| match &o.value {
        CommandDataOptionValue::Autocomplete { value, .. } => {
            Some((o.name.as_str(), value.as_str()))
        }
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde_json::json;

    use super::*;

    fn options(value: serde_json::Value) -> Vec<CommandDataOption> {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn the_definition_has_every_subcommand_and_its_options() {
        let body = serde_json::to_value(definition()).unwrap();
        assert_eq!(body["name"], NAME);
        let subs = body["options"].as_array().unwrap();
        let names: Vec<&str> = subs.iter().map(|s| s["name"].as_str().unwrap()).collect();
        assert_eq!(
            names,
            [
                "status", "restart", "update", "cancel", "approve", "reject", "history", "pause",
                "resume", "release"
            ]
        );
        assert!(subs.iter().all(|s| s["type"] == 1));
        let cancel = &subs[3]["options"][0];
        assert_eq!(
            (cancel["name"].clone(), cancel["autocomplete"].clone()),
            (json!("id"), json!(true))
        );
        assert_eq!(subs[1]["options"][0]["max_length"], 500);
    }

    #[test]
    fn options_become_the_grammars_command() {
        let restart = options(json!([{"name": "restart", "type": 1, "options": [
            {"name": "reason", "type": 3, "value": "new tool"},
            {"name": "idle", "type": 3, "value": "20m"}]}]));
        let Command::Restart(ask) = parse(&restart).unwrap() else {
            panic!()
        };
        assert_eq!(
            (ask.reason.as_str(), ask.idle),
            ("new tool", Some(Duration::from_secs(1200)))
        );
        let bad = options(json!([{"name": "pause", "type": 1, "options": [
            {"name": "for", "type": 3, "value": "soon"}]}]));
        assert!(
            parse(&bad)
                .unwrap_err()
                .to_string()
                .contains("invalid --for value \"soon\"")
        );
        let cancel = options(json!([{"name": "cancel", "type": 1, "options": [
            {"name": "id", "type": 3, "value": "r7k", "focused": true}]}]));
        assert_eq!(focused(&cancel), Some(("id", "r7k")));
        assert_eq!(parse(&cancel).unwrap(), Command::Cancel("r7k".into()));
    }
}

//! What a relay's host should pass on to lull (`GET /v1/relay/grammar`, `lull relay-grammar`),
//! so it need not send every chat message through lull: commands, answers to lull's own
//! messages, and clicks on lull's buttons. The patterns match at least what lull's parser
//! takes (a test holds them to it); lull answers `{"reply": null}` to the rest.

use lull_plugin::{
    MAX_PAYLOAD_BYTES, PAYLOAD_PREFIX, ParseError, SUBCOMMANDS, authorize, parse, usage,
};
use lull_queue::Role;
use serde_json::{Value, json};

/// A `/maintenance` command, addressed to any bot or none (case-insensitive).
pub(crate) const COMMAND_PATTERN: &str = r"^\s*/maintenance(?:@\S*)?(?:\s|$)";
/// An answer typed to one of lull's prompts (case-insensitive); only as a reply to lull.
pub(crate) const ANSWER_PATTERN: &str =
    r"^\s*(?:approve|reject|cancel)\s+[A-Za-z0-9][A-Za-z0-9-]*\s*$";

/// Whether an agent may run `subcommand` (else only admins may).
fn agents_may(subcommand: &str) -> bool {
    let example = match subcommand {
        "cancel" | "approve" | "reject" => format!("/maintenance {subcommand} r7k2"),
        "release" => "/maintenance release telegram:1".to_owned(),
        _ => format!("/maintenance {subcommand}"),
    };
    match parse(&example, None) {
        Ok(command) => authorize(Role::Agent, &command).is_ok(),
        Err(ParseError::NotForUs | ParseError::Invalid { .. }) => false,
    }
}

/// The grammar document.
pub fn grammar() -> Value {
    let subcommands: Vec<Value> = SUBCOMMANDS
        .iter()
        .map(|name| {
            json!({
                "name": name,
                "usage": usage(name),
                "admin_only": !agents_may(name),
            })
        })
        .collect();
    json!({
        "command": "/maintenance",
        "pass_on": [
            {
                "what": "command",
                "pattern": COMMAND_PATTERN,
                "case_insensitive": true,
                "description": "A message whose first word is /maintenance (or /maintenance@<bot>): send it as text. Filter out commands addressed to another bot yourself.",
            },
            {
                "what": "answer",
                "pattern": ANSWER_PATTERN,
                "case_insensitive": true,
                "description": "A message that replies to one of lull's messages (a prompt) and says approve, reject or cancel with an id: send it as text with reply_to_lull: true. Without it lull ignores the text.",
            },
            {
                "what": "click",
                "payload_prefix": PAYLOAD_PREFIX,
                "max_payload_bytes": MAX_PAYLOAD_BYTES,
                "description": "A click on a button lull sent (its payload starts with the prefix): send the payload as click.",
            },
        ],
        "subcommands": subcommands,
        "limits": {
            "event_id_chars": 200,
            "user_chars": 200,
            "chat_chars": 200,
            "text_chars": 4000,
            "wait_seconds": 60,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, text: &str) -> bool {
        regex::RegexBuilder::new(pattern)
            .case_insensitive(true)
            .build()
            .unwrap()
            .is_match(text)
    }

    #[test]
    fn the_patterns_pass_on_everything_the_parser_takes() {
        let commands = [
            "/maintenance",
            "/maintenance status",
            "  /Maintenance restart new tool --idle 20m",
            "/maintenance@lull_bot approve r7k2",
            "/MAINTENANCE\thelp",
            "/maintenance@ status",
        ];
        for text in commands {
            assert!(parse(text, None).is_ok(), "{text}");
            assert!(matches(COMMAND_PATTERN, text), "{text}");
        }
        for text in ["approve r7k2", " Reject r7k2 ", "cancel 0f3a9c1e-77"] {
            assert!(parse(text, None).is_ok(), "{text}");
            assert!(matches(ANSWER_PATTERN, text), "{text}");
        }
        // Ordinary chat is not passed on, and the parser would not take it either.
        for text in [
            "/maintenancex",
            "hello /maintenance",
            "approve the plan",
            "ok",
        ] {
            assert!(!matches(COMMAND_PATTERN, text), "{text}");
            assert!(
                matches!(parse(text, None), Err(ParseError::NotForUs)),
                "{text}"
            );
        }
    }

    #[test]
    fn the_document_says_who_may_run_each_subcommand() {
        let grammar = grammar();
        let admin_only: Vec<&str> = grammar["subcommands"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["admin_only"] == true)
            .map(|s| s["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            admin_only,
            ["approve", "reject", "pause", "resume", "release"]
        );
        assert_eq!(grammar["pass_on"][2]["payload_prefix"], "lull:");
    }
}

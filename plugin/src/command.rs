//! The `/maintenance` grammar: chat text (and Discord's structured options) to [`Command`].

use std::fmt;
use std::time::Duration;

use words::{Word, split_words};

/// Longest pause (or drain) accepted. An ask's bounds are the queue's ([`lull_queue::ChatAsk::new`]):
/// this grammar parses an ask's syntax only.
pub const MAX_PAUSE: Duration = Duration::from_secs(7 * 24 * 3600);

/// What `/maintenance release` takes to free this replica's kept fleet slot rather than a run
/// (sessions are `platform:chat`, so no session is named this).
pub const FLEET_SLOT: &str = "fleet";

/// One `/maintenance` command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// `/maintenance [help]`.
    Help,
    /// `/maintenance status`.
    Status,
    /// `/maintenance restart [reason…] [--idle D | --idle-seconds N] [--window any]`.
    Restart(ChatAsk),
    /// `/maintenance update [reason…] [--idle D | --idle-seconds N] [--window any]`.
    Update(ChatAsk),
    /// `/maintenance cancel <id>`.
    Cancel(String),
    /// `/maintenance approve <id>` (or a text reply `approve <id>`).
    Approve(String),
    /// `/maintenance reject <id>` (or a text reply `reject <id>`).
    Reject(String),
    /// `/maintenance history`.
    History,
    /// `/maintenance pause [--for D]`.
    Pause(Option<Duration>),
    /// `/maintenance resume`.
    Resume,
    /// `/maintenance release <session>`, or `/maintenance release fleet` (this replica's
    /// kept fleet slot).
    Release(String),
}

/// The arguments of a restart or update as the chat grammar reads them; the queue checks them
/// as an ask ([`lull_queue::Ask::new`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChatAsk {
    /// Why (may be empty).
    pub reason: String,
    /// The idle window, if given explicitly.
    pub idle: Option<Duration>,
    /// `--window any`: start outside the maintenance windows (admins only).
    pub ignore_windows: bool,
}

/// The subcommands, in the order help lists them.
pub const SUBCOMMANDS: [&str; 11] = [
    "help", "status", "restart", "update", "cancel", "approve", "reject", "history", "pause",
    "resume", "release",
];

/// The usage line of a subcommand.
pub fn usage(subcommand: &str) -> &'static str {
    match subcommand {
        "status" => "/maintenance status",
        "restart" => {
            "/maintenance restart [reason…] [--idle 20m | --idle-seconds 1200] [--window any]"
        }
        "update" => {
            "/maintenance update [reason…] [--idle 20m | --idle-seconds 1200] [--window any]"
        }
        "cancel" => "/maintenance cancel <id>",
        "approve" => "/maintenance approve <id>",
        "reject" => "/maintenance reject <id>",
        "history" => "/maintenance history",
        "pause" => "/maintenance pause [--for 2h]",
        "resume" => "/maintenance resume",
        "release" => "/maintenance release <session>|fleet",
        _ => {
            "/maintenance [help|status|restart|update|cancel|approve|reject|history|pause|resume|release]"
        }
    }
}

/// Why a text is not a valid command.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Not a `/maintenance` command (or one addressed to another bot): not ours to answer.
    #[error("not a /maintenance command")]
    NotForUs,
    /// A `/maintenance` command with a mistake; the message says what and shows the usage.
    #[error("{message}\nusage: {usage}")]
    Invalid {
        /// What was wrong.
        message: String,
        /// The usage line of the subcommand concerned.
        usage: &'static str,
    },
}

fn invalid(subcommand: &str, message: impl Into<String>) -> ParseError {
    ParseError::Invalid {
        message: message.into(),
        usage: usage(subcommand),
    }
}

/// Parses chat text addressed to the bot `bot_username` (without `@`), if known.
///
/// `/maintenance@other_bot …` is [`ParseError::NotForUs`]. Besides the `/maintenance` forms, the
/// text replies `approve <id>`, `reject <id>` and `cancel <id>` (answers to prompts) are accepted.
pub fn parse(text: &str, bot_username: Option<&str>) -> Result<Command, ParseError> {
    let text = text.trim();
    let (head, rest) = text.split_at(text.find(char::is_whitespace).unwrap_or(text.len()));
    let (name, addressee) = match head.split_once('@') {
        Some((name, bot)) => (name, Some(bot)),
        None => (head, None),
    };
    if !name.eq_ignore_ascii_case("/maintenance") {
        return parse_text_reply(text);
    }
    if let (Some(addressee), Some(me)) = (addressee, bot_username)
        && !addressee.eq_ignore_ascii_case(me.trim_start_matches('@'))
    {
        return Err(ParseError::NotForUs);
    }
    let words = split_words(rest).map_err(|e| invalid("", e))?;
    parse_words(words)
}

/// Whether `word` looks like one of lull's ids (a short id, or eight or more characters of a
/// UUID), so that "cancel tomorrow" in ordinary chat is not taken for a command.
fn looks_like_request_id(word: &str) -> bool {
    let lower = word.to_ascii_lowercase();
    let short = lower.len() >= 4
        && lower.starts_with(lull_queue::ShortId::PREFIX)
        && lower[1..]
            .bytes()
            .all(|b| lull_queue::ShortId::ALPHABET.contains(&b));
    let uuid = lower.len() >= 8 && lower.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-');
    is_id(word) && (short || uuid)
}

/// `approve r7k2` / `reject r7k2` / `cancel r7k2` typed as a reply to a prompt.
fn parse_text_reply(text: &str) -> Result<Command, ParseError> {
    let words: Vec<&str> = text.split_whitespace().collect();
    match words.as_slice() {
        [verb, id] if looks_like_request_id(id) => match verb.to_ascii_lowercase().as_str() {
            "approve" => Ok(Command::Approve((*id).to_owned())),
            "reject" => Ok(Command::Reject((*id).to_owned())),
            "cancel" => Ok(Command::Cancel((*id).to_owned())),
            _ => Err(ParseError::NotForUs),
        },
        _ => Err(ParseError::NotForUs),
    }
}

/// Short ids, UUIDs and their prefixes: letters, digits and inner hyphens.
pub(crate) fn is_id(word: &str) -> bool {
    word.len() <= 40
        && word.starts_with(|c: char| c.is_ascii_alphanumeric())
        && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn parse_words(words: Vec<Word>) -> Result<Command, ParseError> {
    let mut words = words.into_iter();
    let Some(first) = words.next() else {
        return Ok(Command::Help);
    };
    let sub = first.text.to_lowercase();
    let rest: Vec<Word> = words.collect();
    match sub.as_str() {
        "help" | "status" | "history" | "resume" => {
            if let Some(extra) = rest.first() {
                return Err(invalid(
                    &sub,
                    format!("`{sub}` takes no arguments (got {:?})", extra.text),
                ));
            }
            Ok(match sub.as_str() {
                "help" => Command::Help,
                "status" => Command::Status,
                "history" => Command::History,
                _ => Command::Resume,
            })
        }
        "restart" => parse_ask(&sub, rest).map(Command::Restart),
        "update" => parse_ask(&sub, rest).map(Command::Update),
        "cancel" | "approve" | "reject" => {
            let id = one_argument(&sub, rest, "request id")?;
            if !is_id(&id) {
                return Err(invalid(
                    &sub,
                    format!("{id:?} is not a request id (ids look like r7k2)"),
                ));
            }
            Ok(match sub.as_str() {
                "cancel" => Command::Cancel(id),
                "approve" => Command::Approve(id),
                _ => Command::Reject(id),
            })
        }
        "release" => {
            one_argument(&sub, rest, "session (platform:chat), or `fleet`").map(Command::Release)
        }
        "pause" => parse_pause(rest),
        _ => Err(unknown_subcommand(&first.text)),
    }
}

fn unknown_subcommand(word: &str) -> ParseError {
    let lower = word.to_lowercase();
    let nearest = SUBCOMMANDS
        .iter()
        .map(|s| (edit_distance(&lower, s), *s))
        .filter(|(d, s)| *d <= 2 || (lower.len() >= 3 && s.starts_with(&lower)))
        .min();
    let message = match nearest {
        Some((_, s)) => format!("unknown subcommand {word:?}; did you mean `{s}`?"),
        None => format!("unknown subcommand {word:?}"),
    };
    invalid("", message)
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut previous = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let current = row[j + 1];
            row[j + 1] = (previous + usize::from(ca != *cb))
                .min(row[j] + 1)
                .min(current + 1);
            previous = current;
        }
    }
    row[b.len()]
}

fn one_argument(sub: &str, rest: Vec<Word>, what: &str) -> Result<String, ParseError> {
    let mut rest = rest.into_iter();
    let Some(value) = rest.next() else {
        return Err(invalid(sub, format!("missing {what}")));
    };
    if let Some(extra) = rest.next() {
        return Err(invalid(
            sub,
            format!("`{sub}` takes one {what}; unexpected {:?}", extra.text),
        ));
    }
    if !value.quoted && value.text.starts_with("--") {
        return Err(invalid(
            sub,
            format!("`{sub}` has no option {}", value.text),
        ));
    }
    Ok(value.text)
}

/// Splits `--name=value` or takes the value from the next word.
fn option_value(
    sub: &str,
    name: &str,
    inline: Option<&str>,
    rest: &mut impl Iterator<Item = Word>,
) -> Result<String, ParseError> {
    if let Some(value) = inline {
        return Ok(value.to_owned());
    }
    rest.next()
        .map(|w| w.text)
        .ok_or_else(|| invalid(sub, format!("{name} needs a value")))
}

fn parse_ask(sub: &str, rest: Vec<Word>) -> Result<ChatAsk, ParseError> {
    let mut reason: Vec<String> = Vec::new();
    let mut idle: Option<(Duration, &'static str)> = None;
    let mut ignore_windows = false;
    let mut words = rest.into_iter();
    let mut options_done = false;
    while let Some(word) = words.next() {
        if word.quoted || options_done || !word.text.starts_with("--") {
            reason.push(word.text);
            continue;
        }
        if word.text == "--" {
            options_done = true;
            continue;
        }
        let (name, inline) = match word.text.split_once('=') {
            Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
            None => (word.text.clone(), None),
        };
        let flag: &'static str = match name.as_str() {
            "--idle" => "--idle",
            "--idle-seconds" => "--idle-seconds",
            "--window" => {
                if ignore_windows {
                    return Err(invalid(sub, "give --window once"));
                }
                let value = option_value(sub, "--window", inline.as_deref(), &mut words)?;
                if !value.eq_ignore_ascii_case("any") {
                    return Err(invalid(
                        sub,
                        format!(
                            "invalid --window value {value:?}: the only accepted value is `any` \
                             (start outside the configured maintenance windows)"
                        ),
                    ));
                }
                ignore_windows = true;
                continue;
            }
            _ => {
                return Err(invalid(
                    sub,
                    format!("unknown option {name}; accepted: --idle, --idle-seconds, --window"),
                ));
            }
        };
        if let Some((_, earlier)) = idle {
            return Err(invalid(
                sub,
                format!("give the idle window once ({earlier} and {flag} both given)"),
            ));
        }
        let value = option_value(sub, flag, inline.as_deref(), &mut words)?;
        let parsed = if flag == "--idle" {
            parse_duration(sub, flag, &value)?
        } else {
            let seconds: u64 = value.parse().map_err(|_| {
                invalid(
                    sub,
                    format!(
                        "invalid --idle-seconds value {value:?}: expected whole seconds, e.g. 1200"
                    ),
                )
            })?;
            Duration::from_secs(seconds)
        };
        idle = Some((parsed, flag));
    }
    Ok(ChatAsk {
        reason: reason.join(" "),
        idle: idle.map(|(d, _)| d),
        ignore_windows,
    })
}

fn parse_duration(sub: &str, flag: &str, value: &str) -> Result<Duration, ParseError> {
    let bad = || {
        invalid(
            sub,
            format!("invalid {flag} value {value:?}: expected a duration like 20m, 1h30m or 90s"),
        )
    };
    if let Ok(seconds) = value.parse::<u64>() {
        return Ok(Duration::from_secs(seconds));
    }
    let parsed = humantime::parse_duration(value).map_err(|_| bad())?;
    if parsed.subsec_nanos() != 0 {
        return Err(invalid(
            sub,
            format!("invalid {flag} value {value:?}: use whole seconds"),
        ));
    }
    Ok(parsed)
}

fn check_pause_bound(sub: &str, flag: &str, d: Duration) -> Result<(), ParseError> {
    if d > MAX_PAUSE {
        return Err(invalid(
            sub,
            format!(
                "{flag} {} is too long; at most 7 days",
                humantime::format_duration(d)
            ),
        ));
    }
    Ok(())
}

fn parse_pause(rest: Vec<Word>) -> Result<Command, ParseError> {
    let mut words = rest.into_iter();
    let mut duration = None;
    while let Some(word) = words.next() {
        let (name, inline) = match word.text.split_once('=') {
            Some((n, v)) => (n.to_owned(), Some(v.to_owned())),
            None => (word.text.clone(), None),
        };
        if word.quoted || name != "--for" {
            return Err(invalid(
                "pause",
                format!("unexpected {:?}; accepted: --for <duration>", word.text),
            ));
        }
        if duration.is_some() {
            return Err(invalid("pause", "give --for once"));
        }
        let value = option_value("pause", "--for", inline.as_deref(), &mut words)?;
        let d = parse_duration("pause", "--for", &value)?;
        if d.is_zero() {
            return Err(invalid(
                "pause",
                "--for must be longer than 0s (resume with /maintenance resume)",
            ));
        }
        check_pause_bound("pause", "--for", d)?;
        duration = Some(d);
    }
    Ok(Command::Pause(duration))
}

/// Maps Discord's structured options (`reason`, `idle`, `window`, `id`, `for`, `session`) to a command.
pub fn from_options(subcommand: &str, options: &[(&str, &str)]) -> Result<Command, ParseError> {
    let mut words = vec![Word {
        text: subcommand.to_owned(),
        quoted: false,
    }];
    for (name, value) in options {
        match *name {
            "reason" if !value.is_empty() => words.push(Word {
                text: (*value).to_owned(),
                quoted: true,
            }),
            "reason" => {}
            "idle" | "for" | "window" => {
                words.push(Word {
                    text: format!("--{name}"),
                    quoted: false,
                });
                words.push(Word {
                    text: (*value).to_owned(),
                    quoted: true,
                });
            }
            "id" | "session" => words.push(Word {
                text: (*value).to_owned(),
                quoted: true,
            }),
            other => return Err(invalid(subcommand, format!("unknown option {other:?}"))),
        }
    }
    parse_words(words)
}

fn quote(text: &str) -> String {
    format!("\"{}\"", text.replace('\\', "\\\\").replace('"', "\\\""))
}

fn seconds(d: Duration) -> String {
    format!("{}s", d.as_secs())
}

impl fmt::Display for Command {
    /// The canonical text form; parsing it gives the command back.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ask = |f: &mut fmt::Formatter<'_>, sub: &str, ask: &ChatAsk| {
            write!(f, "/maintenance {sub}")?;
            if !ask.reason.is_empty() {
                write!(f, " {}", quote(&ask.reason))?;
            }
            if let Some(idle) = ask.idle {
                write!(f, " --idle-seconds {}", idle.as_secs())?;
            }
            if ask.ignore_windows {
                f.write_str(" --window any")?;
            }
            Ok(())
        };
        match self {
            Command::Help => f.write_str("/maintenance help"),
            Command::Status => f.write_str("/maintenance status"),
            Command::Restart(a) => ask(f, "restart", a),
            Command::Update(a) => ask(f, "update", a),
            Command::Cancel(id) => write!(f, "/maintenance cancel {id}"),
            Command::Approve(id) => write!(f, "/maintenance approve {id}"),
            Command::Reject(id) => write!(f, "/maintenance reject {id}"),
            Command::History => f.write_str("/maintenance history"),
            Command::Pause(None) => f.write_str("/maintenance pause"),
            Command::Pause(Some(d)) => write!(f, "/maintenance pause --for {}", seconds(*d)),
            Command::Resume => f.write_str("/maintenance resume"),
            Command::Release(session) => write!(f, "/maintenance release {}", quote(session)),
        }
    }
}

#[cfg(test)]
mod tests;
mod words;

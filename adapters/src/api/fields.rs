//! The checks of body fields every route shares: whole seconds, and the names (sessions,
//! sources, leases) the server and the OpenAPI document agree on.

use axum::http::StatusCode;
use serde::Deserialize;

use super::ApiError;

/// A count of seconds as a whole JSON number: `20`, or `20.0` (JSON does not tell them apart,
/// and neither does JSON Schema's `integer`), or `null`.
pub(super) fn whole_seconds<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<u64>, D::Error> {
    let Some(number) = Option::<serde_json::Number>::deserialize(d)? else {
        return Ok(None);
    };
    if let Some(whole) = number.as_u64() {
        return Ok(Some(whole));
    }
    match number.as_f64() {
        Some(f) if f >= 0.0 && f.fract() == 0.0 && f < u64::MAX as f64 => Ok(Some(f as u64)),
        _ => Err(serde::de::Error::custom(format!(
            "{number} is not a whole number of seconds"
        ))),
    }
}

/// [`whole_seconds`] for a field that must be there.
pub(super) fn whole_seconds_required<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<u64, D::Error> {
    whole_seconds(d)?.ok_or_else(|| serde::de::Error::custom("a number of seconds is required"))
}

pub(super) use crate::names::is_blank;

/// A typed name holding a control character: refused, naming the field (see the queue's
/// `text.rs`: a newline in a name could forge a line of a chat message or a log).
pub(super) fn check_text(field: &str, code: &'static str, text: &str) -> Result<(), ApiError> {
    match lull_queue::control_character(text) {
        Some(found) => Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            code,
            lull_queue::control_refusal(field, found),
        )),
        None => Ok(()),
    }
}

pub(super) fn check_source(source: &str) -> Result<(), ApiError> {
    check_text("source", "invalid_source", source)?;
    if is_blank(source) || source.chars().count() > 100 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_source",
            "source must be 1 to 100 characters, e.g. \"my-gateway\"",
        ));
    }
    Ok(())
}

pub(super) fn check_lease(lease: &str) -> Result<(), ApiError> {
    if lease.is_empty()
        || lease.len() > 100
        || !lease
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_lease",
            "a lease id is what POST /v1/runs returned (letters, digits, '-' or '_')",
        ));
    }
    Ok(())
}

pub(super) fn check_session(session: &str) -> Result<(), ApiError> {
    check_text("session", "invalid_session", session)?;
    if is_blank(session) || session.chars().count() > 200 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "invalid_session",
            "session must be 1 to 200 characters, e.g. \"telegram:123\"",
        ));
    }
    Ok(())
}

/// A 400 about the query string.
pub(super) fn invalid_query(message: impl Into<String>) -> ApiError {
    ApiError::new(StatusCode::BAD_REQUEST, "invalid_query", message)
}

/// The query string's parameters, in the order of `accepted`: each one of those, and each at
/// most once.
pub(super) fn query_params<const N: usize>(
    query: Option<&str>,
    accepted: [&str; N],
) -> Result<[Option<String>; N], ApiError> {
    let mut values: [Option<String>; N] = std::array::from_fn(|_| None);
    for (key, value) in url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()) {
        let Some(slot) = accepted.iter().position(|a| *a == key) else {
            return Err(invalid_query(format!(
                "unknown parameter {key:?}; accepted: {}",
                accepted.join(", ")
            )));
        };
        if values[slot].replace(value.into_owned()).is_some() {
            return Err(invalid_query(format!("{key} is given twice")));
        }
    }
    Ok(values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blank_is_what_the_documents_pattern_calls_white_space() {
        for blank in ["", " ", "\t\n", "\u{feff}", "\u{3000} \u{a0}"] {
            assert!(is_blank(blank), "{blank:?}");
        }
        // Not white space to an ECMA-262 `\s`, so not blank to the server either.
        for text in ["a", " x ", "\u{85}", "\u{1c}"] {
            assert!(!is_blank(text), "{text:?}");
        }
    }
}

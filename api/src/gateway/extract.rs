//! Extractors whose rejections are problems naming the field at fault:
//! [`ApiJson`] for bodies and [`ApiQuery`] for query strings. Declare
//! request types with `#[serde(deny_unknown_fields)]` so a misspelt field
//! is refused, not ignored.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Query, Request};
use axum::http::request::Parts;
use axum::http::StatusCode;
use serde::de::DeserializeOwned;

use super::problem::ApiError;
use super::BODY_LIMIT;

/// A JSON body; malformed JSON is 400, a body of the wrong shape 422 and an
/// unknown field 400, each naming the field; a body over the limit is 413.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(Self(value)),
            Err(rejection) => Err(json_problem(&rejection)),
        }
    }
}

/// The problem for a JSON rejection.
fn json_problem(rejection: &JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::JsonSyntaxError(e) => {
            ApiError::malformed_json(without_prefix(&e.body_text()))
        }
        JsonRejection::JsonDataError(e) => data_problem(&without_prefix(&e.body_text())),
        JsonRejection::MissingJsonContentType(_) => ApiError::unsupported_media_type(),
        other if other.status() == StatusCode::PAYLOAD_TOO_LARGE => ApiError::too_large(BODY_LIMIT),
        other => ApiError::bad_request(other.body_text()),
    }
}

/// Unknown and missing fields are 400 (the request names fields we do not
/// take, or omits one we need); a value of the wrong type or range is 422.
fn data_problem(message: &str) -> ApiError {
    let (field, kind) = field_of(message);
    match kind {
        FieldProblem::Unknown | FieldProblem::Missing => {
            ApiError::invalid_field(field.unwrap_or_default(), message)
        }
        FieldProblem::Value => ApiError::unprocessable_field(field, message),
    }
}

/// A query string; a missing, unknown or malformed parameter is 400, naming it.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        match Query::<T>::from_request_parts(parts, state).await {
            Ok(Query(value)) => Ok(Self(value)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => {
                let message = without_prefix(&e.body_text());
                let (field, _) = field_of(&message);
                Err(ApiError::invalid_field(field.unwrap_or_default(), message))
            }
            Err(other) => Err(ApiError::bad_request(other.body_text())),
        }
    }
}

/// What is wrong with a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldProblem {
    /// The request has a field the type does not take.
    Unknown,
    /// The request lacks a field the type needs.
    Missing,
    /// The field's value is malformed.
    Value,
}

/// axum's rejection texts start with a fixed sentence, then `: ` and the
/// deserializer's message; keep the message.
fn without_prefix(text: &str) -> String {
    const PREFIXES: [&str; 3] = [
        "Failed to deserialize the JSON body into the target type: ",
        "Failed to parse the request body as JSON: ",
        "Failed to deserialize query string: ",
    ];
    PREFIXES
        .iter()
        .find_map(|p| text.strip_prefix(p))
        .unwrap_or(text)
        .to_owned()
}

/// The field a deserializer's message is about, and how. The message reads
/// `[path: ]error`, where the path (`a.b[0].c`) leads to the value at fault
/// and serde names unknown or missing fields in backquotes.
fn field_of(message: &str) -> (Option<String>, FieldProblem) {
    let (path, error) = match message.split_once(": ") {
        Some((path, error)) if is_path(path) => (Some(path), error),
        _ => (None, message),
    };
    let named = |marker: &str| {
        let rest = error.split_once(marker)?.1;
        let name = rest.split('`').next()?;
        // An unknown field's path already ends with it; a missing one's
        // path is its parent's.
        Some(match path {
            Some(path) if path == name || path.ends_with(&format!(".{name}")) => path.to_owned(),
            Some(path) if path != "." => format!("{path}.{name}"),
            _ => name.to_owned(),
        })
    };
    if let Some(field) = named("unknown field `") {
        return (Some(field), FieldProblem::Unknown);
    }
    if let Some(field) = named("missing field `") {
        return (Some(field), FieldProblem::Missing);
    }
    (
        path.filter(|p| *p != ".").map(str::to_owned),
        FieldProblem::Value,
    )
}

/// Whether `text` reads as a serde path: field names, indexes and dots only.
fn is_path(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._[]-".contains(&b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_named_from_deserializer_messages() {
        assert_eq!(
            field_of("unknown field `prority`, expected one of `text`, `priority`"),
            (Some("prority".to_owned()), FieldProblem::Unknown)
        );
        assert_eq!(
            field_of("missing field `text` at line 1 column 2"),
            (Some("text".to_owned()), FieldProblem::Missing)
        );
        assert_eq!(
            field_of("prority: unknown field `prority`, expected `text`"),
            (Some("prority".to_owned()), FieldProblem::Unknown)
        );
        assert_eq!(
            field_of("spending_limit.curency: unknown field `curency`, expected `amount`"),
            (
                Some("spending_limit.curency".to_owned()),
                FieldProblem::Unknown
            )
        );
        assert_eq!(
            field_of("limit: invalid digit found in string"),
            (Some("limit".to_owned()), FieldProblem::Value)
        );
        assert_eq!(
            field_of("tasks[0].kind: invalid type: integer `3`, expected a string"),
            (Some("tasks[0].kind".to_owned()), FieldProblem::Value)
        );
        assert_eq!(
            field_of("invalid type: integer `3`, expected a map"),
            (None, FieldProblem::Value)
        );
    }
}

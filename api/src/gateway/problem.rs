//! Every error the gateway answers, as RFC 9457 problem+json with a stable
//! `code`: ONE type, [`ApiError`], mapped to a response in ONE place.
//!
//! Internal causes (database, store, projection) are logged with the
//! request's context and never sent: the client reads `internal` or
//! `unavailable` and a generic sentence.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use domain::Rejection;
use serde::Serialize;
use utoipa::ToSchema;

/// The media type of problem documents.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// An error answered as problem+json.
///
/// Build it with the constructors; each says which status it becomes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    status: StatusCode,
    code: &'static str,
    detail: String,
    field: Option<String>,
    checks: Option<serde_json::Value>,
    www_authenticate: Option<&'static str>,
}

/// An error, as RFC 9457 problem+json (`application/problem+json`).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Problem<'a> {
    /// `urn:agentos:problem:<code>`.
    #[serde(rename = "type")]
    #[schema(example = "urn:agentos:problem:auth.forbidden")]
    kind: String,
    /// The status's reason phrase.
    #[schema(example = "Forbidden")]
    title: &'a str,
    /// The HTTP status.
    #[schema(example = 403)]
    status: u16,
    /// What went wrong, for a person.
    detail: &'a str,
    /// What went wrong, for a program: a stable code (`auth.forbidden`,
    /// `request.invalid_field`, a domain rule's code such as
    /// `directive.text_empty`, `not_ready` …).
    #[schema(example = "auth.forbidden")]
    code: &'a str,
    /// The field (of the body, query, path or a header) at fault, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    /// `not_ready` only: what each readiness check found (the shape of `/readyz`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<super::health::Readiness>)]
    checks: Option<&'a serde_json::Value>,
}

impl ApiError {
    /// An error of any status and code (prefer the named constructors).
    pub fn new(status: StatusCode, code: &'static str, detail: impl Into<String>) -> Self {
        Self {
            status,
            code,
            detail: detail.into(),
            field: None,
            checks: None,
            www_authenticate: None,
        }
    }

    /// 401 with `WWW-Authenticate: Bearer`: no credentials (`auth.missing_token`).
    pub fn missing_token() -> Self {
        Self {
            www_authenticate: Some("Bearer realm=\"agentos\""),
            ..Self::new(
                StatusCode::UNAUTHORIZED,
                "auth.missing_token",
                "this endpoint needs a bearer token: Authorization: Bearer <token>",
            )
        }
    }

    /// 401: the credentials are not a well-formed bearer token (`auth.malformed_token`).
    pub fn malformed_token(detail: impl Into<String>) -> Self {
        Self {
            www_authenticate: Some("Bearer realm=\"agentos\", error=\"invalid_request\""),
            ..Self::new(StatusCode::UNAUTHORIZED, "auth.malformed_token", detail)
        }
    }

    /// 401: the token is unknown or revoked (`auth.invalid_token`).
    pub fn invalid_token() -> Self {
        Self {
            www_authenticate: Some("Bearer realm=\"agentos\", error=\"invalid_token\""),
            ..Self::new(
                StatusCode::UNAUTHORIZED,
                "auth.invalid_token",
                "the token is unknown or has been revoked",
            )
        }
    }

    /// 403: the token's role may not do this (`auth.forbidden`).
    pub fn forbidden(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "auth.forbidden", detail)
    }

    /// 400: the body is not JSON (`request.malformed_json`).
    pub fn malformed_json(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "request.malformed_json", detail)
    }

    /// 400: a field (of the body, query or path) is unknown, missing or
    /// malformed (`request.invalid_field`); `field` names it.
    pub fn invalid_field(field: impl Into<String>, detail: impl Into<String>) -> Self {
        Self {
            field: Some(field.into()),
            ..Self::new(StatusCode::BAD_REQUEST, "request.invalid_field", detail)
        }
    }

    /// 422: well-formed JSON that does not fit the request's shape
    /// (`request.invalid_field`, the field named when known).
    pub fn unprocessable_field(field: Option<String>, detail: impl Into<String>) -> Self {
        Self {
            field,
            ..Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "request.invalid_field",
                detail,
            )
        }
    }

    /// 413: the body exceeds the limit (`request.too_large`).
    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "request.too_large",
            format!("the request body exceeds {limit} bytes"),
        )
    }

    /// 415: the body is not declared as JSON (`request.unsupported_media_type`).
    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "request.unsupported_media_type",
            "send the body as JSON with Content-Type: application/json",
        )
    }

    /// 400: the request is wrong in another way (`request.invalid`).
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "request.invalid", detail)
    }

    /// 404: nothing here (`not_found`).
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", detail)
    }

    /// 405: the path exists, the method does not (`method_not_allowed`).
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "this path does not accept this method",
        )
    }

    /// 409: the request conflicts with the current state; `code` is the
    /// rule's stable code (e.g. a domain rejection's).
    pub fn conflict(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, code, detail)
    }

    /// 422: the request is well-formed but invalid; `code` says why.
    pub fn unprocessable(code: &'static str, detail: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, detail)
    }

    /// 503: a dependency is not available right now (`unavailable`); the
    /// cause is logged, not sent.
    pub fn unavailable(cause: &dyn std::fmt::Display) -> Self {
        tracing::warn!(%cause, "answering 503");
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "a service the gateway depends on is not available; retry shortly",
        )
    }

    /// 503: the process cannot serve yet (`not_ready`); `checks` says what
    /// each check found (never an internal cause).
    pub fn not_ready(detail: impl Into<String>, checks: serde_json::Value) -> Self {
        Self {
            checks: Some(checks),
            ..Self::new(StatusCode::SERVICE_UNAVAILABLE, "not_ready", detail)
        }
    }

    /// 500: a failure the client cannot act on (`internal`); the cause is
    /// logged, not sent.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(%cause, "answering 500");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the gateway failed to answer; the failure was logged",
        )
    }

    /// A domain rule's refusal: 409 with its stable code.
    pub fn rejected(rejection: &dyn Rejection) -> Self {
        Self::conflict(rejection.code(), rejection.to_string())
    }

    /// The status it becomes.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The stable code.
    pub fn code(&self) -> &'static str {
        self.code
    }

    /// The field it names, if any.
    pub fn field(&self) -> Option<&str> {
        self.field.as_deref()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let title = self.status.canonical_reason().unwrap_or("Error");
        let body = Problem {
            kind: format!("urn:agentos:problem:{}", self.code),
            title,
            status: self.status.as_u16(),
            detail: &self.detail,
            code: self.code,
            field: self.field.as_deref(),
            checks: self.checks.as_ref(),
        };
        let bytes = serde_json::to_vec(&body).unwrap_or_else(|_| {
            br#"{"type":"urn:agentos:problem:internal","title":"Internal Server Error","status":500,"detail":"the error could not be encoded","code":"internal"}"#.to_vec()
        });
        let mut response = (self.status, bytes).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
        if let Some(challenge) = self.www_authenticate {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static(challenge),
            );
        }
        response
    }
}

impl From<projections::ProjectionError> for ApiError {
    fn from(error: projections::ProjectionError) -> Self {
        use projections::ProjectionError as E;
        match &error {
            E::Database(
                sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed,
            )
            | E::Store(eventstore::StoreError::Unavailable(_)) => Self::unavailable(&error),
            _ => Self::internal(&error),
        }
    }
}

impl From<eventstore::StoreError> for ApiError {
    fn from(error: eventstore::StoreError) -> Self {
        use eventstore::StoreError as E;
        match &error {
            E::WrongExpectedVersion { .. } | E::Retry => Self::conflict(
                "stream.conflict",
                "the stream changed meanwhile; read it again and retry",
            ),
            E::CommandIdReused { .. } => Self::conflict(
                "request.idempotency_key_reused",
                "this idempotency key was already used for another request",
            ),
            E::Unavailable(_) => Self::unavailable(&error),
            _ => Self::internal(&error),
        }
    }
}

impl<R: Rejection> From<commands::HandleError<R>> for ApiError {
    /// Rejections and contention become 409, a stream of the wrong kind
    /// 422, the rest as the store's errors.
    fn from(error: commands::HandleError<R>) -> Self {
        use commands::HandleError as E;
        match error {
            E::Rejected(rejection) => Self::rejected(&rejection),
            E::Contended { .. } => Self::conflict(
                "stream.contended",
                "others kept changing the same record; retry shortly",
            ),
            E::WrongCategory { stream, expected } => Self::unprocessable(
                "request.wrong_category",
                format!("{stream} is not a {expected}"),
            ),
            E::Store(store) => store.into(),
            other @ (E::Decode { .. } | E::Encode(_)) => Self::internal(&other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("the quantity is below the minimum order")]
    struct BelowMoq;

    impl Rejection for BelowMoq {
        fn code(&self) -> &'static str {
            "po.quantity_below_moq"
        }
    }

    #[test]
    fn rejections_become_conflicts_with_their_code() {
        let error = ApiError::from(commands::HandleError::Rejected(BelowMoq));
        assert_eq!(error.status(), StatusCode::CONFLICT);
        assert_eq!(error.code(), "po.quantity_below_moq");
    }

    #[test]
    fn internal_causes_are_not_sent() {
        let error = ApiError::internal(&"password authentication failed for user x");
        assert_eq!(error.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!error.detail.contains("password"));
    }
}

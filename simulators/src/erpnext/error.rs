//! Errors the way Frappe answers them (API v1): the HTTP status of the
//! exception class, `exc_type` (its class name), `exception` (its last
//! traceback line), `exc` (a JSON-encoded list of tracebacks) and
//! `_server_messages`: a JSON-encoded list of JSON-encoded message objects
//! (`frappe.utils.response.make_logs`), so a client decodes it twice.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Map, Value};

/// One `frappe.msgprint`.
#[derive(Debug, Clone)]
struct Message {
    message: String,
    title: Option<&'static str>,
    raised: bool,
}

/// A refusal, as Frappe's `handle_exception` answers it.
#[derive(Debug, Clone)]
pub(crate) struct FrappeError {
    status: StatusCode,
    /// The exception's dotted path, e.g. `frappe.exceptions.ValidationError`.
    class: &'static str,
    messages: Vec<Message>,
    /// `frappe.flags.error_message`, set by permission checks.
    error_message: Option<String>,
}

pub(crate) const VALIDATION: &str = "frappe.exceptions.ValidationError";
pub(crate) const LINK_VALIDATION: &str = "frappe.exceptions.LinkValidationError";
pub(crate) const MANDATORY: &str = "frappe.exceptions.MandatoryError";
pub(crate) const UNIQUE_VALIDATION: &str = "frappe.exceptions.UniqueValidationError";
pub(crate) const DATA_ERROR: &str = "frappe.exceptions.DataError";
pub(crate) const UPDATE_AFTER_SUBMIT: &str = "frappe.exceptions.UpdateAfterSubmitError";
pub(crate) const DOCSTATUS_TRANSITION: &str = "frappe.exceptions.DocstatusTransitionError";
pub(crate) const LINK_EXISTS: &str = "frappe.exceptions.LinkExistsError";
pub(crate) const INVALID_QTY: &str = "erpnext.controllers.accounts_controller.InvalidQtyError";
pub(crate) const OVER_ALLOWANCE: &str = "erpnext.controllers.status_updater.OverAllowanceError";

impl FrappeError {
    /// `frappe.throw(message, exc)`: one red message, then the exception;
    /// the status is the class's `http_status_code` (417 for every
    /// `ValidationError`).
    pub fn throw(class: &'static str, message: impl Into<String>) -> Self {
        Self::thrown(StatusCode::EXPECTATION_FAILED, class, message, None)
    }

    /// `frappe.throw` with a title.
    pub fn throw_titled(
        class: &'static str,
        title: &'static str,
        message: impl Into<String>,
    ) -> Self {
        Self::thrown(StatusCode::EXPECTATION_FAILED, class, message, Some(title))
    }

    fn thrown(
        status: StatusCode,
        class: &'static str,
        message: impl Into<String>,
        title: Option<&'static str>,
    ) -> Self {
        FrappeError {
            status,
            class,
            messages: vec![Message {
                message: message.into(),
                title,
                raised: true,
            }],
            error_message: None,
        }
    }

    /// `MandatoryError` after one `msgprint` per missing field.
    pub fn mandatory(missing: Vec<String>) -> Self {
        FrappeError {
            status: StatusCode::EXPECTATION_FAILED,
            class: MANDATORY,
            messages: missing
                .into_iter()
                .map(|message| Message {
                    message,
                    title: None,
                    raised: false,
                })
                .collect(),
            error_message: None,
        }
    }

    /// `DoesNotExistError` (404): "{doctype} {name} not found".
    pub fn not_found(doctype: &str, name: &str) -> Self {
        Self::thrown(
            StatusCode::NOT_FOUND,
            "frappe.exceptions.DoesNotExistError",
            format!("{doctype} {name} not found"),
            None,
        )
    }

    /// `DoesNotExistError` (404) for an unknown DocType or method.
    pub fn no_such(message: impl Into<String>) -> Self {
        Self::thrown(
            StatusCode::NOT_FOUND,
            "frappe.exceptions.DoesNotExistError",
            message,
            None,
        )
    }

    /// `DuplicateEntryError` (409): a document of that name exists.
    pub fn duplicate_name(doctype: &str, name: &str) -> Self {
        FrappeError {
            status: StatusCode::CONFLICT,
            class: "frappe.exceptions.DuplicateEntryError",
            messages: vec![Message {
                message: format!("{doctype} <strong>{name}</strong> already exists"),
                title: Some("Duplicate Name"),
                raised: false,
            }],
            error_message: None,
        }
    }

    /// `PermissionError` (403) after a `frappe.throw`.
    pub fn permission(message: impl Into<String>) -> Self {
        Self::thrown(
            StatusCode::FORBIDDEN,
            "frappe.exceptions.PermissionError",
            message,
            Some("Not Permitted"),
        )
    }

    /// `PermissionError` (403) from `raise_no_permission_to`: no message,
    /// only `_error_message`.
    pub fn insufficient_permission(doctype: &str) -> Self {
        FrappeError {
            status: StatusCode::FORBIDDEN,
            class: "frappe.exceptions.PermissionError",
            messages: Vec::new(),
            error_message: Some(format!("Insufficient Permission for {doctype}")),
        }
    }

    /// `AuthenticationError` (401): a wrong API key or secret, raised bare.
    pub fn authentication() -> Self {
        FrappeError {
            status: StatusCode::UNAUTHORIZED,
            class: "frappe.exceptions.AuthenticationError",
            messages: Vec::new(),
            error_message: None,
        }
    }

    fn exc_type(&self) -> &'static str {
        self.class.rsplit('.').next().unwrap_or(self.class)
    }

    /// The answer's body.
    pub fn body(&self) -> Value {
        let first = self.messages.first().map(|m| m.message.as_str());
        let exception = match first {
            Some(message) if self.messages.len() == 1 => format!("{}: {message}", self.class),
            _ => self.class.to_owned(),
        };
        let traceback = format!(
            "Traceback (most recent call last):\n  File \"apps/frappe/frappe/app.py\", line 114, in application\n    response = frappe.api.handle(request)\n{exception}\n"
        );
        let mut body = Map::new();
        body.insert("exception".into(), json!(exception));
        body.insert("exc_type".into(), json!(self.exc_type()));
        body.insert("exc".into(), json!(json!([traceback]).to_string()));
        if !self.messages.is_empty() {
            let encoded: Vec<String> = self
                .messages
                .iter()
                .map(|m| {
                    let mut message = Map::new();
                    message.insert("message".into(), json!(m.message));
                    if let Some(title) = m.title {
                        message.insert("title".into(), json!(title));
                    }
                    if m.raised {
                        message.insert("indicator".into(), json!("red"));
                        message.insert("raise_exception".into(), json!(1));
                        message.insert(
                            "__frappe_exc_id".into(),
                            json!(format!("{:016x}", fastrand::u64(..))),
                        );
                    }
                    Value::Object(message).to_string()
                })
                .collect();
            body.insert("_server_messages".into(), json!(json!(encoded).to_string()));
        }
        if let Some(error_message) = &self.error_message {
            body.insert("_error_message".into(), json!(error_message));
        }
        Value::Object(body)
    }
}

impl IntoResponse for FrappeError {
    fn into_response(self) -> Response {
        (self.status, Json(self.body())).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_messages_are_a_json_list_of_json_objects() -> Result<(), serde_json::Error> {
        let body = FrappeError::throw(VALIDATION, "Row #1: bad").body();
        assert_eq!(body["exc_type"], "ValidationError");
        let outer = body["_server_messages"].as_str().unwrap_or_default();
        let list: Vec<String> = serde_json::from_str(outer)?;
        let message: Value = serde_json::from_str(&list[0])?;
        assert_eq!(message["message"], "Row #1: bad");
        assert_eq!(message["raise_exception"], 1);
        Ok(())
    }
}

//! What ERPNext's refusals mean for us.
//!
//! Frappe answers an exception with the class's HTTP status (417 for every
//! `ValidationError`, 404 `DoesNotExistError`, 403 `PermissionError`, 401
//! `AuthenticationError`, 409 `DuplicateEntryError`) and a JSON body with
//! `exc_type` (the class name, v14+), `exception` (the last traceback
//! line), `exc` (tracebacks, never shown) and `_server_messages`: a JSON
//! *string* holding a list of JSON *strings*, each a message object
//! `{"message": …, "title": …, "indicator": …}` — encoded twice.

use crate::adapters::Retryable;

/// Why ERPNext did not do what was asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErpError {
    /// 401: the API key or secret is wrong. Fix the configuration.
    #[error("ERPNext refused the API key and secret: {message}")]
    Authentication {
        /// Frappe's message, if any.
        message: String,
    },
    /// 403: the API user lacks a role for this. Fix its permissions.
    #[error("ERPNext denied permission: {message}")]
    Permission {
        /// Frappe's message.
        message: String,
    },
    /// 404: no such document (or DocType).
    #[error("ERPNext has no such document: {message}")]
    NotFound {
        /// Frappe's message, e.g. "Purchase Order PUR-ORD-2026-00009 not found".
        message: String,
    },
    /// A document with this name or unique value exists: 409
    /// `DuplicateEntryError`, or 417 `UniqueValidationError` from a unique
    /// custom field such as our purchase order id.
    #[error("ERPNext already has this document: {message}")]
    Duplicate {
        /// Frappe's message, e.g. "AgentOS PO ID must be unique".
        message: String,
    },
    /// 417: the document is invalid (a `ValidationError`): unknown item,
    /// zero quantity, a submitted document changed, an over-receipt …
    #[error("ERPNext refused the document ({exc_type}): {message}")]
    Validation {
        /// The exception's class, e.g. `LinkValidationError`, `InvalidQtyError`.
        exc_type: String,
        /// Frappe's messages, decoded and without HTML.
        message: String,
    },
    /// The document was cancelled in ERPNext; it cannot be submitted.
    #[error("{doctype} {name} is cancelled in ERPNext")]
    Cancelled {
        /// Its DocType.
        doctype: String,
        /// Its name.
        name: String,
    },
    /// 429 or 5xx (a 504 included: the request may have taken effect).
    #[error("ERPNext is unavailable ({status}): {message}")]
    Unavailable {
        /// The HTTP status.
        status: u16,
        /// Frappe's message or the body's beginning.
        message: String,
    },
    /// No answer: connection refused or lost, or the body could not be read.
    #[error("could not reach ERPNext: {0}")]
    Transport(String),
    /// The request was not sent: the caller's input cannot make a valid one.
    #[error("invalid request to ERPNext: {0}")]
    InvalidRequest(String),
    /// Any other answer, or a success whose body is not what Frappe sends.
    #[error("ERPNext answered {status} unexpectedly: {excerpt}")]
    Unexpected {
        /// The HTTP status.
        status: u16,
        /// The body's beginning.
        excerpt: String,
    },
}

impl Retryable for ErpError {
    fn is_retryable(&self) -> bool {
        matches!(self, ErpError::Unavailable { .. } | ErpError::Transport(_))
    }
}

/// How much of a body an error quotes.
const EXCERPT_CHARS: usize = 300;

/// The beginning of a body, on one line.
pub(crate) fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut out: String = text
        .chars()
        .take(EXCERPT_CHARS)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    if text.chars().count() > EXCERPT_CHARS {
        out.push('…');
    }
    out
}

/// Removes HTML tags and the common entities Frappe's messages carry
/// (`<strong>`, `<br>`, `&amp;` …).
pub(crate) fn plain(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_tag = false;
    for c in text.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => out.push(c),
            _ => {}
        }
    }
    out.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&")
        .trim()
        .to_owned()
}

/// The messages of `_server_messages`: a JSON list of JSON-encoded message
/// objects (older versions: of plain strings), each decoded, its
/// `message` taken and its HTML removed. Anything unreadable is skipped.
pub fn server_messages(raw: &str) -> Vec<String> {
    let Ok(list) = serde_json::from_str::<Vec<serde_json::Value>>(raw) else {
        return Vec::new();
    };
    list.into_iter()
        .filter_map(|entry| {
            let inner = match entry {
                serde_json::Value::String(encoded) => {
                    serde_json::from_str::<serde_json::Value>(&encoded)
                        .unwrap_or(serde_json::Value::String(encoded))
                }
                other => other,
            };
            let message = match inner {
                serde_json::Value::Object(map) => map
                    .get("message")
                    .and_then(|m| m.as_str().map(str::to_owned)),
                serde_json::Value::String(s) => Some(s),
                _ => None,
            }?;
            let message = plain(&message);
            (!message.is_empty()).then_some(message)
        })
        .collect()
}

impl ErpError {
    /// The error a non-success answer means.
    pub(crate) fn from_answer(status: u16, body: &[u8]) -> ErpError {
        let json: Option<serde_json::Value> = serde_json::from_slice(body).ok();
        let field = |key: &str| {
            json.as_ref()
                .and_then(|j| j.get(key))
                .and_then(|v| v.as_str())
                .map(str::to_owned)
        };
        let exception = field("exception");
        // `exc_type` since v14; before, the class is the start of `exception`.
        let exc_type = field("exc_type").or_else(|| {
            exception.as_deref().map(|e| {
                let class = e.split(':').next().unwrap_or(e);
                class.rsplit('.').next().unwrap_or(class).trim().to_owned()
            })
        });
        let messages = field("_server_messages")
            .map(|raw| server_messages(&raw))
            .unwrap_or_default();
        let message = if !messages.is_empty() {
            messages.join("; ")
        } else if let Some(error_message) = field("_error_message") {
            plain(&error_message)
        } else if let Some(exception) = exception.as_deref().and_then(|e| e.split_once(": ")) {
            plain(exception.1)
        } else if let Some(message) = field("message") {
            plain(&message)
        } else if json.is_some() {
            String::new()
        } else {
            excerpt(body)
        };
        let exc_type = exc_type.unwrap_or_default();
        match (status, exc_type.as_str()) {
            (_, "DuplicateEntryError" | "UniqueValidationError") | (409, _) => {
                ErpError::Duplicate { message }
            }
            (401, _) | (_, "AuthenticationError") => ErpError::Authentication { message },
            (403, _) | (_, "PermissionError") => ErpError::Permission { message },
            (404, _) | (_, "DoesNotExistError") => ErpError::NotFound { message },
            (417, _) => ErpError::Validation {
                exc_type: if exc_type.is_empty() {
                    "ValidationError".to_owned()
                } else {
                    exc_type
                },
                message,
            },
            (429 | 500..=599, _) => ErpError::Unavailable { status, message },
            _ => ErpError::Unexpected {
                status,
                excerpt: excerpt(body),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_messages_are_decoded_twice_and_lose_their_html() {
        let inner = serde_json::json!({
            "message": "Row #1: Quantity for Item <strong>BOLT</strong> cannot be zero.",
            "title": "Invalid Quantity", "indicator": "red", "raise_exception": 1,
        })
        .to_string();
        let raw = serde_json::json!([inner, "\"a plain one &amp; old\""]).to_string();
        assert_eq!(
            server_messages(&raw),
            vec![
                "Row #1: Quantity for Item BOLT cannot be zero.".to_owned(),
                "a plain one & old".to_owned()
            ]
        );
        assert!(server_messages("not json").is_empty());
    }

    #[test]
    fn refusals_become_what_a_caller_can_act_on() {
        let body = |exc_type: &str, message: &str| {
            let inner = serde_json::json!({ "message": message }).to_string();
            serde_json::json!({
                "exc_type": exc_type,
                "exception": format!("frappe.exceptions.{exc_type}: {message}"),
                "_server_messages": serde_json::json!([inner]).to_string(),
            })
            .to_string()
        };
        let validation = ErpError::from_answer(
            417,
            body("LinkValidationError", "Could not find Row #1: Item Code: X").as_bytes(),
        );
        assert_eq!(
            validation,
            ErpError::Validation {
                exc_type: "LinkValidationError".into(),
                message: "Could not find Row #1: Item Code: X".into()
            }
        );
        assert!(!validation.is_retryable());
        let unique = ErpError::from_answer(
            417,
            body("UniqueValidationError", "AgentOS PO ID must be unique").as_bytes(),
        );
        assert!(matches!(unique, ErpError::Duplicate { .. }));
        let missing =
            ErpError::from_answer(404, body("DoesNotExistError", "x not found").as_bytes());
        assert!(matches!(missing, ErpError::NotFound { .. }));
        let auth = ErpError::from_answer(401, br#"{"exc_type":"AuthenticationError"}"#);
        assert!(matches!(auth, ErpError::Authentication { .. }));
        let lost = ErpError::from_answer(504, b"upstream timed out");
        assert!(lost.is_retryable());
        assert!(matches!(
            ErpError::from_answer(418, b"teapot"),
            ErpError::Unexpected { status: 418, .. }
        ));
    }

    #[test]
    fn the_exception_line_names_the_class_of_older_versions() {
        let error = ErpError::from_answer(
            417,
            br#"{"exception":"frappe.exceptions.MandatoryError: [Purchase Order, new]: supplier"}"#,
        );
        assert_eq!(
            error,
            ErpError::Validation {
                exc_type: "MandatoryError".into(),
                message: "[Purchase Order, new]: supplier".into()
            }
        );
    }
}

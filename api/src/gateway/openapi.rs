//! The OpenAPI 3.1 document of the gateway, generated from the handlers'
//! `#[utoipa::path]` annotations and their types (`GET /openapi.json`), and
//! a page that renders it and lets a person try each operation (`GET /docs`).
//!
//! Both are public: the document describes the API's shape, which the
//! README already publishes, and holds no data; tools (client generators,
//! the docs page itself) fetch it without credentials. Every operation it
//! describes still needs its bearer token. The page is self-contained (no
//! script, style or font from elsewhere; its Content-Security-Policy
//! forbids any) so that it works offline and leaks nothing.
//!
//! Also here: the shapes of the types the gateway sends but does not own
//! (domain ids and values, the read models' rows), for the document only.

use std::borrow::Cow;
use std::sync::OnceLock;

use axum::http::{header, HeaderValue};
use axum::response::{Html, IntoResponse, Response};
use utoipa::openapi::path::Operation;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, RefOr, ResponseBuilder};
use utoipa::{Modify, OpenApi, PartialSchema, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::problem::{Problem, PROBLEM_JSON};
use super::{ApiError, AppState};

/// The name of the bearer scheme in the document.
const BEARER: &str = "bearer";
/// What the docs page may load: nothing from elsewhere.
const DOCS_CSP: &str = "default-src 'none'; script-src 'unsafe-inline'; \
     style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

/// The document and the docs page.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(document))
        .routes(routes!(docs))
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "AgentOS API",
        description = "The AgentOS gateway: the CEO's directives, approvals and stop switch; \
            the agents' health; the audit trail of the event log. Every operation but \
            `/healthz`, `/openapi.json`, `/docs` and the webhooks (signed by their sender) \
            needs `Authorization: Bearer <token>` \
            (`agentos token create`); each says which roles may call it. Errors are \
            `application/problem+json` with a stable `code`. Writes answer 202 with a \
            `checkpoint`; a read given it as `min_checkpoint` sees the write."
    ),
    components(schemas(Problem)),
    security(("bearer" = [])),
    tags(
        (name = "session", description = "Who the presented token is"),
        (name = "directives", description = "The CEO's orders, their tasks and approvals"),
        (name = "control", description = "The stop switch and the agents' health"),
        (name = "audit", description = "The event log: events, stream histories, chains, the feed"),
        (name = "logistics", description = "Purchase orders, inventory scans, stock levels needing attention, shipments, suppliers"),
        (name = "webhooks", description = "Events from external systems, authenticated by their signatures"),
        (name = "health", description = "Liveness and readiness"),
        (name = "operations", description = "Metrics"),
        (name = "documentation", description = "This document and its page"),
    ),
)]
struct Document;

/// The gateway's OpenAPI document, from the routes' annotations.
pub fn openapi() -> utoipa::openapi::OpenApi {
    let mut document = Document::openapi();
    document.merge(super::documented_routes().into_openapi());
    Conventions.modify(&mut document);
    document
}

/// What every operation shares, added once here rather than on each: the
/// bearer scheme, its 401 and 403 problems on operations that need it, and
/// problem+json as the shape of any other error.
struct Conventions;

impl Modify for Conventions {
    fn modify(&self, document: &mut utoipa::openapi::OpenApi) {
        let components = document.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "A token from `agentos token create` (`agt_` and 64 hex digits)",
                    ))
                    .build(),
            ),
        );
        let problem = |description: &str| {
            ResponseBuilder::new()
                .description(description)
                .content(
                    PROBLEM_JSON,
                    ContentBuilder::new()
                        .schema(Some(Ref::from_schema_name("Problem")))
                        .build(),
                )
                .build()
        };
        components.responses.insert(
            "Unauthorized".to_owned(),
            RefOr::T(problem(
                "No token, a malformed one, or one unknown or revoked \
                 (`auth.missing_token`, `auth.malformed_token`, `auth.invalid_token`)",
            )),
        );
        components.responses.insert(
            "Forbidden".to_owned(),
            RefOr::T(problem(
                "The token's role may not do this (`auth.forbidden`)",
            )),
        );
        components.responses.insert(
            "Problem".to_owned(),
            RefOr::T(problem(
                "An error, with a stable `code`: `request.*` (400, 413, 415, 422), \
                 `not_found`, `method_not_allowed`, a rule's code (409), `unavailable` \
                 (503), `internal` (500)",
            )),
        );
        for item in document.paths.paths.values_mut() {
            for operation in [
                &mut item.get,
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.options,
                &mut item.head,
                &mut item.patch,
                &mut item.trace,
            ]
            .into_iter()
            .flatten()
            {
                add_shared_responses(operation);
            }
        }
    }
}

/// An operation's shared responses; `security(())` on an operation makes
/// it public (`security: []`).
fn add_shared_responses(operation: &mut Operation) {
    let responses = &mut operation.responses.responses;
    match &mut operation.security {
        Some(requirements) => {
            let public = requirements.iter().all(|requirement| {
                serde_json::to_value(requirement)
                    .ok()
                    .and_then(|v| v.as_object().map(serde_json::Map::is_empty))
                    .unwrap_or(false)
            });
            if public {
                requirements.clear();
            }
        }
        None => {
            for (status, name) in [("401", "Unauthorized"), ("403", "Forbidden")] {
                responses
                    .entry(status.to_owned())
                    .or_insert_with(|| RefOr::Ref(Ref::from_response_name(name)));
            }
        }
    }
    responses
        .entry("default".to_owned())
        .or_insert_with(|| RefOr::Ref(Ref::from_response_name("Problem")));
}

/// The document, serialised once.
fn document_json() -> Option<&'static str> {
    static DOCUMENT: OnceLock<Option<String>> = OnceLock::new();
    DOCUMENT
        .get_or_init(|| match openapi().to_json() {
            Ok(json) => Some(json),
            Err(error) => {
                tracing::error!(%error, "the OpenAPI document could not be encoded");
                None
            }
        })
        .as_deref()
}

/// This document.
///
/// OpenAPI 3.1, generated from the code. Public.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "documentation",
    security(()),
    responses((status = 200, description = "The OpenAPI document",
        content_type = "application/json", body = Object)),
)]
async fn document() -> Result<Response, ApiError> {
    let json = document_json().ok_or_else(|| ApiError::internal(&"no OpenAPI document"))?;
    let mut response = json.into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(response)
}

/// The docs page.
///
/// Renders this document and lets a person try each operation with their
/// token. Public; self-contained.
#[utoipa::path(
    get,
    path = "/docs",
    tag = "documentation",
    security(()),
    responses((status = 200, description = "The docs page", content_type = "text/html", body = String)),
)]
async fn docs() -> Response {
    let mut response = Html(include_str!("docs.html")).into_response();
    response.headers_mut().insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(DOCS_CSP),
    );
    response
}

// ---- shapes of types the gateway sends but does not own ----

/// A text value of a given shape, as a schema.
fn text_schema(description: &str, pattern: Option<&str>, example: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .pattern(pattern)
        .examples([serde_json::Value::from(example)])
        .into()
}

/// A place in the global order of the log: `<transaction>:<sequence>`.
pub(crate) struct PositionShape;

impl PartialSchema for PositionShape {
    fn schema() -> RefOr<Schema> {
        text_schema(
            "A place in the global order of the log: `<transaction>:<sequence>`",
            Some("^[0-9]+:[0-9]+$"),
            "1042:0",
        )
    }
}

impl ToSchema for PositionShape {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Position")
    }
}

/// A stream: `<category>-<id>`.
pub(crate) struct StreamIdShape;

impl PartialSchema for StreamIdShape {
    fn schema() -> RefOr<Schema> {
        text_schema(
            "A stream: `<category>-<id>`",
            None,
            "directive-0190f1c2-7a4e-7c1d-9f00-1b2c3d4e5f60",
        )
    }
}

impl ToSchema for StreamIdShape {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("StreamId")
    }
}

/// A SHA-256 digest in lowercase hex.
pub(crate) struct HashShape;

impl PartialSchema for HashShape {
    fn schema() -> RefOr<Schema> {
        text_schema(
            "A SHA-256 digest in lowercase hex",
            Some("^[0-9a-f]{64}$"),
            "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        )
    }
}

impl ToSchema for HashShape {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Hash")
    }
}

/// Who acted: `user:<token name>`, `agent:<name>` or `system:<name>`.
pub(crate) struct ActorShape;

impl PartialSchema for ActorShape {
    fn schema() -> RefOr<Schema> {
        text_schema(
            "Who acted: `user:<token name>`, `agent:<name>` or `system:<name>`",
            Some("^(user|agent|system):.+$"),
            "user:ceo",
        )
    }
}

impl ToSchema for ActorShape {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Actor")
    }
}

/// Why and on whose behalf an event was written.
#[derive(ToSchema)]
#[schema(as = Metadata)]
#[allow(dead_code)]
pub(crate) struct MetadataShape {
    /// The order (or other root cause) everything here follows from.
    correlation_id: uuid::Uuid,
    /// The event or command that directly caused this one.
    causation_id: Option<uuid::Uuid>,
    /// The command whose handling appended it.
    command_id: Option<uuid::Uuid>,
    /// Who acted.
    #[schema(value_type = ActorShape)]
    actor: String,
}

/// An amount in a currency's minor unit (cents for EUR).
#[derive(ToSchema)]
#[schema(as = Money)]
#[allow(dead_code)]
pub(crate) struct MoneyShape {
    /// The amount in minor units; negative for credits.
    #[schema(example = 250000)]
    minor: i64,
    /// ISO 4217.
    #[schema(example = "EUR", pattern = "^[A-Z]{3}$")]
    currency: String,
}

/// How urgent a directive is.
#[derive(ToSchema)]
#[schema(as = Priority)]
#[allow(dead_code)]
#[schema(rename_all = "lowercase")]
pub(crate) enum PriorityShape {
    /// When there is time.
    Low,
    /// The default.
    Normal,
    /// Before normal work.
    High,
    /// Now.
    Urgent,
}

/// A decision on an approval.
#[derive(ToSchema)]
#[schema(as = Decision)]
#[allow(dead_code)]
#[schema(rename_all = "lowercase")]
pub(crate) enum DecisionShape {
    /// Go ahead.
    Approve,
    /// Do not.
    Reject,
}

/// A directive as listed (the directives read model).
#[derive(ToSchema)]
#[schema(as = Directive)]
#[allow(dead_code)]
pub(crate) struct DirectiveShape {
    /// Its id.
    id: uuid::Uuid,
    /// The order, as the CEO wrote it.
    text: String,
    /// Where it stands (`planning`, `awaiting_clarification`,
    /// `in_progress`, `completed`, `failed`, `cancelled`).
    status: String,
    /// Whether a person paused it.
    paused: bool,
    /// How urgent (`low`, `normal`, `high`, `urgent`).
    priority: String,
    /// Its deadline (RFC 3339).
    deadline: Option<String>,
    /// Its spending limit.
    #[schema(value_type = Option<MoneyShape>)]
    spending_limit: Option<String>,
    /// Who gave it.
    issued_by: String,
    /// When (RFC 3339).
    issued_at: String,
    /// The correlation id its whole story carries.
    correlation_id: String,
    /// The planner's open question.
    question: Option<String>,
    /// Which planner planned it.
    planner: Option<String>,
    /// The model, if one answered.
    model: Option<String>,
    /// The digest of the planner's prompt.
    prompt_digest: Option<String>,
    /// Model tokens its calls used (planning and departments).
    llm_tokens: i64,
    /// Their estimated cost, in millionths of a dollar.
    llm_cost_micro_usd: i64,
    /// The last failure escalated.
    escalation: Option<String>,
    /// How it ended.
    summary: Option<String>,
    /// When it last changed (RFC 3339).
    updated_at: String,
}

/// What one caller's model calls used.
#[derive(ToSchema)]
#[schema(as = LlmUsage)]
#[allow(dead_code)]
pub(crate) struct LlmUsageShape {
    /// `orchestrator` (planning), `logistics`, `finance` or `foundry`.
    caller: String,
    /// How many calls (a planning round with its retries counts once).
    calls: i64,
    /// Tokens in the prompts.
    prompt_tokens: i64,
    /// Tokens in the answers.
    completion_tokens: i64,
    /// Estimated cost, in millionths of a US dollar.
    cost_micro_usd: i64,
}

/// A task of a directive's plan.
#[derive(ToSchema)]
#[schema(as = Task)]
#[allow(dead_code)]
pub(crate) struct TaskShape {
    /// Its id.
    id: uuid::Uuid,
    /// Its directive.
    directive_id: uuid::Uuid,
    /// Its key in the plan.
    key: String,
    /// Its department.
    department: String,
    /// Its kind.
    kind: String,
    /// Its parameters.
    #[schema(value_type = Object)]
    params: String,
    /// The keys of the tasks it waits for.
    #[schema(value_type = Vec<String>)]
    depends_on: String,
    /// Where it stands.
    status: String,
    /// The policy rule that gates it.
    approval_rule: Option<String>,
    /// The approval it waits or waited for.
    approval_id: Option<String>,
    /// The last reason, summary or wait.
    note: Option<String>,
    /// The agent working on it.
    agent: Option<String>,
    /// When it last changed (RFC 3339).
    updated_at: String,
}

/// An approval as the inbox shows it.
#[derive(ToSchema)]
#[schema(as = Approval)]
#[allow(dead_code)]
pub(crate) struct ApprovalShape {
    /// Its id.
    id: uuid::Uuid,
    /// The task it gates.
    task_id: uuid::Uuid,
    /// The directive.
    directive_id: uuid::Uuid,
    /// What would be done.
    what: String,
    /// Why approval is needed.
    why: String,
    /// The money involved.
    #[schema(value_type = Option<MoneyShape>)]
    amount: Option<String>,
    /// Who asked.
    requested_by: String,
    /// When (RFC 3339).
    requested_at: String,
    /// When it lapses (RFC 3339).
    expires_at: String,
    /// `pending`, `granted`, `rejected` or `expired`.
    status: String,
    /// Who decided.
    decided_by: Option<String>,
    /// Why.
    reason: Option<String>,
    /// When (RFC 3339).
    decided_at: Option<String>,
}

//! `POST /api/v1/webhooks/carrier`: the carrier's tracking updates, as
//! EasyPost delivers them, recorded on the shipments AgentOS follows.
//!
//! No bearer token: a delivery is authenticated by its signature,
//! `X-Hmac-Signature: hmac-sha256-hex=<HMAC-SHA256 of the raw body>`, keyed
//! with the configured webhook secret ([`AppState::carrier_webhook_secret`],
//! never logged); without a secret the endpoint does not exist (404).
//!
//! A tracker's shipment is found by its carrier and tracking number
//! ([`shipment_id`]); the update is recorded with a command id derived from
//! EasyPost's event id, and the shipment remembers the event id too, so an
//! event delivered twice is recorded once. An update older than the
//! shipment's status is kept as history without moving the status back
//! (the shipment's rule). What is not ours (another tracker of the account,
//! an event about something else, a status not followed) is acknowledged
//! with 202 and ignored, so that EasyPost does not send it again.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use commands::processor::derived_id;
use commands::{Envelope, HandleError};
use domain::logistics::{Shipment, ShipmentRejection};
use domain::{Actor, Aggregate, CommandId};
use eventstore::Direction;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use agents::adapters::carrier::{verify_webhook, WebhookError};
use agents::logistics::shipments::{carrier_update, shipment_id};

use super::metrics::CommandOutcome;
use super::openapi::PositionShape;
use super::problem::Problem;
use super::{ApiError, AppState, BODY_LIMIT};

/// The actor of the updates the carrier's webhook records.
const ACTOR: &str = "carrier";

/// The webhooks' routes.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(carrier))
}

/// What a webhook delivery became.
#[derive(Debug, Serialize, ToSchema)]
struct WebhookAnswer {
    /// `recorded` (now, or by an earlier delivery of the same event) or `ignored`.
    #[schema(example = "recorded")]
    outcome: &'static str,
    /// The shipment the event is about, when it is one AgentOS follows.
    shipment_id: Option<Uuid>,
    /// Why the event was ignored.
    #[serde(skip_serializing_if = "Option::is_none")]
    reason: Option<String>,
    /// The global position of the last event written (`null` when nothing was).
    #[schema(value_type = Option<PositionShape>)]
    checkpoint: Option<String>,
    /// Whether this delivery had been recorded before: nothing new was written.
    duplicate: bool,
}

fn ignored(shipment_id: Option<Uuid>, reason: &str) -> (StatusCode, Json<WebhookAnswer>) {
    (
        StatusCode::ACCEPTED,
        Json(WebhookAnswer {
            outcome: "ignored",
            shipment_id,
            reason: Some(reason.to_owned()),
            checkpoint: None,
            duplicate: false,
        }),
    )
}

/// Records a carrier's tracking update.
///
/// EasyPost's webhook `Event` (`tracker.created`, `tracker.updated`), signed
/// with the webhook secret. Public: the signature is the authentication.
#[utoipa::path(
    post,
    path = "/api/v1/webhooks/carrier",
    tag = "webhooks",
    security(()),
    params(("X-Hmac-Signature" = String, Header,
        description = "`hmac-sha256-hex=` and the hex HMAC-SHA256 of the raw body, keyed with the webhook secret (NFKD)")),
    request_body(content = Object, content_type = "application/json",
        description = "An EasyPost `Event` whose `result` is a `Tracker`"),
    responses(
        (status = 200, description = "Recorded on its shipment (or recorded before)", body = WebhookAnswer),
        (status = 202, description = "Ignored: no shipment followed under this carrier and \
            tracking number, an event not about a tracker, or a status not followed", body = WebhookAnswer),
        (status = 400, description = "Signed, but not an EasyPost event (`webhook.unreadable`)",
            body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "No signature (`webhook.signature_missing`) or one that \
            does not match the body (`webhook.signature_invalid`)",
            body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No webhook secret is configured (`webhooks.not_configured`)",
            body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "The body exceeds 64 KiB (`request.too_large`)",
            body = Problem, content_type = "application/problem+json"),
    ),
)]
async fn carrier(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<WebhookAnswer>), ApiError> {
    let Some(secret) = state.carrier_webhook_secret.as_deref() else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "webhooks.not_configured",
            "carrier webhooks are not configured on this server",
        ));
    };
    let body = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(BODY_LIMIT)
        } else {
            ApiError::bad_request(rejection.body_text())
        }
    })?;
    let event = match verify_webhook(secret, &headers, &body) {
        Ok(event) => event,
        Err(WebhookError::MissingSignature) => {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "webhook.signature_missing",
                "the request has no X-Hmac-Signature header",
            ))
        }
        Err(WebhookError::BadSignature) => {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "webhook.signature_invalid",
                "the X-Hmac-Signature header does not match the body",
            ))
        }
        Err(WebhookError::Unreadable(why)) => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "webhook.unreadable",
                format!("the body is not an EasyPost event: {why}"),
            ))
        }
        Err(WebhookError::NotATrackerEvent(description)) => {
            tracing::debug!(%description, "carrier webhook: not about a tracker; ignored");
            return Ok(ignored(None, "the event is not about a tracker"));
        }
    };
    let tracker = &event.tracker;
    let id = shipment_id(&tracker.carrier, &tracker.tracking_code);
    let stream = Shipment::stream(id);
    let first = state
        .store
        .read_stream(&stream, 1, Direction::Forward, 1)
        .await?;
    let Some(first) = first.first() else {
        tracing::debug!(event = %event.id, tracker = %tracker.id, carrier = %tracker.carrier,
            "carrier webhook: no shipment followed under this tracker; ignored");
        return Ok(ignored(
            None,
            "no shipment is followed under this carrier and tracking number",
        ));
    };
    let Some(command) = carrier_update(&event.id, tracker) else {
        tracing::debug!(event = %event.id, status = %tracker.status,
            "carrier webhook: a status not followed; ignored");
        return Ok(ignored(
            Some(id),
            "the tracker's status is not one followed",
        ));
    };
    let envelope = Envelope {
        stream,
        command,
        command_id: CommandId::from_uuid(derived_id(&[b"carrier_webhook", event.id.as_bytes()])),
        // The shipment's story: its updates join the order's audit trail.
        correlation_id: first.metadata.correlation_id,
        causation_id: None,
        actor: Actor::System(ACTOR.to_owned()),
    };
    let handled = state.handler.handle::<Shipment>(envelope).await;
    let (outcome, events) = match &handled {
        Ok(h) if h.duplicate => (CommandOutcome::Duplicate, 0),
        Ok(h) => (CommandOutcome::Accepted, h.events),
        Err(HandleError::Rejected(_)) => (CommandOutcome::Rejected, 0),
        Err(_) => (CommandOutcome::Failed, 0),
    };
    state
        .metrics
        .record_command(Shipment::CATEGORY, outcome, events);
    match handled {
        Ok(handled) => Ok((
            StatusCode::OK,
            Json(WebhookAnswer {
                outcome: "recorded",
                shipment_id: Some(id),
                reason: None,
                checkpoint: handled.position.map(|p| p.to_string()),
                duplicate: handled.duplicate || handled.events == 0,
            }),
        )),
        Err(HandleError::Rejected(ShipmentRejection::NotFound)) => Ok(ignored(
            Some(id),
            "no shipment is followed under this carrier and tracking number",
        )),
        Err(error) => Err(error.into()),
    }
}

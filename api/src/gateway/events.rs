//! The audit trail: `GET /api/v1/events` (filtered and paginated through the
//! event-log projection), `GET /api/v1/streams/{stream_id}` (one stream's
//! history from the store, up to any version) and `GET /api/v1/feed` (new
//! events as server-sent events).

use std::collections::VecDeque;
use std::convert::Infallible;
use std::str::FromStr;
use std::time::Duration;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::Json;
use chrono::{DateTime, Utc};
use domain::time_travel;
use domain::{
    Category, CorrelationId, Hash, JsonText, Metadata, Position, RecordedEvent, StreamId,
};
use eventstore::{Direction, EventFilter, EventStore};
use futures_util::Stream;
use projections::models::event_log::{self, EventLogQuery, Order};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::openapi::{HashShape, MetadataShape, PositionShape, StreamIdShape};
use super::{ApiError, ApiQuery, AppState, Consistency, Principal, Role};

/// Who may read the audit trail.
const READERS: [Role; 4] = [Role::Auditor, Role::Ceo, Role::Operator, Role::Viewer];
/// Events per page unless `limit` says otherwise.
const DEFAULT_PAGE: u32 = 100;
/// The largest page of `/api/v1/events`.
pub const MAX_PAGE: u32 = 500;
/// The largest page of a stream's history.
const MAX_HISTORY_PAGE: u32 = 1000;
/// Events the feed reads per round trip.
const FEED_BATCH: usize = 200;
/// How long the feed waits for a change signal before reading again anyway
/// (a commit signalled by another process is only seen by reading).
const FEED_POLL: Duration = Duration::from_millis(500);
/// The longest event type accepted as a filter.
const MAX_EVENT_TYPE: usize = 128;

/// The audit-trail routes.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_events))
        .routes(routes!(stream_history))
        .routes(routes!(feed))
}

/// An event as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(as = Event)]
pub struct EventView {
    /// Its place in the global order (`<tx>:<seq>`); also the feed's event id.
    #[schema(value_type = PositionShape)]
    pub position: Position,
    /// Its stream.
    #[schema(value_type = StreamIdShape)]
    pub stream_id: StreamId,
    /// Its version in the stream (1 for the first).
    pub version: u64,
    /// Its identity.
    #[schema(value_type = uuid::Uuid)]
    pub event_id: domain::EventId,
    /// Its type.
    #[serde(rename = "type")]
    #[schema(example = "DirectiveIssued")]
    pub event_type: String,
    /// The payload's schema version.
    pub schema_version: u32,
    /// The payload, as stored.
    #[schema(value_type = Object)]
    pub payload: JsonText,
    /// Correlation, causation, command and actor.
    #[schema(value_type = MetadataShape)]
    pub metadata: Metadata,
    /// When it was recorded.
    pub recorded_at: DateTime<Utc>,
    /// The previous event's hash in its stream.
    #[schema(value_type = HashShape)]
    pub prev_hash: Hash,
    /// Its hash.
    #[schema(value_type = HashShape)]
    pub hash: Hash,
}

impl From<RecordedEvent> for EventView {
    fn from(e: RecordedEvent) -> Self {
        Self {
            position: e.position,
            stream_id: e.stream_id,
            version: e.stream_version,
            event_id: e.event_id,
            event_type: e.event_type,
            schema_version: e.schema_version,
            payload: e.payload,
            metadata: e.metadata,
            recorded_at: e.recorded_at,
            prev_hash: e.prev_hash,
            hash: e.hash,
        }
    }
}

/// The filters and page of `/api/v1/events`, as given.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct EventsParams {
    /// Only this stream's events (`<category>-<id>`).
    stream: Option<String>,
    /// Only events of streams of this category.
    category: Option<String>,
    /// Only events of this type (1-128 characters).
    event_type: Option<String>,
    /// Only events of this correlation (one order's story).
    correlation_id: Option<String>,
    /// Only events recorded at or after this time (RFC 3339).
    from: Option<DateTime<Utc>>,
    /// Only events recorded before this time (RFC 3339).
    to: Option<DateTime<Utc>>,
    /// Where the previous page's `next_cursor` said to go on.
    cursor: Option<String>,
    /// Events per page, 1-500 (default 100).
    #[param(minimum = 1, maximum = 500)]
    limit: Option<u32>,
    /// `asc` (oldest first, the default) or `desc`.
    #[param(inline)]
    order: Option<OrderParam>,
    /// Wait (up to 2 s) until the event log holds this position; the answer
    /// carries `agentos-stale-checkpoint` if it did not in time.
    #[param(value_type = Option<String>, example = "1042:0")]
    min_checkpoint: Option<Position>,
}

/// The filters of `/api/v1/feed`, as given.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct FeedParams {
    /// Only this stream's events (`<category>-<id>`).
    stream: Option<String>,
    /// Only events of streams of this category.
    category: Option<String>,
    /// Only events of this type (1-128 characters).
    event_type: Option<String>,
    /// Only events of this correlation (one order's story).
    correlation_id: Option<String>,
    /// Only events recorded at or after this time (RFC 3339).
    from: Option<DateTime<Utc>>,
    /// Only events recorded before this time (RFC 3339).
    to: Option<DateTime<Utc>>,
    /// Start after this position (`Last-Event-ID` wins); default: the end of the log.
    #[param(value_type = Option<String>, example = "1042:0")]
    after: Option<Position>,
}

impl FeedParams {
    /// The checked filters (the page's fields unused).
    fn query(&self) -> Result<EventLogQuery, ApiError> {
        EventsParams {
            stream: self.stream.clone(),
            category: self.category.clone(),
            event_type: self.event_type.clone(),
            correlation_id: self.correlation_id.clone(),
            from: self.from,
            to: self.to,
            ..EventsParams::default()
        }
        .query()
    }
}

/// `order=asc|desc`.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
enum OrderParam {
    Asc,
    Desc,
}

/// A page of the audit trail.
#[derive(Debug, Serialize, ToSchema)]
struct EventsPage {
    events: Vec<EventView>,
    /// Pass as `cursor` for the next page; `null` on the last.
    next_cursor: Option<String>,
}

impl EventsParams {
    /// The checked filters.
    fn query(&self) -> Result<EventLogQuery, ApiError> {
        let stream = parse_opt::<StreamId>("stream", self.stream.as_deref())?;
        let category = parse_opt::<Category>("category", self.category.as_deref())?;
        let correlation_id =
            parse_opt::<CorrelationId>("correlation_id", self.correlation_id.as_deref())?;
        if let Some(t) = &self.event_type {
            if t.is_empty() || t.len() > MAX_EVENT_TYPE {
                return Err(ApiError::invalid_field(
                    "event_type",
                    format!("an event type is 1-{MAX_EVENT_TYPE} characters"),
                ));
            }
        }
        let limit = self.limit.unwrap_or(DEFAULT_PAGE);
        if !(1..=MAX_PAGE).contains(&limit) {
            return Err(ApiError::invalid_field(
                "limit",
                format!("limit must be between 1 and {MAX_PAGE}"),
            ));
        }
        let after = self.cursor.as_deref().map(decode_cursor).transpose()?;
        Ok(EventLogQuery {
            stream: stream.map(|s| s.to_string()),
            category: category.map(|c| c.to_string()),
            event_type: self.event_type.clone(),
            correlation_id: correlation_id.map(|c| c.to_string()),
            from: self.from,
            to: self.to,
            after,
            order: match self.order {
                Some(OrderParam::Desc) => Order::Descending,
                _ => Order::Ascending,
            },
            limit,
        })
    }
}

/// Parses an optional parameter, naming it when it is malformed.
fn parse_opt<T: FromStr>(field: &str, value: Option<&str>) -> Result<Option<T>, ApiError>
where
    T::Err: std::fmt::Display,
{
    value
        .map(|v| v.parse::<T>())
        .transpose()
        .map_err(|e| ApiError::invalid_field(field, e.to_string()))
}

/// The opaque cursor after `position`.
fn encode_cursor(position: Position) -> String {
    hex::encode(position.to_string())
}

/// The position an opaque cursor stands after.
fn decode_cursor(cursor: &str) -> Result<Position, ApiError> {
    let invalid = || ApiError::invalid_field("cursor", "not a cursor this API returned");
    let bytes = hex::decode(cursor).map_err(|_| invalid())?;
    let text = String::from_utf8(bytes).map_err(|_| invalid())?;
    text.parse().map_err(|_| invalid())
}

/// Lists events.
///
/// The audit trail (the event-log read model), filtered, a page at a
/// time. Roles: all.
#[utoipa::path(
    get,
    path = "/api/v1/events",
    tag = "audit",
    params(EventsParams),
    responses(
        (status = 200, description = "A page of events", body = EventsPage,
            headers(("agentos-stale-checkpoint" = String,
                description = "Set when the read model had not reached `min_checkpoint`: the checkpoint it had"))),
        (status = 503, description = "The event log is still being built (`projection.not_ready`)",
            body = super::problem::Problem, content_type = "application/problem+json"),
    ),
)]
async fn list_events(
    State(state): State<AppState>,
    principal: Principal,
    ApiQuery(params): ApiQuery<EventsParams>,
) -> Result<(Consistency, Json<EventsPage>), ApiError> {
    principal.require(&READERS)?;
    let mut query = params.query()?;
    let consistency = state
        .wait_for_checkpoint(event_log::NAME, params.min_checkpoint)
        .await?;
    let page = query.limit as usize;
    query.limit += 1;
    let mut events = match event_log::query(&state.db, &query).await {
        Ok(events) => events,
        Err(error) => return Err(event_log_failure(&state, error).await),
    };
    let next_cursor = if events.len() > page {
        events.truncate(page);
        events.last().map(|e| encode_cursor(e.position))
    } else {
        None
    };
    Ok((
        consistency,
        Json(EventsPage {
            events: events.into_iter().map(EventView::from).collect(),
            next_cursor,
        }),
    ))
}

/// A failed event-log query: 503 while the projection has no generation
/// yet (its runner has not started), else the error itself.
async fn event_log_failure(state: &AppState, error: projections::ProjectionError) -> ApiError {
    match event_log::active_checkpoint(&state.db, event_log::NAME).await {
        Ok(None) => ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            "projection.not_ready",
            "the event log is still being built; retry shortly",
        ),
        _ => error.into(),
    }
}

/// The query of a stream's history.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct HistoryParams {
    /// The version the history stops at (default: the current version).
    #[param(minimum = 1)]
    as_of: Option<u64>,
    /// The first version to show (default 1).
    #[param(minimum = 1)]
    from: Option<u64>,
    /// Events per page, 1-1000 (default 1000).
    #[param(minimum = 1, maximum = 1000)]
    limit: Option<u32>,
}

/// One stream's history.
#[derive(Debug, Serialize, ToSchema)]
struct History {
    #[schema(value_type = StreamIdShape)]
    stream_id: StreamId,
    category: String,
    /// The stream's current version.
    version: u64,
    /// The version the history stops at.
    as_of: u64,
    events: Vec<EventView>,
    /// The `from` of the next page, if the history goes on.
    next_from: Option<u64>,
    /// The aggregate's state at `as_of`, folded from versions 1 to `as_of`
    /// by the aggregate's own rules (time travel); `null` for a category
    /// that is not an aggregate's.
    #[schema(value_type = Option<Object>)]
    state: Option<serde_json::Value>,
    /// Why `state` is `null` for an aggregate's stream: the event the
    /// aggregate's rules cannot read.
    state_error: Option<String>,
}

/// Shows a stream's history.
///
/// One stream's events from the store, from `from` (default 1) up to
/// `as_of` (default: the current version), a page at a time. Roles: all.
#[utoipa::path(
    get,
    path = "/api/v1/streams/{stream_id}",
    tag = "audit",
    params(
        ("stream_id" = String, Path, description = "The stream (`<category>-<id>`)"),
        HistoryParams,
    ),
    responses(
        (status = 200, description = "The history", body = History),
        (status = 404, description = "No such stream (`not_found`)",
            body = super::problem::Problem, content_type = "application/problem+json"),
        (status = 422, description = "`as_of` beyond the stream's version (`request.invalid_field`)",
            body = super::problem::Problem, content_type = "application/problem+json"),
    ),
)]
async fn stream_history(
    State(state): State<AppState>,
    principal: Principal,
    stream: Result<Path<String>, PathRejection>,
    ApiQuery(params): ApiQuery<HistoryParams>,
) -> Result<Json<History>, ApiError> {
    principal.require(&READERS)?;
    let Path(stream) = stream.map_err(|e| ApiError::invalid_field("stream_id", e.body_text()))?;
    let stream: StreamId = stream
        .parse()
        .map_err(|e: domain::InvalidId| ApiError::invalid_field("stream_id", e.to_string()))?;
    let limit = params.limit.unwrap_or(MAX_HISTORY_PAGE);
    if !(1..=MAX_HISTORY_PAGE).contains(&limit) {
        return Err(ApiError::invalid_field(
            "limit",
            format!("limit must be between 1 and {MAX_HISTORY_PAGE}"),
        ));
    }
    let from = params.from.unwrap_or(1);
    if from == 0 {
        return Err(ApiError::invalid_field("from", "versions start at 1"));
    }
    let head = state
        .store
        .stream_head(&stream)
        .await?
        .ok_or_else(|| ApiError::not_found(format!("no stream {stream}")))?;
    let as_of = params.as_of.unwrap_or(head.version);
    if as_of == 0 || as_of > head.version {
        return Err(ApiError::unprocessable_field(
            Some("as_of".to_owned()),
            format!(
                "as_of must be a version between 1 and {} (the stream's current version)",
                head.version
            ),
        ));
    }
    let mut events = if from > as_of {
        Vec::new()
    } else {
        let wanted = (as_of - from + 1).min(u64::from(limit)) as usize;
        state
            .store
            .read_stream(&stream, from, Direction::Forward, wanted)
            .await?
    };
    events.retain(|e| e.stream_version <= as_of);
    let next_from = events
        .last()
        .map(|e| e.stream_version + 1)
        .filter(|next| *next <= as_of);
    let (folded, state_error) = state_at(&*state.store, &stream, as_of).await?;
    Ok(Json(History {
        category: stream.category().to_owned(),
        stream_id: stream,
        version: head.version,
        as_of,
        events: events.into_iter().map(EventView::from).collect(),
        next_from,
        state: folded,
        state_error,
    }))
}

/// The state of the aggregate of `stream` at version `as_of`, if its
/// category is an aggregate's, or why it cannot be folded (a history the
/// rules cannot read stays readable event by event).
async fn state_at(
    store: &dyn EventStore,
    stream: &StreamId,
    as_of: u64,
) -> Result<(Option<serde_json::Value>, Option<String>), ApiError> {
    if !time_travel::CATEGORIES.contains(&stream.category()) {
        return Ok((None, None));
    }
    let mut history = Vec::new();
    while (history.len() as u64) < as_of {
        let from = history.len() as u64 + 1;
        let wanted = (as_of - from + 1).min(u64::from(MAX_HISTORY_PAGE)) as usize;
        let page = store
            .read_stream(stream, from, Direction::Forward, wanted)
            .await?;
        if page.is_empty() {
            break;
        }
        history.extend(page.into_iter().filter(|e| e.stream_version <= as_of));
    }
    Ok(
        match time_travel::state_after(stream.category(), &history) {
            Ok(state) => (state, None),
            Err(error) => (None, Some(error.to_string())),
        },
    )
}

/// Follows new events.
///
/// New events as server-sent events (`text/event-stream`), each with its
/// position as `id` and the event as `data`; the filters of
/// `/api/v1/events`. It starts after `Last-Event-ID` or `after` if given,
/// else at the end of the event log. Roles: all.
#[utoipa::path(
    get,
    path = "/api/v1/feed",
    tag = "audit",
    params(
        FeedParams,
        ("Last-Event-ID" = Option<String>, Header,
            description = "Resume after this position (`<tx>:<seq>`), as browsers send on reconnect"),
    ),
    responses(
        (status = 200, description = "An endless stream of `id: <position>` / `data: <Event as JSON>` messages",
            content_type = "text/event-stream", body = String),
    ),
)]
async fn feed(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    ApiQuery(params): ApiQuery<FeedParams>,
) -> Result<Sse<impl Stream<Item = Result<SseEvent, Infallible>>>, ApiError> {
    principal.require(&READERS)?;
    let query = params.query()?;
    let last_event_id = headers
        .get("last-event-id")
        .map(|v| {
            v.to_str()
                .ok()
                .and_then(|v| v.parse::<Position>().ok())
                .ok_or_else(|| {
                    ApiError::invalid_field(
                        "Last-Event-ID",
                        "expected an event position <tx>:<seq>",
                    )
                })
        })
        .transpose()?;
    let start = match last_event_id.or(params.after) {
        Some(at) => at,
        None => match event_log::last_position(&state.db).await {
            Ok(last) => last.unwrap_or(Position::START),
            Err(error) => return Err(event_log_failure(&state, error).await),
        },
    };
    let filter = EventFilter {
        categories: query.category.iter().cloned().collect(),
        event_types: query.event_type.iter().cloned().collect(),
    };
    let follow = Follow {
        state: state.clone(),
        query,
        filter,
        after: start,
        pending: VecDeque::new(),
    };
    let closing = state.closing();
    let stream = futures_util::stream::unfold(follow, move |mut follow| {
        let mut closing = closing.clone();
        async move {
            // The feed ends when the server shuts down, so that graceful
            // shutdown does not wait for its clients to leave.
            tokio::select! {
                event = follow.next() => Some((Ok(event), follow)),
                _ = closing.wait_for(|closed| *closed) => None,
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// The feed's reader: the store's global order after a position, filtered.
struct Follow {
    state: AppState,
    query: EventLogQuery,
    filter: EventFilter,
    after: Position,
    pending: VecDeque<RecordedEvent>,
}

impl Follow {
    /// The next matching event, or a comment when the store failed (the
    /// client keeps its connection; the read is retried).
    async fn next(&mut self) -> SseEvent {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return sse_event(event);
            }
            let mut changes = self.state.store.changes();
            changes.borrow_and_update();
            match self
                .state
                .store
                .read_all(self.after, FEED_BATCH, &self.filter)
                .await
            {
                Ok(batch) => {
                    self.after = batch.next;
                    let found = !batch.events.is_empty();
                    self.pending = batch
                        .events
                        .into_iter()
                        .filter(|e| self.admits(e))
                        .collect();
                    if found || batch.beyond_horizon {
                        if batch.beyond_horizon && self.pending.is_empty() {
                            tokio::time::sleep(Duration::from_millis(10)).await;
                        }
                        continue;
                    }
                }
                Err(error) => {
                    tracing::warn!(%error, "feed: reading the store failed; retrying");
                    tokio::time::sleep(FEED_POLL).await;
                    return SseEvent::default().comment("retrying");
                }
            }
            let _ = tokio::time::timeout(FEED_POLL, changes.changed()).await;
        }
    }

    /// Whether an event passes the filters the store does not apply.
    fn admits(&self, e: &RecordedEvent) -> bool {
        let q = &self.query;
        q.stream
            .as_deref()
            .is_none_or(|s| s == e.stream_id.as_str())
            && q.correlation_id
                .as_deref()
                .is_none_or(|c| c == e.metadata.correlation_id.to_string())
            && q.from.is_none_or(|from| e.recorded_at >= from)
            && q.to.is_none_or(|to| e.recorded_at < to)
    }
}

/// An event as a server-sent event: its position as id, its view as data.
fn sse_event(event: RecordedEvent) -> SseEvent {
    let id = event.position.to_string();
    let view = EventView::from(event);
    match SseEvent::default().id(id).json_data(&view) {
        Ok(sse) => sse,
        Err(error) => {
            tracing::error!(%error, "feed: an event could not be encoded");
            SseEvent::default().comment("an event could not be encoded")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_anything_else() {
        let at = Position::new(41, 7);
        assert_eq!(decode_cursor(&encode_cursor(at)).ok(), Some(at));
        for bad in ["", "zz", "3a", &hex::encode("7"), &hex::encode("a:b")] {
            let error = decode_cursor(bad).expect_err(bad);
            assert_eq!(error.field(), Some("cursor"));
        }
    }
}

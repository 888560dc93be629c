//! `GET /metrics`: this process's figures in the Prometheus text exposition
//! format 0.0.4, written by hand (a few families; no registry needed).
//!
//! Two kinds of figure: what the gateway counts itself ([`Metrics`]: HTTP
//! requests by method, matched route and status with a duration
//! histogram; commands sent and events they appended), and what the
//! processors, projections, stop switch and NATS connection of this process
//! report through their status channels, read at scrape time.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue, Method};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use commands::processor::ProcessorStatus;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::health::{nats_state, processor_state, projection_lag_seconds, projection_state};
use super::{ApiError, AppState, Principal, Role};

/// The media type of the text exposition format.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";
/// The upper bounds (seconds) of the request duration histogram's buckets.
const DURATION_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
/// The route label of requests no route matched (their paths are not
/// labels: a scanner would create a series per path).
const UNMATCHED: &str = "unmatched";

/// The metrics route.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(scrape))
}

/// What the gateway counts; cheap to clone, shared by every request.
#[derive(Clone, Default)]
pub struct Metrics {
    inner: Arc<Mutex<Counted>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

/// The counts behind [`Metrics`].
#[derive(Default)]
struct Counted {
    /// (method, route) → requests by status and their durations.
    requests: BTreeMap<(&'static str, String), RouteFigures>,
    /// (aggregate, outcome) → commands.
    commands: BTreeMap<(&'static str, &'static str), u64>,
    /// aggregate → events appended by commands.
    events: BTreeMap<&'static str, u64>,
}

/// One route's requests.
#[derive(Default)]
struct RouteFigures {
    by_status: BTreeMap<u16, u64>,
    /// Requests at most each bucket's bound (not cumulative here).
    buckets: [u64; DURATION_BUCKETS.len()],
    count: u64,
    sum_seconds: f64,
}

/// What became of a command the gateway sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CommandOutcome {
    /// Decided and appended (or decided to change nothing).
    Accepted,
    /// Its command id had been handled before: nothing new was written.
    Duplicate,
    /// A business rule refused it.
    Rejected,
    /// It failed otherwise (contention, the store).
    Failed,
}

impl CommandOutcome {
    fn as_str(self) -> &'static str {
        match self {
            CommandOutcome::Accepted => "accepted",
            CommandOutcome::Duplicate => "duplicate",
            CommandOutcome::Rejected => "rejected",
            CommandOutcome::Failed => "failed",
        }
    }
}

impl Metrics {
    fn counted(&self) -> std::sync::MutexGuard<'_, Counted> {
        // A panic while counting leaves counts that are still counts.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Counts a request to `route` (its matched pattern) answered with `status`.
    pub fn record_request(&self, method: &Method, route: &str, status: u16, seconds: f64) {
        let mut counted = self.counted();
        let figures = counted
            .requests
            .entry((method_label(method), route.to_owned()))
            .or_default();
        *figures.by_status.entry(status).or_default() += 1;
        if let Some(i) = DURATION_BUCKETS.iter().position(|bound| seconds <= *bound) {
            figures.buckets[i] += 1;
        }
        figures.count += 1;
        figures.sum_seconds += seconds;
    }

    /// Counts a command sent to an aggregate of `category` and the events it appended.
    pub fn record_command(&self, category: &'static str, outcome: CommandOutcome, events: u64) {
        let mut counted = self.counted();
        *counted
            .commands
            .entry((category, outcome.as_str()))
            .or_default() += 1;
        if events > 0 {
            *counted.events.entry(category).or_default() += events;
        }
    }

    /// The gateway's own families, in the exposition format.
    fn write(&self, out: &mut Exposition) {
        let counted = self.counted();
        out.family(
            "agentos_http_requests_total",
            "counter",
            "HTTP requests answered, by method, matched route and status.",
        );
        for ((method, route), figures) in &counted.requests {
            for (status, n) in &figures.by_status {
                let status = status.to_string();
                out.sample(
                    "agentos_http_requests_total",
                    &[("method", method), ("route", route), ("status", &status)],
                    *n,
                );
            }
        }
        out.family(
            "agentos_http_request_duration_seconds",
            "histogram",
            "Time to answer (to the response head; a feed's stream goes on after), by method and matched route.",
        );
        for ((method, route), figures) in &counted.requests {
            let labels = [("method", *method), ("route", route.as_str())];
            let mut cumulative = 0;
            for (bound, n) in DURATION_BUCKETS.iter().zip(figures.buckets) {
                cumulative += n;
                let le = bound.to_string();
                out.sample(
                    "agentos_http_request_duration_seconds_bucket",
                    &[labels[0], labels[1], ("le", &le)],
                    cumulative,
                );
            }
            out.sample(
                "agentos_http_request_duration_seconds_bucket",
                &[labels[0], labels[1], ("le", "+Inf")],
                figures.count,
            );
            out.sample(
                "agentos_http_request_duration_seconds_sum",
                &labels,
                figures.sum_seconds,
            );
            out.sample(
                "agentos_http_request_duration_seconds_count",
                &labels,
                figures.count,
            );
        }
        out.family(
            "agentos_commands_total",
            "counter",
            "Commands the gateway sent, by aggregate and outcome (accepted, duplicate, rejected, failed).",
        );
        for ((aggregate, outcome), n) in &counted.commands {
            out.sample(
                "agentos_commands_total",
                &[("aggregate", aggregate), ("outcome", outcome)],
                *n,
            );
        }
        out.family(
            "agentos_events_appended_total",
            "counter",
            "Events appended by the commands the gateway sent, by aggregate.",
        );
        for (aggregate, n) in &counted.events {
            out.sample(
                "agentos_events_appended_total",
                &[("aggregate", aggregate)],
                *n,
            );
        }
    }
}

/// The method as a label: the standard ones, else `other` (methods are
/// free text; labels must stay few).
fn method_label(method: &Method) -> &'static str {
    const KNOWN: [(Method, &str); 9] = [
        (Method::GET, "GET"),
        (Method::HEAD, "HEAD"),
        (Method::POST, "POST"),
        (Method::PUT, "PUT"),
        (Method::DELETE, "DELETE"),
        (Method::PATCH, "PATCH"),
        (Method::OPTIONS, "OPTIONS"),
        (Method::TRACE, "TRACE"),
        (Method::CONNECT, "CONNECT"),
    ];
    KNOWN
        .iter()
        .find(|(known, _)| known == method)
        .map_or("other", |(_, label)| label)
}

/// Counts every request by method, matched route and status, and times it.
pub(crate) async fn track_requests(
    State(metrics): State<Metrics>,
    request: Request,
    next: Next,
) -> Response {
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| UNMATCHED.to_owned(), |p| p.as_str().to_owned());
    let started = Instant::now();
    let response = next.run(request).await;
    metrics.record_request(
        &method,
        &route,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// Prometheus metrics.
///
/// Text exposition format 0.0.4: HTTP requests and their durations,
/// commands sent and events appended, each processor's and projection's
/// progress, failures and lag, the stop switch and NATS. Roles: operator,
/// auditor.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses((status = 200, description = "The figures",
        content_type = "text/plain; version=0.0.4", body = String)),
)]
async fn scrape(State(state): State<AppState>, principal: Principal) -> Result<Response, ApiError> {
    principal.require(&[Role::Operator, Role::Auditor])?;
    let mut out = Exposition::default();
    state.metrics.write(&mut out);
    write_processors(&state, &mut out);
    write_projections(&state, &mut out);
    out.family(
        "agentos_stop_engaged",
        "gauge",
        "1 while the stop switch is engaged, as this process follows it.",
    );
    if let Some(stop) = &state.stop {
        out.sample("agentos_stop_engaged", &[], u64::from(*stop.borrow()));
    }
    out.family(
        "agentos_nats_connected",
        "gauge",
        "1 while this process is connected to NATS (absent when it does not use NATS).",
    );
    if state.nats.is_some() {
        let connected = nats_state(state.nats.as_ref()) == "connected";
        out.sample("agentos_nats_connected", &[], u64::from(connected));
    }
    let mut response = out.text.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    Ok(response)
}

/// A processor counter: its name, help and how to read it from a status.
type ProcessorCounter = (&'static str, &'static str, fn(&ProcessorStatus) -> u64);

/// The processors' families.
fn write_processors(state: &AppState, out: &mut Exposition) {
    let statuses: Vec<_> = state
        .processors
        .iter()
        .map(|(name, status)| {
            (
                name.as_str(),
                status.borrow().clone(),
                processor_state(status),
            )
        })
        .collect();
    let counters: [ProcessorCounter; 4] = [
        (
            "agentos_processor_handled_total",
            "Events a processor handled and acknowledged (dead letters included).",
            |s| s.handled,
        ),
        (
            "agentos_processor_commands_total",
            "Commands a processor sent.",
            |s| s.commands,
        ),
        (
            "agentos_processor_retried_total",
            "Deliveries a processor failed and retried.",
            |s| s.retried,
        ),
        (
            "agentos_processor_dead_letters_total",
            "Events a processor gave up on.",
            |s| s.dead_lettered,
        ),
    ];
    for (name, help, value) in counters {
        out.family(name, "counter", help);
        for (processor, status, _) in &statuses {
            out.sample(name, &[("processor", processor)], value(status));
        }
    }
    out.family(
        "agentos_processor_lag_events",
        "gauge",
        "Events waiting behind the last one a processor handled (when its bus knows).",
    );
    for (processor, status, _) in &statuses {
        if let Some(lag) = status.lag_events {
            out.sample(
                "agentos_processor_lag_events",
                &[("processor", processor)],
                lag,
            );
        }
    }
    out.family(
        "agentos_processor_lag_seconds",
        "gauge",
        "How long after it was recorded a processor handled its last event.",
    );
    for (processor, status, _) in &statuses {
        out.sample(
            "agentos_processor_lag_seconds",
            &[("processor", processor)],
            status.lag_seconds,
        );
    }
    out.family(
        "agentos_processor_state",
        "gauge",
        "1 for the state a processor is in (starting, running, retrying, halted by the stop switch, stopped).",
    );
    for (processor, _, current) in &statuses {
        out.sample(
            "agentos_processor_state",
            &[("processor", processor), ("state", current)],
            1u64,
        );
    }
}

/// The projections' families.
fn write_projections(state: &AppState, out: &mut Exposition) {
    let statuses: Vec<_> = state
        .projections
        .iter()
        .map(|(name, status)| {
            (
                name.as_str(),
                status.borrow().clone(),
                projection_state(status),
            )
        })
        .collect();
    out.family(
        "agentos_projection_applied_total",
        "counter",
        "Events a projection's runner applied (all generations).",
    );
    for (projection, status, _) in &statuses {
        out.sample(
            "agentos_projection_applied_total",
            &[("projection", projection)],
            status.applied,
        );
    }
    out.family(
        "agentos_projection_failures_total",
        "counter",
        "Failures a projection's runner retried.",
    );
    for (projection, status, _) in &statuses {
        out.sample(
            "agentos_projection_failures_total",
            &[("projection", projection)],
            status.failures,
        );
    }
    out.family(
        "agentos_projection_lag_events",
        "gauge",
        "Events after a projection's checkpoint, as last counted.",
    );
    for (projection, status, _) in &statuses {
        out.sample(
            "agentos_projection_lag_events",
            &[("projection", projection)],
            status.lag_events,
        );
    }
    out.family(
        "agentos_projection_lag_seconds",
        "gauge",
        "Age of the oldest event a projection has not applied yet (0 when caught up).",
    );
    for (projection, status, _) in &statuses {
        out.sample(
            "agentos_projection_lag_seconds",
            &[("projection", projection)],
            projection_lag_seconds(status),
        );
    }
    out.family(
        "agentos_projection_state",
        "gauge",
        "1 for the state a projection's runner is in (starting, catching_up, live, retrying, outdated, stopped).",
    );
    for (projection, _, current) in &statuses {
        out.sample(
            "agentos_projection_state",
            &[("projection", projection), ("state", current)],
            1u64,
        );
    }
}

/// A value of a sample.
pub(crate) trait SampleValue {
    /// Its text in the exposition format.
    fn write_to(&self, out: &mut String);
}

impl SampleValue for u64 {
    fn write_to(&self, out: &mut String) {
        let _ = write!(out, "{self}");
    }
}

impl SampleValue for f64 {
    fn write_to(&self, out: &mut String) {
        if self.is_nan() {
            out.push_str("NaN");
        } else if self.is_infinite() {
            out.push_str(if *self > 0.0 { "+Inf" } else { "-Inf" });
        } else {
            let _ = write!(out, "{self}");
        }
    }
}

/// The text of a scrape being written.
#[derive(Default)]
pub(crate) struct Exposition {
    text: String,
}

impl Exposition {
    /// Starts a family: its `# HELP` and `# TYPE` lines.
    pub(crate) fn family(&mut self, name: &str, kind: &str, help: &str) {
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.text, "# HELP {name} {help}");
        let _ = writeln!(self.text, "# TYPE {name} {kind}");
    }

    /// One sample: `name{label="value",…} value`, label values escaped.
    pub(crate) fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: impl SampleValue) {
        self.text.push_str(name);
        if !labels.is_empty() {
            self.text.push('{');
            for (i, (label, value)) in labels.iter().enumerate() {
                if i > 0 {
                    self.text.push(',');
                }
                self.text.push_str(label);
                self.text.push_str("=\"");
                escape_label_value(value, &mut self.text);
                self.text.push('"');
            }
            self.text.push('}');
        }
        self.text.push(' ');
        value.write_to(&mut self.text);
        self.text.push('\n');
    }
}

/// A label value as the format wants it: `\`, `"` and line feeds escaped.
fn escape_label_value(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_and_help_are_escaped() {
        let mut out = Exposition::default();
        out.family("x_total", "counter", "a \\ b\nc");
        out.sample(
            "x_total",
            &[("a", "q\"uote"), ("b", "back\\slash\nline")],
            3u64,
        );
        assert_eq!(
            out.text,
            "# HELP x_total a \\\\ b\\nc\n# TYPE x_total counter\n\
             x_total{a=\"q\\\"uote\",b=\"back\\\\slash\\nline\"} 3\n"
        );
    }

    #[test]
    fn special_floats_use_the_formats_spelling() {
        for (value, text) in [
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
            (0.25, "0.25"),
            (3.0, "3"),
        ] {
            let mut out = String::new();
            value.write_to(&mut out);
            assert_eq!(out, text);
        }
    }

    #[test]
    fn the_histogram_is_cumulative_and_ends_with_inf() {
        let metrics = Metrics::default();
        for seconds in [0.001, 0.2, 0.2, 60.0] {
            metrics.record_request(&Method::GET, "/x", 200, seconds);
        }
        let mut out = Exposition::default();
        metrics.write(&mut out);
        let line = |le: &str| {
            format!("agentos_http_request_duration_seconds_bucket{{method=\"GET\",route=\"/x\",le=\"{le}\"}}")
        };
        for (le, n) in [
            ("0.005", 1),
            ("0.1", 1),
            ("0.25", 3),
            ("10", 3),
            ("+Inf", 4),
        ] {
            assert!(
                out.text.contains(&format!("{} {n}\n", line(le))),
                "{le}: {}",
                out.text
            );
        }
        assert!(out.text.contains(
            "agentos_http_requests_total{method=\"GET\",route=\"/x\",status=\"200\"} 4\n"
        ));
    }

    #[test]
    fn unknown_methods_share_one_label() {
        let custom = Method::from_bytes(b"BREW").expect("a valid method token");
        assert_eq!(method_label(&custom), "other");
        assert_eq!(method_label(&Method::DELETE), "DELETE");
    }
}

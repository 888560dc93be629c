//! The relay: every committed event, in gap-safe global order, published to
//! one NATS JetStream stream, exactly once as far as any consumer can tell.
//!
//! - **Order.** Events are read with a [`Subscription`] (gap-safe, catch-up
//!   then live) and published in that order on one connection.
//! - **Pipelining.** Up to [`RelayConfig::max_in_flight`] publishes wait for
//!   their acknowledgement at once; acknowledgements are taken in order. Each
//!   publish names its predecessor's id (`Nats-Expected-Last-Msg-Id`), so a
//!   message lost with a broken connection is never overtaken by a later one
//!   resent after an automatic reconnect: JetStream refuses the later one.
//! - **Checkpoint.** `relay_checkpoints` moves only past events JetStream has
//!   acknowledged, so a relay that dies resumes there. The overlap it publishes
//!   again carries the same `Nats-Msg-Id` (the event id) and is dropped by the
//!   stream's duplicate window; consumers also check stream versions.
//! - **Lease.** One relay per name and log (schema) is active: it holds a session advisory lock
//!   on a dedicated connection and writes its checkpoint on that connection
//!   only, so a relay whose lease connection is gone can no longer move the
//!   checkpoint. Others wait as hot standbys and take over when the lock frees
//!   (PostgreSQL releases it as soon as the holder's connection closes).
//! - **Outages.** A NATS or PostgreSQL outage is retried with backoff and shown
//!   in [`RelayStatus`]; the relay never gives up and never crash-loops.

use std::future::IntoFuture;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::jetstream::{self, context::PublishAckFuture};
use async_nats::HeaderMap;
use domain::{Position, RecordedEvent};
use futures_util::stream::{FuturesOrdered, StreamExt};
use sqlx::postgres::PgConnection;
use sqlx::{Connection, Row};
use tokio::sync::watch;

use crate::bus::jetstream::StreamLayout;
use crate::postgres::PgStore;
use crate::{Backoff, EventFilter, EventStore, StoreError, Subscription};

/// The advisory-lock namespace of relay leases (the appender marker of
/// gap-safe reads uses the one before it).
const LEASE_LOCK: i32 = 1_095_189_335;
/// How often an idle relay checks that its lease connection is alive.
const LEASE_CHECK: Duration = Duration::from_secs(1);

/// Headers every relayed message carries besides `Nats-Msg-Id`: what a
/// consumer filters or traces by without parsing the body. The stream is in
/// the subject; its version and the causation id are in the body (which is
/// the whole recorded event); repeating them cost the relay about 7 % of its
/// throughput (`agentos bench relay`, 68k → 73k events/s).
pub mod headers {
    /// The event type.
    pub const EVENT_TYPE: &str = "AgentOS-Event-Type";
    /// The payload's schema version.
    pub const SCHEMA_VERSION: &str = "AgentOS-Schema-Version";
    /// The event's global position (`tx:seq`), a checkpoint in the store.
    pub const POSITION: &str = "AgentOS-Position";
    /// The correlation id.
    pub const CORRELATION_ID: &str = "AgentOS-Correlation-Id";
}

/// How a relay runs.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// The lease and checkpoint name: one active relay per name.
    pub name: String,
    /// The JetStream stream, its subjects and partitions (created or updated on start).
    pub layout: StreamLayout,
    /// Publishes awaiting acknowledgement at most.
    pub max_in_flight: usize,
    /// Events read from the store per batch.
    pub read_batch: usize,
    /// How often the checkpoint is written while events flow.
    pub checkpoint_interval: Duration,
    /// How long an unacknowledged publish may take before the relay restarts.
    pub ack_timeout: Duration,
    /// How often a standby tries to take the lease.
    pub standby_poll: Duration,
    /// The longest pause between attempts after a failure.
    pub max_backoff: Duration,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            name: "default".to_owned(),
            layout: StreamLayout::default(),
            max_in_flight: 512,
            read_batch: 1000,
            checkpoint_interval: Duration::from_millis(100),
            ack_timeout: Duration::from_secs(5),
            standby_poll: Duration::from_millis(250),
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// What a relay is doing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RelayState {
    /// Not yet started.
    Starting,
    /// Another relay holds the lease; this one takes over when it goes.
    Standby,
    /// Holding the lease and publishing.
    Active,
    /// Waiting to retry after a failure (see [`RelayStatus::last_error`]).
    Retrying,
}

/// A relay's health, for health checks and metrics.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelayStatus {
    /// What it is doing.
    pub state: RelayState,
    /// Every event up to here has been acknowledged by JetStream.
    pub checkpoint: Position,
    /// Events acknowledged since this relay started.
    pub published: u64,
    /// Of those, how many JetStream reported as duplicates (the overlap after a restart).
    pub duplicates: u64,
    /// The last failure, if the relay is retrying.
    pub last_error: Option<String>,
}

/// Why one active period of the relay ended.
#[derive(Debug, thiserror::Error)]
enum RelayError {
    #[error("event store: {0}")]
    Store(#[from] StoreError),
    #[error("NATS: {0}")]
    Nats(String),
}

/// Database errors are classified as the store classifies them.
impl From<sqlx::Error> for RelayError {
    fn from(error: sqlx::Error) -> Self {
        Self::Store(error.into())
    }
}

fn nats(error: impl std::fmt::Display) -> RelayError {
    RelayError::Nats(error.to_string())
}

/// Publishes the event store to NATS JetStream.
pub struct Relay {
    store: PgStore,
    client: async_nats::Client,
    config: RelayConfig,
    status: watch::Sender<RelayStatus>,
}

type AckFuture = Pin<Box<dyn std::future::Future<Output = (Position, AckResult)> + Send>>;
/// The acknowledgement, or why there is none (the context's ack timeout included).
type AckResult = Result<jetstream::publish::PublishAck, String>;

impl Relay {
    /// A relay over `store` publishing through `client`.
    pub fn new(store: PgStore, client: async_nats::Client, config: RelayConfig) -> Self {
        let (status, _) = watch::channel(RelayStatus {
            state: RelayState::Starting,
            checkpoint: Position::START,
            published: 0,
            duplicates: 0,
            last_error: None,
        });
        Self {
            store,
            client,
            config,
            status,
        }
    }

    /// Follows the relay's health.
    pub fn status(&self) -> watch::Receiver<RelayStatus> {
        self.status.subscribe()
    }

    /// Runs until the task is dropped: waits for the lease, publishes, and
    /// after any failure starts again from the checkpoint.
    pub async fn run(self) {
        let mut backoff = Backoff::new(Duration::from_millis(50), self.config.max_backoff);
        loop {
            match self.active_period().await {
                Ok(()) => backoff.reset(),
                Err(error) => {
                    tracing::warn!(relay = %self.config.name, %error, "relay interrupted; retrying");
                    self.status.send_modify(|s| {
                        s.state = RelayState::Retrying;
                        s.last_error = Some(error.to_string());
                    });
                    backoff.wait().await;
                }
            }
        }
    }

    /// Takes the lease (waiting as a standby), then publishes until a failure.
    async fn active_period(&self) -> Result<(), RelayError> {
        let mut lease = self.take_lease().await?;
        let context = jetstream::ContextBuilder::new()
            .timeout(self.config.ack_timeout)
            .max_ack_inflight(self.config.max_in_flight.max(1) * 2)
            .build(self.client.clone());
        self.config
            .layout
            .ensure_stream(&context)
            .await
            .map_err(|e| RelayError::Nats(e.to_string()))?;
        let checkpoint = read_checkpoint(&mut lease, &self.config.name).await?;
        self.status.send_modify(|s| {
            s.state = RelayState::Active;
            s.checkpoint = checkpoint;
            s.last_error = None;
        });
        tracing::info!(relay = %self.config.name, %checkpoint, "relay active");
        self.publish_from(&context, &mut lease, checkpoint).await
    }

    /// A connection holding this relay's lease; waits while another holds it.
    async fn take_lease(&self) -> Result<PgConnection, RelayError> {
        let mut standby = false;
        loop {
            let mut connection = self.store.pool().acquire().await?.detach();
            // One lease per name and log: relays of logs in other schemas
            // of the same database do not wait for each other.
            let taken: bool = sqlx::query_scalar(
                "SELECT pg_try_advisory_lock($1, hashtext(current_schema() || '/' || $2))",
            )
            .bind(LEASE_LOCK)
            .bind(&self.config.name)
            .fetch_one(&mut connection)
            .await?;
            if taken {
                // Checkpoint writes need not wait for the WAL flush: one lost
                // in a database crash only means re-publishing events the
                // duplicate window drops, and the publishing loop never
                // stalls on a disk flush.
                sqlx::query("SET synchronous_commit = off")
                    .execute(&mut connection)
                    .await?;
                return Ok(connection);
            }
            drop(connection.close().await);
            if !standby {
                standby = true;
                tracing::info!(relay = %self.config.name, "another relay is active; standing by");
                self.status.send_modify(|s| s.state = RelayState::Standby);
            }
            tokio::time::sleep(self.config.standby_poll).await;
        }
    }

    async fn publish_from(
        &self,
        context: &jetstream::Context,
        lease: &mut PgConnection,
        checkpoint: Position,
    ) -> Result<(), RelayError> {
        let mut events = Prefetch::start(
            &self.store,
            checkpoint,
            self.config.read_batch,
            self.config.layout.clone(),
        );
        let mut in_flight: FuturesOrdered<AckFuture> = FuturesOrdered::new();
        let mut acked = checkpoint;
        let mut saved = checkpoint;
        // Acknowledged since the last save, and how many of them were duplicates.
        let mut unsaved = 0_u64;
        let mut duplicates = 0_u64;
        let mut last_save = Instant::now();
        let mut heartbeat = tokio::time::interval(
            self.config
                .checkpoint_interval
                .max(Duration::from_millis(10)),
        );
        heartbeat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // The first publish of a period goes alone; each later one states the
        // id of the one before it (`Nats-Expected-Last-Msg-Id`), so a publish
        // lost with a broken connection can never be overtaken by a later one:
        // JetStream rejects the later one and the relay starts again from its
        // checkpoint. Duplicates are recognised before that check.
        let mut previous: Option<String> = None;
        let mut warmed_up = false;
        loop {
            let room = if warmed_up {
                in_flight.len() < self.config.max_in_flight.max(1)
            } else {
                previous.is_none()
            };
            tokio::select! {
                biased;
                Some((position, result)) = in_flight.next(), if !in_flight.is_empty() => {
                    let ack = result.map_err(RelayError::Nats)?;
                    acked = position;
                    unsaved += 1;
                    duplicates += u64::from(ack.duplicate);
                    warmed_up = true;
                }
                read = events.next(), if room => {
                    let Outgoing { id, subject, mut publish, resume } = read?;
                    if let Some(previous) = previous.take() {
                        publish = publish.expected_last_message_id(previous);
                    }
                    previous = Some(id);
                    let ack = context
                        .send_publish(subject, publish)
                        .await
                        .map_err(nats)?;
                    in_flight.push_back(Box::pin(acknowledged(ack, resume)));
                }
                _ = heartbeat.tick() => {}
            }
            let due = last_save.elapsed() >= self.config.checkpoint_interval;
            let progress = acked != saved || unsaved > 0;
            if due && !progress && last_save.elapsed() >= LEASE_CHECK {
                // Idle: make sure the lease still holds.
                sqlx::query("SELECT 1").execute(&mut *lease).await?;
                last_save = Instant::now();
            }
            if due && progress {
                // Written on the lease connection: a relay that lost it cannot write.
                save_checkpoint(lease, &self.config.name, acked, unsaved).await?;
                self.status.send_modify(|s| {
                    s.checkpoint = acked;
                    s.published += unsaved;
                    s.duplicates += duplicates;
                });
                saved = acked;
                unsaved = 0;
                duplicates = 0;
                last_save = Instant::now();
            }
        }
    }

    /// The message that carries an event: the recorded event as JSON, its id
    /// as `Nats-Msg-Id`, and the [`headers`].
    pub fn message(
        event: &RecordedEvent,
    ) -> Result<jetstream::message::PublishMessage, StoreError> {
        let mut map = HeaderMap::new();
        map.insert(headers::EVENT_TYPE, event.event_type.as_str());
        map.insert(
            headers::SCHEMA_VERSION,
            event.schema_version.to_string().as_str(),
        );
        map.insert(headers::POSITION, event.position.to_string().as_str());
        map.insert(
            headers::CORRELATION_ID,
            event.metadata.correlation_id.to_string().as_str(),
        );
        let body = serde_json::to_vec(event)
            .map_err(|e| StoreError::Corrupt(format!("event {}: {e}", event.event_id)))?;
        Ok(jetstream::message::PublishMessage::build()
            .headers(map)
            .message_id(event.event_id.to_string())
            .payload(body.into()))
    }
}

/// An event ready to publish.
struct Outgoing {
    /// Its id, which the next publish names as its predecessor.
    id: String,
    subject: String,
    publish: jetstream::message::PublishMessage,
    /// The checkpoint to resume after once it is acknowledged.
    resume: Position,
}

type Prepared = Result<Vec<Outgoing>, StoreError>;

/// Reads the store and builds the messages ahead of the publisher, on a task
/// of its own.
///
/// The read runs apart from the publishing loop's `select!`, so an
/// acknowledgement arriving mid-read never cancels a query (which would cost
/// the connection and the work done), and reading and encoding the next
/// events overlap publishing the current ones. Whole batches cross the
/// channel: one hand-over per read, not per event.
struct Prefetch {
    receiver: tokio::sync::mpsc::Receiver<Prepared>,
    reader: tokio::task::JoinHandle<()>,
    current: std::collections::VecDeque<Outgoing>,
}

impl Prefetch {
    fn start(store: &PgStore, checkpoint: Position, batch: usize, layout: StreamLayout) -> Self {
        let store: Arc<dyn EventStore> = Arc::new(store.clone());
        let mut events =
            Subscription::new(store, checkpoint, EventFilter::all()).with_batch_size(batch);
        let (sender, receiver) = tokio::sync::mpsc::channel(2);
        let reader = tokio::spawn(async move {
            loop {
                let prepared = match events.next_batch().await {
                    Ok((batch, after)) => prepare(&layout, batch, after),
                    Err(error) => Err(error),
                };
                let failed = prepared.is_err();
                if sender.send(prepared).await.is_err() || failed {
                    return;
                }
            }
        });
        Self {
            receiver,
            reader,
            current: std::collections::VecDeque::new(),
        }
    }

    /// The next message to publish; cancel-safe.
    async fn next(&mut self) -> Result<Outgoing, StoreError> {
        if self.current.is_empty() {
            let batch = self.receiver.recv().await.unwrap_or_else(|| {
                Err(StoreError::Unavailable(
                    "the relay's reader stopped".to_owned(),
                ))
            })?;
            self.current = batch.into();
        }
        self.current.pop_front().ok_or_else(|| {
            StoreError::Unavailable("the relay's reader sent an empty batch".to_owned())
        })
    }
}

/// The messages of a batch; resuming after an event re-reads nothing handed
/// out before it (after the last one, `after` is where the read ended).
fn prepare(layout: &StreamLayout, batch: Vec<RecordedEvent>, after: Position) -> Prepared {
    let last = batch.len().saturating_sub(1);
    batch
        .into_iter()
        .enumerate()
        .map(|(i, event)| {
            Ok(Outgoing {
                id: event.event_id.to_string(),
                subject: layout.subject(&event),
                publish: Relay::message(&event)?,
                resume: if i == last { after } else { event.position },
            })
        })
        .collect()
}

impl Drop for Prefetch {
    fn drop(&mut self) {
        self.reader.abort();
    }
}

/// Waits for one acknowledgement, tagged with the checkpoint it allows. The
/// wait is bounded by the JetStream context's timeout (the relay's ack timeout).
async fn acknowledged(ack: PublishAckFuture, resume: Position) -> (Position, AckResult) {
    let result = ack.into_future().await.map_err(|e| e.to_string());
    (resume, result)
}

/// The event a relayed message carries (its body is the recorded event as JSON).
pub fn decode_message(body: &[u8]) -> Result<RecordedEvent, serde_json::Error> {
    serde_json::from_slice(body)
}

async fn read_checkpoint(lease: &mut PgConnection, name: &str) -> Result<Position, StoreError> {
    let row = sqlx::query("SELECT tx_id, seq FROM relay_checkpoints WHERE name = $1")
        .bind(name)
        .fetch_optional(&mut *lease)
        .await?;
    Ok(match row {
        Some(row) => {
            let (tx, seq): (i64, i64) = (row.try_get(0)?, row.try_get(1)?);
            Position::new(tx.max(0) as u64, seq.max(0) as u64)
        }
        None => Position::START,
    })
}

async fn save_checkpoint(
    lease: &mut PgConnection,
    name: &str,
    at: Position,
    published: u64,
) -> Result<(), RelayError> {
    sqlx::query(
        "INSERT INTO relay_checkpoints (name, tx_id, seq, published) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (name) DO UPDATE SET tx_id = excluded.tx_id, seq = excluded.seq, \
         published = relay_checkpoints.published + excluded.published, updated_at = now()",
    )
    .bind(name)
    .bind(crate::row::sql_int(at.tx))
    .bind(crate::row::sql_int(at.seq))
    .bind(crate::row::sql_int(published))
    .execute(&mut *lease)
    .await?;
    Ok(())
}

/// The stored checkpoint of the relay called `name`, for lag reports and tests.
pub async fn checkpoint(store: &PgStore, name: &str) -> Result<Position, StoreError> {
    let mut connection = store.pool().acquire().await?;
    read_checkpoint(&mut connection, name).await
}

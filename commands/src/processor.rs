//! Event processors: the agents' way of reacting to events.
//!
//! A [`Processor`] names the events it wants and turns each into commands.
//! A [`ProcessorRunner`] feeds it from a [`Bus`] (JetStream in production,
//! the store itself in embedded mode) and sends what it returns through the
//! [`CommandHandler`], with the event as causation, its correlation id, and a
//! command id derived from (processor, event id, index). The store records
//! each command id in the same transaction as the events the command
//! appended, permanently; that record is the processor's inbox. An event
//! delivered twice, or handled again after a crash, therefore changes nothing
//! the second time.
//!
//! An event's commands for different streams are appended in one
//! transaction ([`EventStore::append_all`]): all of its effects commit, or
//! none does, and at the cost of one commit. Commands that address one
//! stream more than once go one by one, each decided on the state the one
//! before left.
//!
//! The delivery is acknowledged only after every command is committed. A
//! handler that errs or panics, or a store that fails, gets the event again
//! after a backoff; after [`ProcessorConfig::max_deliveries`] attempts (or at
//! once, when a business rule rejected a command, which no retry changes) the
//! event is recorded as [`DeadLettered`] in the processor's dead-letter
//! stream and acknowledged, so the processor moves on.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use domain::dead_letter::{self, DeadLetterEvent, DeadLettered};
use domain::{
    Actor, Aggregate, Category, CommandId, DomainEvent, EventId, Metadata, Position, RecordedEvent,
    StreamId,
};
use eventstore::bus::{Bus, BusError, Consumer, ConsumerSpec, Delivery};
use eventstore::{AppendRequest, Backoff, EventFilter, EventStore, ExpectedVersion};
use sha2::{Digest, Sha256};
use tokio::sync::{watch, Semaphore};
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::{check_category, CommandHandler, Decided, Envelope, HandleError, Handled, ToAppend};

/// What a handler can fail with.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

/// Reacts to events by sending commands.
#[async_trait]
pub trait Processor: Send + Sync + 'static {
    /// The name: the durable consumer's name, the actor of the commands it
    /// sends (`agent:<name>`) and part of their ids. Letters, digits, `_` or `-`.
    fn name(&self) -> &str;

    /// The events it wants.
    fn filter(&self) -> EventFilter;

    /// The commands one event calls for. Called again for the same event
    /// after a failure, so it must decide the same way given the same event
    /// (decisions that depend on the outside world are themselves events).
    async fn handle(&self, event: &RecordedEvent) -> Result<Vec<Command>, HandlerError>;
}

/// A command for some aggregate, as a processor returns it.
pub struct Command {
    inner: Box<dyn Dispatch>,
    refusal_expected: bool,
}

impl Command {
    /// A command for the aggregate `A` at `stream`.
    pub fn new<A: Aggregate>(stream: StreamId, command: A::Command) -> Self
    where
        A::Command: 'static,
    {
        Self {
            inner: Box::new(Typed::<A> { stream, command }),
            refusal_expected: false,
        }
    }

    /// Marks a command whose refusal by a business rule is an expected
    /// outcome, not a failure: e.g. cancelling a task that may have ended
    /// meanwhile. A refusal is logged and the next command is sent; the
    /// event is not dead-lettered.
    pub fn refusal_expected(mut self) -> Self {
        self.refusal_expected = true;
        self
    }
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Command({})", self.inner.stream())
    }
}

/// Why sending a command failed.
#[derive(Debug)]
enum SendError {
    /// A business rule refused it: retrying cannot help.
    Rejected(String),
    /// Anything else: worth another attempt.
    Failed(String),
}

#[async_trait]
trait Dispatch: Send + Sync {
    fn stream(&self) -> &StreamId;
    /// Handles the command alone.
    async fn dispatch(
        self: Box<Self>,
        handler: &CommandHandler,
        context: Context,
    ) -> Result<Handled, SendError>;
    /// Decides the command, for an append together with others.
    async fn decide(
        &self,
        handler: &CommandHandler,
        context: &Context,
        fresh: bool,
    ) -> Result<Decided, SendError>;
}

struct Typed<A: Aggregate> {
    stream: StreamId,
    command: A::Command,
}

/// What every command sent for one event shares, and its own id.
struct Context {
    command_id: CommandId,
    event: Arc<RecordedEvent>,
    actor: Actor,
}

#[async_trait]
impl<A: Aggregate> Dispatch for Typed<A>
where
    A::Command: 'static,
{
    fn stream(&self) -> &StreamId {
        &self.stream
    }

    async fn dispatch(
        self: Box<Self>,
        handler: &CommandHandler,
        context: Context,
    ) -> Result<Handled, SendError> {
        let envelope = context.envelope(self.stream, self.command);
        handler.handle::<A>(envelope).await.map_err(send_error)
    }

    async fn decide(
        &self,
        handler: &CommandHandler,
        context: &Context,
        fresh: bool,
    ) -> Result<Decided, SendError> {
        let envelope = context.envelope(self.stream.clone(), &self.command);
        check_category::<A, _>(&envelope).map_err(send_error)?;
        handler
            .decide::<A>(&envelope, fresh)
            .await
            .map_err(send_error)
    }
}

fn send_error<R: domain::Rejection>(error: HandleError<R>) -> SendError {
    match error {
        HandleError::Rejected(r) => SendError::Rejected(format!("{}: {r}", r.code())),
        HandleError::WrongCategory { .. } => SendError::Rejected(error.to_string()),
        other => SendError::Failed(other.to_string()),
    }
}

impl Context {
    /// A command's envelope: in the event's story, caused by it.
    fn envelope<C>(&self, stream: StreamId, command: C) -> Envelope<C> {
        Envelope {
            stream,
            command,
            command_id: self.command_id,
            correlation_id: self.event.metadata.correlation_id,
            causation_id: Some(self.event.event_id.as_uuid()),
            actor: self.actor.clone(),
        }
    }
}

/// A deterministic id from named parts (SHA-256, as a version 8 UUID).
pub fn derived_id(parts: &[&[u8]]) -> Uuid {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    let digest = hasher.finalize();
    let mut bytes = [0_u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    Uuid::new_v8(bytes)
}

/// The id of the `index`th command a processor sends for an event.
pub fn command_id(processor: &str, event: EventId, index: usize) -> CommandId {
    CommandId::from_uuid(derived_id(&[
        b"command",
        processor.as_bytes(),
        event.as_uuid().as_bytes(),
        &(index as u64).to_be_bytes(),
    ]))
}

/// The stream where a processor's dead letters go.
pub fn dead_letter_stream(processor: &str) -> StreamId {
    let category = Category::new(dead_letter::CATEGORY)
        .unwrap_or_else(|_| unreachable!("{} is a valid category", dead_letter::CATEGORY));
    StreamId::new(
        &category,
        derived_id(&[b"dead_letter", processor.as_bytes()]),
    )
}

/// How a processor runs.
#[derive(Debug, Clone)]
pub struct ProcessorConfig {
    /// Deliveries of one event before it is dead-lettered.
    pub max_deliveries: u32,
    /// The pause before the second delivery; it doubles for each later one.
    pub retry_base: Duration,
    /// The longest pause between deliveries.
    pub retry_max: Duration,
    /// How long a delivery may go unsettled before the bus delivers it again.
    pub ack_wait: Duration,
    /// The longest pause before reopening the consumer after the bus failed.
    pub reconnect_max: Duration,
}

impl Default for ProcessorConfig {
    fn default() -> Self {
        Self {
            max_deliveries: 5,
            retry_base: Duration::from_millis(100),
            retry_max: Duration::from_secs(10),
            ack_wait: Duration::from_secs(30),
            reconnect_max: Duration::from_secs(5),
        }
    }
}

impl ProcessorConfig {
    /// The pause after the `attempt`th delivery failed.
    pub fn retry_delay(&self, attempt: u32) -> Duration {
        self.retry_base
            .saturating_mul(1 << attempt.saturating_sub(1).min(16))
            .min(self.retry_max)
    }
}

/// Whether a processor is reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcessorState {
    /// Opening its consumer.
    Starting,
    /// Reading and handling events.
    Running,
    /// The bus failed; reopening after a pause (see [`ProcessorStatus::last_error`]).
    Retrying,
}

/// A processor's health and lag, for health checks and metrics.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessorStatus {
    /// What it is doing.
    pub state: ProcessorState,
    /// Events handled and acknowledged (dead letters included).
    pub handled: u64,
    /// Commands sent.
    pub commands: u64,
    /// Deliveries that failed and were retried.
    pub retried: u64,
    /// Events given up on.
    pub dead_lettered: u64,
    /// The position of the last event handled.
    pub last_position: Option<Position>,
    /// Events waiting behind the last one handled, when the bus knows.
    pub lag_events: Option<u64>,
    /// How long after it was recorded the last event was handled.
    pub lag_seconds: f64,
    /// The last failure.
    pub last_error: Option<String>,
    /// Whether the stop switch holds it (it takes no new event until lifted).
    pub halted: bool,
}

/// Runs one processor on a bus.
pub struct ProcessorRunner {
    shared: Arc<Shared>,
    bus: Arc<dyn Bus>,
}

struct Shared {
    processor: Arc<dyn Processor>,
    commands: CommandHandler,
    store: Arc<dyn EventStore>,
    config: ProcessorConfig,
    status: watch::Sender<ProcessorStatus>,
    stop: watch::Receiver<bool>,
}

impl ProcessorRunner {
    /// A runner feeding `processor` from `bus`, sending its commands to `store`.
    pub fn new(
        processor: Arc<dyn Processor>,
        bus: Arc<dyn Bus>,
        store: Arc<dyn EventStore>,
        config: ProcessorConfig,
    ) -> Self {
        let (status, _) = watch::channel(ProcessorStatus {
            state: ProcessorState::Starting,
            handled: 0,
            commands: 0,
            retried: 0,
            dead_lettered: 0,
            last_position: None,
            lag_events: None,
            lag_seconds: 0.0,
            last_error: None,
            halted: false,
        });
        Self {
            shared: Arc::new(Shared {
                processor,
                commands: CommandHandler::new(Arc::clone(&store)),
                store,
                config,
                status,
                stop: watch::channel(false).1,
            }),
            bus,
        }
    }

    /// Obeys a stop switch: while it reads `true` the runner takes no new
    /// event (what is under way finishes), and goes on once it is lifted.
    pub fn stopped_by(mut self, stop: watch::Receiver<bool>) -> Self {
        if let Some(shared) = Arc::get_mut(&mut self.shared) {
            shared.stop = stop;
        }
        self
    }

    /// Sends its commands through `handler` (over the same store), so that
    /// the states it remembers are shared with whatever else uses it: a
    /// process that handles a command and then the events it caused decides
    /// on the state it appended, instead of reading the stream again.
    pub fn sending_through(mut self, handler: CommandHandler) -> Self {
        if let Some(shared) = Arc::get_mut(&mut self.shared) {
            shared.commands = handler;
        }
        self
    }

    /// Follows the processor's health.
    pub fn status(&self) -> watch::Receiver<ProcessorStatus> {
        self.shared.status.subscribe()
    }

    /// Runs until the task is dropped; a failing bus is reopened with backoff.
    pub async fn run(self) {
        let name = self.shared.processor.name().to_owned();
        let spec = ConsumerSpec {
            ack_wait: self.shared.config.ack_wait,
            ..ConsumerSpec::new(name.clone(), self.shared.processor.filter())
        };
        let parallelism = self.bus.parallelism().max(1);
        let mut backoff = Backoff::new(Duration::from_millis(50), self.shared.config.reconnect_max);
        loop {
            let error = match self.bus.consumer(&spec).await {
                Ok(mut consumer) => {
                    self.shared
                        .status
                        .send_modify(|s| s.state = ProcessorState::Running);
                    backoff.reset();
                    self.consume(consumer.as_mut(), parallelism).await
                }
                Err(error) => error,
            };
            tracing::warn!(processor = %name, %error, "bus failed; reopening the consumer");
            self.shared.status.send_modify(|s| {
                s.state = ProcessorState::Retrying;
                s.last_error = Some(error.to_string());
            });
            backoff.wait().await;
        }
    }

    /// Handles deliveries, up to `parallelism` at once, until the bus fails.
    async fn consume(&self, consumer: &mut dyn Consumer, parallelism: usize) -> BusError {
        let permits = Arc::new(Semaphore::new(parallelism));
        let mut tasks = JoinSet::new();
        let mut stop = self.shared.stop.clone();
        loop {
            if *stop.borrow_and_update() {
                tracing::info!(processor = %self.shared.name(), "halted by the stop switch");
                self.shared.status.send_modify(|s| s.halted = true);
                // A dropped switch keeps its last value: stay halted.
                while *stop.borrow_and_update() {
                    if stop.changed().await.is_err() {
                        std::future::pending::<()>().await;
                    }
                }
                self.shared.status.send_modify(|s| s.halted = false);
            }
            let delivery = match consumer.next().await {
                Ok(delivery) => delivery,
                Err(error) => return error,
            };
            let Ok(permit) = Arc::clone(&permits).acquire_owned().await else {
                unreachable!("the semaphore is never closed");
            };
            while tasks.try_join_next().is_some() {}
            let shared = Arc::clone(&self.shared);
            tasks.spawn(async move {
                shared.settle(delivery).await;
                drop(permit);
            });
        }
    }
}

impl Shared {
    fn name(&self) -> &str {
        self.processor.name()
    }

    /// Handles one delivery and settles it.
    async fn settle(&self, delivery: Delivery) {
        let event = Arc::new(delivery.event.clone());
        let failure = match self.attempt(&event).await {
            Ok(sent) => {
                self.acknowledge(delivery, sent, false).await;
                return;
            }
            Err(failure) => failure,
        };
        let (error, final_attempt) = match failure {
            SendError::Rejected(error) => (error, true),
            SendError::Failed(error) => {
                let last = delivery.attempt >= self.config.max_deliveries;
                (error, last)
            }
        };
        tracing::warn!(processor = %self.name(), event = %event.event_id, attempt = delivery.attempt,
            %error, "handling failed");
        self.status
            .send_modify(|s| s.last_error = Some(error.clone()));
        if final_attempt {
            match self.dead_letter(&event, delivery.attempt, &error).await {
                Ok(()) => {
                    self.acknowledge(delivery, 0, true).await;
                    return;
                }
                Err(store_error) => {
                    tracing::error!(processor = %self.name(), event = %event.event_id,
                        error = %store_error, "cannot record the dead letter; retrying");
                }
            }
        }
        self.status.send_modify(|s| s.retried += 1);
        let pause = self.config.retry_delay(delivery.attempt);
        if let Err(error) = delivery.retry(pause).await {
            // Unsettled: the bus delivers it again after the ack wait.
            tracing::warn!(processor = %self.name(), %error, "cannot ask for a redelivery");
        }
    }

    /// Calls the handler (a panic counts as an error) and sends its commands.
    async fn attempt(&self, event: &Arc<RecordedEvent>) -> Result<u64, SendError> {
        let processor = Arc::clone(&self.processor);
        let handled = Arc::clone(event);
        let commands = tokio::spawn(async move { processor.handle(&handled).await })
            .await
            .map_err(|join| SendError::Failed(panic_message(join)))?
            .map_err(|error| SendError::Failed(format!("the handler failed: {error}")))?;
        let mut streams = std::collections::HashSet::new();
        if commands.len() > 1 && commands.iter().all(|c| streams.insert(c.inner.stream())) {
            return self.send_together(event, &commands).await;
        }
        let mut sent = 0;
        for (index, command) in commands.into_iter().enumerate() {
            let context = self.context(event, index);
            let stream = command.inner.stream().clone();
            match command.inner.dispatch(&self.commands, context).await {
                Ok(_) => sent += 1,
                Err(SendError::Rejected(refusal)) if command.refusal_expected => {
                    tracing::debug!(processor = %self.name(), event = %event.event_id,
                        %stream, %refusal, "an expected refusal");
                }
                Err(error) => return Err(error),
            }
        }
        Ok(sent)
    }

    fn context(&self, event: &Arc<RecordedEvent>, index: usize) -> Context {
        Context {
            command_id: command_id(self.name(), event.event_id, index),
            event: Arc::clone(event),
            actor: Actor::Agent(self.name().to_owned()),
        }
    }

    /// Commands for different streams, appended in one transaction: an
    /// event's effects are all committed or none is (an order's tasks, a
    /// task's approval request with its wait), at the cost of one commit.
    /// A refusal that is not expected sends none of them. A conflict on any
    /// stream decides them all again on the streams as read.
    async fn send_together(
        &self,
        event: &Arc<RecordedEvent>,
        commands: &[Command],
    ) -> Result<u64, SendError> {
        let attempts = self.commands.policy.attempts;
        let contexts: Vec<Context> = (0..commands.len())
            .map(|index| self.context(event, index))
            .collect();
        for attempt in 0..attempts {
            let fresh = attempt > 0;
            let mut sent = 0;
            let mut appends: Vec<ToAppend> = Vec::new();
            for (command, context) in commands.iter().zip(&contexts) {
                match command.inner.decide(&self.commands, context, fresh).await {
                    Ok(Decided::Done(_)) => sent += 1,
                    Ok(Decided::Append(append)) => appends.push(append),
                    Err(SendError::Rejected(refusal)) if command.refusal_expected => {
                        tracing::debug!(processor = %self.name(), event = %event.event_id,
                            stream = %command.inner.stream(), %refusal, "an expected refusal");
                    }
                    Err(error) => return Err(error),
                }
            }
            let appended = self
                .commands
                .append_decided(appends, attempt)
                .await
                .map_err(|e| SendError::Failed(e.to_string()))?;
            if let Some(handled) = appended {
                return Ok(sent + handled.len() as u64);
            }
        }
        Err(SendError::Failed(format!(
            "the streams of {} commands kept changing; gave up after {} attempts",
            commands.len(),
            attempts
        )))
    }

    async fn dead_letter(
        &self,
        event: &RecordedEvent,
        deliveries: u32,
        error: &str,
    ) -> Result<(), eventstore::StoreError> {
        let letter = DeadLetterEvent::DeadLettered(DeadLettered {
            processor: self.name().to_owned(),
            event_id: event.event_id,
            event_type: event.event_type.clone(),
            stream_id: event.stream_id.clone(),
            stream_version: event.stream_version,
            position: event.position,
            deliveries,
            error: error.to_owned(),
            dead_lettered_at: Utc::now(),
        });
        let id = CommandId::from_uuid(derived_id(&[
            b"dead_letter",
            self.name().as_bytes(),
            event.event_id.as_uuid().as_bytes(),
        ]));
        let encoded = letter
            .encode(EventId::from_uuid(Uuid::now_v7()))
            .map_err(|e| eventstore::StoreError::InvalidAppend(e.to_string()))?;
        self.store
            .append(AppendRequest {
                stream: dead_letter_stream(self.name()),
                expected: ExpectedVersion::Any,
                events: vec![encoded],
                metadata: Metadata {
                    correlation_id: event.metadata.correlation_id,
                    causation_id: Some(event.event_id.as_uuid()),
                    command_id: Some(id),
                    actor: Actor::Agent(self.name().to_owned()),
                },
            })
            .await?;
        tracing::error!(processor = %self.name(), event = %event.event_id, deliveries,
            %error, "event dead-lettered");
        Ok(())
    }

    async fn acknowledge(&self, delivery: Delivery, sent: u64, dead: bool) {
        let position = delivery.event.position;
        let lag = (Utc::now() - delivery.event.recorded_at)
            .to_std()
            .unwrap_or_default()
            .as_secs_f64();
        let pending = delivery.pending;
        if let Err(error) = delivery.ack().await {
            // The effect is committed; a redelivery finds the command ids taken.
            tracing::warn!(processor = %self.name(), %error, "acknowledgement failed");
        }
        self.status.send_modify(|s| {
            s.handled += 1;
            s.commands += sent;
            s.dead_lettered += u64::from(dead);
            s.last_position = Some(position);
            s.lag_events = pending;
            s.lag_seconds = lag;
        });
    }
}

fn panic_message(join: tokio::task::JoinError) -> String {
    if !join.is_panic() {
        return "the handler was cancelled".to_owned();
    }
    let payload = join.into_panic();
    let text = payload
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| payload.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a non-text panic".to_owned());
    format!("the handler panicked: {text}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_ids_are_stable_and_distinct() {
        let event = EventId::from_uuid(Uuid::nil());
        assert_eq!(command_id("a", event, 0), command_id("a", event, 0));
        assert_ne!(command_id("a", event, 0), command_id("a", event, 1));
        assert_ne!(command_id("a", event, 0), command_id("b", event, 0));
        // Length prefixes keep ("ab", "c") and ("a", "bc") apart.
        assert_ne!(derived_id(&[b"ab", b"c"]), derived_id(&[b"a", b"bc"]));
        assert_eq!(derived_id(&[b"x"]).get_version_num(), 8);
        assert_eq!(dead_letter_stream("a"), dead_letter_stream("a"));
        assert_ne!(dead_letter_stream("a"), dead_letter_stream("b"));
    }

    #[test]
    fn retry_delays_double_up_to_the_ceiling() {
        let config = ProcessorConfig::default();
        assert_eq!(config.retry_delay(1), Duration::from_millis(100));
        assert_eq!(config.retry_delay(2), Duration::from_millis(200));
        assert_eq!(config.retry_delay(40), config.retry_max);
    }
}

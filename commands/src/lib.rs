//! Command handling: the one path from a request to events.
//!
//! [`CommandHandler::handle`] loads an aggregate's stream, folds `evolve`,
//! calls `decide`, and appends what it returns with the version it loaded as
//! the expected version. A concurrent writer makes it reload and decide again
//! (bounded, with jittered backoff). The state it appended last on a
//! stream is remembered, and the next command there is decided on it
//! without reading the stream again, the expected version proving it (see
//! `states.rs`). A command id makes it idempotent: the
//! same id again appends nothing and returns the first result. The store's
//! append checks the id in the same statement, so a new command costs no
//! extra round trip; the id is looked up apart only when today's state
//! refuses the command or makes it a no-op (as it will, often, for one
//! handled before). Correlation
//! and causation ids travel from the [`Envelope`] into every event.
//!
//! It is not where business rules live (that is `domain`) nor how commands
//! arrive (the gateway and the agents call it).

use std::sync::Arc;
use std::time::Duration;

pub mod control;
pub mod processor;
mod states;

use states::States;

use domain::{
    Actor, Aggregate, CommandId, CorrelationId, DecodeError, DomainEvent, EncodeError, EventId,
    Metadata, Position, Rejection, StreamId,
};
use eventstore::{AppendRequest, Direction, EventStore, ExpectedVersion, StoreError};
use uuid::Uuid;

/// A command with where it goes and why.
#[derive(Debug, Clone)]
pub struct Envelope<C> {
    /// The aggregate's stream.
    pub stream: StreamId,
    /// What is asked.
    pub command: C,
    /// Makes handling idempotent: the same id is handled once.
    pub command_id: CommandId,
    /// The root cause (the CEO's order) this command follows from.
    pub correlation_id: CorrelationId,
    /// The event or command that directly caused this one.
    pub causation_id: Option<Uuid>,
    /// Who asks.
    pub actor: Actor,
}

impl<C> Envelope<C> {
    /// The same envelope, its command borrowed.
    pub fn as_ref(&self) -> Envelope<&C> {
        Envelope {
            stream: self.stream.clone(),
            command: &self.command,
            command_id: self.command_id,
            correlation_id: self.correlation_id,
            causation_id: self.causation_id,
            actor: self.actor.clone(),
        }
    }
}

/// What handling a command did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handled {
    /// The stream.
    pub stream: StreamId,
    /// The stream's version after the command.
    pub version: u64,
    /// How many events the command appended (0 when the decision was to do nothing).
    pub events: u64,
    /// The global position of the last event appended, if any.
    pub position: Option<Position>,
    /// True when the command id had been handled before; this is that first result.
    pub duplicate: bool,
}

/// Why a command was not handled.
#[derive(Debug, thiserror::Error)]
pub enum HandleError<R: Rejection> {
    /// A business rule refused it; [`Rejection::code`] is the stable code.
    #[error("{0}")]
    Rejected(R),
    /// Concurrent writers kept changing the stream; every attempt conflicted.
    #[error("stream {stream} kept changing; gave up after {attempts} attempts")]
    Contended {
        /// The stream.
        stream: StreamId,
        /// Attempts made.
        attempts: u32,
    },
    /// The stream belongs to another kind of aggregate.
    #[error("stream {stream} is not a {expected} stream")]
    WrongCategory {
        /// The stream.
        stream: StreamId,
        /// The aggregate's category.
        expected: &'static str,
    },
    /// A stored event could not be decoded.
    #[error("cannot decode stream {stream}: {source}")]
    Decode {
        /// The stream.
        stream: StreamId,
        /// Why.
        source: DecodeError,
    },
    /// A decided event could not be encoded.
    #[error(transparent)]
    Encode(#[from] EncodeError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// How conflicts are retried.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// The first backoff's ceiling; it doubles per attempt.
    pub base: Duration,
    /// The largest backoff ceiling.
    pub max: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 10,
            base: Duration::from_millis(2),
            max: Duration::from_millis(200),
        }
    }
}

impl RetryPolicy {
    /// A random pause in [0, min(max, base·2^attempt)) ("full jitter").
    pub fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self.base.saturating_mul(1 << attempt.min(16)).min(self.max);
        Duration::from_micros(fastrand::u64(0..=ceiling.as_micros().max(1) as u64))
    }
}

/// Events read per round trip when loading a stream.
const LOAD_PAGE: usize = 1000;

/// The largest append (its payloads' bytes) whose state is remembered.
const REMEMBER_BYTES: usize = 64 * 1024;

/// Handles commands against one event store.
#[derive(Clone)]
pub struct CommandHandler {
    store: Arc<dyn EventStore>,
    policy: RetryPolicy,
    /// The states it appended last, decided on before reading a stream
    /// again (see `states.rs`).
    states: Arc<States>,
}

impl CommandHandler {
    /// A handler with the default retry policy.
    pub fn new(store: Arc<dyn EventStore>) -> Self {
        Self {
            store,
            policy: RetryPolicy::default(),
            states: Arc::default(),
        }
    }

    /// The same handler with another retry policy.
    pub fn with_policy(mut self, policy: RetryPolicy) -> Self {
        self.policy = policy;
        self
    }

    /// Loads an aggregate's state and version.
    pub async fn load<A: Aggregate>(
        &self,
        stream: &StreamId,
    ) -> Result<(A, u64), HandleError<A::Rejection>> {
        let mut state = A::default();
        let mut version = 0;
        loop {
            let page = self
                .store
                .read_stream(stream, version + 1, Direction::Forward, LOAD_PAGE)
                .await?;
            for recorded in &page {
                let event = A::Event::decode(recorded).map_err(|source| HandleError::Decode {
                    stream: stream.clone(),
                    source,
                })?;
                state = state.evolve(&event);
                version = recorded.stream_version;
            }
            if page.len() < LOAD_PAGE {
                return Ok((state, version));
            }
        }
    }

    /// Handles one command: decide on the current state and append the outcome.
    pub async fn handle<A: Aggregate>(
        &self,
        envelope: Envelope<A::Command>,
    ) -> Result<Handled, HandleError<A::Rejection>> {
        check_category::<A, _>(&envelope)?;
        let stream = &envelope.stream;
        let borrowed = envelope.as_ref();
        for attempt in 0..self.policy.attempts {
            let decided = match self.decide::<A>(&borrowed, attempt > 0).await? {
                Decided::Done(handled) => return Ok(handled),
                Decided::Append(decided) => decided,
            };
            let appended = self.append_decided(vec![decided], attempt).await?;
            if let Some(handled) = appended.and_then(|h| h.into_iter().next()) {
                return Ok(handled);
            }
        }
        Err(HandleError::Contended {
            stream: stream.clone(),
            attempts: self.policy.attempts,
        })
    }

    /// Appends commands decided in attempt `attempt`, in one transaction,
    /// and answers each. `None` when another writer got in the way: decide
    /// again on the streams as read, at once where a remembered (or
    /// guessed) state was outdated, else after the retry policy's pause.
    pub(crate) async fn append_decided(
        &self,
        appends: Vec<ToAppend>,
        attempt: u32,
    ) -> Result<Option<Vec<Handled>>, StoreError> {
        let guessed = appends.iter().any(|a| a.guessed);
        let (requests, afters): (Vec<_>, Vec<_>) =
            appends.into_iter().map(|a| (a.request, a.after)).unzip();
        match self.store.append_all(requests).await {
            Ok(answers) => Ok(Some(
                afters
                    .into_iter()
                    .zip(answers)
                    .map(|(after, appended)| after.appended(self, appended))
                    .collect(),
            )),
            Err(StoreError::WrongExpectedVersion { stream, .. }) if guessed => {
                tracing::debug!(%stream, "remembered state outdated; deciding again");
                Ok(None)
            }
            Err(StoreError::WrongExpectedVersion { stream, .. }) => {
                tracing::debug!(%stream, attempt, "conflict; deciding again");
                tokio::time::sleep(self.policy.backoff(attempt)).await;
                Ok(None)
            }
            Err(StoreError::Retry) => {
                tokio::time::sleep(self.policy.backoff(attempt)).await;
                Ok(None)
            }
            Err(error) => Err(error),
        }
    }

    /// Decides a command, on the stream as read (`fresh`) or else on the
    /// state this handler appended last, or guessed new; what to append, or
    /// the answer when there is nothing to.
    pub(crate) async fn decide<A: Aggregate>(
        &self,
        envelope: &Envelope<&A::Command>,
        fresh: bool,
    ) -> Result<Decided, HandleError<A::Rejection>> {
        let stream = &envelope.stream;
        // A stream this handler did not append to last is guessed new:
        // most such commands create their stream (an order, a task), and
        // reading an empty stream first cost a round trip each. The guess
        // is proven like a remembered state: refused or a no-op on it, the
        // command is decided again on the stream as read; accepted, the
        // append expects no stream, and an existing one refuses it.
        let remembered = if fresh {
            None
        } else {
            Some(
                self.states
                    .take::<A>(stream)
                    .unwrap_or_else(|| (A::default(), 0)),
            )
        };
        let (mut state, mut version, mut guessed) = match remembered {
            Some((state, version)) => (state, version, true),
            None => {
                let (state, version) = self.load::<A>(stream).await?;
                (state, version, false)
            }
        };
        let mut decided = state.decide(envelope.command);
        if guessed && !matches!(&decided, Ok(events) if !events.is_empty()) {
            // Refused, or nothing to do, on a remembered state: decide
            // again on the stream as it is.
            (state, version) = self.load::<A>(stream).await?;
            guessed = false;
            decided = state.decide(envelope.command);
        }
        // A command handled before is found by the append (which checks
        // its id atomically) or, where today's state refuses it or makes
        // it a no-op, here: either way it answers its first result.
        let events = match decided {
            Ok(events) if !events.is_empty() => events,
            decided => {
                if let Some(first) = self.store.command_result(envelope.command_id).await? {
                    return first_result(first, envelope).map(Decided::Done);
                }
                decided.map_err(HandleError::Rejected)?
            }
        };
        if events.is_empty() {
            return Ok(Decided::Done(Handled {
                stream: stream.clone(),
                version,
                events: 0,
                position: None,
                duplicate: false,
            }));
        }
        let events = events
            .iter()
            .map(|e| e.encode(EventId::from_uuid(Uuid::now_v7())))
            .collect::<Result<Vec<_>, _>>()?;
        // The state after them, as a reload would fold it: from the
        // events as encoded for the store. A large append (a scan's
        // levels) is not remembered: decoding it again would cost more
        // than the read it might save.
        let encoded_bytes: usize = events.iter().map(|e| e.payload.as_str().len()).sum();
        let after = if encoded_bytes <= REMEMBER_BYTES {
            events
                .iter()
                .map(|e| {
                    A::Event::decode_parts(&e.event_type, e.schema_version, e.payload.as_str())
                })
                .collect::<Result<Vec<_>, _>>()
                .ok()
                .map(|stored| {
                    stored
                        .iter()
                        .fold(state, |state, event| state.evolve(event))
                })
        } else {
            None
        };
        let request = AppendRequest {
            stream: stream.clone(),
            expected: ExpectedVersion::Exact(version),
            events,
            metadata: Metadata {
                correlation_id: envelope.correlation_id,
                causation_id: envelope.causation_id,
                command_id: Some(envelope.command_id),
                actor: envelope.actor.clone(),
            },
        };
        let remember = after.map(|after| -> Remember {
            Box::new(move |states: &States, appended: &eventstore::Appended| {
                states.put(appended.stream.clone(), after, appended.last_version);
            })
        });
        Ok(Decided::Append(ToAppend {
            request,
            guessed,
            after: After(remember),
        }))
    }
}

/// Keeps the state after an append for the next command on its stream.
type Remember = Box<dyn FnOnce(&States, &eventstore::Appended) + Send>;

/// What deciding a command came to.
pub(crate) enum Decided {
    /// Nothing to append: the command's first result (handled before), or
    /// a decision to do nothing.
    Done(Handled),
    /// Events to append.
    Append(ToAppend),
}

/// A command's events, ready to append.
pub(crate) struct ToAppend {
    /// The append, expecting the version decided on.
    request: AppendRequest,
    /// Whether it was decided on a remembered or guessed state (a conflict
    /// then calls for a read at once, not a pause).
    guessed: bool,
    /// What follows the append.
    after: After,
}

/// What follows a command's append: the state after it is remembered.
struct After(Option<Remember>);

impl After {
    /// Records a successful append: its state is remembered, its answer given.
    pub(crate) fn appended(
        self,
        handler: &CommandHandler,
        appended: eventstore::Appended,
    ) -> Handled {
        if let Some(remember) = self.0.filter(|_| !appended.duplicate) {
            remember(&handler.states, &appended);
        }
        Handled {
            stream: appended.stream,
            version: appended.last_version,
            events: appended.last_version + 1 - appended.first_version,
            position: Some(appended.position),
            duplicate: appended.duplicate,
        }
    }
}

/// The stream must be the aggregate's.
pub(crate) fn check_category<A: Aggregate, C>(
    envelope: &Envelope<C>,
) -> Result<(), HandleError<A::Rejection>> {
    if envelope.stream.category() != A::CATEGORY {
        return Err(HandleError::WrongCategory {
            stream: envelope.stream.clone(),
            expected: A::CATEGORY,
        });
    }
    Ok(())
}

fn first_result<C, R: Rejection>(
    first: eventstore::Appended,
    envelope: &Envelope<C>,
) -> Result<Handled, HandleError<R>> {
    if first.stream != envelope.stream {
        return Err(StoreError::CommandIdReused {
            command: envelope.command_id,
            first_stream: first.stream,
        }
        .into());
    }
    Ok(Handled {
        stream: first.stream,
        version: first.last_version,
        events: first.last_version + 1 - first.first_version,
        position: Some(first.position),
        duplicate: true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_stays_under_its_ceiling() {
        let policy = RetryPolicy::default();
        for attempt in 0..40 {
            let ceiling = policy
                .base
                .saturating_mul(1 << attempt.min(16))
                .min(policy.max);
            assert!(policy.backoff(attempt) <= ceiling);
        }
    }
}

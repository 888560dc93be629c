//! Reading an aggregate's history back, as the agents need it.

use domain::{Aggregate, DomainEvent, StreamId};
use eventstore::{Direction, EventStore};

use commands::processor::HandlerError;

/// The state of an aggregate's stream up to `version` (all of it when
/// `None`), with its events: the same answer however often an event is
/// redelivered.
pub(crate) async fn load<A: Aggregate>(
    store: &dyn EventStore,
    stream: &StreamId,
    version: Option<u64>,
) -> Result<(A, Vec<A::Event>), HandlerError> {
    let limit = version.map_or(usize::MAX, |v| usize::try_from(v).unwrap_or(usize::MAX));
    let events = store
        .read_stream(stream, 1, Direction::Forward, limit)
        .await?;
    let decoded = events
        .iter()
        .map(A::Event::decode)
        .collect::<Result<Vec<_>, _>>()?;
    Ok((A::replay(&decoded), decoded))
}

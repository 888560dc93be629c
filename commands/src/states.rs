//! The states a handler appended last, by stream: the next command on one
//! of those streams is decided on that state instead of reading the stream
//! again.
//!
//! An entry is a guess, never trusted alone. The append's expected version
//! proves it: if anyone else wrote to the stream since, the append fails
//! and the command is decided again on the stream as read. A refusal or a
//! no-op decided on a remembered state is likewise decided again on the
//! stream as read before it is answered. Only what the store acknowledged
//! is remembered, folded from the events as they were encoded for it, so an
//! entry is the state a reload would give.
//!
//! Two generations bound the memory: when the current one is full it
//! becomes the previous one and the oldest is dropped.

use std::any::Any;
use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};

use domain::{Aggregate, StreamId};

/// Entries per generation.
const KEPT: usize = 1024;

struct Entry {
    state: Box<dyn Any + Send>,
    version: u64,
}

#[derive(Default)]
struct Generations {
    current: HashMap<StreamId, Entry>,
    previous: HashMap<StreamId, Entry>,
}

/// Remembered states, shared by the clones of a handler.
#[derive(Default)]
pub(crate) struct States {
    generations: Mutex<Generations>,
}

impl States {
    /// The state remembered for `stream` and its version, taken out: two
    /// commands on one stream at once do not both decide on it.
    pub(crate) fn take<A: Aggregate>(&self, stream: &StreamId) -> Option<(A, u64)> {
        let mut generations = self
            .generations
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let entry = match generations.current.remove(stream) {
            Some(entry) => entry,
            None => generations.previous.remove(stream)?,
        };
        let state = entry.state.downcast::<A>().ok()?;
        Some((*state, entry.version))
    }

    /// Remembers `state` as `stream` at `version`.
    pub(crate) fn put<A: Aggregate>(&self, stream: StreamId, state: A, version: u64) {
        let mut generations = self
            .generations
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if generations.current.len() >= KEPT {
            generations.previous = std::mem::take(&mut generations.current);
        }
        generations.current.insert(
            stream,
            Entry {
                state: Box::new(state),
                version,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use domain::control::Control;
    use domain::directive::Directive;
    use uuid::Uuid;

    use super::*;

    fn stream(n: u128) -> StreamId {
        Directive::stream(Uuid::from_u128(n))
    }

    #[test]
    fn a_state_is_taken_once_and_only_as_its_own_type() {
        let states = States::default();
        states.put(stream(1), Directive::default(), 3);
        assert!(states.take::<Control>(&stream(1)).is_none(), "another type");
        states.put(stream(1), Directive::default(), 3);
        assert_eq!(
            states.take::<Directive>(&stream(1)).map(|(_, v)| v),
            Some(3)
        );
        assert!(states.take::<Directive>(&stream(1)).is_none(), "taken");
    }

    #[test]
    fn memory_is_bounded_by_two_generations() {
        let states = States::default();
        for n in 0..(3 * KEPT as u128) {
            states.put(stream(n), Directive::default(), 1);
        }
        assert!(states.take::<Directive>(&stream(0)).is_none(), "dropped");
        let last = 3 * KEPT as u128 - 1;
        assert!(states.take::<Directive>(&stream(last)).is_some());
        let generations = states.generations.lock().expect("lock");
        assert!(generations.current.len() + generations.previous.len() <= 2 * KEPT);
    }
}

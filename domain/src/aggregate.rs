//! The shape of every command-side model: decide on a command, evolve on an event.

use uuid::Uuid;

use crate::codec::DomainEvent;
use crate::ids::{Category, StreamId};

/// A command refused by a business rule.
///
/// The `Display` text is the human message; [`Rejection::code`] is the stable
/// machine code that API clients match on (e.g. `directive.text_empty`).
pub trait Rejection: std::error::Error + Send + Sync + 'static {
    /// The stable machine code, `<model>.<rule>`.
    fn code(&self) -> &'static str;
}

/// A consistency boundary: one event stream, its state and its rules.
///
/// `decide` and `evolve` are pure: no I/O, no clock, no randomness. The
/// command handler loads the stream, folds `evolve` from `Default`, calls
/// `decide`, and appends what it returns.
pub trait Aggregate: Default + Send + Sync + 'static {
    /// The category of this aggregate's streams, e.g. `directive`.
    const CATEGORY: &'static str;
    /// What can be asked of it.
    type Command: Send + Sync;
    /// What can happen to it.
    type Event: DomainEvent + Send + Sync;
    /// Why a command can be refused.
    type Rejection: Rejection;

    /// The events a command produces from this state, or why it is refused.
    fn decide(&self, command: &Self::Command) -> Result<Vec<Self::Event>, Self::Rejection>;

    /// The state after one more event.
    fn evolve(self, event: &Self::Event) -> Self;

    /// The stream of the aggregate with this id.
    fn stream(id: Uuid) -> StreamId
    where
        Self: Sized,
    {
        match Category::new(Self::CATEGORY) {
            Ok(category) => StreamId::new(&category, id),
            Err(e) => unreachable!("an aggregate's category is a valid name: {e}"),
        }
    }

    /// The state after a history of events.
    fn replay<'a>(events: impl IntoIterator<Item = &'a Self::Event>) -> Self
    where
        Self::Event: 'a,
    {
        events.into_iter().fold(Self::default(), Self::evolve)
    }
}

/// A given/when/then harness that makes every business rule a three-line test.
///
/// ```text
/// given::<Directive>([issued()]).when(cancel()).then([cancelled()]);
/// given::<Directive>([]).when(cancel()).then_rejected("directive.not_found");
/// ```
pub mod spec {
    use std::fmt::Debug;

    use super::{Aggregate, Rejection};

    /// Starts a scenario from a history of events.
    pub fn given<A: Aggregate>(history: impl IntoIterator<Item = A::Event>) -> Given<A> {
        let history: Vec<A::Event> = history.into_iter().collect();
        Given {
            state: A::replay(&history),
        }
    }

    /// A state built from a history.
    pub struct Given<A> {
        state: A,
    }

    impl<A: Aggregate> Given<A> {
        /// Decides on a command.
        pub fn when(self, command: A::Command) -> Outcome<A> {
            Outcome {
                result: self.state.decide(&command),
            }
        }
    }

    /// The result of a decision, to check.
    pub struct Outcome<A: Aggregate> {
        result: Result<Vec<A::Event>, A::Rejection>,
    }

    impl<A: Aggregate> Outcome<A>
    where
        A::Event: PartialEq + Debug,
    {
        /// Asserts that the command produced exactly these events.
        #[track_caller]
        pub fn then(self, expected: impl IntoIterator<Item = A::Event>) {
            let expected: Vec<A::Event> = expected.into_iter().collect();
            match self.result {
                Ok(events) => assert_eq!(events, expected, "unexpected events"),
                Err(rejection) => panic!(
                    "expected events {expected:?}, got rejection {}: {rejection}",
                    rejection.code()
                ),
            }
        }

        /// Asserts that the command was refused with this code.
        #[track_caller]
        pub fn then_rejected(self, code: &str) {
            match self.result {
                Ok(events) => panic!("expected rejection {code}, got events {events:?}"),
                Err(rejection) => assert_eq!(rejection.code(), code, "{rejection}"),
            }
        }
    }
}

//! Builders shared by the event store's tests.
#![allow(dead_code)]

use domain::{Actor, CommandId, CorrelationId, EventId, JsonText, Metadata, NewEvent, StreamId};
use eventstore::{AppendRequest, ExpectedVersion};
use uuid::Uuid;

pub fn stream(category: &str) -> StreamId {
    format!("{category}-{}", Uuid::now_v7())
        .parse()
        .expect("valid stream id")
}

pub fn event(n: usize) -> NewEvent {
    NewEvent {
        event_id: EventId::from_uuid(Uuid::now_v7()),
        event_type: if n % 2 == 0 {
            "ThingHappened"
        } else {
            "OtherThingHappened"
        }
        .to_owned(),
        schema_version: 1,
        payload: JsonText::trusted(format!(r#"{{"n":{n},"note":"é ✓"}}"#)),
    }
}

pub fn metadata() -> Metadata {
    Metadata {
        correlation_id: CorrelationId::from_uuid(Uuid::now_v7()),
        causation_id: None,
        command_id: None,
        actor: Actor::System("test".to_owned()),
    }
}

pub fn request(stream: &StreamId, expected: ExpectedVersion, events: usize) -> AppendRequest {
    AppendRequest {
        stream: stream.clone(),
        expected,
        events: (0..events).map(event).collect(),
        metadata: metadata(),
    }
}

pub fn with_command(mut request: AppendRequest, command: CommandId) -> AppendRequest {
    request.metadata.command_id = Some(command);
    request
}

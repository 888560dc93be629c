//! The bus on NATS JetStream: the stream the relay fills, read through
//! durable pull consumers, one per partition.
//!
//! The stream's subject transform appends a partition token to every subject
//! (`agentos.<category>.<stream id>.<Type>` is stored as
//! `agentos.<category>.<stream id>.<Type>.<partition>`, the partition a hash
//! of the stream id), so all events of one stream land in one partition. A
//! consumer named `n` is the durable consumers `n-p0` … `n-p<P-1>`, each
//! filtered to its partition with `max_ack_pending` = 1: within a partition
//! the next event is delivered only after the one before it is acknowledged,
//! which keeps per-stream order however many processes pull from it.

use std::time::Duration;

use async_nats::jetstream::{self, consumer::pull, stream};
use async_trait::async_trait;
use domain::RecordedEvent;
use futures_util::stream::{select_all, BoxStream, StreamExt};

use super::{nats, Bus, BusError, Consumer, ConsumerSpec, Delivery, Settle};
use crate::EventFilter;

/// The JetStream stream's name, subjects and partitions; shared by the relay
/// that fills it and the consumers that read it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamLayout {
    /// The JetStream stream (created or updated by whoever starts first).
    pub stream: String,
    /// Events are published to `<prefix>.<category>.<stream id>.<type>`.
    pub subject_prefix: String,
    /// How many partitions the events are spread over, by stream id.
    pub partitions: u32,
    /// How long JetStream remembers message ids to drop duplicates.
    pub duplicate_window: Duration,
}

impl Default for StreamLayout {
    fn default() -> Self {
        Self {
            stream: "AGENTOS".to_owned(),
            subject_prefix: "agentos".to_owned(),
            partitions: 8,
            duplicate_window: Duration::from_secs(10 * 60),
        }
    }
}

impl StreamLayout {
    /// The subject an event is published under.
    pub fn subject(&self, event: &RecordedEvent) -> String {
        format!(
            "{}.{}.{}.{}",
            self.subject_prefix,
            event.stream_id.category(),
            event.stream_id,
            event.event_type
        )
    }

    /// The transform that appends the partition token to every subject.
    pub fn subject_transform(&self) -> stream::SubjectTransform {
        let p = &self.subject_prefix;
        stream::SubjectTransform {
            source: format!("{p}.*.*.*"),
            destination: format!(
                "{p}.{{{{wildcard(1)}}}}.{{{{wildcard(2)}}}}.{{{{wildcard(3)}}}}.{{{{partition({},2)}}}}",
                self.partitions.max(1)
            ),
        }
    }

    /// The JetStream stream's configuration.
    pub fn stream_config(&self) -> stream::Config {
        stream::Config {
            name: self.stream.clone(),
            subjects: vec![format!("{}.>", self.subject_prefix)],
            storage: stream::StorageType::File,
            duplicate_window: self.duplicate_window,
            subject_transform: Some(self.subject_transform()),
            ..Default::default()
        }
    }

    /// The stored subjects of partition `partition` that `filter` admits.
    pub fn filter_subjects(&self, filter: &EventFilter, partition: u32) -> Vec<String> {
        let any = ["*".to_owned()];
        let categories = if filter.categories.is_empty() {
            &any[..]
        } else {
            &filter.categories[..]
        };
        let types = if filter.event_types.is_empty() {
            &any[..]
        } else {
            &filter.event_types[..]
        };
        categories
            .iter()
            .flat_map(|c| {
                types
                    .iter()
                    .map(move |t| format!("{}.{c}.*.{t}.{partition}", self.subject_prefix))
            })
            .collect()
    }

    /// Creates the stream, or brings an existing one to this layout. Refuses
    /// a server older than 2.10, which cannot partition subjects.
    pub async fn ensure_stream(&self, context: &jetstream::Context) -> Result<(), BusError> {
        let version = context.client().server_info().version;
        if !at_least_2_10(&version) {
            return Err(BusError::Config(format!(
                "NATS server {version} is too old: AgentOS needs 2.10 or later (subject transforms)"
            )));
        }
        let wanted = self.stream_config();
        let mut stream = context
            .get_or_create_stream(wanted.clone())
            .await
            .map_err(nats)?;
        let info = stream.info().await.map_err(nats)?;
        let current = &info.config;
        if current.subjects != wanted.subjects
            || current.duplicate_window != wanted.duplicate_window
            || current.subject_transform != wanted.subject_transform
        {
            tracing::info!(stream = %wanted.name, "updating the JetStream stream's subjects, duplicate window and partitions");
            let mut updated = current.clone();
            updated.subjects = wanted.subjects;
            updated.duplicate_window = wanted.duplicate_window;
            updated.subject_transform = wanted.subject_transform;
            context.update_stream(updated).await.map_err(nats)?;
        }
        Ok(())
    }
}

/// Whether a server version string (`2.10.7`, `2.11.0-RC.1`) is 2.10 or later.
fn at_least_2_10(version: &str) -> bool {
    let mut parts = version
        .split(['.', '-'])
        .map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (2, 10)
}

/// The bus on a JetStream stream.
#[derive(Clone)]
pub struct JetStreamBus {
    context: jetstream::Context,
    layout: StreamLayout,
}

impl JetStreamBus {
    /// A bus reading the stream `layout` describes through `client`.
    pub fn new(client: async_nats::Client, layout: StreamLayout) -> Self {
        Self {
            context: jetstream::new(client),
            layout,
        }
    }

    fn consumer_config(&self, spec: &ConsumerSpec, partition: u32) -> pull::Config {
        let name = format!("{}-p{partition}", spec.name);
        pull::Config {
            durable_name: Some(name.clone()),
            name: Some(name),
            description: Some(format!(
                "AgentOS consumer {} (partition {partition})",
                spec.name
            )),
            filter_subjects: self.layout.filter_subjects(&spec.filter, partition),
            ack_policy: jetstream::consumer::AckPolicy::Explicit,
            ack_wait: spec.ack_wait,
            // Dead-lettering is the processor's decision; the server never drops an event.
            max_deliver: -1,
            max_ack_pending: 1,
            ..Default::default()
        }
    }
}

#[async_trait]
impl Bus for JetStreamBus {
    async fn consumer(&self, spec: &ConsumerSpec) -> Result<Box<dyn Consumer>, BusError> {
        if spec.name.is_empty()
            || !spec
                .name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        {
            return Err(BusError::Config(format!(
                "consumer name {:?} must be letters, digits, '_' or '-'",
                spec.name
            )));
        }
        self.layout.ensure_stream(&self.context).await?;
        let stream = self
            .context
            .get_stream(&self.layout.stream)
            .await
            .map_err(nats)?;
        let mut partitions = Vec::new();
        for partition in 0..self.layout.partitions.max(1) {
            let consumer = stream
                .create_consumer(self.consumer_config(spec, partition))
                .await
                .map_err(nats)?;
            let messages = consumer.messages().await.map_err(nats)?;
            partitions.push(messages.boxed());
        }
        Ok(Box::new(JetStreamConsumer {
            name: spec.name.clone(),
            messages: select_all(partitions),
        }))
    }

    fn parallelism(&self) -> usize {
        self.layout.partitions.max(1) as usize
    }
}

type Messages = BoxStream<'static, Result<jetstream::Message, pull::MessagesError>>;

struct JetStreamConsumer {
    name: String,
    messages: futures_util::stream::SelectAll<Messages>,
}

#[async_trait]
impl Consumer for JetStreamConsumer {
    async fn next(&mut self) -> Result<Delivery, BusError> {
        loop {
            let message = self
                .messages
                .next()
                .await
                .ok_or_else(|| BusError::Nats("the consumer's message stream ended".to_owned()))?
                .map_err(nats)?;
            let (attempt, pending) = match message.info() {
                Ok(info) => (
                    u32::try_from(info.delivered.max(1)).unwrap_or(u32::MAX),
                    Some(info.pending),
                ),
                Err(_) => (1, None),
            };
            let (message, acker) = message.split();
            match crate::relay::decode_message(&message.payload) {
                Ok(event) => {
                    return Ok(Delivery {
                        event,
                        attempt,
                        pending,
                        settle: Settle::JetStream(Box::new(acker)),
                    })
                }
                Err(error) => {
                    // Not an event the relay wrote: no handler could do anything with it.
                    tracing::error!(consumer = %self.name, subject = %message.subject, %error,
                        "dropping a message that is not a recorded event");
                    acker
                        .ack_with(jetstream::AckKind::Term)
                        .await
                        .map_err(nats)?;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_from_2_10_on_can_partition() {
        assert!(!at_least_2_10("2.9.10"));
        assert!(at_least_2_10("2.10.0"));
        assert!(at_least_2_10("2.11.0-RC.1"));
        assert!(at_least_2_10("3.0.0"));
        assert!(!at_least_2_10("garbage"));
    }

    #[test]
    fn filters_cover_each_category_and_type_in_one_partition() {
        let layout = StreamLayout::default();
        assert_eq!(
            layout.filter_subjects(&EventFilter::all(), 3),
            ["agentos.*.*.*.3"]
        );
        let filter = EventFilter {
            categories: vec!["directive".into(), "task".into()],
            event_types: vec!["Done".into()],
        };
        assert_eq!(
            layout.filter_subjects(&filter, 0),
            ["agentos.directive.*.Done.0", "agentos.task.*.Done.0"]
        );
    }

    #[test]
    fn the_transform_appends_a_partition_of_the_stream_id() {
        let t = StreamLayout::default().subject_transform();
        assert_eq!(t.source, "agentos.*.*.*");
        assert_eq!(
            t.destination,
            "agentos.{{wildcard(1)}}.{{wildcard(2)}}.{{wildcard(3)}}.{{partition(8,2)}}"
        );
    }
}

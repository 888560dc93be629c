//! Walks hash chains through the [`EventStore`] trait and names the first
//! broken link of every damaged stream.
//!
//! Events are read in (stream, version) order and checked with the pure
//! [`ChainCheck`]; each stream's recorded head is then compared with where
//! its events end. Appends that run during verification are tolerated: a
//! head read after the events is followed up to its version before the
//! comparison, so only real damage is reported.

use domain::{Hash, StreamId};

use crate::chain::{BrokenLink, ChainCheck};
use crate::{Direction, EventStore, StoreError, StreamHead};

/// Events read per round trip.
const PAGE: usize = 2000;
/// The most broken streams reported in one run.
const MAX_REPORTED: usize = 100;

/// The outcome of a verification.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// Streams checked.
    pub streams: u64,
    /// Events checked.
    pub events: u64,
    /// The first broken link of each damaged stream (at most 100 are listed).
    pub broken: Vec<(StreamId, BrokenLink)>,
    /// Damaged streams in all, including those beyond the list.
    pub broken_streams: u64,
}

impl Report {
    /// Whether every chain is intact.
    pub fn is_intact(&self) -> bool {
        self.broken_streams == 0
    }

    fn record(&mut self, stream: StreamId, result: Result<u64, BrokenLink>) {
        self.streams += 1;
        if let Err(link) = result {
            self.broken_streams += 1;
            if self.broken.len() < MAX_REPORTED {
                self.broken.push((stream, link));
            }
        }
    }
}

/// A human line for a broken link.
pub fn describe(stream: &StreamId, link: &BrokenLink) -> String {
    let at = match link.event {
        Some((event_id, position)) => format!(" (event {event_id}, position {position})"),
        None => String::new(),
    };
    format!(
        "{stream} breaks at version {}{at}: {}",
        link.version, link.problem
    )
}

/// Verifies one stream.
pub async fn verify_stream(
    store: &dyn EventStore,
    stream: &StreamId,
) -> Result<Report, StoreError> {
    let mut report = Report::default();
    let mut check = ChainCheck::new();
    let mut from = 1;
    loop {
        let events = store
            .read_stream(stream, from, Direction::Forward, PAGE)
            .await?;
        report.events += events.len() as u64;
        events.iter().for_each(|e| check.push(e));
        match events.last() {
            Some(last) if events.len() == PAGE && !check.is_broken() => {
                from = last.stream_version + 1
            }
            _ => break,
        }
    }
    let head = store.stream_head(stream).await?;
    let result = finish(store, stream, check, head, &mut report).await?;
    report.record(stream.clone(), result);
    Ok(report)
}

/// Verifies every stream, calling `progress` with the number of events checked so far.
pub async fn verify_all(
    store: &dyn EventStore,
    mut progress: impl FnMut(u64),
) -> Result<Report, StoreError> {
    let mut report = Report::default();
    let mut heads = Heads::default();
    let mut current: Option<(StreamId, ChainCheck)> = None;
    let mut after: Option<(StreamId, u64)> = None;
    loop {
        let page = store
            .read_chains(after.as_ref().map(|(s, v)| (s, *v)), PAGE)
            .await?;
        let Some(last) = page.last() else { break };
        after = Some((last.stream_id.clone(), last.stream_version));
        for event in &page {
            if current.as_ref().is_some_and(|(s, _)| *s != event.stream_id) {
                if let Some((stream, check)) = current.take() {
                    close(store, &mut heads, stream, check, &mut report).await?;
                }
            }
            current
                .get_or_insert_with(|| (event.stream_id.clone(), ChainCheck::new()))
                .1
                .push(event);
        }
        report.events += page.len() as u64;
        progress(report.events);
    }
    if let Some((stream, check)) = current.take() {
        close(store, &mut heads, stream, check, &mut report).await?;
    }
    // Heads left over have no events in the scan: check them one by one.
    while let Some(head) = heads.next_before(store, None).await? {
        let stream = head.stream.clone();
        let single = verify_stream(store, &stream).await?;
        report.events += single.events;
        report.record(
            stream,
            single
                .broken
                .into_iter()
                .next()
                .map_or(Ok(0), |(_, b)| Err(b)),
        );
    }
    Ok(report)
}

/// Ends one stream of the scan: streams whose heads come before it were
/// missed by the scan (created meanwhile, or their events are gone), then
/// its own head is compared.
async fn close(
    store: &dyn EventStore,
    heads: &mut Heads,
    stream: StreamId,
    check: ChainCheck,
    report: &mut Report,
) -> Result<(), StoreError> {
    while let Some(head) = heads.next_before(store, Some(&stream)).await? {
        let missed = verify_stream(store, &head.stream).await?;
        report.events += missed.events;
        report.record(
            head.stream,
            missed
                .broken
                .into_iter()
                .next()
                .map_or(Ok(0), |(_, b)| Err(b)),
        );
    }
    let head = heads.take_if(store, &stream).await?;
    let result = finish(store, &stream, check, head, report).await?;
    report.record(stream, result);
    Ok(())
}

/// Compares a checked chain with its head, first following events appended
/// since the chain was read.
async fn finish(
    store: &dyn EventStore,
    stream: &StreamId,
    mut check: ChainCheck,
    head: Option<StreamHead>,
    report: &mut Report,
) -> Result<Result<u64, BrokenLink>, StoreError> {
    let (version, _) = check.head();
    let mut head = head;
    if !check.is_broken() && head.as_ref().is_none_or(|h| h.version != version) {
        // The head may have been read before the last appends: read it again.
        head = store.stream_head(stream).await?;
        let target = head.as_ref().map_or(0, |h| h.version);
        let mut from = version + 1;
        while from <= target && !check.is_broken() {
            let limit = PAGE.min((target - from + 1) as usize);
            let events = store
                .read_stream(stream, from, Direction::Forward, limit)
                .await?;
            let Some(last) = events.last() else { break };
            from = last.stream_version + 1;
            report.events += events.len() as u64;
            events.iter().for_each(|e| check.push(e));
        }
    }
    let (head_version, head_hash) = head.map_or((0, Hash::ZERO), |h| (h.version, h.hash));
    Ok(check.finish(head_version, head_hash))
}

/// Stream heads in stream order, fetched a page at a time.
#[derive(Default)]
struct Heads {
    page: std::collections::VecDeque<StreamHead>,
    last: Option<StreamId>,
    exhausted: bool,
}

impl Heads {
    async fn peek(&mut self, store: &dyn EventStore) -> Result<Option<&StreamHead>, StoreError> {
        if self.page.is_empty() && !self.exhausted {
            let page = store.stream_heads(self.last.as_ref(), PAGE).await?;
            self.exhausted = page.len() < PAGE;
            self.last = page.last().map(|h| h.stream.clone()).or(self.last.take());
            self.page.extend(page);
        }
        Ok(self.page.front())
    }

    /// The next head if it comes before `stream` (or any head, for `None`).
    async fn next_before(
        &mut self,
        store: &dyn EventStore,
        stream: Option<&StreamId>,
    ) -> Result<Option<StreamHead>, StoreError> {
        let before = match (self.peek(store).await?, stream) {
            (Some(head), Some(stream)) => head.stream.as_str() < stream.as_str(),
            (Some(_), None) => true,
            (None, _) => false,
        };
        Ok(if before { self.page.pop_front() } else { None })
    }

    /// The next head if it is `stream`'s.
    async fn take_if(
        &mut self,
        store: &dyn EventStore,
        stream: &StreamId,
    ) -> Result<Option<StreamHead>, StoreError> {
        let matches = self.peek(store).await?.is_some_and(|h| h.stream == *stream);
        Ok(if matches { self.page.pop_front() } else { None })
    }
}

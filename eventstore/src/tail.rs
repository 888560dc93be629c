//! The shared tail: the newest stretch of the global order, read once for
//! every follower of a store.
//!
//! Every live follower of the log (the relay, each projection runner, the
//! live feed, the stop switch) reads after every commit. On PostgreSQL each
//! of those reads is a gap-safe read (`agentos_read_all`), and with four
//! followers they were as much of the server's work as the appends
//! themselves (`bench e2e`: 2,100 reads beside 2,500 appends in 4.5 s). Now
//! one task, the tail, does the gap-safe reads of a store whose changes are
//! watched, and keeps what it read in a [`Window`]; a follower whose
//! checkpoint lies in the window is answered from memory, filtered as the
//! database would filter, and is woken when the window grows rather than at
//! every commit.
//!
//! The window is exactly a run of the log's gap-safe answers joined end to
//! end: it holds every event after its start up to its end, so any read
//! after a position in it has the answer the database would give. It begins
//! where a follower's own read found the log caught up (a short batch), so
//! the tail never reads the log from the start; it forgets its oldest events
//! past a size, and followers behind it read the database as before, as they
//! do whenever the tail's last read failed.

use std::collections::VecDeque;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use domain::{Position, RecordedEvent};
use tokio::sync::{watch, Notify};

// Without a wake-up the tail reads again after the quiet spell a
// subscription waits (a notification from another process may be lost),
// and behind an older open transaction it pauses as a subscription does.
use crate::subscription::{HORIZON_BACKOFF as HORIZON_WAIT, QUIET_RECHECK};
use crate::{Backoff, Batch, EventFilter, StoreError};

/// Events the tail reads at most at a time.
pub(crate) const TAIL_BATCH: usize = 1000;

/// The window keeps at most this many events…
const MAX_EVENTS: usize = 8192;

/// …and at most about this many bytes of them.
const MAX_BYTES: usize = 16 << 20;

/// What an event costs the window beside its payload.
const EVENT_OVERHEAD: usize = 256;

/// A contiguous stretch of the global order: every committed event after
/// `start` up to and including `end`, and no other.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Window {
    start: Position,
    end: Position,
    /// Whether, at the last read, committed events waited beyond `end`.
    beyond: bool,
    events: VecDeque<RecordedEvent>,
    bytes: usize,
}

impl Window {
    /// An empty window at a position a gap-safe read returned as its next.
    pub(crate) fn at(next: Position, beyond: bool) -> Self {
        Self {
            start: next,
            end: next,
            beyond,
            events: VecDeque::new(),
            bytes: 0,
        }
    }

    /// Where the next read of the log goes on from.
    pub(crate) fn end(&self) -> Position {
        self.end
    }

    /// The answer of a gap-safe read after `after`, if the window holds it:
    /// the events after `after` that pass `filter`, at most `limit`; the
    /// position to go on from (the last event of a full batch, else the
    /// window's end) and whether events wait beyond it.
    pub(crate) fn answer(
        &self,
        after: Position,
        limit: usize,
        filter: &EventFilter,
    ) -> Option<Batch> {
        if after < self.start || after > self.end || limit == 0 {
            return None;
        }
        let first = self.events.partition_point(|e| e.position <= after);
        let events: Vec<RecordedEvent> = self
            .events
            .range(first..)
            .filter(|e| filter.admits(e))
            .take(limit)
            .cloned()
            .collect();
        Some(match events.last() {
            Some(last) if events.len() == limit => Batch {
                next: last.position,
                events,
                beyond_horizon: false,
            },
            _ => Batch {
                events,
                next: self.end,
                beyond_horizon: self.beyond,
            },
        })
    }

    /// Joins the answer of a gap-safe read after [`Window::end`]; whether
    /// the window changed. The oldest events go past the window's size.
    pub(crate) fn extend(&mut self, batch: Batch) -> bool {
        debug_assert!(batch.events.iter().all(|e| e.position > self.end));
        let changed = !batch.events.is_empty()
            || batch.next != self.end
            || batch.beyond_horizon != self.beyond;
        for event in batch.events {
            self.bytes += cost(&event);
            self.events.push_back(event);
        }
        self.end = self.end.max(batch.next);
        self.beyond = batch.beyond_horizon;
        while self.events.len() > MAX_EVENTS || self.bytes > MAX_BYTES {
            let Some(oldest) = self.events.pop_front() else {
                break;
            };
            self.bytes -= cost(&oldest);
            self.start = oldest.position;
        }
        changed
    }
}

fn cost(event: &RecordedEvent) -> usize {
    event.payload.as_str().len() + event.event_type.len() + EVENT_OVERHEAD
}

/// A store's tail: its window, and the signal its followers wait on.
pub(crate) struct Tail {
    state: Mutex<State>,
    signal: watch::Sender<u64>,
    /// Wakes the tail when its window has begun.
    begun: Notify,
    /// Reads the window could not answer.
    misses: AtomicU64,
}

#[derive(Default)]
struct State {
    /// Someone follows the log: the window may begin.
    wanted: bool,
    window: Option<Window>,
    /// Whether the tail's last read succeeded; if not, followers read the
    /// database themselves (and meet its error).
    serving: bool,
}

impl Tail {
    pub(crate) fn new() -> Self {
        Self {
            state: Mutex::new(State::default()),
            signal: watch::channel(0).0,
            begun: Notify::new(),
            misses: AtomicU64::new(0),
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The followers' signal; from now on the tail keeps a window.
    pub(crate) fn subscribe(&self) -> watch::Receiver<u64> {
        self.state().wanted = true;
        self.signal.subscribe()
    }

    /// A read answered from the window, if it holds the answer.
    pub(crate) fn answer(
        &self,
        after: Position,
        limit: usize,
        filter: &EventFilter,
    ) -> Option<Batch> {
        let state = self.state();
        let answer = state
            .window
            .as_ref()
            .filter(|_| state.serving)
            .and_then(|window| window.answer(after, limit, filter));
        if answer.is_none() {
            self.misses.fetch_add(1, Ordering::Relaxed);
        }
        answer
    }

    /// How many reads the window could not answer so far.
    #[cfg(feature = "testing")]
    pub(crate) fn misses(&self) -> u64 {
        self.misses.load(Ordering::Relaxed)
    }

    /// A follower's own gap-safe read came back short, at `batch.next`: if
    /// the log is followed and the window has not begun, it begins there.
    pub(crate) fn offer_start(&self, batch: &Batch) {
        let mut state = self.state();
        if state.wanted && state.window.is_none() {
            state.window = Some(Window::at(batch.next, batch.beyond_horizon));
            state.serving = true;
            drop(state);
            self.begun.notify_one();
        }
    }

    fn end(&self) -> Option<Position> {
        self.state().window.as_ref().map(Window::end)
    }

    fn bump(&self) {
        self.signal.send_modify(|n| *n = n.wrapping_add(1));
    }
}

/// Follows the log for `tail`: reads after the window's end (with `read`, a
/// gap-safe read of at most [`TAIL_BATCH`] unfiltered events) whenever
/// `raw` signals a commit, and wakes the followers when the window grows.
/// Until the window begins it passes every commit's signal on.
pub(crate) async fn follow<F, Fut>(tail: Arc<Tail>, mut raw: watch::Receiver<u64>, read: F)
where
    F: Fn(Position) -> Fut,
    Fut: Future<Output = Result<Batch, StoreError>>,
{
    let mut horizon_wait = HORIZON_WAIT.0;
    let mut failures = Backoff::new(Duration::from_millis(50), Duration::from_secs(2));
    loop {
        raw.borrow_and_update();
        let Some(end) = tail.end() else {
            tail.bump();
            tokio::select! {
                _ = raw.changed() => {}
                _ = tail.begun.notified() => {}
            }
            continue;
        };
        let batch = match read(end).await {
            Ok(batch) => batch,
            Err(error) => {
                tracing::debug!(%error, "the shared tail cannot read the log; followers read it themselves");
                tail.state().serving = false;
                tail.bump();
                failures.wait().await;
                continue;
            }
        };
        failures.reset();
        let full = batch.events.len() >= TAIL_BATCH;
        let beyond = batch.beyond_horizon;
        let changed = {
            let mut state = tail.state();
            let was_serving = std::mem::replace(&mut state.serving, true);
            let window = state.window.as_mut().expect("the window does not end");
            window.extend(batch) || !was_serving
        };
        if changed {
            tail.bump();
        }
        if full {
            horizon_wait = HORIZON_WAIT.0;
            continue;
        }
        if beyond {
            // An older transaction's commit is itself a signal; from another
            // process it may come later than the pause.
            let _ = tokio::time::timeout(horizon_wait, raw.changed()).await;
            horizon_wait = (horizon_wait * 2).min(HORIZON_WAIT.1);
            continue;
        }
        horizon_wait = HORIZON_WAIT.0;
        let _ = tokio::time::timeout(QUIET_RECHECK, raw.changed()).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use domain::{Category, CorrelationId, EventId, Hash, JsonText, Metadata, StreamId};
    use proptest::prelude::*;
    use uuid::Uuid;

    fn event(tx: u64, seq: u64, category: &str, event_type: &str) -> RecordedEvent {
        let category = Category::new(category).expect("a category");
        RecordedEvent {
            position: Position::new(tx, seq),
            stream_id: StreamId::new(&category, Uuid::from_u128(u128::from(tx))),
            stream_version: 1,
            event_id: EventId::from_uuid(Uuid::from_u128(u128::from(seq))),
            event_type: event_type.to_owned(),
            schema_version: 1,
            payload: JsonText::trusted("{}".to_owned()),
            metadata: Metadata {
                correlation_id: CorrelationId::from_uuid(Uuid::from_u128(7)),
                causation_id: None,
                command_id: None,
                actor: "user:ceo".parse().expect("an actor"),
            },
            recorded_at: chrono::DateTime::UNIX_EPOCH,
            prev_hash: Hash::ZERO,
            hash: Hash::ZERO,
        }
    }

    /// What a gap-safe read of a whole log proven up to `horizon` answers.
    fn model(
        log: &[RecordedEvent],
        horizon: Position,
        after: Position,
        limit: usize,
        filter: &EventFilter,
    ) -> Batch {
        let events: Vec<_> = log
            .iter()
            .filter(|e| e.position > after && e.position <= horizon && filter.admits(e))
            .take(limit)
            .cloned()
            .collect();
        match events.last() {
            Some(last) if events.len() == limit => Batch {
                next: last.position,
                events,
                beyond_horizon: false,
            },
            _ => Batch {
                events,
                next: horizon.max(after),
                beyond_horizon: false,
            },
        }
    }

    #[test]
    fn a_window_answers_only_reads_after_a_position_it_covers() {
        let mut window = Window::at(Position::new(10, 0), false);
        assert!(window.extend(Batch {
            events: vec![event(11, 1, "order", "A"), event(12, 2, "task", "B")],
            next: Position::new(13, 0),
            beyond_horizon: true,
        }));
        let all = EventFilter::all();
        assert_eq!(
            window.answer(Position::new(9, 5), 10, &all),
            None,
            "before the start"
        );
        assert_eq!(
            window.answer(Position::new(13, 1), 10, &all),
            None,
            "past the end"
        );
        let batch = window
            .answer(Position::new(10, 0), 10, &all)
            .expect("covered");
        assert_eq!(batch.events.len(), 2);
        assert_eq!(batch.next, Position::new(13, 0));
        assert!(batch.beyond_horizon, "what waits beyond the end is told");
        let full = window
            .answer(Position::new(10, 0), 1, &all)
            .expect("covered");
        assert_eq!((full.events.len(), full.next), (1, Position::new(11, 1)));
        assert!(!full.beyond_horizon);
        let tasks = window
            .answer(Position::new(10, 0), 10, &EventFilter::of(&["task"], &[]))
            .expect("covered");
        assert_eq!(tasks.events[0].event_type, "B");
        assert!(
            !window.extend(Batch {
                events: vec![],
                next: Position::new(13, 0),
                beyond_horizon: true,
            }),
            "an answer with nothing new changes nothing"
        );
    }

    #[test]
    fn a_full_window_forgets_its_oldest_events_and_reads_before_them() {
        let mut window = Window::at(Position::START, false);
        let events: Vec<_> = (1..=MAX_EVENTS as u64 + 10)
            .map(|n| event(n, n, "order", "A"))
            .collect();
        window.extend(Batch {
            events,
            next: Position::new(MAX_EVENTS as u64 + 11, 0),
            beyond_horizon: false,
        });
        assert_eq!(window.events.len(), MAX_EVENTS);
        assert_eq!(window.start, Position::new(10, 10));
        assert_eq!(
            window.answer(Position::new(9, 9), 5, &EventFilter::all()),
            None
        );
        let batch = window
            .answer(Position::new(10, 10), 1, &EventFilter::all())
            .expect("covered");
        assert_eq!(batch.events[0].position, Position::new(11, 11));
    }

    proptest! {
        /// A window built from a log's answers, read after any position it
        /// covers, with any limit and filter, answers as a read of the
        /// whole log does.
        #[test]
        fn a_window_answers_as_the_whole_log(
            kinds in proptest::collection::vec((0..3usize, 0..3usize, 1..4u64), 1..120),
            cuts in proptest::collection::vec(1..40usize, 1..8),
            start_at in 0..20usize,
            after_at in 0..140usize,
            limit in 1..50usize,
            filter_kind in 0..4usize,
        ) {
            let categories = ["order", "task", "plan"];
            let types = ["A", "B", "C"];
            let mut tx = 0;
            let log: Vec<RecordedEvent> = kinds
                .iter()
                .enumerate()
                .map(|(i, (c, t, gap))| {
                    tx += gap;
                    event(tx, i as u64 + 1, categories[*c], types[*t])
                })
                .collect();
            let head = Position::new(tx + 1, 0);
            // The window begins at an event's position (or the start) and
            // grows by answers of the log, cut at random lengths.
            let start = start_at.min(log.len());
            let begin = if start == 0 { Position::START } else { log[start - 1].position };
            let mut window = Window::at(begin, false);
            let mut at = start;
            for cut in cuts.iter().cycle() {
                if at >= log.len() {
                    window.extend(Batch { events: vec![], next: head, beyond_horizon: false });
                    break;
                }
                let upto = (at + cut).min(log.len());
                let next = if upto == log.len() { head } else { log[upto - 1].position };
                window.extend(Batch { events: log[at..upto].to_vec(), next, beyond_horizon: false });
                at = upto;
            }
            let filter = match filter_kind {
                0 => EventFilter::all(),
                1 => EventFilter::of(&["task"], &[]),
                2 => EventFilter::of(&[], &["B", "C"]),
                _ => EventFilter::of(&["order", "plan"], &["A"]),
            };
            let after = match after_at {
                0 => Position::START,
                n if n <= log.len() => log[n - 1].position,
                _ => head,
            };
            match window.answer(after, limit, &filter) {
                Some(batch) => {
                    prop_assert!(after >= begin);
                    prop_assert_eq!(batch, model(&log, head, after, limit, &filter));
                }
                None => prop_assert!(after < begin),
            }
        }
    }
}

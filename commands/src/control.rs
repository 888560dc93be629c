//! Follows the company-wide stop switch ([`domain::control`]) for the
//! processors of this process: [`stop_switch`] reads its stream whenever the
//! store changes (at most every [`MIN_INTERVAL`]) and publishes whether it
//! is engaged.

use std::sync::Arc;
use std::time::Duration;

use domain::control::{self, Control, ControlEvent};
use domain::{Aggregate, DomainEvent};
use eventstore::{Direction, EventStore};
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// How often the switch is read again when no change was signalled (a
/// change in another process may not be signalled here).
const RECHECK: Duration = Duration::from_secs(1);

/// The shortest pause between two reads: the store signals every commit,
/// and a busy log commits a thousand times a second, nearly never to this
/// stream. A change to the switch is seen at most this much later.
const MIN_INTERVAL: Duration = Duration::from_millis(20);

/// Whether the stop switch is engaged, kept current by the returned task
/// (abort it to stop following). Starts as engaged until the switch's
/// stream has been read once: when in doubt, agents wait.
pub fn stop_switch(store: Arc<dyn EventStore>) -> (watch::Receiver<bool>, JoinHandle<()>) {
    let (sender, receiver) = watch::channel(true);
    let task = tokio::spawn(async move {
        let stream = control::stream_id();
        let mut state = Control::default();
        let mut next = 1;
        let mut changes = store.changes();
        loop {
            changes.borrow_and_update();
            match store
                .read_stream(&stream, next, Direction::Forward, 1000)
                .await
            {
                Ok(events) => {
                    for event in &events {
                        next = event.stream_version + 1;
                        match ControlEvent::decode(event) {
                            Ok(event) => state = state.evolve(&event),
                            Err(error) => {
                                tracing::error!(%error, "cannot read the stop switch; holding agents");
                                state = Control { engaged: true };
                            }
                        }
                    }
                    sender.send_if_modified(|engaged| {
                        let changed = *engaged != state.engaged;
                        *engaged = state.engaged;
                        changed
                    });
                }
                Err(error) => tracing::warn!(%error, "cannot read the stop switch; retrying"),
            }
            let read_at = tokio::time::Instant::now();
            if let Ok(Err(_)) = tokio::time::timeout(RECHECK, changes.changed()).await {
                // The store signals no more: read again now and then.
                tokio::time::sleep(RECHECK).await;
            }
            tokio::time::sleep_until(read_at + MIN_INTERVAL).await;
        }
    });
    (receiver, task)
}

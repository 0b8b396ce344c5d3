//! The daemon's event bus: what `docker events` reads.
//!
//! One mutex guards a ring buffer of the last [`RING_CAPACITY`] events (so `--since` can
//! replay recent history) and the list of live subscribers. Replay and subscription happen
//! under the same lock, so a client never misses nor duplicates an event published while it
//! subscribes. Subscribers get bounded channels (tokio's, which a synchronous publisher fills
//! with `try_send` and an `async` reader awaits without holding a thread) and are dropped when
//! full or closed: a slow or vanished client must never block an engine operation.

use berth_api_types::Filters;
use berth_api_types::events::{EventMessage, EventType};
use std::collections::{BTreeMap, VecDeque};
use std::sync::{Mutex, MutexGuard};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::mpsc::{Receiver, Sender, channel};

/// How many past events are kept for `since` replay.
pub const RING_CAPACITY: usize = 1024;
/// Queue length per subscriber before it is considered stuck and dropped.
pub const SUBSCRIBER_QUEUE: usize = 256;

/// Filters `GET /events` accepts; `label` matches container events by the labels they carry
/// as attributes.
pub const EVENT_FILTERS: &[&str] = &[
    "type",
    "event",
    "action",
    "image",
    "volume",
    "container",
    "label",
];

/// Publishes events to subscribers and remembers the most recent ones.
pub struct EventBus {
    inner: Mutex<Inner>,
    capacity: usize,
}

struct Inner {
    ring: VecDeque<EventMessage>,
    subscribers: Vec<Sender<EventMessage>>,
    /// Last stamp handed out, so stamps are strictly increasing even when the clock is coarse
    /// or steps back: replay order then equals publication order.
    last_nano: i64,
}

impl Default for EventBus {
    fn default() -> Self {
        EventBus::with_capacity(RING_CAPACITY)
    }
}

impl EventBus {
    /// A bus remembering the last `capacity` events (tests use small ones).
    pub fn with_capacity(capacity: usize) -> EventBus {
        EventBus {
            inner: Mutex::new(Inner {
                ring: VecDeque::new(),
                subscribers: Vec::new(),
                last_nano: 0,
            }),
            capacity: capacity.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves the data consistent (plain pushes), so recover.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stamps and publishes one event of `typ` about `id`.
    pub fn emit(&self, typ: EventType, action: &str, id: &str, attributes: &[(&str, String)]) {
        let attrs: BTreeMap<String, String> = attributes
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect();
        let mut inner = self.lock();
        let now = now_nanos();
        let stamp = now.max(inner.last_nano + 1);
        inner.last_nano = stamp;
        let event = EventMessage::new(typ, action, id, attrs, stamp);
        publish_locked(&mut inner, self.capacity, event);
    }

    /// Publishes an already stamped event (its time is kept as given).
    pub fn publish(&self, event: EventMessage) {
        let mut inner = self.lock();
        inner.last_nano = inner.last_nano.max(event.time_nano);
        publish_locked(&mut inner, self.capacity, event);
    }

    /// Subscribes: returns buffered events with `time_nano >= since` (none when `since` is
    /// `None`) and a receiver of every later event, atomically.
    pub fn subscribe(&self, since: Option<i64>) -> (Vec<EventMessage>, Receiver<EventMessage>) {
        let (tx, rx) = channel(SUBSCRIBER_QUEUE);
        let mut inner = self.lock();
        let replay = match since {
            Some(since) => inner
                .ring
                .iter()
                .filter(|e| e.time_nano >= since)
                .cloned()
                .collect(),
            None => Vec::new(),
        };
        inner.subscribers.push(tx);
        (replay, rx)
    }

    /// Live subscribers (for tests and diagnostics).
    pub fn subscriber_count(&self) -> usize {
        self.lock().subscribers.len()
    }
}

fn publish_locked(inner: &mut Inner, capacity: usize, event: EventMessage) {
    inner
        .subscribers
        .retain(|tx| match tx.try_send(event.clone()) {
            Ok(()) => true,
            Err(TrySendError::Full(_)) => {
                tracing::warn!("dropping an events subscriber that does not keep up");
                false
            }
            Err(TrySendError::Closed(_)) => false,
        });
    if inner.ring.len() >= capacity {
        inner.ring.pop_front();
    }
    inner.ring.push_back(event);
}

fn now_nanos() -> i64 {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)
}

/// Whether `event` passes `filters`, with Docker's rules: `type` and `event`/`action` must
/// match exactly; `image` matches an image event's id or name (with or without tag), and an
/// event of another type never; `volume` matches a volume event's name by prefix and does not
/// restrict other types (Docker's behaviour). `label` is ignored.
pub fn matches(filters: &Filters, event: &EventMessage) -> bool {
    let exact = |key: &str, value: &str| {
        let want = filters.get(key);
        want.is_empty() || want.iter().any(|w| w == value)
    };
    if !exact("type", event.typ.as_str()) {
        return false;
    }
    let actions: Vec<&String> = filters
        .get("event")
        .iter()
        .chain(filters.get("action"))
        .collect();
    if !actions.is_empty() && !actions.iter().any(|a| **a == event.action) {
        return false;
    }
    if !filters.get("image").is_empty() {
        let name = if event.typ == EventType::Image {
            event.actor.attributes.get("name")
        } else {
            event.actor.attributes.get("image")
        }
        .map(String::as_str)
        .unwrap_or("");
        let id = event.actor.id.as_str();
        let hit = [id, name, strip_tag(id), strip_tag(name)]
            .iter()
            .any(|c| !c.is_empty() && filters.get("image").iter().any(|w| w == c));
        if !hit {
            return false;
        }
    }
    if !filters.get("container").is_empty() {
        if event.typ != EventType::Container {
            return false;
        }
        let id = event.actor.id.as_str();
        let name = event
            .actor
            .attributes
            .get("name")
            .map_or("", String::as_str);
        if !filters
            .get("container")
            .iter()
            .any(|w| id.starts_with(w.as_str()) || name == w)
        {
            return false;
        }
    }
    if !filters.get("label").is_empty() && !filters.labels_match("label", &event.actor.attributes) {
        return false;
    }
    if event.typ == EventType::Volume && !filters.get("volume").is_empty() {
        let id = event.actor.id.as_str();
        if !filters
            .get("volume")
            .iter()
            .any(|w| id.starts_with(w.as_str()))
        {
            return false;
        }
    }
    true
}

/// Parses `since`/`until` of `GET /events` into unix nanoseconds: unix seconds with an optional
/// fraction (`1700000000.5`, what the docker CLI sends) or RFC 3339. Relative durations
/// (`10m`) are the client's job, as with Docker.
pub fn parse_event_time(value: &str) -> Result<i64, crate::EngineError> {
    let bad = || {
        crate::EngineError::InvalidArgument(format!(
            "invalid time {value:?}: expected unix seconds or RFC 3339"
        ))
    };
    let v = value.trim();
    if let Some(first) = v.chars().next()
        && (first.is_ascii_digit() || first == '-')
        && v.chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == '-')
    {
        let (secs, frac) = v.split_once('.').unwrap_or((v, ""));
        let secs: i64 = secs.parse().map_err(|_| bad())?;
        if frac.len() > 9 || !frac.chars().all(|c| c.is_ascii_digit()) {
            return Err(bad());
        }
        let nanos: i64 = if frac.is_empty() {
            0
        } else {
            format!("{frac:0<9}").parse().map_err(|_| bad())?
        };
        return secs
            .checked_mul(1_000_000_000)
            .and_then(|s| s.checked_add(nanos))
            .ok_or_else(bad);
    }
    let t = time::OffsetDateTime::parse(v, &time::format_description::well_known::Rfc3339)
        .map_err(|_| bad())?;
    i64::try_from(t.unix_timestamp_nanos()).map_err(|_| bad())
}

/// `busybox:latest` → `busybox`; leaves digests, ids and registry ports alone.
fn strip_tag(name: &str) -> &str {
    if name.starts_with("sha256:") || name.contains('@') {
        return name;
    }
    match name.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => repo,
        _ => name,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filters(pairs: &[(&str, &str)]) -> Filters {
        let mut f = Filters::default();
        for (k, v) in pairs {
            f.add(*k, *v);
        }
        f
    }

    #[test]
    fn replay_honours_since_and_order() {
        let bus = EventBus::with_capacity(3);
        for i in 0..5 {
            bus.publish(EventMessage::new(
                EventType::Volume,
                "create",
                format!("v{i}"),
                BTreeMap::new(),
                (i + 1) * 1_000_000_000,
            ));
        }
        // Only the last 3 are kept; since = 4s keeps v3 and v4.
        let (all, _rx) = bus.subscribe(Some(0));
        let ids: Vec<_> = all.iter().map(|e| e.actor.id.as_str()).collect();
        assert_eq!(ids, ["v2", "v3", "v4"]);
        let (recent, _rx) = bus.subscribe(Some(4_000_000_000));
        assert_eq!(recent.len(), 2);
        let (none, _rx) = bus.subscribe(None);
        assert!(none.is_empty());
    }

    #[test]
    fn live_events_and_strictly_increasing_stamps() {
        let bus = EventBus::default();
        let (_, mut rx) = bus.subscribe(None);
        bus.emit(
            EventType::Image,
            "tag",
            "sha256:a",
            &[("name", "x:1".into())],
        );
        bus.emit(
            EventType::Image,
            "untag",
            "sha256:a",
            &[("name", "x:1".into())],
        );
        let a = rx.try_recv().unwrap();
        let b = rx.try_recv().unwrap();
        assert_eq!((a.action.as_str(), b.action.as_str()), ("tag", "untag"));
        assert!(b.time_nano > a.time_nano);
        assert_eq!(a.actor.attributes["name"], "x:1");
    }

    #[test]
    fn closed_and_full_subscribers_are_dropped() {
        let bus = EventBus::default();
        let (_, closed) = bus.subscribe(None);
        drop(closed);
        let (_, stuck) = bus.subscribe(None);
        let (_, mut live) = bus.subscribe(None);
        assert_eq!(bus.subscriber_count(), 3);
        bus.emit(EventType::Daemon, "reload", "d", &[]);
        assert_eq!(bus.subscriber_count(), 2);
        for _ in 0..SUBSCRIBER_QUEUE + 1 {
            bus.emit(EventType::Daemon, "reload", "d", &[]);
            while live.try_recv().is_ok() {}
        }
        assert_eq!(bus.subscriber_count(), 1);
        drop(stuck);
    }

    #[test]
    fn filters_follow_docker() {
        let img = EventMessage::new(
            EventType::Image,
            "tag",
            "sha256:abc",
            [("name".to_string(), "busybox:latest".to_string())].into(),
            1,
        );
        let vol = EventMessage::new(EventType::Volume, "create", "data1", BTreeMap::new(), 2);
        assert!(matches(&Filters::default(), &img));
        assert!(matches(&filters(&[("type", "image")]), &img));
        assert!(!matches(&filters(&[("type", "image")]), &vol));
        assert!(matches(&filters(&[("event", "create")]), &vol));
        assert!(!matches(&filters(&[("action", "create")]), &img));
        assert!(matches(&filters(&[("image", "busybox")]), &img));
        assert!(matches(&filters(&[("image", "busybox:latest")]), &img));
        assert!(matches(&filters(&[("image", "sha256:abc")]), &img));
        assert!(!matches(&filters(&[("image", "alpine")]), &img));
        assert!(!matches(&filters(&[("image", "busybox")]), &vol));
        assert!(matches(&filters(&[("volume", "data")]), &vol));
        assert!(!matches(&filters(&[("volume", "other")]), &vol));
        assert!(matches(&filters(&[("volume", "other")]), &img));
        assert!(
            !matches(&filters(&[("label", "a=b")]), &img),
            "no such label"
        );
        let ctr = EventMessage::new(
            EventType::Container,
            "start",
            "0123456789ab",
            [
                ("name".to_string(), "web".to_string()),
                ("a".to_string(), "b".to_string()),
            ]
            .into_iter()
            .collect(),
            1,
        );
        assert!(matches(&filters(&[("container", "web")]), &ctr));
        assert!(matches(&filters(&[("container", "0123")]), &ctr));
        assert!(!matches(&filters(&[("container", "db")]), &ctr));
        assert!(!matches(&filters(&[("container", "web")]), &img));
        assert!(matches(&filters(&[("label", "a=b")]), &ctr));
    }

    #[test]
    fn event_times_parse() {
        assert_eq!(parse_event_time("12").unwrap(), 12_000_000_000);
        assert_eq!(parse_event_time("12.5").unwrap(), 12_500_000_000);
        assert_eq!(parse_event_time("12.000000001").unwrap(), 12_000_000_001);
        assert_eq!(
            parse_event_time("1970-01-01T00:00:10Z").unwrap(),
            10_000_000_000
        );
        assert!(parse_event_time("10m").is_err());
        assert!(parse_event_time("1.2.3").is_err());
    }
}

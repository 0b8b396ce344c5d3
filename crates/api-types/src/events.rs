//! Event models: `GET /events`.
//!
//! Docker sends both the structured fields (`Type`, `Action`, `Actor`) and the legacy
//! top-level `status`/`id`/`from` trio, because old clients (and some SDKs) still read the
//! latter; Berth sends both so either kind of client works unchanged.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The object an event is about (`Type` in Docker's `EventMessage`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EventType {
    /// An image.
    Image,
    /// A volume.
    Volume,
    /// A container (emitted once containers exist).
    Container,
    /// A network (emitted once networks exist).
    Network,
    /// The daemon itself.
    Daemon,
}

impl EventType {
    /// Docker's lowercase name, as used by the `type` filter and the CLI's line format.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Image => "image",
            EventType::Volume => "volume",
            EventType::Container => "container",
            EventType::Network => "network",
            EventType::Daemon => "daemon",
        }
    }
}

/// The object an event is about: its id plus attributes such as `name`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventActor {
    /// Image id, volume name, …
    #[serde(rename = "ID", default)]
    pub id: String,
    /// Extra facts (`name`, `reclaimed`, …); `{}` when none.
    #[serde(rename = "Attributes", default)]
    pub attributes: BTreeMap<String, String>,
}

/// One event, as `GET /events` streams it (one JSON object per line).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventMessage {
    /// Legacy: the action (Docker sets it for image and container events).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub status: String,
    /// Legacy: the actor's id.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// Legacy: the image a container came from.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub from: String,
    /// The kind of object.
    #[serde(rename = "Type")]
    pub typ: EventType,
    /// What happened (`tag`, `delete`, `create`, …).
    #[serde(rename = "Action")]
    pub action: String,
    /// The object it happened to.
    #[serde(rename = "Actor")]
    pub actor: EventActor,
    /// `local` (or `swarm`, never sent by Berth).
    #[serde(default)]
    pub scope: String,
    /// Unix seconds.
    #[serde(default)]
    pub time: i64,
    /// Unix nanoseconds; orders events within a second.
    #[serde(rename = "timeNano", default)]
    pub time_nano: i64,
}

impl EventMessage {
    /// A new local event stamped with `time_nano` (unix ns); legacy fields are filled the way
    /// Docker fills them: `status` and `id` for image and container events, `from` (the image)
    /// for container events. Old clients (docker-py's `events(decode=True)` users, scripts
    /// reading `status`) still key on them.
    pub fn new(
        typ: EventType,
        action: &str,
        id: impl Into<String>,
        attributes: BTreeMap<String, String>,
        time_nano: i64,
    ) -> EventMessage {
        let id = id.into();
        let legacy = matches!(typ, EventType::Image | EventType::Container);
        let from = match typ {
            EventType::Container => attributes.get("image").cloned().unwrap_or_default(),
            _ => String::new(),
        };
        EventMessage {
            status: if legacy {
                action.to_string()
            } else {
                String::new()
            },
            id: if legacy { id.clone() } else { String::new() },
            from,
            typ,
            action: action.to_string(),
            actor: EventActor { id, attributes },
            scope: "local".to_string(),
            time: time_nano.div_euclid(1_000_000_000),
            time_nano,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_format_matches_docker() {
        let mut attrs = BTreeMap::new();
        attrs.insert("name".to_string(), "busybox:latest".to_string());
        let e = EventMessage::new(
            EventType::Image,
            "tag",
            "sha256:ab",
            attrs,
            1_500_000_000_123,
        );
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(v["Type"], "image");
        assert_eq!(v["Action"], "tag");
        assert_eq!(v["status"], "tag");
        assert_eq!(v["Actor"]["ID"], "sha256:ab");
        assert_eq!(v["Actor"]["Attributes"]["name"], "busybox:latest");
        assert_eq!(v["time"], 1500);
        assert_eq!(v["timeNano"], 1_500_000_000_123i64);
        assert_eq!(v["scope"], "local");
        let back: EventMessage = serde_json::from_value(v).unwrap();
        assert_eq!(back, e);
    }

    #[test]
    fn container_events_carry_the_legacy_fields() {
        let mut attrs = BTreeMap::new();
        attrs.insert("image".to_string(), "busybox".to_string());
        let e = EventMessage::new(EventType::Container, "start", "abc", attrs.clone(), 1);
        let v = serde_json::to_value(&e).unwrap();
        assert_eq!(
            (&v["status"], &v["id"], &v["from"]),
            (&"start".into(), &"abc".into(), &"busybox".into())
        );
        let n = EventMessage::new(EventType::Network, "create", "abc", attrs, 1);
        let v = serde_json::to_value(&n).unwrap();
        assert!(v.get("status").is_none() && v.get("from").is_none(), "{v}");
    }
}

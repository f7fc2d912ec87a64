//! The event bus behind `GET /events`: a broadcast channel for live subscribers and a
//! bounded buffer of recent events for `--since`.

use crate::Engine;
use berth_model::api::{EventActor, EventMessage, EventsOptions};
use berth_model::Result;
use futures_util::stream::BoxStream;
use futures_util::StreamExt;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use tokio::sync::broadcast;

const RECENT: usize = 1024;

pub struct EventBus {
    live: broadcast::Sender<EventMessage>,
    recent: Mutex<VecDeque<EventMessage>>,
}

impl Default for EventBus {
    fn default() -> Self {
        Self {
            live: broadcast::channel(256).0,
            recent: Mutex::new(VecDeque::new()),
        }
    }
}

impl EventBus {
    pub fn publish(
        &self,
        kind: &str,
        action: &str,
        id: &str,
        attributes: BTreeMap<String, String>,
    ) {
        let now = chrono::Utc::now();
        let nanos = now.timestamp_nanos_opt().unwrap_or(0);
        let legacy = kind == "container" || kind == "image";
        let msg = EventMessage {
            status: if legacy {
                action.to_string()
            } else {
                String::new()
            },
            id: if legacy {
                id.to_string()
            } else {
                String::new()
            },
            from: if kind == "container" {
                attributes.get("image").cloned().unwrap_or_default()
            } else {
                String::new()
            },
            kind: kind.to_string(),
            action: action.to_string(),
            actor: EventActor {
                id: id.to_string(),
                attributes,
            },
            scope: "local".into(),
            time: nanos / 1_000_000_000,
            time_nano: nanos,
        };
        {
            let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
            if recent.len() == RECENT {
                recent.pop_front();
            }
            recent.push_back(msg.clone());
        }
        let _ = self.live.send(msg);
    }
}

/// Docker's event filters: container (ID prefix or name), image, event (action, where
/// `exec_create` also matches `exec_create: cmd`), type, label.
pub fn matches(e: &EventMessage, filters: &BTreeMap<String, Vec<String>>) -> bool {
    filters.iter().all(|(k, vals)| {
        vals.is_empty()
            || vals.iter().any(|v| match k.as_str() {
                "container" => {
                    e.kind == "container"
                        && (e.actor.id.starts_with(v.as_str())
                            || e.actor.attributes.get("name").is_some_and(|n| n == v))
                }
                "image" => {
                    e.actor.attributes.get("image").is_some_and(|i| i == v)
                        || (e.kind == "image"
                            && (e.actor.id == *v
                                || e.actor.attributes.get("name").is_some_and(|n| n == v)))
                }
                "volume" => e.kind == "volume" && e.actor.id.starts_with(v.as_str()),
                "event" => e.action == *v || e.action.split(':').next() == Some(v.as_str()),
                "type" => e.kind == *v,
                "label" => match v.split_once('=') {
                    Some((lk, lv)) => e.actor.attributes.get(lk).is_some_and(|x| x == lv),
                    None => e.actor.attributes.contains_key(v.as_str()),
                },
                _ => true,
            })
    })
}

impl Engine {
    pub(crate) fn emit(
        &self,
        kind: &str,
        action: &str,
        id: &str,
        attributes: BTreeMap<String, String>,
    ) {
        self.events.publish(kind, action, id, attributes);
    }

    /// A container event with Docker's attributes: image, name and the labels.
    pub(crate) fn emit_container(
        &self,
        c: &crate::container::Container,
        action: &str,
        extra: &[(&str, String)],
    ) {
        let r = c.record();
        let mut attrs: BTreeMap<String, String> = r.config.labels.clone().unwrap_or_default();
        attrs.insert("image".into(), r.config.image.clone());
        attrs.insert("name".into(), r.name.clone());
        for (k, v) in extra {
            attrs.insert((*k).to_string(), v.clone());
        }
        self.emit("container", action, &r.id, attrs);
    }

    pub async fn events(&self, opts: EventsOptions) -> Result<BoxStream<'static, EventMessage>> {
        // Subscribe first so nothing falls between the buffer and the live feed.
        let rx = self.events.live.subscribe();
        let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
        let in_range = move |e: &EventMessage| {
            opts.since.is_none_or(|s| e.time_nano >= s)
                && opts.until.is_none_or(|u| e.time_nano <= u)
        };
        let filters = opts.filters.clone();
        let past: Vec<EventMessage> = if opts.since.is_some() {
            let recent = self.events.recent.lock().unwrap_or_else(|p| p.into_inner());
            recent
                .iter()
                .filter(|e| in_range(e) && matches(e, &filters))
                .cloned()
                .collect()
        } else {
            Vec::new()
        };
        let last_past = past.last().map(|e| e.time_nano).unwrap_or(i64::MIN);
        let past = futures_util::stream::iter(past);
        if opts.until.is_some_and(|u| u <= now) {
            return Ok(past.boxed());
        }
        let until = opts.until;
        let live = futures_util::stream::unfold(rx, move |mut rx| {
            let filters = filters.clone();
            async move {
                loop {
                    let next = match until {
                        Some(u) => {
                            let wait = (u - chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0))
                                .max(0) as u64;
                            match tokio::time::timeout(
                                std::time::Duration::from_nanos(wait),
                                rx.recv(),
                            )
                            .await
                            {
                                Ok(r) => r,
                                Err(_) => return None,
                            }
                        }
                        None => rx.recv().await,
                    };
                    match next {
                        Ok(e) if e.time_nano > last_past && matches(&e, &filters) => {
                            return Some((e, rx))
                        }
                        Ok(_) => continue,
                        Err(broadcast::error::RecvError::Lagged(_)) => continue,
                        Err(broadcast::error::RecvError::Closed) => return None,
                    }
                }
            }
        });
        Ok(past.chain(live).boxed())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: &str, action: &str, name: &str) -> EventMessage {
        let mut attrs = BTreeMap::new();
        attrs.insert("name".to_string(), name.to_string());
        attrs.insert("image".to_string(), "busybox".to_string());
        EventMessage {
            kind: kind.into(),
            action: action.into(),
            actor: EventActor {
                id: "abc123".into(),
                attributes: attrs,
            },
            ..Default::default()
        }
    }

    #[test]
    fn filters_like_docker() {
        let f = |k: &str, v: &str| BTreeMap::from([(k.to_string(), vec![v.to_string()])]);
        let e = ev("container", "exec_create: sh -c true", "web");
        assert!(matches(&e, &f("container", "web")));
        assert!(matches(&e, &f("container", "abc")));
        assert!(!matches(&e, &f("container", "db")));
        assert!(matches(&e, &f("event", "exec_create")));
        assert!(!matches(&e, &f("event", "start")));
        assert!(matches(&e, &f("image", "busybox")));
        assert!(matches(&e, &f("type", "container")));
        assert!(!matches(&e, &f("type", "image")));
        assert!(!matches(&e, &f("volume", "abc")));
        let v = ev("volume", "mount", "");
        assert!(matches(&v, &f("volume", "abc123")));
        assert!(matches(&v, &f("volume", "abc")));
        assert!(!matches(&v, &f("volume", "other")));
    }

    #[tokio::test]
    async fn since_replays_and_until_ends() {
        let bus = EventBus::default();
        bus.publish("container", "create", "a", BTreeMap::new());
        bus.publish("container", "start", "a", BTreeMap::new());
        let recent: Vec<_> = bus
            .recent
            .lock()
            .unwrap()
            .iter()
            .map(|e| e.action.clone())
            .collect();
        assert_eq!(recent, vec!["create", "start"]);
    }
}

//! A subscription's choice of SSE event types.

use std::{fmt, sync::Arc};

use bytestring::ByteString;

use crate::{ConfigError, Payload};

/// The SSE event types an inbound subscription takes (see
/// [`Subscribe::event_types`](crate::Subscribe::event_types)): events of
/// other types, and payloads that are not events (text, binary, comments),
/// are left out before the mailbox hop, so they cost the subscriber no
/// message. Names match exactly (`"message"` is the type of events without
/// an `event:` field).
///
/// ```
/// use actix_tether::{sse::SseEvent, EventTypes, Payload};
/// let types = EventTypes::new(["connected", "error"]);
/// assert!(types.matches(&Payload::Event(SseEvent::new("error", "boom", None))));
/// assert!(!types.matches(&Payload::Event(SseEvent::new("heartbeat", "", None))));
/// assert!(!types.matches(&Payload::text("connected")));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct EventTypes(Arc<[ByteString]>);

impl EventTypes {
    /// The event types `types` (duplicates are kept once).
    pub fn new<T: Into<ByteString>>(types: impl IntoIterator<Item = T>) -> Self {
        let mut names: Vec<ByteString> = Vec::new();
        for name in types.into_iter().map(Into::into) {
            if !names.contains(&name) {
                names.push(name);
            }
        }
        Self(names.into())
    }

    /// Whether `payload` is an event of one of these types.
    #[inline]
    pub fn matches(&self, payload: &Payload) -> bool {
        match payload {
            Payload::Event(event) => self.0.iter().any(|name| name == event.event()),
            _ => false,
        }
    }

    /// Whether `event` is one of these types.
    #[inline]
    pub(crate) fn matches_type(&self, event: &str) -> bool {
        self.0.iter().any(|name| name == event)
    }

    /// The types, in the order given.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|name| &**name)
    }

    /// Checks that the filter lets something through.
    ///
    /// # Errors
    /// No type at all, as a config error.
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.0.is_empty() {
            return Err(ConfigError::new(
                "event_types",
                "must name at least one event type",
            ));
        }
        Ok(())
    }
}

impl fmt::Debug for EventTypes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::EventTypes;
    use crate::{sse::SseEvent, Payload};

    fn event(event: &str) -> Payload {
        Payload::Event(SseEvent::new(event, "data", Some("1")))
    }

    #[test]
    fn matches_event_types_exactly_and_nothing_else() {
        let types = EventTypes::new(["tool-request", "message", "tool-request"]);
        assert_eq!(
            types.names().collect::<Vec<_>>(),
            ["tool-request", "message"]
        );
        assert!(types.matches(&event("tool-request")));
        assert!(types.matches(&event("message")));
        assert!(!types.matches(&event("tool-request ")));
        assert!(!types.matches(&event("Tool-Request")));
        assert!(!types.matches(&Payload::text("tool-request")));
        assert!(!types.matches(&Payload::binary(&b"message"[..])));
        assert!(!types.matches(&Payload::Comment("message".into())));
        assert!(types.validate().is_ok());
        assert!(EventTypes::new(Vec::<String>::new()).validate().is_err());
    }
}

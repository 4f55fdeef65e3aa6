//! Endpoint identity and transport kind.

use std::{fmt, sync::Arc};

/// The name of an endpoint, unique within one [`SupervisorActor`](crate::SupervisorActor).
///
/// Cloning is a reference-count increment, so ids ride along every event cheaply.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
#[serde(transparent)]
pub struct EndpointId(Arc<str>);

impl EndpointId {
    /// Creates an id from any string.
    pub fn new(id: impl AsRef<str>) -> Self {
        Self(Arc::from(id.as_ref()))
    }

    /// The id as a string slice.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for EndpointId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for EndpointId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl From<&str> for EndpointId {
    fn from(id: &str) -> Self {
        Self::new(id)
    }
}

impl From<String> for EndpointId {
    fn from(id: String) -> Self {
        Self(Arc::from(id))
    }
}

impl AsRef<str> for EndpointId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// The transport an endpoint speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum TransportKind {
    /// WebSocket over `ws://` or `wss://`.
    WebSocket,
    /// Server-Sent Events over `http://` or `https://`.
    Sse,
    /// Raw TCP over `tcp://` or `tcps://` (TLS), framed by the endpoint's
    /// [`Framing`](crate::config::Framing).
    Tcp,
    /// A transport of your own (see [`transport`](crate::transport)).
    Custom,
}

impl TransportKind {
    /// Whether endpoints of this kind send messages (SSE is receive-only).
    pub const fn can_send(self) -> bool {
        !matches!(self, Self::Sse)
    }

    /// The URL schemes endpoints of this kind accept; empty for any.
    pub(crate) const fn schemes(self) -> &'static [&'static str] {
        match self {
            Self::WebSocket => &["ws", "wss"],
            Self::Sse => &["http", "https"],
            Self::Tcp => &["tcp", "tcps"],
            Self::Custom => &[],
        }
    }

    /// A short lowercase name for logs.
    pub const fn name(self) -> &'static str {
        match self {
            Self::WebSocket => "websocket",
            Self::Sse => "sse",
            Self::Tcp => "tcp",
            Self::Custom => "custom",
        }
    }
}

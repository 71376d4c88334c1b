//! The client's errors. Each keeps its cause as `source()`, and says what was being done; nothing is
//! printed by the library: a terminal UI decides where errors go.

use std::time::Duration;

use crate::codes::ErrorCode;
use crate::protocol::DecodeError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A ZeroMQ call failed (not a timeout: those are [`Error::Timeout`]).
    #[error("zmq: {op}")]
    Transport {
        op: &'static str,
        #[source]
        source: zmq::Error,
    },
    /// No reply in time. The request socket has been closed and opened again, so the request will
    /// not be delivered later; a `generate` retried with the same id is idempotent.
    #[error("timeout: no reply to {request} from the worker at {addr} within {waited:?}")]
    Timeout {
        request: &'static str,
        addr: String,
        waited: Duration,
    },
    /// The event subscription did not become live in time (no `worker.stats` arrived).
    #[error("timeout: no worker.stats event from {addr} within {waited:?}")]
    SubscribeTimeout { addr: String, waited: Duration },
    /// A job being followed did not end in time.
    #[error("timeout: job {job_id} did not end within {waited:?}")]
    FollowTimeout { job_id: String, waited: Duration },
    #[error("could not encode a {request} request")]
    Encode {
        request: &'static str,
        #[source]
        source: rmp_serde::encode::Error,
    },
    /// A reply or event that does not decode as the protocol says.
    #[error("could not decode {what}")]
    Decode {
        what: String,
        #[source]
        source: DecodeError,
    },
    /// A reply of another type than the request calls for.
    #[error("the worker answered {request} with {got}")]
    UnexpectedReply { request: &'static str, got: &'static str },
    #[error("the worker answered with protocol version {got}")]
    Version { got: u32 },
    /// The worker answered `error`.
    #[error("CURVE keys: {0}")]
    Keys(String),
    #[error("the worker answered {code}: {message}")]
    Worker { code: ErrorCode, message: String },
    /// The background thread of a [`Handle`](crate::Handle) has ended.
    #[error("the client's background thread has stopped")]
    Stopped,
}

impl Error {
    pub(crate) fn zmq(op: &'static str) -> impl FnOnce(zmq::Error) -> Error {
        move |source| Error::Transport { op, source }
    }

    /// Nothing arrived in time (a reply, the subscription, the end of a job).
    pub fn is_timeout(&self) -> bool {
        matches!(
            self,
            Error::Timeout { .. } | Error::SubscribeTimeout { .. } | Error::FollowTimeout { .. }
        )
    }

    /// The worker's error code, when it answered `error`.
    pub fn code(&self) -> Option<&ErrorCode> {
        match self {
            Error::Worker { code, .. } => Some(code),
            _ => None,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

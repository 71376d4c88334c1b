//! The two sockets, each with bounded waits.
//!
//! Requests go over a DEALER that is closed and opened again whenever a request times out: a DEALER
//! keeps unsent messages queued and delivers them once the worker is reachable, so a `generate` the
//! caller believes failed would otherwise become a job later (and a retry a second one). With
//! ZMQ_IMMEDIATE nothing is queued for a connection that is not up, and ZMQ_SNDTIMEO bounds the send.

use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::protocol::{self, decode_reply, Event, Reply, ReqId, Request, PROTOCOL_VERSION};

/// Milliseconds left until `deadline`, as ZeroMQ's timeouts take them.
fn remaining_ms(deadline: Instant) -> i64 {
    deadline
        .saturating_duration_since(Instant::now())
        .as_millis()
        .min(i32::MAX as u128) as i64
}

/// The DEALER side of the request socket.
pub(crate) struct RequestSocket {
    context: zmq::Context,
    socket: zmq::Socket,
    addr: String,
    next_req_id: i64,
}

impl RequestSocket {
    pub fn connect(context: &zmq::Context, addr: &str) -> Result<Self> {
        Ok(RequestSocket {
            context: context.clone(),
            socket: Self::open(context, addr)?,
            addr: addr.to_owned(),
            next_req_id: 1,
        })
    }

    fn open(context: &zmq::Context, addr: &str) -> Result<zmq::Socket> {
        let socket = context
            .socket(zmq::DEALER)
            .map_err(Error::zmq("create the request socket"))?;
        // Closing drops whatever is still queued: that is the point of reopening after a timeout.
        socket.set_linger(0).map_err(Error::zmq("set ZMQ_LINGER"))?;
        socket.set_immediate(true).map_err(Error::zmq("set ZMQ_IMMEDIATE"))?;
        crate::curve::apply_from_env(&socket)?; // PIXFLOW_SERVER_KEY, PIXFLOW_CLIENT_KEY (docs/security.md)
        socket.connect(addr).map_err(Error::zmq("connect the request socket"))?;
        Ok(socket)
    }

    /// Forget everything in flight: a new socket (a new identity, so even a reply the worker is
    /// about to send for an old request never reaches us).
    fn reopen(&mut self) -> Result<()> {
        self.socket = Self::open(&self.context, &self.addr)?;
        Ok(())
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Send `request` with a fresh `req_id` and wait at most `timeout` for its reply (an `error`
    /// reply included). Replies to other requests, and payloads that are not replies, are skipped.
    pub fn request(&mut self, mut request: Request, timeout: Duration) -> Result<Reply> {
        let deadline = Instant::now() + timeout;
        let req_id = ReqId::Int(self.next_req_id);
        self.next_req_id += 1;
        *request.req_id_mut() = Some(req_id.clone());
        let kind = request.type_name();
        let payload = protocol::encode(&request).map_err(|source| Error::Encode { request: kind, source })?;
        let timed_out = |this: &mut Self| -> Error {
            // Best effort: if reopening fails the next request reports it.
            let _ = this.reopen();
            Error::Timeout {
                request: kind,
                addr: this.addr.clone(),
                waited: timeout,
            }
        };

        self.socket
            .set_sndtimeo(remaining_ms(deadline) as i32)
            .map_err(Error::zmq("set ZMQ_SNDTIMEO"))?;
        match self.socket.send_multipart([&b""[..], &payload[..]], 0) {
            Ok(()) => {}
            // No connection to the worker within the time left (ZMQ_IMMEDIATE).
            Err(zmq::Error::EAGAIN) => return Err(timed_out(self)),
            Err(source) => {
                return Err(Error::Transport {
                    op: "send a request",
                    source,
                })
            }
        }

        loop {
            let ms = remaining_ms(deadline);
            let ready = self
                .socket
                .poll(zmq::POLLIN, ms)
                .map_err(Error::zmq("poll the request socket"))?;
            if ready == 0 {
                return Err(timed_out(self));
            }
            let frames = match self.socket.recv_multipart(zmq::DONTWAIT) {
                Ok(frames) => frames,
                Err(zmq::Error::EAGAIN) => continue,
                Err(source) => {
                    return Err(Error::Transport {
                        op: "receive a reply",
                        source,
                    })
                }
            };
            // ["", reply]; anything else is not a reply of this protocol.
            if frames.len() != 2 || !frames[0].is_empty() {
                continue;
            }
            match decode_reply(&frames[1]) {
                Ok(reply) if reply.req_id() == Some(&req_id) => {
                    if reply.version() != PROTOCOL_VERSION {
                        return Err(Error::Version { got: reply.version() });
                    }
                    return Ok(reply);
                }
                Ok(_) => continue, // the late reply of an earlier request
                // Undecodable: ours only if it names our req_id; someone else's must not abort us.
                Err(source) if reply_req_id(&frames[1]).as_ref() == Some(&req_id) => {
                    return Err(Error::Decode {
                        what: format!("the reply to {kind}"),
                        source,
                    })
                }
                Err(_) => continue,
            }
        }
    }
}

/// The `req_id` of a payload that may not decode as a whole.
fn reply_req_id(payload: &[u8]) -> Option<ReqId> {
    #[derive(Deserialize)]
    struct Only {
        req_id: Option<ReqId>,
    }
    rmp_serde::from_slice::<Only>(payload).ok()?.req_id
}

/// The SUB side of the event socket.
pub(crate) struct EventSocket {
    socket: zmq::Socket,
    addr: String,
}

impl EventSocket {
    pub fn connect(context: &zmq::Context, addr: &str) -> Result<Self> {
        let socket = context
            .socket(zmq::SUB)
            .map_err(Error::zmq("create the event socket"))?;
        socket.set_linger(0).map_err(Error::zmq("set ZMQ_LINGER"))?;
        crate::curve::apply_from_env(&socket)?;
        socket.connect(addr).map_err(Error::zmq("connect the event socket"))?;
        Ok(EventSocket {
            socket,
            addr: addr.to_owned(),
        })
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    pub fn subscribe(&self, topic: &str) -> Result<()> {
        self.socket
            .set_subscribe(topic.as_bytes())
            .map_err(Error::zmq("subscribe"))
    }

    pub fn unsubscribe(&self, topic: &str) -> Result<()> {
        self.socket
            .set_unsubscribe(topic.as_bytes())
            .map_err(Error::zmq("unsubscribe"))
    }

    /// The next event within `wait` (zero: only what has already arrived). Messages of unknown
    /// topics and of the wrong shape are skipped; an undecodable payload is an `Err` for that one
    /// message, and the next call goes on with the next.
    pub fn recv(&self, wait: Duration) -> Result<Option<(String, Event)>> {
        let deadline = Instant::now() + wait;
        loop {
            let ms = remaining_ms(deadline);
            if self
                .socket
                .poll(zmq::POLLIN, ms)
                .map_err(Error::zmq("poll the event socket"))?
                == 0
            {
                return Ok(None);
            }
            let frames = match self.socket.recv_multipart(zmq::DONTWAIT) {
                Ok(frames) => frames,
                Err(zmq::Error::EAGAIN) => continue,
                Err(source) => {
                    return Err(Error::Transport {
                        op: "receive an event",
                        source,
                    })
                }
            };
            if frames.len() != 2 {
                continue;
            }
            let topic = String::from_utf8_lossy(&frames[0]).into_owned();
            match Event::decode(&topic, &frames[1]) {
                Ok(event) => return Ok(Some((topic, event))),
                Err(protocol::DecodeError::UnknownTopic(_)) => continue,
                Err(source) => {
                    return Err(Error::Decode {
                        what: format!("an event on {topic}"),
                        source,
                    })
                }
            }
        }
    }
}

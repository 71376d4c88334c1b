//! A blocking client: requests over a DEALER socket, events over a SUB socket. Every wait has a
//! timeout.

use std::time::{Duration, Instant};

use crate::protocol::{
    self, decode_reply, job_topic, Event, Reply, ReqId, Request, JOB_TOPIC_PREFIXES, PROTOCOL_VERSION, TOPIC_STATS,
};

#[derive(Debug)]
pub enum ClientError {
    Zmq(zmq::Error),
    /// Nothing arrived in time.
    Timeout(String),
    /// A payload that does not decode as the protocol says.
    Decode(String),
    /// The worker answered `error`.
    Worker {
        code: String,
        message: String,
    },
}

impl std::fmt::Display for ClientError {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        match self {
            ClientError::Zmq(e) => write!(f, "zmq: {e}"),
            ClientError::Timeout(what) => write!(f, "timeout: {what}"),
            ClientError::Decode(what) => write!(f, "decode: {what}"),
            ClientError::Worker { code, message } => write!(f, "{code}: {message}"),
        }
    }
}

impl std::error::Error for ClientError {}

impl From<zmq::Error> for ClientError {
    fn from(e: zmq::Error) -> Self {
        ClientError::Zmq(e)
    }
}

pub type Result<T> = std::result::Result<T, ClientError>;

pub struct Client {
    _context: zmq::Context,
    dealer: zmq::Socket,
    sub: zmq::Socket,
    pub req_addr: String,
    pub pub_addr: String,
    /// How long a request waits for its reply.
    pub timeout: Duration,
    next_req_id: i64,
}

fn remaining_ms(deadline: Instant) -> i64 {
    deadline.saturating_duration_since(Instant::now()).as_millis() as i64
}

impl Client {
    /// Connect both sockets (ZeroMQ connects lazily: nothing fails here if the worker is down).
    pub fn connect(req_addr: &str, pub_addr: &str, timeout: Duration) -> Result<Client> {
        let context = zmq::Context::new();
        let dealer = context.socket(zmq::DEALER)?;
        dealer.set_linger(0)?;
        dealer.connect(req_addr)?;
        let sub = context.socket(zmq::SUB)?;
        sub.set_linger(0)?;
        sub.connect(pub_addr)?;
        Ok(Client {
            _context: context,
            dealer,
            sub,
            req_addr: req_addr.to_owned(),
            pub_addr: pub_addr.to_owned(),
            timeout,
            next_req_id: 1,
        })
    }

    // Requests -----------------------------------------------------------------------------------

    /// Send a request with a fresh `req_id` and return its reply (an `error` reply included).
    /// The DEALER envelope: `["", payload]` out, `["", reply]` back.
    pub fn request(&mut self, mut request: Request) -> Result<Reply> {
        let req_id = ReqId::Int(self.next_req_id);
        self.next_req_id += 1;
        *request.req_id_mut() = Some(req_id.clone());
        let payload = protocol::encode(&request).map_err(|e| ClientError::Decode(format!("encode: {e}")))?;
        self.dealer.send_multipart([&b""[..], &payload[..]], 0)?;

        let deadline = Instant::now() + self.timeout;
        loop {
            let ms = remaining_ms(deadline);
            if ms <= 0 || self.dealer.poll(zmq::POLLIN, ms)? == 0 {
                return Err(ClientError::Timeout(format!(
                    "no reply to {} from the worker at {} within {:?}",
                    request.type_name(),
                    self.req_addr,
                    self.timeout
                )));
            }
            let frames = self.dealer.recv_multipart(0)?;
            // ["", reply]; anything else is not a reply of this protocol.
            if frames.len() != 2 || !frames[0].is_empty() {
                eprintln!("pixflow-client: ignoring a reply of {} frames", frames.len());
                continue;
            }
            let reply = decode_reply(&frames[1]).map_err(|e| ClientError::Decode(format!("reply: {e}")))?;
            if reply.req_id() != Some(&req_id) {
                continue; // the late reply of an earlier request that timed out
            }
            if reply.version() != PROTOCOL_VERSION {
                return Err(ClientError::Decode(format!(
                    "reply has protocol version {}",
                    reply.version()
                )));
            }
            return Ok(reply);
        }
    }

    /// Like [`request`](Self::request), but an `error` reply becomes `Err(ClientError::Worker)`.
    pub fn call(&mut self, request: Request) -> Result<Reply> {
        match self.request(request)? {
            Reply::Error { code, message, .. } => Err(ClientError::Worker { code, message }),
            reply => Ok(reply),
        }
    }

    // Events -------------------------------------------------------------------------------------

    pub fn subscribe(&mut self, topic: &str) -> Result<()> {
        Ok(self.sub.set_subscribe(topic.as_bytes())?)
    }

    pub fn unsubscribe(&mut self, topic: &str) -> Result<()> {
        Ok(self.sub.set_unsubscribe(topic.as_bytes())?)
    }

    /// The four topics of one job.
    pub fn subscribe_job(&mut self, job_id: &str) -> Result<()> {
        for prefix in JOB_TOPIC_PREFIXES {
            self.subscribe(&job_topic(prefix, job_id))?;
        }
        Ok(())
    }

    /// ZeroMQ's slow joiner: a SUB receives nothing published before its subscription reached the
    /// PUB. Subscriptions travel in order, so once a `worker.stats` event (subscribed after the
    /// others) arrives, the earlier subscriptions are live too.
    pub fn wait_subscribed(&mut self, timeout: Duration) -> Result<()> {
        self.subscribe(TOPIC_STATS)?;
        let deadline = Instant::now() + timeout;
        loop {
            match self.next_event(deadline)? {
                Some((topic, _)) if topic == TOPIC_STATS => break,
                Some(_) => continue,
                None => {
                    return Err(ClientError::Timeout(format!(
                        "no worker.stats event from {} within {timeout:?}",
                        self.pub_addr
                    )))
                }
            }
        }
        self.unsubscribe(TOPIC_STATS)
    }

    /// The next event, or `None` at the deadline. Events of unknown topics are skipped.
    pub fn next_event(&mut self, deadline: Instant) -> Result<Option<(String, Event)>> {
        loop {
            let ms = remaining_ms(deadline);
            if ms <= 0 || self.sub.poll(zmq::POLLIN, ms)? == 0 {
                return Ok(None);
            }
            let frames = self.sub.recv_multipart(0)?;
            if frames.len() != 2 {
                eprintln!("pixflow-client: ignoring an event of {} frames", frames.len());
                continue;
            }
            let topic = String::from_utf8_lossy(&frames[0]).into_owned();
            match Event::decode(&topic, &frames[1]) {
                Ok(event) => return Ok(Some((topic, event))),
                Err(protocol::DecodeError::UnknownTopic(_)) => continue,
                Err(e) => return Err(ClientError::Decode(format!("event on {topic}: {e}"))),
            }
        }
    }
}

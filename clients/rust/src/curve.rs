//! CURVE keys (docs/security.md): when `PIXFLOW_SERVER_KEY` (the worker's `NAME.key`, or its 40 z85
//! characters) and `PIXFLOW_CLIENT_KEY` (this client's `NAME.key_secret`) are set, both sockets
//! encrypt and authenticate with them; with neither, they speak plain ZeroMQ.

use std::path::Path;

use crate::error::{Error, Result};

pub const ENV_SERVER_KEY: &str = "PIXFLOW_SERVER_KEY";
pub const ENV_CLIENT_KEY: &str = "PIXFLOW_CLIENT_KEY";

/// z85 keys, as zmq certificate files hold them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurveKeys {
    pub server_public: String,
    pub public: String,
    pub secret: String,
}

/// The value of `name = "..."` in a zmq certificate file.
fn field(text: &str, name: &str) -> Option<String> {
    text.lines().map(str::trim).find_map(|line| {
        let (key, value) = line.split_once('=')?;
        (key.trim() == name).then(|| value.trim().trim_matches(|c| c == '"' || c == '\'').to_owned())
    })
}

fn read(path: &str) -> Result<String> {
    std::fs::read_to_string(path).map_err(|e| Error::Keys(format!("cannot read the key file {path}: {e}")))
}

impl CurveKeys {
    /// `server`: a `NAME.key` file or 40 z85 characters; `client`: a `NAME.key_secret` file.
    pub fn from_files(server: &str, client: &str) -> Result<Self> {
        let server_public = if server.len() == 40 && !Path::new(server).exists() {
            server.to_owned()
        } else {
            field(&read(server)?, "public-key").ok_or_else(|| Error::Keys(format!("no public-key in {server}")))?
        };
        let text = read(client)?;
        let public = field(&text, "public-key").ok_or_else(|| Error::Keys(format!("no public-key in {client}")))?;
        let secret = field(&text, "secret-key")
            .ok_or_else(|| Error::Keys(format!("no secret-key in {client}: give the NAME.key_secret file")))?;
        Ok(CurveKeys {
            server_public,
            public,
            secret,
        })
    }

    /// From the environment: `None` when neither variable is set.
    pub fn from_env() -> Result<Option<Self>> {
        let server = std::env::var(ENV_SERVER_KEY).ok().filter(|v| !v.is_empty());
        let client = std::env::var(ENV_CLIENT_KEY).ok().filter(|v| !v.is_empty());
        match (server, client) {
            (None, None) => Ok(None),
            (Some(server), Some(client)) => Self::from_files(&server, &client).map(Some),
            _ => Err(Error::Keys(format!(
                "CURVE needs both {ENV_SERVER_KEY} and {ENV_CLIENT_KEY}"
            ))),
        }
    }

    /// Before connect.
    pub fn apply(&self, socket: &zmq::Socket) -> Result<()> {
        socket
            .set_curve_serverkey(self.server_public.as_bytes())
            .map_err(Error::zmq("set ZMQ_CURVE_SERVERKEY"))?;
        socket
            .set_curve_publickey(self.public.as_bytes())
            .map_err(Error::zmq("set ZMQ_CURVE_PUBLICKEY"))?;
        socket
            .set_curve_secretkey(self.secret.as_bytes())
            .map_err(Error::zmq("set ZMQ_CURVE_SECRETKEY"))
    }
}

/// Keys from the environment on a socket about to connect (nothing when none are set).
pub(crate) fn apply_from_env(socket: &zmq::Socket) -> Result<()> {
    match CurveKeys::from_env()? {
        Some(keys) => keys.apply(socket),
        None => Ok(()),
    }
}

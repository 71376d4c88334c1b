//! CURVE keys (docs/security.md): when `PIXFLOW_SERVER_KEY` (the worker's `NAME.key`, or its 40 z85
//! characters) and `PIXFLOW_CLIENT_KEY` (this client's `NAME.key_secret`) are set, both sockets
//! encrypt and authenticate with them; with neither, they speak plain ZeroMQ. A program may give
//! them instead (the CLI's `--server-key`, `--client-key`) with [`set_key_files`]: a key given there
//! wins over its variable.

use std::path::Path;
use std::sync::OnceLock;

use crate::error::{Error, Result};

pub const ENV_SERVER_KEY: &str = "PIXFLOW_SERVER_KEY";
pub const ENV_CLIENT_KEY: &str = "PIXFLOW_CLIENT_KEY";

/// Keys given by the program (`--server-key`, `--client-key`), ahead of the environment.
static GIVEN: OnceLock<(Option<String>, Option<String>)> = OnceLock::new();

/// The worker's public key and this client's keypair for every socket this process opens from now
/// on, ahead of `PIXFLOW_SERVER_KEY` / `PIXFLOW_CLIENT_KEY` (`None`: that variable, if set). Only the
/// first call counts; false when keys were already given.
pub fn set_key_files(server: Option<String>, client: Option<String>) -> bool {
    GIVEN.set((server, client)).is_ok()
}

/// The given key, else the variable's value; empty counts as unset.
fn given_or_env(given: Option<&String>, name: &str) -> Option<String> {
    given
        .cloned()
        .or_else(|| std::env::var(name).ok())
        .filter(|v| !v.is_empty())
}

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

    /// From [`set_key_files`] and the environment: `None` when no key is given or set.
    pub fn from_env() -> Result<Option<Self>> {
        let (given_server, given_client) = match GIVEN.get() {
            Some((server, client)) => (server.as_ref(), client.as_ref()),
            None => (None, None),
        };
        let server = given_or_env(given_server, ENV_SERVER_KEY);
        let client = given_or_env(given_client, ENV_CLIENT_KEY);
        match (server, client) {
            (None, None) => Ok(None),
            (Some(server), Some(client)) => Self::from_files(&server, &client).map(Some),
            _ => Err(Error::Keys(format!(
                "CURVE needs both the worker's public key (--server-key, {ENV_SERVER_KEY}) and this \
                 client's keypair (--client-key, {ENV_CLIENT_KEY})"
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

//! A Rust client of the pixflow wire protocol v1: typed messages ([`protocol`]), a blocking
//! DEALER + SUB client ([`client`]) and a checker for docs/protocol-vectors.json ([`vectors`]).

pub mod client;
pub mod hex;
pub mod protocol;
pub mod value;
pub mod vectors;

pub use client::{Client, ClientError};
pub use protocol::*;
pub use value::{OrderedMap, Value};

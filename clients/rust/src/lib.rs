//! A Rust client of the pixflow wire protocol v1 (docs/protocol.md), in three layers:
//!
//! - [`protocol`]: typed messages (serde, MessagePack maps) and [`codes`] for the error codes;
//! - [`Client`]: blocking, for simple programs: typed requests, [`Client::try_next_event`] for a
//!   tick, and [`Client::follow`] to follow a job through its events with `seq` tracking;
//! - [`Handle`]: for UI loops: a thread owns the sockets and sends [`Update`]s over a channel.
//!
//! `generate` always carries a job id (a new UUID when the caller chose none), and a request that
//! times out is dropped with its socket, so a timeout never turns into a job later and a retry
//! never into a second one. The library prints nothing and does not panic on any input.
//!
//! The README follows (its examples are compiled as doctests).
#![doc = include_str!("../README.md")]

pub mod client;
pub mod codes;
pub mod curve;
pub mod depth;
pub mod epoch;
pub mod error;
pub mod follow;
pub mod handle;
pub mod ids;
#[cfg(feature = "preview")]
pub mod preview;
pub mod protocol;
pub mod replies;
#[cfg(feature = "cli")]
pub mod testing;
pub mod tracker;
mod transport;
pub mod value;

pub use client::Client;
pub use codes::{BackendMode, BackendState, ErrorCode, JobErrorCode};
pub use epoch::Restart;
pub use error::{Error, Result};
pub use follow::{Follow, FollowItem};
pub use handle::{Connection, Handle, HandleOptions, Ticket, Update};
pub use ids::new_job_id;
pub use protocol::*;
pub use replies::{Accepted, Group, Image, JobList, Models, Pong, WorkerStatus, Workflows};
pub use tracker::{Applied, JobTracker};
pub use value::{OrderedMap, Value};

//! The protocol's string codes as types: the `code` of an `error` reply and of a failed job's
//! `error`, a backend's `state` and `mode`. A code this client does not know is kept as
//! `Other(text)` rather than rejected: the protocol may add codes within version 1, and a reply
//! must not become undecodable because of one.

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A string enum with an `Other(String)` catch-all, (de)serialized as its text.
macro_rules! string_code {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal,)* }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
            /// A code this client does not know, as sent.
            Other(String),
        }

        impl $name {
            pub fn as_str(&self) -> &str {
                match self {
                    $($name::$variant => $text,)*
                    $name::Other(text) => text,
                }
            }
        }

        impl From<&str> for $name {
            fn from(text: &str) -> Self {
                match text {
                    $($text => $name::$variant,)*
                    other => $name::Other(other.to_owned()),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                Ok($name::from(String::deserialize(deserializer)?.as_str()))
            }
        }
    };
}

string_code! {
    /// `code` of an `error` reply (docs/protocol.md, "error").
    ErrorCode {
        /// Not msgpack, not a map, no `type`, no `v`, bad `req_id`, wrong frames.
        BadRequest => "bad_request",
        UnsupportedVersion => "unsupported_version",
        UnknownType => "unknown_type",
        /// A field is missing, of the wrong type or out of range; unknown workflow or model.
        InvalidParams => "invalid_params",
        NotFound => "not_found",
        /// `cancel` of a job that has ended.
        AlreadyFinished => "already_finished",
        /// Too many jobs wait; try again later.
        QueueFull => "queue_full",
        /// `generate` of a new job while the worker is stopping (SIGTERM); retry against the next worker.
        ShuttingDown => "shutting_down",
        /// The client key's role does not allow this request, or not on this job (docs/security.md).
        Forbidden => "forbidden",
        /// `fetch_output`/`fetch_preview`: the image is larger than `max_fetch_bytes`.
        TooLarge => "too_large",
        Internal => "internal",
    }
}

string_code! {
    /// `code` of a failed job's `error` (docs/protocol.md, "Errors of jobs").
    JobErrorCode {
        ValidationError => "validation_error",
        ExecutionError => "execution_error",
        Interrupted => "interrupted",
        OutputFailed => "output_failed",
        NoOutcome => "no_outcome",
        Lost => "lost",
        BackendRemoved => "backend_removed",
    }
}

string_code! {
    /// `state` of a backend (docs/pool.md): its health and mode in one word. A down backend is
    /// `down` whatever its mode.
    BackendState {
        /// Up and taking prompts.
        Up => "up",
        Down => "down",
        /// Up, taking no new prompts; what it holds runs to the end there.
        Draining => "draining",
        /// Up, taking no new prompts; prompts waiting in its queue were moved elsewhere.
        Disabled => "disabled",
        /// Removed from the settings (SIGHUP): finishing what it holds, then dropped.
        Retiring => "retiring",
        /// Dropped: its last `backend.<name>` event.
        Removed => "removed",
    }
}

string_code! {
    /// `mode` of a backend: what an operator asked with `drain`, `disable` and `enable`.
    BackendMode {
        Active => "active",
        Draining => "draining",
        Disabled => "disabled",
    }
}

impl BackendState {
    /// Whether new prompts may go there (`up` only).
    pub fn takes_prompts(&self) -> bool {
        *self == BackendState::Up
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_codes_are_typed_and_unknown_ones_are_kept() {
        assert_eq!(ErrorCode::from("not_found"), ErrorCode::NotFound);
        assert_eq!(ErrorCode::from("too_sunny"), ErrorCode::Other("too_sunny".into()));
        assert_eq!(ErrorCode::Other("too_sunny".into()).as_str(), "too_sunny");
        assert_eq!(JobErrorCode::from("lost").to_string(), "lost");
        let bytes = rmp_serde::to_vec_named(&ErrorCode::QueueFull).unwrap();
        assert_eq!(
            rmp_serde::from_slice::<ErrorCode>(&bytes).unwrap(),
            ErrorCode::QueueFull
        );
    }

    #[test]
    fn backend_states_and_modes_keep_unknown_values() {
        assert_eq!(BackendState::from("draining"), BackendState::Draining);
        assert!(BackendState::Up.takes_prompts() && !BackendState::Retiring.takes_prompts());
        let later = BackendState::from("quarantined");
        assert_eq!(later, BackendState::Other("quarantined".into()));
        let bytes = rmp_serde::to_vec_named(&later).unwrap();
        assert_eq!(rmp_serde::from_slice::<BackendState>(&bytes).unwrap(), later);
        assert_eq!(BackendMode::from("disabled").as_str(), "disabled");
        assert_eq!(BackendMode::from("paused"), BackendMode::Other("paused".into()));
    }
}

//! Check docs/protocol-vectors.json against the Rust types: every vector's bytes decode into the
//! typed message, re-encode to the same message (field by field; nil = absent), and still decode with
//! fields added that the types do not know.

use serde::Serialize;

use crate::protocol::{self, decode_reply, decode_request, Event};
use crate::testing::diff::Diff;
use crate::value::{OrderedMap, Value};

/// What happened to one vector.
#[derive(Debug, Serialize)]
pub struct VectorResult {
    pub name: String,
    pub kind: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    /// The Rust type it decoded into (`Reply::Job`, `JobStateEvent`, ...).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decoded_as: Option<String>,
    pub ok: bool,
    /// The re-encoded bytes are the vector's bytes exactly (field order and encodings included).
    pub byte_exact: bool,
    /// Fields of the vector that the Rust types do not know, so ignore (and do not re-encode).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ignored_fields: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
}

/// A typed decode of some bytes, and its re-encoding.
type Roundtrip = Result<(String, Vec<u8>), String>;

fn roundtrip(kind: &str, topic: Option<&str>, bytes: &[u8]) -> Roundtrip {
    match kind {
        "request" => {
            let m = decode_request(bytes).map_err(|e| format!("decode as Request: {e}"))?;
            let name = format!("Request::{}", m.type_name());
            Ok((name, protocol::encode(&m).map_err(|e| format!("encode: {e}"))?))
        }
        "reply" => {
            let m = decode_reply(bytes).map_err(|e| format!("decode as Reply: {e}"))?;
            let name = format!("Reply::{}", m.type_name());
            Ok((name, protocol::encode(&m).map_err(|e| format!("encode: {e}"))?))
        }
        "event" => {
            let topic = topic.ok_or("an event vector without a topic")?;
            let m = Event::decode(topic, bytes).map_err(|e| format!("decode event on {topic}: {e}"))?;
            let name = match &m {
                Event::State(_) => "JobStateEvent",
                Event::Progress(_) => "JobProgressEvent",
                Event::Preview(_) => "JobPreviewEvent",
                Event::Output(_) => "JobOutputEvent",
                Event::Backend(_) => "BackendEvent",
                Event::Stats(_) => "WorkerStatsEvent",
                Event::GroupDone(_) => "GroupDoneEvent",
            };
            Ok((name.to_owned(), m.encode().map_err(|e| format!("encode: {e}"))?))
        }
        other => Err(format!("unknown vector kind {other:?}")),
    }
}

fn details(diffs: &[Diff]) -> String {
    diffs.iter().map(|d| d.detail.as_str()).collect::<Vec<_>>().join("; ")
}

fn generic(bytes: &[u8]) -> Result<Value, String> {
    rmp_serde::from_slice::<Value>(bytes).map_err(|e| format!("not msgpack: {e}"))
}

/// Fields a later version 1 may add: decoders must ignore them.
fn with_unknown_fields(message: &Value) -> Option<Value> {
    let Value::Map(m) = message else { return None };
    let mut m = m.clone();
    let mut nested = OrderedMap::new();
    nested.insert(
        "deep",
        Value::Array(vec![Value::UInt(1), Value::Nil, Value::Str("x".into())]),
    );
    m.insert("x_future_field", Value::Map(nested));
    m.insert("x_future_bytes", Value::Bin(vec![0, 1, 2]));
    m.insert("x_future_float", Value::F32(1.5));
    Some(Value::Map(m))
}

/// `strict`: a field the Rust types ignore is an error too (they should know every field of v1).
pub fn check_vector(vector: &serde_json::Value, strict: bool) -> VectorResult {
    let name = vector["name"].as_str().unwrap_or("?").to_owned();
    let kind = vector["kind"].as_str().unwrap_or("?").to_owned();
    let topic = vector.get("topic").and_then(|t| t.as_str()).map(str::to_owned);
    let mut result = VectorResult {
        name,
        kind,
        topic,
        decoded_as: None,
        ok: false,
        byte_exact: false,
        ignored_fields: Vec::new(),
        errors: Vec::new(),
    };
    let errors = &mut result.errors;

    let bytes = match vector["hex"]
        .as_str()
        .ok_or_else(|| "no hex".to_owned())
        .and_then(|h| hex::decode(h).map_err(|e| format!("bad hex: {e}")))
    {
        Ok(b) => b,
        Err(e) => {
            errors.push(e);
            return result;
        }
    };
    let original = match generic(&bytes) {
        Ok(v) => v,
        Err(e) => {
            errors.push(e);
            return result;
        }
    };
    // The vector's two forms agree with each other.
    match Value::from_vector_json(&vector["message"]) {
        Ok(expected) if expected.same_message(&original) => {}
        Ok(expected) => errors.push(format!(
            "hex and message differ: {}",
            details(&expected.diff(&original))
        )),
        Err(e) => errors.push(format!("bad message: {e}")),
    }
    if !matches!(original, Value::Map(_)) {
        errors.push("payload is not a map".into());
    }

    // Typed decode, re-encode, same message.
    match roundtrip(&result.kind, result.topic.as_deref(), &bytes) {
        Ok((decoded_as, encoded)) => {
            result.decoded_as = Some(decoded_as);
            result.byte_exact = encoded == bytes;
            match generic(&encoded) {
                Ok(again) => {
                    let (dropped, changed): (Vec<Diff>, Vec<Diff>) =
                        original.diff(&again).into_iter().partition(|d| d.dropped);
                    if !changed.is_empty() {
                        errors.push(format!("re-encoded message differs: {}", details(&changed)));
                    }
                    if strict && !dropped.is_empty() {
                        errors.push(format!("the Rust types ignore fields: {}", details(&dropped)));
                    }
                    result.ignored_fields = dropped.into_iter().map(|d| d.path).collect();
                }
                Err(e) => errors.push(format!("re-encoded: {e}")),
            }
        }
        Err(e) => errors.push(e),
    }

    // Unknown fields are ignored.
    if let Some(extended) = with_unknown_fields(&original) {
        let bytes = rmp_serde::to_vec_named(&extended).expect("a Value encodes");
        match roundtrip(&result.kind, result.topic.as_deref(), &bytes) {
            Ok((_, encoded)) => match generic(&encoded) {
                Ok(again) => {
                    let changed: Vec<Diff> = original.diff(&again).into_iter().filter(|d| !d.dropped).collect();
                    if !changed.is_empty() {
                        errors.push(format!("with unknown fields added: {}", details(&changed)));
                    }
                }
                Err(e) => errors.push(format!("with unknown fields added, re-encoded: {e}")),
            },
            Err(e) => errors.push(format!("with unknown fields: {e}")),
        }
    }

    result.ok = result.errors.is_empty();
    result
}

/// Check every vector of a protocol-vectors.json file.
pub fn check_file(path: &std::path::Path, strict: bool) -> Result<Vec<VectorResult>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let doc: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))?;
    let vectors = doc["vectors"]
        .as_array()
        .ok_or_else(|| format!("{}: no \"vectors\" list", path.display()))?;
    if vectors.is_empty() {
        return Err(format!("{}: the vectors list is empty", path.display()));
    }
    Ok(vectors.iter().map(|v| check_vector(v, strict)).collect())
}

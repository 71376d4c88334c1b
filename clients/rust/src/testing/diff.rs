//! Comparing two messages field by field, the protocol's way (nil = absent, map order ignored).

use crate::value::{OrderedMap, Value};

/// One difference between two messages: `dropped` when the field is in the first and not the second.
#[derive(Debug, Clone, PartialEq)]
pub struct Diff {
    /// `$.jobs[0].attempts`
    pub path: String,
    pub detail: String,
    pub dropped: bool,
}

impl Value {
    /// The same value with every nil map entry removed, recursively: the protocol says an absent
    /// field and a nil one mean the same, so two messages are equal when their normal forms are.
    pub fn normalized(&self) -> Value {
        match self {
            Value::Map(m) => Value::Map(OrderedMap(
                m.0.iter()
                    .filter(|(_, v)| *v != Value::Nil)
                    .map(|(k, v)| (k.clone(), v.normalized()))
                    .collect(),
            )),
            Value::Array(a) => Value::Array(a.iter().map(Value::normalized).collect()),
            Value::Int(i) if *i >= 0 => Value::UInt(*i as u64),
            Value::F32(f) => Value::F64(*f as f64),
            other => other.clone(),
        }
    }

    /// Equal as protocol messages: same fields (nil = absent, map order ignored), same values.
    pub fn same_message(&self, other: &Value) -> bool {
        self.diff(other).is_empty()
    }

    /// Where two messages differ (after [`normalized`](Self::normalized)), field by field.
    pub fn diff(&self, other: &Value) -> Vec<Diff> {
        fn walk(path: &str, a: &Value, b: &Value, out: &mut Vec<Diff>) {
            match (a, b) {
                (Value::Map(x), Value::Map(y)) => {
                    for (k, v) in x.iter() {
                        let p = format!("{path}.{k}");
                        match y.get(k) {
                            Some(w) => walk(&p, v, w, out),
                            None => out.push(Diff {
                                detail: format!("{p}: {} != (absent)", v.brief()),
                                path: p,
                                dropped: true,
                            }),
                        }
                    }
                    for (k, w) in y.iter() {
                        if x.get(k).is_none() {
                            let p = format!("{path}.{k}");
                            out.push(Diff {
                                detail: format!("{p}: (absent) != {}", w.brief()),
                                path: p,
                                dropped: false,
                            });
                        }
                    }
                }
                (Value::Array(x), Value::Array(y)) if x.len() == y.len() => {
                    for (i, (v, w)) in x.iter().zip(y).enumerate() {
                        walk(&format!("{path}[{i}]"), v, w, out);
                    }
                }
                (a, b) if a == b => {}
                (a, b) => out.push(Diff {
                    path: path.to_owned(),
                    detail: format!("{path}: {} != {}", a.brief(), b.brief()),
                    dropped: false,
                }),
            }
        }
        let mut out = Vec::new();
        walk("$", &self.normalized(), &other.normalized(), &mut out);
        out
    }

    fn brief(&self) -> String {
        let s = format!("{self:?}");
        if s.len() > 80 {
            format!("{}…", &s[..s.char_indices().nth(80).map_or(s.len(), |(i, _)| i)])
        } else {
            s
        }
    }

    /// From the JSON form of docs/protocol-vectors.json: `{"$bin": hex}` is a byte string.
    pub fn from_vector_json(json: &serde_json::Value) -> Result<Value, String> {
        Ok(match json {
            serde_json::Value::Null => Value::Nil,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    Value::UInt(u)
                } else if let Some(i) = n.as_i64() {
                    Value::Int(i)
                } else {
                    Value::F64(n.as_f64().ok_or("bad number")?)
                }
            }
            serde_json::Value::String(s) => Value::Str(s.clone()),
            serde_json::Value::Array(a) => {
                Value::Array(a.iter().map(Value::from_vector_json).collect::<Result<_, _>>()?)
            }
            serde_json::Value::Object(o) => {
                if o.len() == 1 {
                    if let Some(serde_json::Value::String(hex)) = o.get("$bin") {
                        return Ok(Value::Bin(hex::decode(hex).map_err(|e| format!("bad hex: {e}"))?));
                    }
                }
                let mut m = OrderedMap::new();
                for (k, v) in o {
                    m.insert(k.clone(), Value::from_vector_json(v)?);
                }
                Value::Map(m)
            }
        })
    }
}

//! No input makes the decoders panic: every protocol vector mutated (bytes flipped, cut, inserted),
//! random bytes, and deep nesting, fed to the request, reply and event decoders. A decoder may
//! refuse them, never crash the UI that runs it.

use std::path::Path;

use pixflow_client::protocol::{decode_reply, decode_request, Event};
use proptest::prelude::*;

fn vectors() -> Vec<(Option<String>, Vec<u8>)> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/protocol-vectors.json");
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    doc["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            let topic = v.get("topic").and_then(|t| t.as_str()).map(str::to_owned);
            (topic, hex::decode(v["hex"].as_str().unwrap()).unwrap())
        })
        .collect()
}

const TOPICS: [&str; 7] = [
    "job.state.a",
    "job.progress.a",
    "job.preview.a",
    "job.output.a",
    "backend.local",
    "worker.stats",
    "other",
];

/// Every decoder on the same bytes; the results do not matter, only that they return.
fn decode_all(topic: Option<&str>, bytes: &[u8]) {
    let _ = decode_request(bytes);
    let _ = decode_reply(bytes);
    for t in topic.into_iter().chain(TOPICS) {
        let _ = Event::decode(t, bytes);
    }
}

#[derive(Debug, Clone)]
enum Mutation {
    Flip { at: usize, bits: u8 },
    Set { at: usize, byte: u8 },
    Cut { at: usize },
    Insert { at: usize, bytes: Vec<u8> },
    Remove { at: usize, len: usize },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), 1..=255u8).prop_map(|(at, bits)| Mutation::Flip { at, bits }),
        (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Mutation::Set { at, byte }),
        any::<usize>().prop_map(|at| Mutation::Cut { at }),
        (any::<usize>(), proptest::collection::vec(any::<u8>(), 1..8))
            .prop_map(|(at, bytes)| Mutation::Insert { at, bytes }),
        (any::<usize>(), 1..16usize).prop_map(|(at, len)| Mutation::Remove { at, len }),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let n = bytes.len().max(1);
    match m {
        Mutation::Flip { at, bits } => {
            if let Some(b) = bytes.get_mut(at % n) {
                *b ^= bits;
            }
        }
        Mutation::Set { at, byte } => {
            if let Some(b) = bytes.get_mut(at % n) {
                *b = *byte;
            }
        }
        Mutation::Cut { at } => bytes.truncate(at % n),
        Mutation::Insert { at, bytes: new } => {
            let at = at % (bytes.len() + 1);
            bytes.splice(at..at, new.iter().copied());
        }
        Mutation::Remove { at, len } => {
            let at = at % n;
            let end = (at + len).min(bytes.len());
            if at < end {
                bytes.drain(at..end);
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn mutated_vectors_never_panic(index in any::<usize>(), mutations in proptest::collection::vec(mutation(), 1..6)) {
        let vectors = vectors();
        let (topic, mut bytes) = vectors[index % vectors.len()].clone();
        for m in &mutations {
            apply(&mut bytes, m);
        }
        decode_all(topic.as_deref(), &bytes);
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        decode_all(None, &bytes);
    }

    #[test]
    fn random_topics_never_panic(topic in ".{0,40}", bytes in proptest::collection::vec(any::<u8>(), 0..64)) {
        let _ = Event::decode(&topic, &bytes);
    }
}

#[test]
fn deep_nesting_and_huge_length_claims_are_refused() {
    // 100,000 nested one-element arrays (0x91) inside a map value, and a bin claiming 4 GiB.
    let mut deep = vec![0x81, 0xa4, b't', b'y', b'p', b'e'];
    deep.extend(std::iter::repeat(0x91).take(100_000));
    deep.push(0xc0);
    decode_all(Some("job.state.a"), &deep);
    decode_all(
        Some("job.preview.a"),
        &[0x81, 0xa5, b'i', b'm', b'a', b'g', b'e', 0xc6, 0xff, 0xff, 0xff, 0xff],
    );
}

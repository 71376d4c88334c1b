//! `cargo test --offline`: the Rust types against docs/protocol-vectors.json, and the decoding rules of
//! docs/protocol.md (nil = absent, unknown fields ignored, ints where floats are expected).

use std::path::Path;

use pixflow_client::protocol::*;
use pixflow_client::testing::vectors;

fn pack(message: &serde_json::Value) -> Vec<u8> {
    rmp_serde::to_vec_named(message).unwrap()
}

#[test]
fn every_vector_decodes_and_round_trips() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/protocol-vectors.json");
    let results = vectors::check_file(&path, false).unwrap();
    let failed: Vec<_> = results.iter().filter(|r| !r.ok).collect();
    assert!(failed.is_empty(), "{failed:#?}");
}

#[test]
fn nil_is_absent_and_unknown_fields_are_ignored() {
    let payload = pack(&serde_json::json!({
        "ts": 1, "job_id": "a", "seq": 2, "from": null, "to": "queued", "passes": null,
        "error": null, "outputs": null, "some_field_of_v1_1": {"x": [1, 2]}
    }));
    let Event::State(event) = Event::decode("job.state.a", &payload).unwrap() else {
        panic!("not a state event")
    };
    assert_eq!(event.from, None);
    assert_eq!(event.to, JobState::Queued);
    assert_eq!(event.passes, None);
    assert_eq!(event.seq, 2);
}

#[test]
fn an_integer_cfg_scale_decodes_as_a_float_and_req_id_can_be_a_string() {
    let payload =
        pack(&serde_json::json!({"type": "generate", "v": 1, "req_id": "r-1", "prompt": "p", "cfg_scale": 7}));
    match decode_request(&payload).unwrap() {
        Request::Generate { req_id, params, .. } => {
            assert_eq!(req_id, Some(ReqId::Str("r-1".into())));
            assert_eq!(params.cfg_scale, Some(7.0));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn requests_encode_as_maps_with_the_type_first() {
    let mut request = Request::cancel("sprite-001");
    *request.req_id_mut() = Some(ReqId::Int(4));
    let bytes = encode(&request).unwrap();
    // The "cancel request" vector.
    assert_eq!(
        hex::encode(&bytes),
        "84a474797065a663616e63656ca17601a67265715f696404a66a6f625f6964aa7370726974652d303031"
    );
}

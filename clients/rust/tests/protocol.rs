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

fn vector_bytes(name: &str) -> Vec<u8> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/protocol-vectors.json");
    let doc: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let vector = doc["vectors"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["name"] == name)
        .unwrap_or_else(|| panic!("no vector {name:?}"));
    hex::decode(vector["hex"].as_str().unwrap()).unwrap()
}

#[test]
fn the_pool_vectors_re_encode_byte_for_byte() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/protocol-vectors.json");
    let results = vectors::check_file(&path, true).unwrap();
    // The pool's messages, and the older backend event: a worker without a pool still decodes
    // and re-encodes as it came (its new fields absent, not nil).
    for name in [
        "drain request",
        "disable request",
        "enable request",
        "backend reply, every figure",
        "backend event, draining",
        "backend event",
    ] {
        let result = results.iter().find(|r| r.name == name).unwrap();
        assert!(result.ok && result.byte_exact, "{result:#?}");
    }
}

#[test]
fn backend_figures_decode_typed_and_older_ones_still_decode() {
    let Reply::Backend { backend, req_id, .. } = decode_reply(&vector_bytes("backend reply, every figure")).unwrap()
    else {
        panic!("not a backend reply")
    };
    assert_eq!(req_id, Some(ReqId::Int(41)));
    assert_eq!(backend.state(), pixflow_client::BackendState::Down);
    assert_eq!(backend.mode, Some(pixflow_client::BackendMode::Disabled));
    assert_eq!(
        backend
            .labels
            .as_ref()
            .and_then(|l| l.get("machine"))
            .map(String::as_str),
        Some("box2")
    );
    assert_eq!(
        (backend.inflight, backend.max_inflight, backend.queue_remaining),
        (1, Some(2), Some(0))
    );
    assert_eq!(backend.loaded_model.as_deref(), Some("b.safetensors"));
    assert_eq!(backend.seconds_per_job, Some(2.35));

    let Event::Backend(old) = Event::decode("backend.local", &vector_bytes("backend event")).unwrap() else {
        panic!("not a backend event")
    };
    assert_eq!((&old.backend.state, &old.backend.mode), (&None, &None));
    assert_eq!(old.backend.state(), pixflow_client::BackendState::Down, "from `up`");

    let Reply::Worker { backends, .. } = decode_reply(&vector_bytes("worker reply, a pool")).unwrap() else {
        panic!("not a worker reply")
    };
    let states: Vec<_> = backends.iter().map(|b| b.state()).collect();
    assert_eq!(
        states,
        [
            pixflow_client::BackendState::Draining,
            pixflow_client::BackendState::Down
        ]
    );
}

#[test]
fn a_queued_job_says_why_it_waits_and_drain_encodes_as_its_vector() {
    let Reply::Job { job, .. } = decode_reply(&vector_bytes("job reply, queued with a wait reason")).unwrap() else {
        panic!("not a job reply")
    };
    assert_eq!(job.state, JobState::Queued);
    assert!(job.wait_reason.unwrap().contains("box1-gpu1 draining"));
    let Reply::Job { job, .. } = decode_reply(&vector_bytes("job reply")).unwrap() else {
        panic!("not a job reply")
    };
    assert_eq!(job.wait_reason, None);

    let mut request = Request::drain("box1-gpu1");
    *request.req_id_mut() = Some(ReqId::Int(40));
    assert_eq!(encode(&request).unwrap(), vector_bytes("drain request"));
}

#[test]
fn the_sheet_vectors_decode_typed_and_the_constructors_encode_as_their_vectors() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/protocol-vectors.json");
    let results = vectors::check_file(&path, true).unwrap();
    for name in [
        "retry request, a re-roll",
        "accepted reply, a retry",
        "fetch_output request, the raw generation",
        "fetch_output request, a sheet's preview",
        "image reply, a sheet's atlas",
        "workflows reply, typed parameters and the backends that can run each",
    ] {
        let result = results.iter().find(|r| r.name == name).unwrap();
        assert!(result.ok && result.byte_exact, "{result:#?}");
    }

    let with_req_id = |mut request: Request, id: i64| {
        *request.req_id_mut() = Some(ReqId::Int(id));
        encode(&request).unwrap()
    };
    let retry = Request::retry(RetryParams::new("knight-4").new_seed());
    assert_eq!(with_req_id(retry, 62), vector_bytes("retry request, a re-roll"));
    let raw = Request::fetch_output_variant("knight-1", 0, None, OutputVariant::Raw);
    assert_eq!(
        with_req_id(raw, 63),
        vector_bytes("fetch_output request, the raw generation")
    );
    let preview = Request::fetch_sheet_file("knight", &SheetFile::Preview("walk".into()));
    assert_eq!(
        with_req_id(preview, 64),
        vector_bytes("fetch_output request, a sheet's preview")
    );
    // The older constructor still encodes as the older vector.
    let thumbnail = Request::fetch_output("sprite-001", 0, Some(256));
    assert_eq!(with_req_id(thumbnail, 30), vector_bytes("fetch_output request"));

    let Request::Sheet {
        group_id,
        sheet,
        params,
        ..
    } = decode_request(&vector_bytes("sheet request")).unwrap()
    else {
        panic!("not a sheet request")
    };
    assert_eq!(group_id.as_deref(), Some("knight"));
    assert_eq!(
        sheet.rows,
        [SheetRow::new("idle", "standing"), SheetRow::new("walk", "walking")]
    );
    assert_eq!(
        (sheet.frames, sheet.cell, sheet.palette.as_deref(), sheet.duration_ms),
        (Some(2), Some([48, 48]), Some("pico-8"), Some(120))
    );
    assert_eq!((params.prompt.as_str(), params.seed), ("pixel art knight", Some(7)));
    // Rows may be bare names too.
    let bare = pack(&serde_json::json!({"type": "sheet", "v": 1, "prompt": "p", "rows": ["idle"]}));
    let Request::Sheet { sheet, .. } = decode_request(&bare).unwrap() else {
        panic!("not a sheet request")
    };
    assert_eq!(
        sheet.rows,
        [SheetRow {
            name: "idle".into(),
            prompt: None
        }]
    );

    let Reply::Group { jobs, sprite_sheet, .. } = decode_reply(&vector_bytes("group reply, an ended sheet")).unwrap()
    else {
        panic!("not a group reply")
    };
    let cell = jobs[0].params.sheet.as_ref().expect("a sheet's job");
    assert_eq!((cell.row.as_str(), cell.row_index, cell.frame), ("walk", 1, 1));
    assert_eq!((cell.frames, cell.cell, cell.duration_ms), (2, [48, 48], 120));
    let files = sprite_sheet.expect("an ended sheet's files");
    assert_eq!(files.sheet.as_deref(), Some("/srv/pixflow/output/knight/sheet.png"));
    assert_eq!(
        files.previews.get("walk").map(String::as_str),
        Some("/srv/pixflow/output/knight/walk.gif")
    );
    assert_eq!((files.aseprite, files.cell, files.palette.len()), (None, [48, 48], 4));
    assert_eq!(
        files.missing,
        [MissingFrame {
            row: "walk".into(),
            frame: 1,
            job_id: Some("knight-4".into()),
            state: Some(JobState::Failed)
        }]
    );

    let Event::GroupDone(done) =
        Event::decode("group.done.knight", &vector_bytes("group.done event, a sheet")).unwrap()
    else {
        panic!("not a group.done event")
    };
    assert_eq!(done.sprite_sheet.map(|s| s.missing.len()), Some(1));
    let Event::GroupDone(compare) = Event::decode("group.done.cmp", &vector_bytes("group.done event")).unwrap() else {
        panic!("not a group.done event")
    };
    assert_eq!(compare.sprite_sheet, None, "a compare group has no sprite sheet");

    let Reply::Accepted { retry_of, .. } = decode_reply(&vector_bytes("accepted reply, a retry")).unwrap() else {
        panic!("not an accepted reply")
    };
    assert_eq!(retry_of.as_deref(), Some("knight-4"));
    let Reply::Image {
        job_id,
        group_id,
        variant,
        name,
        width,
        image,
        ..
    } = decode_reply(&vector_bytes("image reply, a sheet's atlas")).unwrap()
    else {
        panic!("not an image reply")
    };
    assert_eq!((job_id, group_id.as_deref(), width), (None, Some("knight"), None));
    assert_eq!(
        (variant.as_deref(), name.as_deref(), image),
        (Some("atlas"), Some("sheet.json"), b"{}".to_vec())
    );
}

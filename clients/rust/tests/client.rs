//! The client against an in-process fake worker (tests/common): timeouts, a worker that is down and
//! comes back, a worker restart, a seq gap resynced, and the background handle.

mod common;

use std::time::{Duration, Instant};

use common::{progress_event, snapshot, state_event, FakeWorker};
use pixflow_client::*;

const TIMEOUT: Duration = Duration::from_millis(300);
/// What a call may take beyond its timeout (scheduling on a busy CI machine).
const SLACK: Duration = Duration::from_millis(250);

fn params() -> GenerateParams {
    GenerateParams {
        prompt: "pixel art knight".into(),
        ..Default::default()
    }
}

/// Run `f` and check it returned within the timeout (plus slack).
fn in_time<T>(what: &str, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let result = f();
    let took = start.elapsed();
    assert!(took <= TIMEOUT + SLACK, "{what} took {took:?}");
    result
}

#[test]
fn a_generate_to_a_down_worker_never_becomes_a_job_later_and_its_retry_makes_exactly_one() {
    let (req, pub_) = {
        let worker = FakeWorker::start(1);
        let endpoints = (worker.req.clone(), worker.pub_.clone());
        drop(worker);
        endpoints
    };
    let mut client = Client::connect(&req, &pub_, TIMEOUT).unwrap();
    let mut params = params();
    let error = in_time("generate to a down worker", || client.generate(&mut params)).unwrap_err();
    assert!(error.is_timeout(), "{error}");
    let job_id = params.id.clone().expect("the client chose an id");

    // The worker comes back: the request that timed out is not delivered.
    let worker = FakeWorker::start_at(&req, &pub_, 1);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        worker.state().generates(),
        0,
        "a request that timed out was delivered later"
    );

    // The retry (same params, so the same id) creates the job; another one finds it.
    let accepted = in_time("the retry", || client.generate(&mut params)).unwrap();
    assert_eq!((accepted.job_id.as_str(), accepted.existing), (job_id.as_str(), false));
    let again = in_time("a second retry", || client.generate(&mut params)).unwrap();
    assert!(again.existing);
    assert_eq!(worker.state().created, 1, "exactly one job");
}

#[test]
fn a_lost_reply_then_a_retry_returns_the_same_job() {
    let worker = FakeWorker::start(1);
    worker.state().answer = false;
    let mut client = Client::connect(&worker.req, &worker.pub_, TIMEOUT).unwrap();
    let mut params = params();
    let error = in_time("generate without a reply", || client.generate(&mut params)).unwrap_err();
    assert!(error.is_timeout());
    worker.state().answer = true;
    let accepted = in_time("the retry", || client.generate(&mut params)).unwrap();
    assert!(accepted.existing, "the first attempt made the job; the retry found it");
    assert_eq!(worker.state().created, 1);
    // And the socket, opened again, works as before.
    assert_eq!(client.status(&accepted.job_id).unwrap().job_id, accepted.job_id);
}

#[test]
fn thousands_of_timeouts_never_block_a_call() {
    // Before, the DEALER queued every timed-out request until its high-water mark (1000), and the
    // next send blocked for good.
    let (req, pub_) = {
        let worker = FakeWorker::start(1);
        (worker.req.clone(), worker.pub_.clone())
    };
    let mut client = Client::connect(&req, &pub_, Duration::from_millis(2)).unwrap();
    let start = Instant::now();
    for i in 0..1500 {
        let call = Instant::now();
        assert!(client.ping().unwrap_err().is_timeout());
        assert!(
            call.elapsed() < Duration::from_millis(200),
            "ping {i} took {:?}",
            call.elapsed()
        );
    }
    assert!(start.elapsed() < Duration::from_secs(30), "{:?}", start.elapsed());
}

#[test]
fn try_next_event_does_not_wait_and_sees_what_arrived() {
    let worker = FakeWorker::start(1);
    let mut client = Client::connect(&worker.req, &worker.pub_, Duration::from_secs(2)).unwrap();
    client.subscribe_job("a").unwrap();
    client.wait_subscribed(Duration::from_secs(2)).unwrap();
    client.unsubscribe(TOPIC_STATS).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    while client.try_next_event().unwrap().is_some() {} // stats already queued
    let start = Instant::now();
    assert!(client.try_next_event().unwrap().is_none());
    assert!(start.elapsed() < Duration::from_millis(20), "{:?}", start.elapsed());

    worker.publish(&state_event("a", 1, None, JobState::Queued));
    let deadline = Instant::now() + Duration::from_secs(2);
    let event = loop {
        match client.try_next_event().unwrap() {
            Some((topic, event)) if topic == "job.state.a" => break event,
            Some(_) => {}
            None if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(5)),
            None => panic!("the event did not arrive"),
        }
    };
    assert_eq!(event.seq(), Some(1));
}

#[test]
fn follow_resyncs_on_a_gap_and_on_a_worker_restart() {
    let worker = FakeWorker::start(100);
    let mut client = Client::connect(&worker.req, &worker.pub_, Duration::from_secs(2)).unwrap();
    let mut params = params();
    params.id = Some("job-1".into());
    assert_eq!(client.ping().unwrap().started_at, Some(100));
    let (accepted, follow) = client.generate_and_follow(&mut params).unwrap();
    assert!(!accepted.existing);
    let mut follow = follow.with_timeout(Duration::from_secs(10));
    let mut next = || follow.next().expect("an item").expect("not an error");

    let seq = |item: FollowItem| match item {
        FollowItem::Event { event, .. } => event.seq().unwrap(),
        other => panic!("expected an event, got {other:?}"),
    };
    assert_eq!(
        seq(next()),
        1,
        "the creation event (the subscription was live before generate)"
    );
    worker.publish(&progress_event("job-1", 2, 1));
    assert_eq!(seq(next()), 2);

    // Events 3 and 4 are lost in transit.
    worker
        .state()
        .jobs
        .insert("job-1".into(), snapshot("job-1", JobState::Sampling, 5));
    worker.publish(&progress_event("job-1", 5, 4));
    assert_eq!(seq(next()), 5);
    assert_eq!(next(), FollowItem::Gap { expected: 3, got: 5 });
    match next() {
        FollowItem::Resynced(job) => assert_eq!((job.seq, job.state), (5, JobState::Sampling)),
        other => panic!("{other:?}"),
    }

    // The worker restarts: its started_at changes in worker.stats; the job is read again.
    {
        let mut state = worker.state();
        state.started_at = 200;
        state
            .jobs
            .insert("job-1".into(), snapshot("job-1", JobState::Queued, 10_006));
    }
    assert_eq!(
        next(),
        FollowItem::WorkerRestarted(Restart {
            previous: 100,
            now: 200
        })
    );
    match next() {
        FollowItem::Resynced(job) => assert_eq!(job.seq, 10_006),
        other => panic!("{other:?}"),
    }

    worker
        .state()
        .jobs
        .insert("job-1".into(), snapshot("job-1", JobState::Done, 10_007));
    worker.publish(&state_event("job-1", 10_007, Some(JobState::Queued), JobState::Done));
    assert_eq!(seq(next()), 10_007);
    assert!(follow.next().is_none(), "following ends with the final state");
    assert_eq!(follow.snapshot().unwrap().state, JobState::Done);
}

#[test]
fn following_a_finished_job_yields_its_status_and_ends() {
    let worker = FakeWorker::start(1);
    worker
        .state()
        .jobs
        .insert("old".into(), snapshot("old", JobState::Done, 9));
    let mut client = Client::connect(&worker.req, &worker.pub_, Duration::from_secs(2)).unwrap();
    let items: Vec<_> = client.follow("old").unwrap().collect::<Result<_>>().unwrap();
    assert!(matches!(&items[..], [FollowItem::Resynced(job)] if job.state == JobState::Done));
}

#[test]
fn worker_errors_are_typed_and_unknown_codes_kept() {
    let worker = FakeWorker::start(1);
    let mut client = Client::connect(&worker.req, &worker.pub_, Duration::from_secs(2)).unwrap();
    let error = client.status("nope").unwrap_err();
    assert_eq!(error.code(), Some(&ErrorCode::NotFound));
    assert!(error.to_string().contains("not_found"), "{error}");
    let error = client.list_models().unwrap_err();
    assert_eq!(error.code(), Some(&ErrorCode::UnknownType));
    assert!(std::error::Error::source(&Error::Stopped).is_none());
}

/// The first update that `pick` accepts, within `wait`.
fn wait_for<T>(handle: &Handle, wait: Duration, mut pick: impl FnMut(Update) -> Option<T>) -> T {
    let deadline = Instant::now() + wait;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match handle.updates().recv_timeout(left) {
            Ok(update) => {
                if let Some(found) = pick(update) {
                    return found;
                }
            }
            Err(_) => panic!("no such update within {wait:?}"),
        }
    }
}

#[test]
fn the_handle_delivers_replies_snapshots_restarts_and_connection_changes() {
    let worker = FakeWorker::start(7);
    let mut options = HandleOptions::new(&worker.req, &worker.pub_);
    options.timeout = TIMEOUT;
    options.heartbeat = Duration::from_millis(300);
    let handle = Handle::spawn(options).unwrap();
    let wait = Duration::from_secs(3);
    // The subscription is live once stats arrive.
    wait_for(&handle, wait, |u| matches!(u, Update::Stats(_)).then_some(()));

    let (ticket, job_id) = handle.submit(params()).unwrap();
    let reply = wait_for(&handle, wait, |u| match u {
        Update::Reply { ticket: t, result } if t == ticket => Some(result),
        _ => None,
    });
    assert!(matches!(reply.unwrap(), Reply::Accepted { job_id: id, .. } if id == job_id));
    let job = wait_for(&handle, wait, |u| match u {
        Update::Job(job) if job.job_id == job_id => Some(job),
        _ => None,
    });
    assert_eq!((job.state, job.seq), (JobState::Queued, 1));

    // A gap: the handle reads status and sends the job as it is.
    worker
        .state()
        .jobs
        .insert(job_id.clone(), snapshot(&job_id, JobState::Sampling, 4));
    worker.publish(&progress_event(&job_id, 4, 2));
    let gap = wait_for(&handle, wait, |u| match u {
        Update::Gap { expected, got, .. } => Some((expected, got)),
        _ => None,
    });
    assert_eq!(gap, (2, 4));
    let job = wait_for(&handle, wait, |u| match u {
        Update::Job(job) if job.progress.is_none() => Some(job),
        _ => None,
    });
    assert_eq!(
        (job.state, job.seq),
        (JobState::Sampling, 4),
        "the snapshot from status"
    );

    worker.state().started_at = 8;
    let restart = wait_for(&handle, wait, |u| match u {
        Update::WorkerRestarted(r) => Some(r),
        _ => None,
    });
    assert_eq!(restart, Restart { previous: 7, now: 8 });

    drop(worker);
    wait_for(&handle, wait, |u| {
        matches!(u, Update::Connection(Connection::Down)).then_some(())
    });
    // Dropping the handle stops its thread in bounded time.
    let start = Instant::now();
    drop(handle);
    assert!(start.elapsed() < TIMEOUT + SLACK, "{:?}", start.elapsed());
}

#[test]
fn drain_disable_enable_answer_the_backends_figures_and_the_handle_passes_them_on() {
    let worker = FakeWorker::start(7);
    let mut client = Client::connect(&worker.req, &worker.pub_, TIMEOUT).unwrap();
    let drained = client.drain("gpu0").unwrap();
    assert_eq!(drained.state(), BackendState::Draining);
    assert_eq!(drained.mode, Some(BackendMode::Draining));
    assert_eq!(drained.seconds_per_job, Some(1.5));
    assert_eq!(client.disable("gpu0").unwrap().state(), BackendState::Disabled);
    match client.enable("nope") {
        Err(Error::Worker { code, .. }) => assert_eq!(code, ErrorCode::NotFound),
        other => panic!("{other:?}"),
    }
    let sent: Vec<&str> = worker.state().requests.iter().map(Request::type_name).collect();
    assert_eq!(sent, ["drain", "disable", "enable"]);

    let mut options = HandleOptions::new(&worker.req, &worker.pub_);
    options.timeout = TIMEOUT;
    let handle = Handle::spawn(options).unwrap();
    let wait = Duration::from_secs(3);
    wait_for(&handle, wait, |u| matches!(u, Update::Stats(_)).then_some(()));
    let ticket = handle.enable("gpu0").unwrap();
    // The reply's figures come first as an update of their own, then the reply itself.
    let figures = wait_for(&handle, wait, |u| match u {
        Update::Backend(b) => Some(b),
        _ => None,
    });
    assert_eq!((figures.name.as_str(), figures.state()), ("gpu0", BackendState::Up));
    let reply = wait_for(&handle, wait, |u| match u {
        Update::Reply { ticket: t, result } if t == ticket => Some(result),
        _ => None,
    });
    assert!(matches!(reply.unwrap(), Reply::Backend { backend, .. } if backend.mode == Some(BackendMode::Active)));
}

#[test]
fn a_sheet_its_files_and_a_retry_whose_id_is_chosen_first() {
    let worker = FakeWorker::start(7);
    let mut client = Client::connect(&worker.req, &worker.pub_, TIMEOUT).unwrap();
    let sheet = SheetSpec {
        rows: vec![SheetRow::new("idle", "standing"), SheetRow::new("walk", "walking")],
        frames: Some(2),
        cell: Some([48, 48]),
        ..Default::default()
    };
    let group = client.sheet("knight", sheet, params()).unwrap();
    assert_eq!(group.job_ids, ["knight-1", "knight-2", "knight-3", "knight-4"]);
    assert_eq!((group.finished, group.sprite_sheet), (false, None));
    let sent = worker.state().requests.last().cloned();
    assert!(
        matches!(&sent, Some(Request::Sheet { group_id: Some(g), sheet, .. }) if g == "knight" && sheet.rows.len() == 2),
        "{sent:?}"
    );

    let atlas = client.fetch_sheet_file("knight", &SheetFile::Atlas).unwrap();
    assert_eq!((atlas.group_id.as_deref(), atlas.job_id), (Some("knight"), None));
    assert_eq!(
        (atlas.name.as_deref(), atlas.image.as_slice()),
        (Some("sheet.json"), &b"{}"[..])
    );
    let raw = client
        .fetch_output_variant("knight-1", 0, None, OutputVariant::Raw)
        .unwrap();
    assert_eq!(
        (raw.job_id.as_deref(), raw.variant.as_deref()),
        (Some("knight-1"), Some("raw"))
    );

    // A retry of a running job is refused; of an ended one it makes one job, however often it is sent.
    let mut retry = RetryParams::new("knight-4").new_seed();
    match client.retry(&mut retry) {
        Err(Error::Worker { code, .. }) => assert_eq!(code, ErrorCode::InvalidParams),
        other => panic!("{other:?}"),
    }
    let new_id = retry.id.clone().expect("the client chose the new job's id");
    worker
        .state()
        .jobs
        .insert("knight-4".into(), snapshot("knight-4", JobState::Failed, 9));
    let accepted = client.retry(&mut retry).unwrap();
    assert_eq!(
        (
            accepted.job_id.as_str(),
            accepted.existing,
            accepted.retry_of.as_deref()
        ),
        (new_id.as_str(), false, Some("knight-4"))
    );
    assert!(client.retry(&mut retry).unwrap().existing, "sent again: the same job");
    assert_eq!(worker.state().created, 1, "exactly one job");
}

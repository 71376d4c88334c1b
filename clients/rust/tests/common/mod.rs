//! An in-process fake worker for the client's tests: a ROUTER and a PUB on loopback ports, answering
//! requests from a shared state that the test can change (and stop, and start again on the same
//! ports, to play a worker that goes down and comes back).

#![allow(dead_code)] // each test file uses a part

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, Sender};
use pixflow_client::protocol::*;
use pixflow_client::{BackendMode, BackendState, ErrorCode, OrderedMap, ProgressFigures};

/// What the fake worker knows and does; the test reads and changes it through [`FakeWorker::state`].
pub struct State {
    pub started_at: u64,
    pub jobs: BTreeMap<String, JobSnapshot>,
    /// Every request received, answered or not.
    pub requests: Vec<Request>,
    /// Jobs created by `generate` (an id sent again creates none).
    pub created: usize,
    /// false: requests are handled (a generate creates its job) but not answered, as when the
    /// reply is lost.
    pub answer: bool,
    /// The pool, for `drain`, `disable`, `enable` and the `worker` reply.
    pub backends: Vec<BackendInfo>,
}

impl State {
    pub fn generates(&self) -> usize {
        self.requests
            .iter()
            .filter(|r| matches!(r, Request::Generate { .. }))
            .count()
    }
}

enum Control {
    Publish(String, Vec<u8>),
    Stop,
}

pub struct FakeWorker {
    pub req: String,
    pub pub_: String,
    state: Arc<Mutex<State>>,
    control: Sender<Control>,
    thread: Option<JoinHandle<()>>,
}

pub fn snapshot(job_id: &str, state: JobState, seq: u64) -> JobSnapshot {
    JobSnapshot {
        job_id: job_id.into(),
        group_id: None,
        state,
        stage: state.is_running().then_some(state),
        passes: 0,
        progress: None,
        outputs: Vec::new(),
        error: None,
        params: JobParams::default(),
        workflow: "txt2img".into(),
        priority: 0,
        backend: None,
        attempts: 0,
        prompt_id: "p".into(),
        seq,
        cancel_requested: false,
        wait_reason: None,
        created_at: Some(1),
        started_at: None,
        finished_at: None,
        state_times: OrderedMap::new(),
        last_preview: None,
        figures: ProgressFigures::default(),
        owner: None,
    }
}

/// An up, active backend with every figure known.
pub fn backend(name: &str) -> BackendInfo {
    let mut labels = OrderedMap::new();
    labels.insert("gpu", "0".to_owned());
    BackendInfo {
        name: name.into(),
        url: format!("http://127.0.0.1:8188/{name}"),
        up: true,
        state: Some(BackendState::Up),
        mode: Some(BackendMode::Active),
        reason: None,
        version: Some("0.3.75".into()),
        labels: Some(labels),
        models: 2,
        loras: Some(0),
        node_types: Some(600),
        inflight: 0,
        max_inflight: Some(2),
        queue_remaining: Some(0),
        loaded_model: Some("a.safetensors".into()),
        jobs_done: Some(3),
        seconds_per_job: Some(1.5),
        model_switches: Some(1),
    }
}

/// `drain`, `disable`, `enable`: the backend's figures after the change, and its event.
fn set_mode(state: &mut State, req_id: Option<ReqId>, name: &str, mode: BackendMode) -> (Reply, Option<Event>) {
    let Some(backend) = state.backends.iter_mut().find(|b| b.name == name) else {
        let reply = Reply::Error {
            v: 1,
            req_id,
            code: ErrorCode::NotFound,
            message: format!("no backend {name:?}"),
        };
        return (reply, None);
    };
    backend.state = Some(match mode {
        BackendMode::Draining => BackendState::Draining,
        BackendMode::Disabled => BackendState::Disabled,
        _ => BackendState::Up,
    });
    backend.mode = Some(mode);
    let event = Event::Backend(BackendEvent {
        ts: 1,
        backend: backend.clone(),
    });
    let reply = Reply::Backend {
        v: 1,
        req_id,
        backend: backend.clone(),
    };
    (reply, Some(event))
}

pub fn state_event(job_id: &str, seq: u64, from: Option<JobState>, to: JobState) -> Event {
    Event::State(JobStateEvent {
        ts: 1000 + seq,
        job_id: job_id.into(),
        seq,
        from,
        to,
        passes: None,
        backend: None,
        params: None,
        workflow: from.is_none().then(|| "txt2img".into()),
        group_id: None,
        figures: ProgressFigures::default(),
        error: None,
        outputs: None,
    })
}

pub fn progress_event(job_id: &str, seq: u64, value: u64) -> Event {
    Event::Progress(JobProgressEvent {
        ts: 2000 + seq,
        job_id: job_id.into(),
        seq,
        stage: Some(JobState::Sampling),
        node: "3".into(),
        value,
        max: 8,
        figures: ProgressFigures::default(),
    })
}

pub fn topic_of(event: &Event) -> String {
    let prefix = match event {
        Event::State(_) => TOPIC_STATE,
        Event::Progress(_) => TOPIC_PROGRESS,
        Event::Preview(_) => TOPIC_PREVIEW,
        Event::Output(_) => TOPIC_OUTPUT,
        Event::Backend(e) => return format!("{TOPIC_BACKEND}{}", e.backend.name),
        Event::Stats(_) => return TOPIC_STATS.into(),
        Event::GroupDone(e) => return format!("group.done.{}", e.group_id),
    };
    job_topic(prefix, event.job_id().unwrap_or_default())
}

impl FakeWorker {
    /// On new loopback ports.
    pub fn start(started_at: u64) -> FakeWorker {
        Self::start_at("tcp://127.0.0.1:*", "tcp://127.0.0.1:*", started_at)
    }

    /// On given endpoints (those of a worker stopped before: it comes back).
    pub fn start_at(req: &str, pub_: &str, started_at: u64) -> FakeWorker {
        let state = Arc::new(Mutex::new(State {
            started_at,
            jobs: BTreeMap::new(),
            requests: Vec::new(),
            created: 0,
            answer: true,
            backends: vec![backend("gpu0")],
        }));
        Self::start_with(req, pub_, state)
    }

    fn start_with(req: &str, pub_: &str, state: Arc<Mutex<State>>) -> FakeWorker {
        let context = zmq::Context::new();
        let router = context.socket(zmq::ROUTER).unwrap();
        router.set_linger(0).unwrap();
        bind(&router, req);
        let publisher = context.socket(zmq::PUB).unwrap();
        publisher.set_linger(0).unwrap();
        bind(&publisher, pub_);
        let req = router.get_last_endpoint().unwrap().unwrap();
        let pub_ = publisher.get_last_endpoint().unwrap().unwrap();
        let (control, control_rx) = unbounded();
        let shared = state.clone();
        let thread = std::thread::spawn(move || {
            let _context = context;
            let mut last_stats = Instant::now() - Duration::from_secs(1);
            loop {
                while let Ok(control) = control_rx.try_recv() {
                    match control {
                        Control::Publish(topic, payload) => {
                            publisher.send_multipart([topic.as_bytes(), &payload], 0).unwrap()
                        }
                        Control::Stop => return,
                    }
                }
                if last_stats.elapsed() >= Duration::from_millis(20) {
                    last_stats = Instant::now();
                    let stats = stats(shared.lock().unwrap().started_at);
                    publisher
                        .send_multipart([TOPIC_STATS.as_bytes(), &stats.encode().unwrap()], 0)
                        .unwrap();
                }
                if router.poll(zmq::POLLIN, 5).unwrap() == 0 {
                    continue;
                }
                let frames = router.recv_multipart(0).unwrap();
                let Ok(request) = decode_request(&frames[2]) else {
                    continue;
                };
                let (reply, created) = handle(&mut shared.lock().unwrap(), request);
                if let Some(event) = created {
                    publisher
                        .send_multipart([topic_of(&event).as_bytes(), &event.encode().unwrap()], 0)
                        .unwrap();
                }
                if let Some(reply) = reply {
                    let payload = encode(&reply).unwrap();
                    router.send_multipart([&frames[0][..], b"", &payload], 0).unwrap();
                }
            }
        });
        FakeWorker {
            req,
            pub_,
            state,
            control,
            thread: Some(thread),
        }
    }

    pub fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    pub fn publish(&self, event: &Event) {
        let _ = self
            .control
            .send(Control::Publish(topic_of(event), event.encode().unwrap()));
    }

    /// Stop (the ports close) and hand back the state, to start again with it.
    pub fn stop(mut self) -> Arc<Mutex<State>> {
        self.shutdown();
        self.state.clone()
    }

    /// Come back on the same ports with the same jobs, as a worker restarted with a durable store.
    pub fn restart_at(req: &str, pub_: &str, state: Arc<Mutex<State>>) -> FakeWorker {
        Self::start_with(req, pub_, state)
    }

    fn shutdown(&mut self) {
        let _ = self.control.send(Control::Stop);
        if let Some(thread) = self.thread.take() {
            thread.join().unwrap();
        }
    }
}

impl Drop for FakeWorker {
    fn drop(&mut self) {
        self.shutdown();
    }
}

fn bind(socket: &zmq::Socket, endpoint: &str) {
    // A port just closed may take a moment to be free again.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        match socket.bind(endpoint) {
            Ok(()) => return,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                std::thread::sleep(Duration::from_millis(20));
            }
            Err(e) => panic!("bind {endpoint}: {e}"),
        }
    }
}

fn stats(started_at: u64) -> Event {
    Event::Stats(WorkerStatsEvent {
        ts: 1,
        queued: 0,
        running: 0,
        done: 0,
        failed: 0,
        cancelled: 0,
        paused: false,
        jobs_per_minute: 0,
        backends_up: 1,
        started_at: Some(started_at),
    })
}

/// The reply (None: not answered) and the creation event of a new job.
fn handle(state: &mut State, request: Request) -> (Option<Reply>, Option<Event>) {
    state.requests.push(request.clone());
    let mut created = None;
    let reply = match request {
        Request::Ping { req_id, .. } => Reply::Pong {
            v: 1,
            req_id,
            version: Some("fake".into()),
            protocol: Some(1),
            started_at: Some(state.started_at),
        },
        Request::Generate { req_id, params, .. } => {
            let job_id = params.id.clone().unwrap_or_else(|| format!("server-{}", state.created));
            let existing = state.jobs.contains_key(&job_id);
            if !existing {
                state.created += 1;
                state
                    .jobs
                    .insert(job_id.clone(), snapshot(&job_id, JobState::Queued, 1));
                created = Some(state_event(&job_id, 1, None, JobState::Queued));
            }
            Reply::Accepted {
                v: 1,
                req_id,
                state: state.jobs[&job_id].state,
                job_id,
                existing,
                retry_of: None,
            }
        }
        // A new job from an ended one, as the worker does: a known id answers that job.
        Request::Retry { req_id, params, .. } => match state.jobs.get(&params.job_id) {
            Some(old) if old.state.is_terminal() => {
                let mut job = old.clone();
                let job_id = params.id.clone().unwrap_or_else(|| format!("server-{}", state.created));
                let existing = state.jobs.contains_key(&job_id);
                if !existing {
                    state.created += 1;
                    (job.job_id, job.state, job.seq) = (job_id.clone(), JobState::Queued, 1);
                    state.jobs.insert(job_id.clone(), job);
                    created = Some(state_event(&job_id, 1, None, JobState::Queued));
                }
                Reply::Accepted {
                    v: 1,
                    req_id,
                    state: state.jobs[&job_id].state,
                    job_id,
                    existing,
                    retry_of: Some(params.job_id),
                }
            }
            found => Reply::Error {
                v: 1,
                req_id,
                code: if found.is_some() {
                    ErrorCode::InvalidParams
                } else {
                    ErrorCode::NotFound
                },
                message: format!("job {} cannot be retried", params.job_id),
            },
        },
        // One queued job per cell, `<group_id>-<n>`, rows outer.
        Request::Sheet {
            req_id,
            group_id,
            sheet,
            ..
        } => {
            let group_id = group_id.unwrap_or_else(|| "server-group".into());
            let frames = sheet.frames.unwrap_or(4);
            let count = sheet.rows.len() as u32 * frames;
            let job_ids: Vec<String> = (1..=count).map(|n| format!("{group_id}-{n}")).collect();
            for job_id in &job_ids {
                let mut job = snapshot(job_id, JobState::Queued, 1);
                job.group_id = Some(group_id.clone());
                state.jobs.entry(job_id.clone()).or_insert(job);
            }
            Reply::Group {
                v: 1,
                req_id,
                jobs: job_ids.iter().map(|id| state.jobs[id].clone()).collect(),
                group_id,
                job_ids,
                existing: false,
                finished: false,
                contact_sheet: None,
                sprite_sheet: None,
            }
        }
        // A sheet's atlas, or a job's image (its raw variant when asked).
        Request::FetchOutput {
            req_id,
            job_id,
            group_id,
            index,
            variant,
            ..
        } => {
            let image = b"{}".to_vec();
            Reply::Image {
                v: 1,
                req_id,
                index: job_id.is_some().then(|| index.unwrap_or(0)),
                name: group_id.is_some().then(|| "sheet.json".to_owned()),
                job_id,
                group_id,
                seq: None,
                step: None,
                variant,
                format: "json".into(),
                width: None,
                height: None,
                bytes: image.len() as u64,
                sha256: "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a".into(),
                image,
            }
        }
        Request::Status {
            req_id,
            job_id: Some(job_id),
            ..
        }
        | Request::Cancel { req_id, job_id, .. } => match state.jobs.get(&job_id) {
            Some(job) => Reply::Job {
                v: 1,
                req_id,
                job: job.clone(),
            },
            None => Reply::Error {
                v: 1,
                req_id,
                code: ErrorCode::NotFound,
                message: format!("no job {job_id}"),
            },
        },
        Request::Status {
            req_id, job_id: None, ..
        } => Reply::Worker {
            v: 1,
            req_id,
            version: "fake".into(),
            protocol: 1,
            started_at: state.started_at,
            paused: false,
            shutting_down: None,
            queued: None,
            max_queued: None,
            jobs: OrderedMap::new(),
            backends: state.backends.clone(),
            workflows: vec!["txt2img".into()],
            security: None,
        },
        Request::Drain { req_id, backend, .. } => {
            let (reply, event) = set_mode(state, req_id, &backend, BackendMode::Draining);
            created = event;
            reply
        }
        Request::Disable { req_id, backend, .. } => {
            let (reply, event) = set_mode(state, req_id, &backend, BackendMode::Disabled);
            created = event;
            reply
        }
        Request::Enable { req_id, backend, .. } => {
            let (reply, event) = set_mode(state, req_id, &backend, BackendMode::Active);
            created = event;
            reply
        }
        other => Reply::Error {
            v: 1,
            req_id: other.clone().req_id_mut().clone(),
            code: ErrorCode::UnknownType,
            message: "the fake worker does not do that".into(),
        },
    };
    (state.answer.then_some(reply), created)
}

//! The client for a UI loop: a background thread owns both sockets and sends [`Update`]s over a
//! channel, which a UI drains on each tick (`handle.updates().try_iter()`), or selects on along
//! with its input. Requests are queued with a [`Ticket`] and answered by `Update::Reply`.
//!
//! The thread merges job events into snapshots (see [`JobTracker`](crate::JobTracker)), reads
//! `status` on a gap and after a worker restart, and pings when it has heard nothing for a while,
//! so that a UI can show whether the worker is reachable.

use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{unbounded, Receiver, Sender, TryRecvError};

use crate::client::Client;
use crate::epoch::Restart;
use crate::error::{Error, Result};
use crate::protocol::{
    BackendInfo, Event, GenerateParams, JobPreviewEvent, JobSnapshot, Reply, Request, RetryParams, WorkerStatsEvent,
    TOPIC_BACKEND, TOPIC_STATS,
};
use crate::tracker::{Applied, JobTracker};

/// Names a request sent through a [`Handle`]; its `Update::Reply` carries the same ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ticket(pub u64);

/// Whether the worker answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Connection {
    /// A reply or an event arrived.
    Up,
    /// A request (or the heartbeat ping) timed out.
    Down,
}

/// What the background thread reports.
// Each update is moved once through the channel; the frequent ones (jobs, previews) are boxed.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Update {
    /// A job as it is now, after an event, a `status` read or a reply that carried it.
    Job(Box<JobSnapshot>),
    /// A live preview frame (jobs sent with `previews: true`); see `preview::decode_preview`.
    Preview(Box<JobPreviewEvent>),
    /// The answer to a request; an `error` reply is `Err(Error::Worker)`.
    Reply {
        ticket: Ticket,
        result: Result<Reply>,
    },
    Stats(WorkerStatsEvent),
    /// A backend's figures (state, mode, loaded model, queue, seconds per job, ...), from its
    /// `backend.<name>` event, a `backend` reply or a `worker` reply's `backends`.
    Backend(BackendInfo),
    Connection(Connection),
    /// The worker restarted; the jobs being tracked are read again (as `Job` updates).
    WorkerRestarted(Restart),
    /// Events of a job were missed; a `Job` update from `status` follows.
    Gap {
        job_id: String,
        expected: u64,
        got: u64,
    },
    /// Something that is no one request's answer went wrong (an event that does not decode, a
    /// resync that failed). The thread goes on.
    Problem(Error),
}

/// How a [`Handle`] connects and behaves.
#[derive(Debug, Clone)]
pub struct HandleOptions {
    pub req_addr: String,
    pub pub_addr: String,
    /// How long one request waits for its reply.
    pub timeout: Duration,
    /// Event topics (prefixes) to follow; `worker.stats` is always subscribed.
    pub topics: Vec<String>,
    /// Ping when nothing was heard for this long.
    pub heartbeat: Duration,
    /// How long the thread waits for an event before looking at its queue of requests again.
    pub tick: Duration,
    /// Attempts of a `generate` that times out (the same job id each time, so never two jobs).
    pub generate_attempts: u32,
}

impl HandleOptions {
    /// Every job and backend event, a 2 s request timeout and heartbeat.
    pub fn new(req_addr: impl Into<String>, pub_addr: impl Into<String>) -> Self {
        HandleOptions {
            req_addr: req_addr.into(),
            pub_addr: pub_addr.into(),
            timeout: Duration::from_secs(2),
            topics: vec!["job.".into(), TOPIC_BACKEND.into()],
            heartbeat: Duration::from_secs(2),
            tick: Duration::from_millis(20),
            generate_attempts: 3,
        }
    }
}

enum Command {
    Request { ticket: Ticket, request: Request },
    Generate { ticket: Ticket, params: GenerateParams },
    Subscribe(String),
    Unsubscribe(String),
    Shutdown,
}

/// Owns the background thread; dropping it stops the thread.
pub struct Handle {
    commands: Sender<Command>,
    updates: Receiver<Update>,
    next_ticket: AtomicU64,
    thread: Option<JoinHandle<()>>,
}

impl Handle {
    /// Connect (nothing fails if the worker is down: ZeroMQ connects lazily) and start the thread.
    pub fn spawn(options: HandleOptions) -> Result<Handle> {
        let client = Client::connect(&options.req_addr, &options.pub_addr, options.timeout)?;
        let (commands, command_rx) = unbounded();
        let (update_tx, updates) = unbounded();
        let worker = Background {
            client,
            commands: command_rx,
            updates: update_tx,
            tracker: JobTracker::new(),
            connection: None,
            last_heard: Instant::now(),
            options,
        };
        let thread = std::thread::Builder::new()
            .name("pixflow-client".into())
            .spawn(move || worker.run())
            .map_err(|_| Error::Stopped)?;
        Ok(Handle {
            commands,
            updates,
            next_ticket: AtomicU64::new(1),
            thread: Some(thread),
        })
    }

    /// The updates. Drain with `try_iter()` on a UI tick, or `recv_timeout`, or `select!`.
    pub fn updates(&self) -> &Receiver<Update> {
        &self.updates
    }

    fn ticket(&self) -> Ticket {
        Ticket(self.next_ticket.fetch_add(1, Ordering::Relaxed))
    }

    fn send(&self, command: Command) -> Result<()> {
        self.commands.send(command).map_err(|_| Error::Stopped)
    }

    /// Queue any request; its answer comes as `Update::Reply` with the returned ticket.
    pub fn request(&self, request: Request) -> Result<Ticket> {
        let ticket = self.ticket();
        self.send(Command::Request { ticket, request })?;
        Ok(ticket)
    }

    /// Queue a `generate`; returns its ticket and the job id (chosen now when the params have
    /// none), so the UI can show the job before the worker answers.
    pub fn submit(&self, mut params: GenerateParams) -> Result<(Ticket, String)> {
        let job_id = params.ensure_id().to_owned();
        let ticket = self.ticket();
        self.send(Command::Generate { ticket, params })?;
        Ok((ticket, job_id))
    }

    /// Queue a `retry` of an ended job (re-rolling a sheet's frame, say); returns its ticket and the
    /// new job's id (chosen now when the params have none). It is sent once: after a timeout, send it
    /// again with that id as `params.id`, which answers the same job.
    pub fn retry(&self, mut params: RetryParams) -> Result<(Ticket, String)> {
        let job_id = params.ensure_id().to_owned();
        Ok((self.request(Request::retry(params))?, job_id))
    }

    pub fn cancel(&self, job_id: &str) -> Result<Ticket> {
        self.request(Request::cancel(job_id))
    }

    pub fn status(&self, job_id: &str) -> Result<Ticket> {
        self.request(Request::status(Some(job_id.to_owned())))
    }

    /// `drain`, `disable`, `enable` a backend: the answer is an `Update::Reply` (`Reply::Backend`),
    /// preceded by an `Update::Backend` with its new figures.
    pub fn drain(&self, backend: &str) -> Result<Ticket> {
        self.request(Request::drain(backend))
    }

    pub fn disable(&self, backend: &str) -> Result<Ticket> {
        self.request(Request::disable(backend))
    }

    pub fn enable(&self, backend: &str) -> Result<Ticket> {
        self.request(Request::enable(backend))
    }

    pub fn subscribe(&self, topic: &str) -> Result<()> {
        self.send(Command::Subscribe(topic.to_owned()))
    }

    pub fn unsubscribe(&self, topic: &str) -> Result<()> {
        self.send(Command::Unsubscribe(topic.to_owned()))
    }
}

impl Drop for Handle {
    fn drop(&mut self) {
        let _ = self.commands.send(Command::Shutdown);
        if let Some(thread) = self.thread.take() {
            // A request in flight ends within its timeout, so this returns in bounded time.
            let _ = thread.join();
        }
    }
}

/// The state of the background thread.
struct Background {
    client: Client,
    commands: Receiver<Command>,
    updates: Sender<Update>,
    tracker: JobTracker,
    connection: Option<Connection>,
    last_heard: Instant,
    options: HandleOptions,
}

/// At most this many events are taken in one go before looking at requests again.
const EVENT_BATCH: usize = 256;

impl Background {
    fn run(mut self) {
        let topics = self.options.topics.clone();
        for topic in topics.iter().map(String::as_str).chain([TOPIC_STATS]) {
            if let Err(e) = self.client.subscribe(topic) {
                self.send(Update::Problem(e));
            }
        }
        loop {
            loop {
                match self.commands.try_recv() {
                    Ok(Command::Shutdown) | Err(TryRecvError::Disconnected) => return,
                    Ok(command) => self.command(command),
                    Err(TryRecvError::Empty) => break,
                }
            }
            let mut wait = self.options.tick;
            for _ in 0..EVENT_BATCH {
                match self.client.next_event_within(wait) {
                    Ok(Some((_, event))) => {
                        self.heard();
                        self.event(event);
                    }
                    Ok(None) => break,
                    Err(e) => self.send(Update::Problem(e)),
                }
                wait = Duration::ZERO;
            }
            self.check_restart();
            if self.last_heard.elapsed() >= self.options.heartbeat {
                self.heartbeat();
            }
        }
    }

    fn send(&self, update: Update) {
        // Fails only once the Handle (the receiver) is gone, and dropping it stops this thread.
        let _ = self.updates.send(update);
    }

    fn set_connection(&mut self, connection: Connection) {
        if self.connection != Some(connection) {
            self.connection = Some(connection);
            self.send(Update::Connection(connection));
        }
    }

    fn heard(&mut self) {
        self.last_heard = Instant::now();
        self.set_connection(Connection::Up);
    }

    /// Follow the outcome of a request: a timeout means the worker is unreachable.
    fn after_request<T>(&mut self, result: &Result<T>) {
        match result {
            Ok(_) | Err(Error::Worker { .. }) => self.heard(),
            Err(e) if e.is_timeout() => {
                self.last_heard = Instant::now();
                self.set_connection(Connection::Down);
            }
            Err(_) => {}
        }
    }

    fn command(&mut self, command: Command) {
        match command {
            Command::Request { ticket, request } => {
                let result = self.client.call(request);
                self.after_request(&result);
                match &result {
                    Ok(Reply::Job { job, .. }) => self.snapshot(job.clone()),
                    // Figures in a reply are as new as the events': a UI keeps one view of them.
                    Ok(Reply::Backend { backend, .. }) => self.send(Update::Backend(backend.clone())),
                    Ok(Reply::Worker { backends, .. }) => {
                        for backend in backends {
                            self.send(Update::Backend(backend.clone()));
                        }
                    }
                    _ => {}
                }
                self.send(Update::Reply { ticket, result });
            }
            Command::Generate { ticket, params } => {
                let result = self.generate(params);
                self.send(Update::Reply { ticket, result });
            }
            Command::Subscribe(topic) => {
                if let Err(e) = self.client.subscribe(&topic) {
                    self.send(Update::Problem(e));
                }
            }
            Command::Unsubscribe(topic) => {
                if let Err(e) = self.client.unsubscribe(&topic) {
                    self.send(Update::Problem(e));
                }
            }
            Command::Shutdown => {}
        }
    }

    /// `generate`, again on a timeout: the id is the same each time, so at most one job results.
    fn generate(&mut self, params: GenerateParams) -> Result<Reply> {
        let attempts = self.options.generate_attempts.max(1);
        let mut attempt = 1;
        loop {
            let result = self.client.call(Request::generate(params.clone()));
            self.after_request(&result);
            match result {
                Err(e) if e.is_timeout() && attempt < attempts => attempt += 1,
                result => return result,
            }
        }
    }

    fn heartbeat(&mut self) {
        let result = self.client.ping();
        self.after_request(&result);
        if let Err(e) = result {
            if !e.is_timeout() {
                self.send(Update::Problem(e));
            }
        }
    }

    fn event(&mut self, event: Event) {
        match event {
            Event::Stats(stats) => self.send(Update::Stats(stats)),
            Event::Backend(backend) => self.send(Update::Backend(backend.backend)),
            job_event => {
                let applied = self.tracker.apply(&job_event);
                let Some(job_id) = job_event.job_id().map(str::to_owned) else {
                    return;
                };
                if matches!(applied, Applied::Stale | Applied::NotAJob) {
                    return;
                }
                if let Event::Preview(preview) = job_event {
                    self.send(Update::Preview(Box::new(preview)));
                }
                if let Some(job) = self.tracker.get(&job_id) {
                    self.send(Update::Job(Box::new(job.clone())));
                }
                if let Applied::Gap { expected, got } = applied {
                    self.send(Update::Gap {
                        job_id: job_id.clone(),
                        expected,
                        got,
                    });
                    self.resync(&job_id);
                }
            }
        }
    }

    fn snapshot(&mut self, job: JobSnapshot) {
        let job_id = job.job_id.clone();
        if self.tracker.apply_snapshot(job) == Applied::Updated {
            if let Some(job) = self.tracker.get(&job_id) {
                self.send(Update::Job(Box::new(job.clone())));
            }
        }
    }

    fn resync(&mut self, job_id: &str) {
        let result = self.client.status(job_id);
        self.after_request(&result);
        match result {
            Ok(job) => {
                // Sent even when its seq is ours: the merged copy may lack what was missed.
                self.tracker.apply_snapshot(job.clone());
                self.send(Update::Job(Box::new(job)));
            }
            Err(e) => self.send(Update::Problem(e)),
        }
    }

    fn check_restart(&mut self) {
        let Some(restart) = self.client.take_restart() else {
            return;
        };
        self.send(Update::WorkerRestarted(restart));
        let unfinished: Vec<String> = self
            .tracker
            .jobs()
            .filter(|job| !job.state.is_terminal())
            .map(|job| job.job_id.clone())
            .collect();
        for job_id in unfinished {
            self.resync(&job_id);
        }
    }
}

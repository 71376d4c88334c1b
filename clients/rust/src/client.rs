//! The blocking client, for simple programs: typed requests over the DEALER, events over the SUB,
//! every wait bounded. A UI loop wants [`Handle`](crate::Handle) instead (sockets on a thread,
//! updates over a channel), or at least [`Client::try_next_event`] on each tick.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::epoch::{Restart, WorkerEpoch};
use crate::error::{Error, Result};
use crate::protocol::{
    job_topic, BackendInfo, Event, GenerateParams, JobSnapshot, OutputVariant, Reply, Request, RetryParams, SheetFile,
    SheetSpec, StateFilter, JOB_TOPIC_PREFIXES, TOPIC_STATS,
};
use crate::replies::{self, Accepted, Group, Image, JobList, Models, Pong, WorkerStatus, Workflows};
use crate::transport::{EventSocket, RequestSocket};

pub struct Client {
    requests: RequestSocket,
    events: EventSocket,
    /// Events that arrived while [`wait_subscribed`](Self::wait_subscribed) waited: kept, not lost.
    pending: VecDeque<(String, Event)>,
    /// How long a request waits for its reply.
    pub timeout: Duration,
    epoch: WorkerEpoch,
    restart: Option<Restart>,
    // Dropped last: the sockets above must close before the context does.
    _context: zmq::Context,
}

impl Client {
    /// Connect both sockets. ZeroMQ connects lazily: nothing fails here if the worker is down.
    pub fn connect(req_addr: &str, pub_addr: &str, timeout: Duration) -> Result<Client> {
        let context = zmq::Context::new();
        Ok(Client {
            requests: RequestSocket::connect(&context, req_addr)?,
            events: EventSocket::connect(&context, pub_addr)?,
            pending: VecDeque::new(),
            timeout,
            epoch: WorkerEpoch::default(),
            restart: None,
            _context: context,
        })
    }

    pub fn req_addr(&self) -> &str {
        self.requests.addr()
    }

    pub fn pub_addr(&self) -> &str {
        self.events.addr()
    }

    // Requests -----------------------------------------------------------------------------------

    /// Send any request and return its reply, an `error` reply included. Waits at most
    /// [`timeout`](Self::timeout); on a timeout nothing of this request is sent later.
    pub fn request(&mut self, request: Request) -> Result<Reply> {
        let reply = self.requests.request(request, self.timeout)?;
        if let Some(started_at) = replies::started_at(&reply) {
            self.observe_started_at(started_at);
        }
        Ok(reply)
    }

    /// Like [`request`](Self::request), but an `error` reply is `Err(Error::Worker)`.
    pub fn call(&mut self, request: Request) -> Result<Reply> {
        replies::ok_or_worker_error(self.request(request)?)
    }

    pub fn ping(&mut self) -> Result<Pong> {
        replies::pong(self.request(Request::ping())?)
    }

    /// Create a job. The params get a job id first when they have none (a new UUID), so calling
    /// this again with the same params after a timeout returns the same job (`existing: true`)
    /// instead of creating a second one.
    pub fn generate(&mut self, params: &mut GenerateParams) -> Result<Accepted> {
        params.ensure_id();
        replies::accepted("generate", self.request(Request::generate(params.clone()))?)
    }

    /// An ended job's request made again as a new job (same fields, workflow and group: a sheet's
    /// frame stays in its cell), its seed unless `params` says otherwise. The new job's id is chosen
    /// first when `params` has none (a new UUID), so calling this again with the same params after a
    /// timeout answers the same job (`existing: true`). `retry_of` is the old job's id.
    pub fn retry(&mut self, params: &mut RetryParams) -> Result<Accepted> {
        params.ensure_id();
        replies::accepted("retry", self.request(Request::retry(params.clone()))?)
    }

    /// One prompt over several models and/or seeds, as the group `group_id` (choose it, e.g. with
    /// [`new_job_id`](crate::new_job_id), before the first attempt: a retry with the same id answers
    /// the same group). Its jobs are `<group_id>-1`, `-2`, … (models outer, seeds inner).
    pub fn compare(
        &mut self,
        group_id: &str,
        models: Option<Vec<String>>,
        seeds: Option<Vec<u64>>,
        params: GenerateParams,
    ) -> Result<Group> {
        let request = Request::compare(group_id, models, seeds, params);
        replies::group("compare", self.request(request)?)
    }

    /// A character's sprite sheet as the group `group_id` (choose it before the first attempt, as
    /// for [`compare`](Self::compare)): `sheet.rows` × `sheet.frames` jobs `<group_id>-1`, `-2`, …
    /// (rows outer, frames inner), through a workflow with sprite steps (`params.workflow`, default
    /// `sprite`). Once every frame has ended, [`group`](Self::group) and the `group.done` event carry
    /// the files in `sprite_sheet`.
    pub fn sheet(&mut self, group_id: &str, sheet: SheetSpec, params: GenerateParams) -> Result<Group> {
        let request = Request::sheet(group_id, sheet, params);
        replies::group("sheet", self.request(request)?)
    }

    /// A group's jobs and its contact sheet (and a sheet's files).
    pub fn group(&mut self, group_id: &str) -> Result<Group> {
        replies::group("group", self.request(Request::group(group_id))?)
    }

    /// One saved image of a job as bytes (`max_side`: a PNG thumbnail); for a workflow with sprite
    /// steps, the sprite.
    pub fn fetch_output(&mut self, job_id: &str, index: u32, max_side: Option<u32>) -> Result<Image> {
        replies::image(
            "fetch_output",
            self.request(Request::fetch_output(job_id, index, max_side))?,
        )
    }

    /// Like [`fetch_output`](Self::fetch_output), naming the variant: [`OutputVariant::Raw`] is the
    /// generation a sprite was made from (`not_found` for a workflow without sprite steps).
    pub fn fetch_output_variant(
        &mut self,
        job_id: &str,
        index: u32,
        max_side: Option<u32>,
        variant: OutputVariant,
    ) -> Result<Image> {
        let request = Request::fetch_output_variant(job_id, index, max_side, variant);
        replies::image("fetch_output", self.request(request)?)
    }

    /// One of a sheet's files as bytes (`name` says which file); `not_found` until the sheet is
    /// written, or for a group that is no sheet.
    pub fn fetch_sheet_file(&mut self, group_id: &str, file: &SheetFile) -> Result<Image> {
        replies::image("fetch_output", self.request(Request::fetch_sheet_file(group_id, file))?)
    }

    /// The last preview of a job sent with `previews: true`.
    pub fn fetch_preview(&mut self, job_id: &str, max_side: Option<u32>) -> Result<Image> {
        replies::image("fetch_preview", self.request(Request::fetch_preview(job_id, max_side))?)
    }

    /// A job as it is now.
    pub fn status(&mut self, job_id: &str) -> Result<JobSnapshot> {
        replies::job("status", self.request(Request::status(Some(job_id.to_owned())))?)
    }

    /// The worker as it is now.
    pub fn worker_status(&mut self) -> Result<WorkerStatus> {
        replies::worker("status", self.request(Request::status(None))?)
    }

    /// Ask for a job to be cancelled; its snapshot with `cancel_requested`.
    pub fn cancel(&mut self, job_id: &str) -> Result<JobSnapshot> {
        replies::job("cancel", self.request(Request::cancel(job_id))?)
    }

    pub fn list_jobs(
        &mut self,
        state: Option<StateFilter>,
        limit: Option<u32>,
        offset: Option<u32>,
    ) -> Result<JobList> {
        replies::jobs(self.request(Request::list_jobs(state, limit, offset))?)
    }

    /// The page of jobs that arrived before `before` (the `next` of the page before): as cheap at any depth.
    pub fn list_jobs_before(
        &mut self,
        state: Option<StateFilter>,
        limit: Option<u32>,
        before: &str,
    ) -> Result<JobList> {
        replies::jobs(self.request(Request::list_jobs_before(state, limit, before))?)
    }

    pub fn list_models(&mut self) -> Result<Models> {
        replies::models(self.request(Request::list_models())?)
    }

    pub fn list_workflows(&mut self) -> Result<Workflows> {
        replies::workflows(self.request(Request::list_workflows())?)
    }

    pub fn pause(&mut self) -> Result<WorkerStatus> {
        replies::worker("pause", self.request(Request::pause())?)
    }

    pub fn resume(&mut self) -> Result<WorkerStatus> {
        replies::worker("resume", self.request(Request::resume())?)
    }

    /// No new prompts for `backend`; what it holds runs to the end there. Its figures after the
    /// change; an unknown name is `Error::Worker` `not_found`.
    pub fn drain(&mut self, backend: &str) -> Result<BackendInfo> {
        replies::backend("drain", self.request(Request::drain(backend))?)
    }

    /// No new prompts for `backend`; prompts waiting in its queue move to other backends.
    pub fn disable(&mut self, backend: &str) -> Result<BackendInfo> {
        replies::backend("disable", self.request(Request::disable(backend))?)
    }

    /// `backend` takes prompts again.
    pub fn enable(&mut self, backend: &str) -> Result<BackendInfo> {
        replies::backend("enable", self.request(Request::enable(backend))?)
    }

    // Worker restarts ----------------------------------------------------------------------------

    fn observe_started_at(&mut self, started_at: u64) {
        if let Some(restart) = self.epoch.observe(started_at) {
            self.restart = Some(restart);
        }
    }

    /// A restart of the worker noticed since the last call (its `started_at` changed in a `pong`,
    /// `worker` reply or `worker.stats` event). What was read before it should be read again.
    pub fn take_restart(&mut self) -> Option<Restart> {
        self.restart.take()
    }

    /// The worker's `started_at`, once seen.
    pub fn worker_started_at(&self) -> Option<u64> {
        self.epoch.started_at()
    }

    // Events -------------------------------------------------------------------------------------

    pub fn subscribe(&mut self, topic: &str) -> Result<()> {
        self.events.subscribe(topic)
    }

    pub fn unsubscribe(&mut self, topic: &str) -> Result<()> {
        self.events.unsubscribe(topic)
    }

    /// The four topics of one job.
    pub fn subscribe_job(&mut self, job_id: &str) -> Result<()> {
        JOB_TOPIC_PREFIXES
            .iter()
            .try_for_each(|prefix| self.subscribe(&job_topic(prefix, job_id)))
    }

    pub fn unsubscribe_job(&mut self, job_id: &str) -> Result<()> {
        JOB_TOPIC_PREFIXES
            .iter()
            .try_for_each(|prefix| self.unsubscribe(&job_topic(prefix, job_id)))
    }

    /// Wait until the subscriptions made so far are live. ZeroMQ's slow joiner: a SUB receives
    /// nothing published before its subscription reached the PUB. Subscriptions travel in order, so
    /// once a `worker.stats` event (subscribed after the others) arrives, the earlier ones are live
    /// too. Other events that arrive meanwhile are kept for [`next_event`](Self::next_event).
    /// `worker.stats` stays subscribed: it is how restarts are noticed.
    pub fn wait_subscribed(&mut self, timeout: Duration) -> Result<()> {
        self.subscribe(TOPIC_STATS)?;
        let deadline = Instant::now() + timeout;
        loop {
            match self.receive(deadline.saturating_duration_since(Instant::now()))? {
                Some((_, Event::Stats(_))) => return Ok(()),
                Some(other) => self.pending.push_back(other),
                None => {
                    return Err(Error::SubscribeTimeout {
                        addr: self.pub_addr().to_owned(),
                        waited: timeout,
                    })
                }
            }
        }
    }

    /// The next event if one has arrived, without waiting: for a UI tick.
    pub fn try_next_event(&mut self) -> Result<Option<(String, Event)>> {
        self.next_event_within(Duration::ZERO)
    }

    /// The next event, or `None` at the deadline.
    pub fn next_event(&mut self, deadline: Instant) -> Result<Option<(String, Event)>> {
        self.next_event_within(deadline.saturating_duration_since(Instant::now()))
    }

    /// The next event within `wait` (zero: only what has arrived already). An `Err` is about one
    /// message (say, one that does not decode); the next call goes on.
    pub fn next_event_within(&mut self, wait: Duration) -> Result<Option<(String, Event)>> {
        if let Some(event) = self.pending.pop_front() {
            return Ok(Some(event));
        }
        self.receive(wait)
    }

    fn receive(&mut self, wait: Duration) -> Result<Option<(String, Event)>> {
        let received = self.events.recv(wait)?;
        if let Some((_, Event::Stats(stats))) = &received {
            if let Some(started_at) = stats.started_at {
                self.observe_started_at(started_at);
            }
        }
        Ok(received)
    }
}

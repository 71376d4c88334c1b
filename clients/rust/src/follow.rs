//! Following one job with the blocking client: an iterator over its events that tracks `seq` and
//! reads `status` when events were missed, when the worker restarted, or when the job has been
//! quiet for a while (so a final state that was dropped in transit is still seen).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::client::Client;
use crate::codes::ErrorCode;
use crate::epoch::Restart;
use crate::error::{Error, Result};
use crate::protocol::{job_topic, Event, GenerateParams, JobSnapshot, JOB_TOPIC_PREFIXES};
use crate::replies::Accepted;
use crate::tracker::{Applied, JobTracker};

/// How long a followed job may stay silent before `status` is read, by default.
pub const QUIET_RESYNC: Duration = Duration::from_secs(5);

/// What following a job yields.
// Mostly events, which are the large variant: boxing them would allocate for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum FollowItem {
    /// The job's next event.
    Event { topic: String, event: Event },
    /// Events `expected..got` were missed; a [`Resynced`](FollowItem::Resynced) follows.
    Gap { expected: u64, got: u64 },
    /// The job as `status` reads it: at the start, after a gap or a restart, or after a quiet spell
    /// in which it changed.
    Resynced(Box<JobSnapshot>),
    /// The worker restarted (its `started_at` changed); a `status` read follows.
    WorkerRestarted(Restart),
}

/// The events of one job, until it ends. Each item is a `Result`: an `Err` is about one message
/// or one `status` read, and iteration goes on; it ends after the job's final state, or with
/// [`Error::FollowTimeout`] at the deadline.
pub struct Follow<'c> {
    client: &'c mut Client,
    job_id: String,
    topics: [String; 4],
    tracker: JobTracker,
    queue: VecDeque<FollowItem>,
    done: bool,
    started: Instant,
    deadline: Option<Instant>,
    quiet: Duration,
}

impl Client {
    /// Subscribe to a job's four topics and wait until the subscription is live: do this before
    /// `generate` to see the job from its first event.
    pub fn prepare_follow(&mut self, job_id: &str) -> Result<()> {
        self.subscribe_job(job_id)?;
        let wait = self.timeout;
        self.wait_subscribed(wait)
    }

    /// Follow a job that may already exist: subscribe, then read its `status` (the first item when
    /// it exists; a job not created yet is awaited).
    pub fn follow(&mut self, job_id: &str) -> Result<Follow<'_>> {
        self.prepare_follow(job_id)?;
        let mut follow = Follow::new(self, job_id);
        follow.resync(false)?;
        Ok(follow)
    }

    /// Follow a job after [`prepare_follow`](Self::prepare_follow): its events, from the first.
    pub fn follow_prepared(&mut self, job_id: &str) -> Follow<'_> {
        Follow::new(self, job_id)
    }

    /// Create a job and follow it from its first event: choose its id, subscribe, wait for the
    /// subscription, send `generate`. An id the worker knew already (`existing`) starts with its
    /// `status`. Retrying after a timeout with the same params is idempotent.
    pub fn generate_and_follow(&mut self, params: &mut GenerateParams) -> Result<(Accepted, Follow<'_>)> {
        let job_id = params.ensure_id().to_owned();
        self.prepare_follow(&job_id)?;
        let accepted = self.generate(params)?;
        let mut follow = Follow::new(self, &job_id);
        if accepted.existing {
            follow.resync(false)?;
        }
        Ok((accepted, follow))
    }
}

impl<'c> Follow<'c> {
    fn new(client: &'c mut Client, job_id: &str) -> Self {
        Follow {
            client,
            job_id: job_id.to_owned(),
            topics: JOB_TOPIC_PREFIXES.map(|prefix| job_topic(prefix, job_id)),
            tracker: JobTracker::new(),
            queue: VecDeque::new(),
            done: false,
            started: Instant::now(),
            deadline: None,
            quiet: QUIET_RESYNC,
        }
    }

    /// End with [`Error::FollowTimeout`] if the job has not ended within `timeout`.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.deadline = Some(Instant::now() + timeout);
        self
    }

    /// Read `status` after this long without an event of the job (default [`QUIET_RESYNC`]).
    pub fn with_quiet_resync(mut self, quiet: Duration) -> Self {
        self.quiet = quiet;
        self
    }

    pub fn job_id(&self) -> &str {
        &self.job_id
    }

    /// The job as the events so far describe it (merged), once it is known.
    pub fn snapshot(&self) -> Option<&JobSnapshot> {
        self.tracker.get(&self.job_id)
    }

    /// Read `status` and apply it. `force`: yield it even when its `seq` is the one we have (after
    /// a gap, the merged copy lacks what the missed events carried).
    fn resync(&mut self, force: bool) -> Result<()> {
        let snapshot = match self.client.status(&self.job_id) {
            Ok(snapshot) => snapshot,
            // Not created yet: its creation event will come.
            Err(Error::Worker {
                code: ErrorCode::NotFound,
                ..
            }) => return Ok(()),
            Err(e) => return Err(e),
        };
        let seq = snapshot.seq;
        let applied = self.tracker.apply_snapshot(snapshot.clone());
        let current = self.tracker.get(&self.job_id).map(|j| j.seq);
        if applied == Applied::Updated || (force && current == Some(seq)) {
            self.queue.push_back(FollowItem::Resynced(Box::new(snapshot)));
        }
        self.check_done();
        Ok(())
    }

    fn check_done(&mut self) {
        if self.snapshot().is_some_and(|job| job.state.is_terminal()) {
            self.done = true;
        }
    }

    fn on_event(&mut self, topic: String, event: Event) -> Result<()> {
        if let Some(restart) = self.client.take_restart() {
            self.queue.push_back(FollowItem::WorkerRestarted(restart));
            self.resync(true)?;
        }
        // Subscriptions match by prefix: job.state.a also receives job.state.ab.
        if self.done || !self.topics.contains(&topic) {
            return Ok(());
        }
        match self.tracker.apply(&event) {
            Applied::Updated => self.queue.push_back(FollowItem::Event { topic, event }),
            Applied::Gap { expected, got } => {
                self.queue.push_back(FollowItem::Event { topic, event });
                self.queue.push_back(FollowItem::Gap { expected, got });
                self.resync(true)?;
            }
            Applied::Stale | Applied::NotAJob => {}
        }
        self.check_done();
        Ok(())
    }
}

impl Iterator for Follow<'_> {
    type Item = Result<FollowItem>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(item) = self.queue.pop_front() {
                return Some(Ok(item));
            }
            if self.done {
                return None;
            }
            let mut wait = self.quiet;
            if let Some(deadline) = self.deadline {
                let now = Instant::now();
                if now >= deadline {
                    self.done = true;
                    return Some(Err(Error::FollowTimeout {
                        job_id: self.job_id.clone(),
                        waited: deadline - self.started,
                    }));
                }
                wait = wait.min(deadline - now);
            }
            let step = match self.client.next_event_within(wait) {
                Ok(Some((topic, event))) => self.on_event(topic, event),
                // Quiet: make sure the job did not end (or move) unseen.
                Ok(None) => self.resync(false),
                Err(e) => Err(e),
            };
            if let Err(e) = step {
                return Some(Err(e));
            }
        }
    }
}

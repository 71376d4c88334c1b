//! Following jobs by their events, without I/O: apply an event or a `status` snapshot to the job's
//! merged snapshot, and learn whether it was the next one (`Updated`), came after missed events
//! (`Gap`: read `status`), or was old news (`Stale`). Both the blocking [`Follow`](crate::Follow)
//! and the background [`Handle`](crate::Handle) are built on it.

use std::collections::HashMap;

use crate::protocol::{
    Event, JobOutputEvent, JobPreviewEvent, JobProgressEvent, JobSnapshot, JobState, JobStateEvent, PreviewRef,
    Progress,
};
use crate::value::OrderedMap;

/// What applying an event or snapshot did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// The next event (or a newer snapshot): the job is updated.
    Updated,
    /// Events between `expected` and `got` were missed. The event was applied, but the snapshot may
    /// lack what they carried: read `status` and apply it. For a job not tracked yet whose first
    /// event is not its creation, `expected` is 1.
    Gap { expected: u64, got: u64 },
    /// Already applied (or older than the snapshot): ignored.
    Stale,
    /// Not an event of a job (`worker.stats`, `backend.*`).
    NotAJob,
}

/// The merged snapshots of the jobs seen, in the order they were first seen.
#[derive(Debug, Clone, Default)]
pub struct JobTracker {
    jobs: HashMap<String, JobSnapshot>,
    order: Vec<String>,
}

impl JobTracker {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn get(&self, job_id: &str) -> Option<&JobSnapshot> {
        self.jobs.get(job_id)
    }

    /// The jobs, oldest first.
    pub fn jobs(&self) -> impl Iterator<Item = &JobSnapshot> {
        self.order.iter().filter_map(|id| self.jobs.get(id))
    }

    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Stop tracking a job.
    pub fn remove(&mut self, job_id: &str) -> Option<JobSnapshot> {
        self.order.retain(|id| id != job_id);
        self.jobs.remove(job_id)
    }

    /// Apply a `status` (or `cancel`, `list_jobs`) snapshot. It replaces what is tracked unless it
    /// is older; `Updated` when it is newer (or new), `Stale` when it has the same `seq` (it still
    /// replaces the merged copy, which may lack what missed events carried).
    pub fn apply_snapshot(&mut self, snapshot: JobSnapshot) -> Applied {
        let applied = match self.jobs.get(&snapshot.job_id) {
            None => {
                self.order.push(snapshot.job_id.clone());
                Applied::Updated
            }
            Some(current) if snapshot.seq > current.seq => Applied::Updated,
            Some(current) if snapshot.seq == current.seq => Applied::Stale,
            Some(_) => return Applied::Stale,
        };
        self.jobs.insert(snapshot.job_id.clone(), snapshot);
        applied
    }

    /// Apply one event of a job's four topics.
    pub fn apply(&mut self, event: &Event) -> Applied {
        let (Some(job_id), Some(seq)) = (event.job_id(), event.seq()) else {
            return Applied::NotAJob;
        };
        let Some(job) = self.jobs.get_mut(job_id) else {
            return self.first_event(event, job_id, seq);
        };
        if seq <= job.seq {
            return Applied::Stale;
        }
        let expected = job.seq + 1;
        merge(job, event);
        if seq == expected {
            Applied::Updated
        } else {
            Applied::Gap { expected, got: seq }
        }
    }

    /// The first event of a job not tracked: its creation starts a snapshot; anything else means
    /// the job began before we listened, and only `status` can tell the rest.
    fn first_event(&mut self, event: &Event, job_id: &str, seq: u64) -> Applied {
        match event {
            Event::State(e) if e.from.is_none() && e.to == JobState::Queued => {
                self.order.push(job_id.to_owned());
                self.jobs.insert(job_id.to_owned(), created(e));
                if seq == 1 {
                    Applied::Updated
                } else {
                    Applied::Gap { expected: 1, got: seq }
                }
            }
            _ => Applied::Gap { expected: 1, got: seq },
        }
    }
}

/// A snapshot from a job's creation event (`from` nil, `to` queued, with `params` and `workflow`).
fn created(e: &JobStateEvent) -> JobSnapshot {
    let params = e.params.clone().unwrap_or_default();
    let owner = params.owner.clone();
    let mut state_times = OrderedMap::new();
    state_times.insert(JobState::Queued.as_str(), e.ts);
    JobSnapshot {
        job_id: e.job_id.clone(),
        group_id: e.group_id.clone(),
        state: JobState::Queued,
        stage: None,
        passes: e.passes.unwrap_or(0),
        progress: None,
        outputs: Vec::new(),
        error: None,
        priority: params.priority,
        params,
        workflow: e.workflow.clone().unwrap_or_default(),
        backend: e.backend.clone(),
        attempts: 0,
        prompt_id: String::new(),
        seq: e.seq,
        cancel_requested: false,
        wait_reason: None,
        created_at: Some(e.ts),
        started_at: None,
        finished_at: None,
        state_times,
        last_preview: None,
        figures: e.figures.clone(),
        owner,
    }
}

fn merge(job: &mut JobSnapshot, event: &Event) {
    match event {
        Event::State(e) => merge_state(job, e),
        Event::Progress(e) => merge_progress(job, e),
        Event::Preview(e) => merge_preview(job, e),
        Event::Output(e) => merge_output(job, e),
        Event::Backend(_) | Event::Stats(_) | Event::GroupDone(_) => return,
    }
    if let Some(seq) = event.seq() {
        job.seq = seq;
    }
}

fn merge_state(job: &mut JobSnapshot, e: &JobStateEvent) {
    job.state = e.to;
    if e.to != JobState::Queued {
        // Only a waiting job has a reason to wait; events do not carry it, `status` does.
        job.wait_reason = None;
    }
    job.stage = e.to.is_running().then_some(e.to);
    if let Some(passes) = e.passes {
        job.passes = passes;
    }
    if e.backend.is_some() {
        job.backend = e.backend.clone();
    }
    // A state change carries the figures as they are now (nil ones included: not running).
    job.figures = e.figures.clone();
    if e.error.is_some() {
        job.error = e.error.clone();
    }
    if let Some(outputs) = &e.outputs {
        job.outputs = outputs.clone();
    }
    job.state_times.insert(e.to.as_str(), e.ts);
    if e.to.is_running() && job.started_at.is_none() {
        job.started_at = Some(e.ts);
    }
    if e.to.is_terminal() {
        job.finished_at = Some(e.ts);
        job.progress = None;
    }
}

fn merge_progress(job: &mut JobSnapshot, e: &JobProgressEvent) {
    if let Some(stage) = e.stage {
        job.stage = Some(stage);
        job.state = stage;
    }
    job.progress = Some(Progress {
        node: e.node.clone(),
        value: e.value,
        max: e.max,
    });
    job.figures = e.figures.clone();
}

fn merge_preview(job: &mut JobSnapshot, e: &JobPreviewEvent) {
    job.last_preview = Some(PreviewRef {
        seq: e.seq,
        step: e.step,
        node: Some(e.node.clone()),
        format: e.format.clone(),
    });
}

fn merge_output(job: &mut JobSnapshot, e: &JobOutputEvent) {
    if !job.outputs.iter().any(|o| o.index == e.output.index) {
        job.outputs.push(e.output.clone());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::ProgressFigures;

    fn state(seq: u64, from: Option<JobState>, to: JobState) -> Event {
        Event::State(JobStateEvent {
            ts: 1000 + seq,
            job_id: "a".into(),
            seq,
            from,
            to,
            passes: None,
            backend: None,
            params: None,
            workflow: from.is_none().then(|| "txt2img".to_owned()),
            group_id: None,
            figures: ProgressFigures::default(),
            error: None,
            outputs: None,
        })
    }

    fn progress(seq: u64, value: u64) -> Event {
        Event::Progress(JobProgressEvent {
            ts: 2000 + seq,
            job_id: "a".into(),
            seq,
            stage: Some(JobState::Sampling),
            node: "3".into(),
            value,
            max: 8,
            figures: ProgressFigures {
                overall: Some(value as f64 / 8.0),
                eta: Some(1.0),
                stage_progress: Some(value as f64 / 8.0),
                step_rate: None,
            },
        })
    }

    #[test]
    fn events_in_order_update_the_snapshot() {
        let mut t = JobTracker::new();
        assert_eq!(t.apply(&state(1, None, JobState::Queued)), Applied::Updated);
        assert_eq!(
            t.apply(&state(2, Some(JobState::Queued), JobState::Sampling)),
            Applied::Updated
        );
        assert_eq!(t.apply(&progress(3, 4)), Applied::Updated);
        let job = t.get("a").unwrap();
        assert_eq!(
            (job.state, job.stage, job.seq),
            (JobState::Sampling, Some(JobState::Sampling), 3)
        );
        assert_eq!(job.progress.as_ref().map(|p| (p.value, p.max)), Some((4, 8)));
        assert_eq!(job.figures.overall, Some(0.5));
        assert_eq!(job.workflow, "txt2img");
        assert_eq!(
            t.apply(&state(4, Some(JobState::Sampling), JobState::Done)),
            Applied::Updated
        );
        let job = t.get("a").unwrap();
        assert!(job.state.is_terminal() && job.stage.is_none() && job.finished_at == Some(1004));
    }

    #[test]
    fn a_missed_event_is_a_gap_and_a_repeated_one_is_stale() {
        let mut t = JobTracker::new();
        t.apply(&state(1, None, JobState::Queued));
        assert_eq!(t.apply(&progress(4, 2)), Applied::Gap { expected: 2, got: 4 });
        assert_eq!(t.get("a").unwrap().seq, 4, "the event is applied all the same");
        assert_eq!(t.apply(&progress(3, 1)), Applied::Stale);
        assert_eq!(t.apply(&progress(4, 2)), Applied::Stale);
        assert_eq!(t.get("a").unwrap().progress.as_ref().unwrap().value, 2);
    }

    #[test]
    fn a_job_joined_late_is_a_gap_until_its_snapshot_arrives() {
        let mut t = JobTracker::new();
        assert_eq!(t.apply(&progress(7, 3)), Applied::Gap { expected: 1, got: 7 });
        assert!(t.get("a").is_none());
        let mut snapshot = created(match &state(1, None, JobState::Queued) {
            Event::State(e) => e,
            _ => unreachable!(),
        });
        snapshot.seq = 7;
        assert_eq!(t.apply_snapshot(snapshot.clone()), Applied::Updated);
        assert_eq!(t.apply_snapshot(snapshot.clone()), Applied::Stale);
        snapshot.seq = 6;
        assert_eq!(t.apply_snapshot(snapshot), Applied::Stale);
        assert_eq!(
            t.get("a").unwrap().seq,
            7,
            "an older snapshot does not replace a newer one"
        );
        assert_eq!(t.apply(&progress(8, 4)), Applied::Updated);
    }

    #[test]
    fn a_restart_jump_is_a_gap_and_non_job_events_are_not_jobs() {
        let mut t = JobTracker::new();
        t.apply(&state(1, None, JobState::Queued));
        assert_eq!(
            t.apply(&state(10_002, Some(JobState::Queued), JobState::Loading)),
            Applied::Gap {
                expected: 2,
                got: 10_002
            }
        );
        let stats = Event::Stats(crate::protocol::WorkerStatsEvent {
            ts: 1,
            queued: 0,
            running: 0,
            done: 0,
            failed: 0,
            cancelled: 0,
            paused: false,
            jobs_per_minute: 0,
            backends_up: 1,
            started_at: Some(1),
        });
        assert_eq!(t.apply(&stats), Applied::NotAJob);
        assert_eq!(t.len(), 1);
    }
}

//! What the typed request methods return: the fields of one reply type, without `type`, `v` and
//! `req_id` (which only matter on the wire).

use crate::error::{Error, Result};
use crate::protocol::{BackendInfo, JobSnapshot, JobState, Reply, SecurityInfo, SpriteSheet, WorkflowInfo};
use crate::value::OrderedMap;

/// `pong`.
#[derive(Debug, Clone, PartialEq)]
pub struct Pong {
    pub version: Option<String>,
    pub protocol: Option<u32>,
    /// When the worker started (ms): a change means it restarted.
    pub started_at: Option<u64>,
}

/// `accepted`.
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    pub job_id: String,
    /// The id was known: this is the existing job (a retry, or an id sent twice).
    pub existing: bool,
    pub state: JobState,
    /// The answer to `retry`: the old job's id.
    pub retry_of: Option<String>,
}

/// `group` (the answer to `compare`, `sheet` and `group`).
#[derive(Debug, Clone, PartialEq)]
pub struct Group {
    pub group_id: String,
    /// `<group_id>-<n>`: models outer, seeds inner.
    pub job_ids: Vec<String>,
    /// The group id was known: nothing new was created (a retry).
    pub existing: bool,
    pub jobs: Vec<JobSnapshot>,
    /// Every job has ended.
    pub finished: bool,
    /// The contact sheet's path, once written.
    pub contact_sheet: Option<String>,
    /// A `sheet`'s files, once it has ended.
    pub sprite_sheet: Option<SpriteSheet>,
}

/// `image` (the answer to `fetch_output` and `fetch_preview`): one image, or one of a sheet's files,
/// as bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Image {
    /// A job's image; none for a sheet's file.
    pub job_id: Option<String>,
    /// A sheet's file.
    pub group_id: Option<String>,
    /// `fetch_output` of a job.
    pub index: Option<u32>,
    /// `fetch_preview`.
    pub seq: Option<u64>,
    pub step: Option<u64>,
    /// `final` or `raw` (a job's), `sheet`, `atlas`, `aseprite` or `preview` (a sheet's file).
    pub variant: Option<String>,
    /// A sheet file's name (`sheet.json`, `walk.gif`, ...).
    pub name: Option<String>,
    /// `png`, `jpeg`, ...; a sheet's file: `png`, `json`, `gif`, `aseprite`.
    pub format: String,
    /// Of the bytes sent; none for a sheet's file.
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub bytes: u64,
    /// Hex SHA-256 of `image`.
    pub sha256: String,
    pub image: Vec<u8>,
}

/// `worker` (the answer to `status` without a job, `pause` and `resume`).
#[derive(Debug, Clone, PartialEq)]
pub struct WorkerStatus {
    pub version: String,
    pub protocol: u32,
    pub started_at: u64,
    pub paused: bool,
    /// The worker got SIGTERM and is finishing the jobs ComfyUI has (none from older workers).
    pub shutting_down: Option<bool>,
    /// Jobs waiting in pixflow's own queue, and the limit past which `generate` answers `queue_full`.
    pub queued: Option<u64>,
    pub max_queued: Option<u64>,
    /// State name → how many jobs the worker holds in it.
    pub jobs: OrderedMap<u64>,
    pub backends: Vec<BackendInfo>,
    pub workflows: Vec<String>,
    pub security: Option<SecurityInfo>,
}

/// `jobs`.
#[derive(Debug, Clone, PartialEq)]
pub struct JobList {
    /// Newest first.
    pub jobs: Vec<JobSnapshot>,
    /// How many match the filter.
    pub total: u64,
    pub offset: u64,
    /// The job id to page on from (`Client::list_jobs_before`); none after the last page.
    pub next: Option<String>,
}

/// `models`.
#[derive(Debug, Clone, PartialEq)]
pub struct Models {
    pub models: Vec<String>,
    pub backends: OrderedMap<Vec<String>>,
}

/// `workflows`.
#[derive(Debug, Clone, PartialEq)]
pub struct Workflows {
    pub workflows: Vec<WorkflowInfo>,
    pub default: String,
}

/// An `error` reply as `Err(Error::Worker)`; any other reply as it is.
pub(crate) fn ok_or_worker_error(reply: Reply) -> Result<Reply> {
    match reply {
        Reply::Error { code, message, .. } => Err(Error::Worker { code, message }),
        reply => Ok(reply),
    }
}

fn unexpected(request: &'static str, reply: &Reply) -> Error {
    Error::UnexpectedReply {
        request,
        got: reply.type_name(),
    }
}

pub(crate) fn pong(reply: Reply) -> Result<Pong> {
    match ok_or_worker_error(reply)? {
        Reply::Pong {
            version,
            protocol,
            started_at,
            ..
        } => Ok(Pong {
            version,
            protocol,
            started_at,
        }),
        other => Err(unexpected("ping", &other)),
    }
}

pub(crate) fn accepted(request: &'static str, reply: Reply) -> Result<Accepted> {
    match ok_or_worker_error(reply)? {
        Reply::Accepted {
            job_id,
            existing,
            state,
            retry_of,
            ..
        } => Ok(Accepted {
            job_id,
            existing,
            state,
            retry_of,
        }),
        other => Err(unexpected(request, &other)),
    }
}

pub(crate) fn job(request: &'static str, reply: Reply) -> Result<JobSnapshot> {
    match ok_or_worker_error(reply)? {
        Reply::Job { job, .. } => Ok(job),
        other => Err(unexpected(request, &other)),
    }
}

pub(crate) fn worker(request: &'static str, reply: Reply) -> Result<WorkerStatus> {
    match ok_or_worker_error(reply)? {
        Reply::Worker {
            version,
            protocol,
            started_at,
            paused,
            shutting_down,
            queued,
            max_queued,
            jobs,
            backends,
            workflows,
            security,
            ..
        } => Ok(WorkerStatus {
            version,
            protocol,
            started_at,
            paused,
            shutting_down,
            queued,
            max_queued,
            jobs,
            backends,
            workflows,
            security,
        }),
        other => Err(unexpected(request, &other)),
    }
}

pub(crate) fn jobs(reply: Reply) -> Result<JobList> {
    match ok_or_worker_error(reply)? {
        Reply::Jobs {
            jobs,
            total,
            offset,
            next,
            ..
        } => Ok(JobList {
            jobs,
            total,
            offset,
            next,
        }),
        other => Err(unexpected("list_jobs", &other)),
    }
}

pub(crate) fn models(reply: Reply) -> Result<Models> {
    match ok_or_worker_error(reply)? {
        Reply::Models { models, backends, .. } => Ok(Models { models, backends }),
        other => Err(unexpected("list_models", &other)),
    }
}

pub(crate) fn workflows(reply: Reply) -> Result<Workflows> {
    match ok_or_worker_error(reply)? {
        Reply::Workflows { workflows, default, .. } => Ok(Workflows { workflows, default }),
        other => Err(unexpected("list_workflows", &other)),
    }
}

/// `backend` (the answer to `drain`, `disable` and `enable`): the backend's figures.
pub(crate) fn backend(request: &'static str, reply: Reply) -> Result<BackendInfo> {
    match ok_or_worker_error(reply)? {
        Reply::Backend { backend, .. } => Ok(backend),
        other => Err(unexpected(request, &other)),
    }
}

pub(crate) fn group(request: &'static str, reply: Reply) -> Result<Group> {
    match ok_or_worker_error(reply)? {
        Reply::Group {
            group_id,
            job_ids,
            existing,
            jobs,
            finished,
            contact_sheet,
            sprite_sheet,
            ..
        } => Ok(Group {
            group_id,
            job_ids,
            existing,
            jobs,
            finished,
            contact_sheet,
            sprite_sheet,
        }),
        other => Err(unexpected(request, &other)),
    }
}

pub(crate) fn image(request: &'static str, reply: Reply) -> Result<Image> {
    match ok_or_worker_error(reply)? {
        Reply::Image {
            job_id,
            group_id,
            index,
            seq,
            step,
            variant,
            name,
            format,
            width,
            height,
            bytes,
            sha256,
            image,
            ..
        } => Ok(Image {
            job_id,
            group_id,
            index,
            seq,
            step,
            variant,
            name,
            format,
            width,
            height,
            bytes,
            sha256,
            image,
        }),
        other => Err(unexpected(request, &other)),
    }
}

/// The worker's `started_at`, in the replies that carry it.
pub(crate) fn started_at(reply: &Reply) -> Option<u64> {
    match reply {
        Reply::Pong { started_at, .. } => *started_at,
        Reply::Worker { started_at, .. } => Some(*started_at),
        _ => None,
    }
}

//! The pixflow wire protocol v1 as Rust types (docs/protocol.md).
//!
//! Every payload is a MessagePack map with string keys: encode with [`encode`] (rmp-serde's
//! `to_vec_named`, which writes structs as maps; plain `to_vec` would write arrays), decode with
//! [`decode_request`], [`decode_reply`] and [`Event::decode`]. Requests and replies are enums tagged
//! by their `type` field; events are one struct per topic family. Decoding ignores fields it does not
//! know, and treats a nil field as an absent one, as the protocol requires.

use serde::{Deserialize, Deserializer, Serialize};

use crate::codes::{BackendMode, BackendState, ErrorCode, JobErrorCode};
use crate::value::{OrderedMap, Value};

pub const PROTOCOL_VERSION: u32 = 1;
pub const DEFAULT_REQ_ADDR: &str = "tcp://127.0.0.1:5555";
pub const DEFAULT_PUB_ADDR: &str = "tcp://127.0.0.1:5556";

pub const TOPIC_STATE: &str = "job.state.";
pub const TOPIC_PROGRESS: &str = "job.progress.";
pub const TOPIC_PREVIEW: &str = "job.preview.";
pub const TOPIC_OUTPUT: &str = "job.output.";
pub const TOPIC_BACKEND: &str = "backend.";
pub const TOPIC_STATS: &str = "worker.stats";
/// `group.done.<group_id>`: a `compare` or `sheet` group ended and its contact sheet (and a sheet's
/// files) were written.
pub const TOPIC_GROUP_DONE: &str = "group.done.";
/// The four topics of one job are these prefixes followed by the job id.
pub const JOB_TOPIC_PREFIXES: [&str; 4] = [TOPIC_STATE, TOPIC_PROGRESS, TOPIC_PREVIEW, TOPIC_OUTPUT];

/// A nil field decodes as the type's default, like an absent one (`#[serde(default)]`).
fn nil_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + Default,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

// ---------------------------------------------------------------------------------------------
// Shared shapes

/// `req_id`: a string or an integer chosen by the client, echoed by the reply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ReqId {
    Int(i64),
    Str(String),
}

/// A job's state. `queued`, the five running stages, and the three final states.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Queued,
    Loading,
    Encoding,
    Sampling,
    Decoding,
    Saving,
    Done,
    Failed,
    Cancelled,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Loading => "loading",
            JobState::Encoding => "encoding",
            JobState::Sampling => "sampling",
            JobState::Decoding => "decoding",
            JobState::Saving => "saving",
            JobState::Done => "done",
            JobState::Failed => "failed",
            JobState::Cancelled => "cancelled",
        }
    }
    /// One of the five running stages (`loading` … `saving`).
    pub fn is_running(self) -> bool {
        matches!(
            self,
            JobState::Loading | JobState::Encoding | JobState::Sampling | JobState::Decoding | JobState::Saving
        )
    }
    /// `done`, `failed` and `cancelled`: nothing follows them.
    pub fn is_terminal(self) -> bool {
        matches!(self, JobState::Done | JobState::Failed | JobState::Cancelled)
    }
}

impl std::fmt::Display for JobState {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The last ComfyUI progress of a job (`progress` in the snapshot).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    pub node: String,
    pub value: u64,
    pub max: u64,
}

/// A saved image: entries of `outputs` (snapshot, `job.state` on `done`) and the `job.output` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputInfo {
    pub index: u32,
    /// Absolute path on the worker's machine.
    pub path: String,
    pub node: String,
    pub comfy_filename: String,
    pub width: Option<u32>,
    pub height: Option<u32>,
    pub bytes: u64,
    /// A workflow with sprite steps: `path` is the sprite, this the generation it was made from
    /// (`fetch_output` with `variant: raw`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_bytes: Option<u64>,
    /// The sprite's colours, `#rrggbb`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub palette: Option<Vec<String>>,
    /// Each sprite step's record: `step`, `params`, `found`, `ms` (docs/sprites.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post: Option<Vec<OrderedMap<Value>>>,
}

/// `error` of a failed job. The other fields depend on the code.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobError {
    pub code: JobErrorCode,
    pub message: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exception_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exception_message: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traceback: Option<Vec<String>>,
    /// ComfyUI's own maps (validation_error).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comfy_error: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_errors: Option<Value>,
}

/// The `generate` fields (request side): all optional but `prompt`; the worker fills in defaults.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct GenerateParams {
    /// Client-chosen job id; choose it to subscribe before the job's first event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    pub prompt: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub negative_prompt: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    /// [width, height]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<[u32; 2]>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cfg_scale: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampler: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduler: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_size: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previews: Option<bool>,
    /// The workflow's own parameters (`parameters` of `list_workflows` with `source: "params"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<OrderedMap<Value>>,
    /// Input images by the workflow's image names: the file's bytes (PNG, JPEG, WebP).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub images: Option<OrderedMap<serde_bytes::ByteBuf>>,
    /// LoRAs chained after the checkpoint loader, for a workflow whose `max_loras` is above 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loras: Option<Vec<LoraUse>>,
}

/// One entry of `generate`'s `loras`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoraUse {
    pub name: String,
    pub strength: f64,
}

/// `params` of a job snapshot: the validated `generate` fields, seed filled in. A missing field
/// takes the documented default.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct JobParams {
    pub prompt: String,
    pub model: Option<String>,
    pub steps: u32,
    pub cfg_scale: f64,
    pub negative_prompt: String,
    pub seed: u64,
    pub sampler: String,
    pub scheduler: String,
    pub batch_size: u32,
    /// As sent (nil when the request named none); the snapshot's `workflow` is the one used.
    pub workflow: Option<String>,
    pub priority: i32,
    pub previews: bool,
    pub size: [u32; 2],
    /// A `sheet`'s frame: which cell it is, and the sheet's layout.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sheet: Option<SheetCell>,
    /// The name of the CURVE key that submitted it; nil without CURVE.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// `params.sheet` of a `sheet`'s job: its row and frame, and the whole sheet's layout.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SheetCell {
    /// The row's name.
    pub row: String,
    pub row_index: u32,
    /// From 0; its seed is the sheet's `seed + frame`.
    pub frame: u32,
    /// Every row's name, in order.
    #[serde(default, deserialize_with = "nil_default")]
    pub rows: Vec<String>,
    /// Frames per row.
    pub frames: u32,
    /// [width, height] of every cell.
    pub cell: [u32; 2],
    /// The palette the request locked (nil: the first finished frame's).
    #[serde(default)]
    pub palette: Option<String>,
    pub duration_ms: u32,
}

impl Default for JobParams {
    fn default() -> Self {
        JobParams {
            prompt: String::new(),
            model: None,
            steps: 20,
            cfg_scale: 7.0,
            negative_prompt: String::new(),
            seed: 0,
            sampler: "euler".into(),
            scheduler: "normal".into(),
            batch_size: 1,
            workflow: None,
            priority: 0,
            previews: false,
            size: [512, 512],
            sheet: None,
            owner: None,
        }
    }
}

/// A job as the `job` reply and `jobs[]` entries carry it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobSnapshot {
    pub job_id: String,
    /// The `compare` or `sheet` group the job belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    pub state: JobState,
    /// The state while it is one of the five running stages, else nil.
    pub stage: Option<JobState>,
    #[serde(default, deserialize_with = "nil_default")]
    pub passes: u32,
    pub progress: Option<Progress>,
    #[serde(default, deserialize_with = "nil_default")]
    pub outputs: Vec<OutputInfo>,
    pub error: Option<JobError>,
    #[serde(default, deserialize_with = "nil_default")]
    pub params: JobParams,
    pub workflow: String,
    #[serde(default, deserialize_with = "nil_default")]
    pub priority: i32,
    pub backend: Option<String>,
    /// POST /prompt attempts so far (a prompt ComfyUI lost is sent again).
    #[serde(default, deserialize_with = "nil_default")]
    pub attempts: u32,
    #[serde(default, deserialize_with = "nil_default")]
    pub prompt_id: String,
    /// The `seq` of the last event published for this job.
    pub seq: u64,
    #[serde(default, deserialize_with = "nil_default")]
    pub cancel_requested: bool,
    /// Why a `queued` job is not on a backend yet (what each backend lacks, which capable ones are
    /// down or draining, or that it waits for a slot); nil otherwise, and from older workers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_reason: Option<String>,
    pub created_at: Option<u64>,
    pub started_at: Option<u64>,
    pub finished_at: Option<u64>,
    /// When the job entered each state it has been in (ms).
    #[serde(default, deserialize_with = "nil_default")]
    pub state_times: OrderedMap<u64>,
    /// The last preview published for the job (the image itself travels on `job.preview`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_preview: Option<PreviewRef>,
    /// overall, eta, stage_progress, step_rate (see "Progress and ETA").
    #[serde(flatten)]
    pub figures: ProgressFigures,
    /// The name of the CURVE key that submitted it (docs/security.md); nil without CURVE.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
}

/// The progress figures of snapshots, `job.state` and `job.progress` events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ProgressFigures {
    /// 0–1 across the whole job; only goes forward (see "Progress and ETA").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overall: Option<f64>,
    /// Seconds until done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eta: Option<f64>,
    /// The current sampler's value / max while sampling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage_progress: Option<f64>,
    /// Sampler steps per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_rate: Option<f64>,
}

/// `last_preview` of a job snapshot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreviewRef {
    pub seq: u64,
    pub step: Option<u64>,
    pub node: Option<String>,
    pub format: String,
}

/// A ComfyUI backend's figures, as in `worker.backends[]`, the `backend.<name>` event and the
/// `backend` reply (docs/pool.md). Fields in the worker's order, so that a message re-encodes to
/// its bytes. The optional ones are absent from workers without a pool (before `drain`); they are
/// skipped when absent, so an older worker's message re-encodes as it came.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackendInfo {
    pub name: String,
    pub url: String,
    pub up: bool,
    /// Health and mode in one word: `up`, `down`, `draining`, `disabled`, `retiring`, `removed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<BackendState>,
    /// What an operator asked: `active`, `draining`, `disabled`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<BackendMode>,
    /// Why it is down.
    pub reason: Option<String>,
    /// ComfyUI's version.
    pub version: Option<String>,
    /// Its `labels` from the settings (machine, gpu, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<OrderedMap<String>>,
    /// How many checkpoints it lists.
    #[serde(default, deserialize_with = "nil_default")]
    pub models: u64,
    /// How many LoRAs it lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loras: Option<u64>,
    /// How many node types its `/object_info` offers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_types: Option<u64>,
    /// Prompts pixflow has handed to it and not seen end.
    #[serde(default, deserialize_with = "nil_default")]
    pub inflight: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_inflight: Option<u64>,
    /// ComfyUI's own queue depth, from its status events (nil until it has said).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue_remaining: Option<u64>,
    /// The checkpoint of the last prompt sent to it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loaded_model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jobs_done: Option<u64>,
    /// Learned from its finished jobs (nil until one has finished).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seconds_per_job: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_switches: Option<u64>,
}

impl BackendInfo {
    /// Its state; from a worker without a pool (no `state`), `up` or `down` by its health.
    pub fn state(&self) -> BackendState {
        self.state
            .clone()
            .unwrap_or(if self.up { BackendState::Up } else { BackendState::Down })
    }
}

/// An entry of the `workflows` reply.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowInfo {
    pub name: String,
    #[serde(default, deserialize_with = "nil_default")]
    pub description: String,
    /// The `generate` fields it accepts.
    #[serde(default, deserialize_with = "nil_default")]
    pub params: Vec<String>,
    #[serde(default, deserialize_with = "nil_default")]
    pub defaults: OrderedMap<Value>,
    /// Its sprite steps in order, each `{step, ...its parameters}` (docs/sprites.md); empty for none
    /// (absent from older workers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post: Option<Vec<OrderedMap<Value>>>,
    /// Every parameter, typed from the backends' /object_info: what a form needs (absent from older workers).
    #[serde(default, deserialize_with = "nil_default", skip_serializing_if = "Vec::is_empty")]
    pub parameters: Vec<ParamSpec>,
    /// Images a job sends with `images`.
    #[serde(default, deserialize_with = "nil_default", skip_serializing_if = "Vec::is_empty")]
    pub images: Vec<ImageSlot>,
    /// How many `loras` a job may name; 0: it takes none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_loras: Option<u32>,
    /// The backends that can run it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backends: Option<Vec<String>>,
    /// Backend name -> what it lacks (node types, inputs, default model files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing: Option<OrderedMap<Vec<String>>>,
}

/// A workflow parameter as `list_workflows` describes it. Every key is always sent (nil where none).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamSpec {
    pub name: String,
    /// `field`: a `generate` field of its own (`sampler`, `size`, ...); `params`: in the `params` map.
    pub source: String,
    /// INT, FLOAT, BOOLEAN, STRING, COMBO, or SIZE (`size`: [width, height], each INT).
    pub kind: String,
    #[serde(default)]
    pub default: Option<Value>,
    #[serde(default, deserialize_with = "nil_default")]
    pub description: String,
    #[serde(default)]
    pub min: Option<Value>,
    #[serde(default)]
    pub max: Option<Value>,
    #[serde(default)]
    pub step: Option<Value>,
    /// COMBO: the values allowed.
    #[serde(default)]
    pub choices: Option<Vec<Value>>,
    /// The node inputs it fills, `node_id.input`.
    #[serde(default, deserialize_with = "nil_default")]
    pub targets: Vec<String>,
    /// The sprite step parameter it sets, `step.param`, instead of node inputs (nil for the others).
    #[serde(default)]
    pub post: Option<String>,
}

/// An input image a workflow takes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImageSlot {
    pub name: String,
    #[serde(default, deserialize_with = "nil_default")]
    pub description: String,
    #[serde(default)]
    pub required: bool,
    /// The LoadImage input it goes into, `node_id.input`.
    #[serde(default, deserialize_with = "nil_default")]
    pub target: String,
}

/// `state` of `list_jobs`: one state or several.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum StateFilter {
    One(String),
    Many(Vec<String>),
}

/// A row of a `sheet`: its name (the atlas's tag, the preview's file name) and what its frames add to
/// the subject's prompt (`"<subject>, <prompt>"`). Decodes from a bare name too, as the worker takes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(from = "SheetRowForm")]
pub struct SheetRow {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
}

impl SheetRow {
    pub fn new(name: impl Into<String>, prompt: impl Into<String>) -> Self {
        SheetRow {
            name: name.into(),
            prompt: Some(prompt.into()),
        }
    }
}

/// The two forms of a row on the wire.
#[derive(Deserialize)]
#[serde(untagged)]
enum SheetRowForm {
    Name(String),
    Row {
        name: String,
        #[serde(default)]
        prompt: Option<String>,
    },
}

impl From<SheetRowForm> for SheetRow {
    fn from(form: SheetRowForm) -> Self {
        match form {
            SheetRowForm::Name(name) => SheetRow { name, prompt: None },
            SheetRowForm::Row { name, prompt } => SheetRow { name, prompt },
        }
    }
}

/// The fields of `sheet` besides `group_id` and the `generate` fields: the rows, and the layout every
/// frame shares. All optional but `rows`; the worker fills in defaults (4 frames, 64x64 cells, the
/// first finished frame's palette, 100 ms a frame).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SheetSpec {
    pub rows: Vec<SheetRow>,
    /// Frames per row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frames: Option<u32>,
    /// [width, height] of every frame's cell.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cell: Option<[u32; 2]>,
    /// Locked for the whole sheet: a shipped palette's name, `#rrggbb` colours, or a palette file's text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub palette: Option<String>,
    /// Each frame's duration in the atlas and the previews.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u32>,
}

/// The fields of `retry`: the ended job, the new job's id, and its seed (the old job's unless `seed`
/// or `new_seed` says otherwise).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RetryParams {
    /// The ended job to make again.
    pub job_id: String,
    /// The new job's id; choose it (see [`RetryParams::ensure_id`]) so that sending the retry again
    /// answers the same job. Without it the worker names it (the group's next `<group_id>-<n>`, or a
    /// new uuid), and a retry sent twice makes two jobs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// `true`: a fresh random seed (re-rolling a sheet's frame).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub new_seed: Option<bool>,
}

impl RetryParams {
    /// The ended job `job_id` again, with its seed.
    pub fn new(job_id: impl Into<String>) -> Self {
        RetryParams {
            job_id: job_id.into(),
            ..Default::default()
        }
    }
    /// With a fresh random seed.
    pub fn new_seed(mut self) -> Self {
        self.new_seed = Some(true);
        self.seed = None;
        self
    }
    /// With this seed.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self.new_seed = None;
        self
    }
}

/// Which image of a job `fetch_output` sends (`variant`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputVariant {
    /// The sprite of a workflow with sprite steps, else the image as saved (the default).
    Final,
    /// The generation the sprite was made from (`not_found` for a workflow without steps).
    Raw,
}

impl OutputVariant {
    pub fn as_str(self) -> &'static str {
        match self {
            OutputVariant::Final => "final",
            OutputVariant::Raw => "raw",
        }
    }
}

/// One of a sheet's files, for `fetch_output` with a `group_id` (`variant`, and `row` for a preview).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SheetFile {
    /// `sheet.png`.
    Sheet,
    /// `sheet.json`, Aseprite's JSON atlas.
    Atlas,
    /// `sheet.aseprite` (not written yet: docs/sprites.md).
    Aseprite,
    /// A row's looping GIF, `<row>.gif`.
    Preview(String),
}

impl SheetFile {
    /// Its `variant` on the wire.
    pub fn variant(&self) -> &'static str {
        match self {
            SheetFile::Sheet => "sheet",
            SheetFile::Atlas => "atlas",
            SheetFile::Aseprite => "aseprite",
            SheetFile::Preview(_) => "preview",
        }
    }
    /// Its `row`: a preview's.
    pub fn row(&self) -> Option<&str> {
        match self {
            SheetFile::Preview(row) => Some(row),
            _ => None,
        }
    }
}

/// `sprite_sheet` of a `sheet` group's `group` reply and `group.done` event: the files written into
/// `<output_dir>/<group_id>/`, and what the sheet is made of.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpriteSheet {
    /// `sheet.png`'s absolute path.
    #[serde(default)]
    pub sheet: Option<String>,
    /// `sheet.json`'s (the atlas, in Aseprite's JSON export format).
    #[serde(default)]
    pub atlas: Option<String>,
    /// Row name → its GIF's path.
    #[serde(default, deserialize_with = "nil_default")]
    pub previews: OrderedMap<String>,
    /// `sheet.aseprite`'s path; nil for now (docs/sprites.md).
    #[serde(default)]
    pub aseprite: Option<String>,
    /// [width, height] of every cell.
    pub cell: [u32; 2],
    /// The sheet's colours, `#rrggbb`.
    #[serde(default, deserialize_with = "nil_default")]
    pub palette: Vec<String>,
    /// The cells without an image (transparent in the sheet).
    #[serde(default, deserialize_with = "nil_default")]
    pub missing: Vec<MissingFrame>,
}

/// An entry of `sprite_sheet.missing`: a cell whose job has no image, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MissingFrame {
    pub row: String,
    pub frame: u32,
    /// The cell's newest job (nil when it has none).
    #[serde(default)]
    pub job_id: Option<String>,
    #[serde(default)]
    pub state: Option<JobState>,
}

/// `security` of the `worker` reply (docs/security.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SecurityInfo {
    /// CURVE is on: only allowed client keys are served.
    pub curve: bool,
    /// With CURVE: how many client keys are allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub clients: Option<u64>,
    /// With CURVE: handshakes refused for an unknown key since the start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rejected: Option<u64>,
}

// ---------------------------------------------------------------------------------------------
// Requests and replies

/// `on_behalf` of a request: the user a proxy key (a web server) speaks for, with that user's role.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnBehalf {
    pub name: String,
    /// `viewer`, `submitter` or `admin`: at most what the proxy key may grant.
    pub role: String,
}

/// A request. Every one has `type` (the tag), `v` (1), optionally `req_id` and, from a proxy key, `on_behalf`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Request {
    Ping {
        v: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req_id: Option<ReqId>,
        /// A proxy key's user, whom the worker serves this request as (docs/security.md, "Proxies").
        #[serde(default, skip_serializing_if = "Option::is_none")]
        on_behalf: Option<OnBehalf>,
    },
    Generate {
        v: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req_id: Option<ReqId>,
        /// A proxy key's user, whom the worker serves this request as (docs/security.md, "Proxies").
        #[serde(default, skip_serializing_if = "Option::is_none")]
        on_behalf: Option<OnBehalf>,
        #[serde(flatten)]
        params: GenerateParams,
    },
    Cancel {
        v: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req_id: Option<ReqId>,
        /// A proxy key's user, whom the worker serves this request as (docs/security.md, "Proxies").
        #[serde(default, skip_serializing_if = "Option::is_none")]
        on_behalf: Option<OnBehalf>,
        job_id: String,
    },
    Status {
        v: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req_id: Option<ReqId>,
        /// A proxy key's user, whom the worker serves this request as (docs/security.md, "Proxies").
        #[serde(default, skip_serializing_if = "Option::is_none")]
        on_behalf: Option<OnBehalf>,
        /// Absent: the worker's status.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        job_id: Option<String>,
    },
    ListJobs {
        v: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req_id: Option<ReqId>,
        /// A proxy key's user, whom the worker serves this request as (docs/security.md, "Proxies").
        #[serde(default, skip_serializing_if = "Option::is_none")]
        on_behalf: Option<OnBehalf>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        state: Option<StateFilter>,
        /// Only the jobs of this `compare` or `sheet` group.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        limit: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        offset: Option<u32>,
        /// Only jobs that arrived before this job: the `next` of the page before (keyset paging).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        before: Option<String>,
    },
    ListModels {
        v: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req_id: Option<ReqId>,
        /// A proxy key's user, whom the worker serves this request as (docs/security.md, "Proxies").
        #[serde(default, skip_serializing_if = "Option::is_none")]
        on_behalf: Option<OnBehalf>,
    },
    ListWorkflows {
        v: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req_id: Option<ReqId>,
        /// A proxy key's user, whom the worker serves this request as (docs/security.md, "Proxies").
        #[serde(default, skip_serializing_if = "Option::is_none")]
        on_behalf: Option<OnBehalf>,
    },
    /// Stop handing jobs to ComfyUI (answered `worker`).
    Pause {
        v: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req_id: Option<ReqId>,
        /// A proxy key's user, whom the worker serves this request as (docs/security.md, "Proxies").
        #[serde(default, skip_serializing_if = "Option::is_none")]
        on_behalf: Option<OnBehalf>,
    },
    /// Hand jobs to ComfyUI again (answered `worker`).
    Resume {
        v: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req_id: Option<ReqId>,
        /// A proxy key's user, whom the worker serves this request as (docs/security.md, "Proxies").
        #[serde(default, skip_serializing_if = "Option::is_none")]
        on_behalf: Option<OnBehalf>,
    },
    /// One prompt over several models and/or seeds: a group of jobs `<group_id>-<n>` (answered `group`).
    Compare {
        v: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req_id: Option<ReqId>,
        /// A proxy key's user, whom the worker serves this request as (docs/security.md, "Proxies").
        #[serde(default, skip_serializing_if = "Option::is_none")]
        on_behalf: Option<OnBehalf>,
        /// Client-chosen; the same id again answers the existing group.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        models: Option<Vec<String>>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seeds: Option<Vec<u64>>,
        /// The `generate` fields but `id`.
        #[serde(flatten)]
        params: GenerateParams,
    },
    /// A character's sprite sheet: rows of frames, one job `<group_id>-<n>` per cell, through a
    /// workflow with sprite steps (answered `group`).
    Sheet {
        v: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req_id: Option<ReqId>,
        /// A proxy key's user, whom the worker serves this request as (docs/security.md, "Proxies").
        #[serde(default, skip_serializing_if = "Option::is_none")]
        on_behalf: Option<OnBehalf>,
        /// Client-chosen; the same id again answers the existing group.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group_id: Option<String>,
        /// rows, frames, cell, palette, duration_ms.
        #[serde(flatten)]
        sheet: SheetSpec,
        /// The `generate` fields but `id` (`prompt`: the subject, the same in every frame).
        #[serde(flatten)]
        params: GenerateParams,
    },
    /// An ended job's request made again as a new job, in the same group and cell (answered `accepted`).
    Retry {
        v: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req_id: Option<ReqId>,
        /// A proxy key's user, whom the worker serves this request as (docs/security.md, "Proxies").
        #[serde(default, skip_serializing_if = "Option::is_none")]
        on_behalf: Option<OnBehalf>,
        #[serde(flatten)]
        params: RetryParams,
    },
    /// A group's jobs and contact sheet (answered `group`).
    Group {
        v: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req_id: Option<ReqId>,
        /// A proxy key's user, whom the worker serves this request as (docs/security.md, "Proxies").
        #[serde(default, skip_serializing_if = "Option::is_none")]
        on_behalf: Option<OnBehalf>,
        group_id: String,
    },
    /// One saved image of a job (`job_id`), or one of a sheet's files (`group_id`), as bytes
    /// (answered `image`); `max_side`: a thumbnail.
    FetchOutput {
        v: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req_id: Option<ReqId>,
        /// A proxy key's user, whom the worker serves this request as (docs/security.md, "Proxies").
        #[serde(default, skip_serializing_if = "Option::is_none")]
        on_behalf: Option<OnBehalf>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        job_id: Option<String>,
        /// Instead of `job_id`: a sheet's file, by `variant` (and `row`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        index: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_side: Option<u32>,
        /// A job's: `final` (the default) or `raw` ([`OutputVariant`]); a group's: `sheet`, `atlas`,
        /// `aseprite` or `preview` ([`SheetFile`]).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        variant: Option<String>,
        /// The row of a sheet's `preview`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        row: Option<String>,
    },
    /// The last preview of a running job, as bytes (answered `image`).
    FetchPreview {
        v: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req_id: Option<ReqId>,
        /// A proxy key's user, whom the worker serves this request as (docs/security.md, "Proxies").
        #[serde(default, skip_serializing_if = "Option::is_none")]
        on_behalf: Option<OnBehalf>,
        job_id: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_side: Option<u32>,
    },
    /// No new prompts for a backend; what it holds runs to the end there (answered `backend`).
    Drain {
        v: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req_id: Option<ReqId>,
        /// A proxy key's user, whom the worker serves this request as (docs/security.md, "Proxies").
        #[serde(default, skip_serializing_if = "Option::is_none")]
        on_behalf: Option<OnBehalf>,
        backend: String,
    },
    /// No new prompts; prompts waiting in its queue move to other backends (answered `backend`).
    Disable {
        v: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req_id: Option<ReqId>,
        /// A proxy key's user, whom the worker serves this request as (docs/security.md, "Proxies").
        #[serde(default, skip_serializing_if = "Option::is_none")]
        on_behalf: Option<OnBehalf>,
        backend: String,
    },
    /// The backend takes prompts again (answered `backend`).
    Enable {
        v: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req_id: Option<ReqId>,
        /// A proxy key's user, whom the worker serves this request as (docs/security.md, "Proxies").
        #[serde(default, skip_serializing_if = "Option::is_none")]
        on_behalf: Option<OnBehalf>,
        backend: String,
    },
}

impl Request {
    pub fn ping() -> Self {
        Request::Ping {
            v: PROTOCOL_VERSION,
            req_id: None,
            on_behalf: None,
        }
    }
    pub fn generate(params: GenerateParams) -> Self {
        Request::Generate {
            v: PROTOCOL_VERSION,
            req_id: None,
            on_behalf: None,
            params,
        }
    }
    pub fn cancel(job_id: impl Into<String>) -> Self {
        Request::Cancel {
            v: PROTOCOL_VERSION,
            req_id: None,
            on_behalf: None,
            job_id: job_id.into(),
        }
    }
    pub fn status(job_id: Option<String>) -> Self {
        Request::Status {
            v: PROTOCOL_VERSION,
            req_id: None,
            on_behalf: None,
            job_id,
        }
    }
    pub fn list_jobs(state: Option<StateFilter>, limit: Option<u32>, offset: Option<u32>) -> Self {
        Request::ListJobs {
            v: PROTOCOL_VERSION,
            req_id: None,
            on_behalf: None,
            state,
            group_id: None,
            limit,
            offset,
            before: None,
        }
    }
    /// The page of `limit` jobs that arrived before `before` (a job id: the previous page's `next`).
    pub fn list_jobs_before(state: Option<StateFilter>, limit: Option<u32>, before: &str) -> Self {
        let mut request = Request::list_jobs(state, limit, None);
        if let Request::ListJobs { before: key, .. } = &mut request {
            *key = Some(before.to_string());
        }
        request
    }
    pub fn list_models() -> Self {
        Request::ListModels {
            v: PROTOCOL_VERSION,
            req_id: None,
            on_behalf: None,
        }
    }
    pub fn list_workflows() -> Self {
        Request::ListWorkflows {
            v: PROTOCOL_VERSION,
            req_id: None,
            on_behalf: None,
        }
    }
    pub fn pause() -> Self {
        Request::Pause {
            v: PROTOCOL_VERSION,
            req_id: None,
            on_behalf: None,
        }
    }
    pub fn resume() -> Self {
        Request::Resume {
            v: PROTOCOL_VERSION,
            req_id: None,
            on_behalf: None,
        }
    }

    pub fn compare(
        group_id: impl Into<String>,
        models: Option<Vec<String>>,
        seeds: Option<Vec<u64>>,
        params: GenerateParams,
    ) -> Self {
        Request::Compare {
            v: PROTOCOL_VERSION,
            req_id: None,
            on_behalf: None,
            group_id: Some(group_id.into()),
            models,
            seeds,
            params,
        }
    }
    /// A character's sprite sheet as the group `group_id` (choose it before the first attempt, as
    /// for `compare`); `params`: the `generate` fields but `id`.
    pub fn sheet(group_id: impl Into<String>, sheet: SheetSpec, params: GenerateParams) -> Self {
        Request::Sheet {
            v: PROTOCOL_VERSION,
            req_id: None,
            on_behalf: None,
            group_id: Some(group_id.into()),
            sheet,
            params,
        }
    }
    pub fn retry(params: RetryParams) -> Self {
        Request::Retry {
            v: PROTOCOL_VERSION,
            req_id: None,
            on_behalf: None,
            params,
        }
    }
    pub fn fetch_output(job_id: impl Into<String>, index: u32, max_side: Option<u32>) -> Self {
        Request::FetchOutput {
            v: PROTOCOL_VERSION,
            req_id: None,
            on_behalf: None,
            job_id: Some(job_id.into()),
            group_id: None,
            index: Some(index),
            max_side,
            variant: None,
            row: None,
        }
    }
    /// Like [`fetch_output`](Self::fetch_output), naming the variant: the sprite or the generation
    /// it was made from.
    pub fn fetch_output_variant(
        job_id: impl Into<String>,
        index: u32,
        max_side: Option<u32>,
        variant: OutputVariant,
    ) -> Self {
        let mut request = Request::fetch_output(job_id, index, max_side);
        if let Request::FetchOutput { variant: slot, .. } = &mut request {
            *slot = Some(variant.as_str().to_owned());
        }
        request
    }
    /// One of a sheet's files (`fetch_output` with `group_id`): `not_found` until it is written.
    pub fn fetch_sheet_file(group_id: impl Into<String>, file: &SheetFile) -> Self {
        Request::FetchOutput {
            v: PROTOCOL_VERSION,
            req_id: None,
            on_behalf: None,
            job_id: None,
            group_id: Some(group_id.into()),
            index: None,
            max_side: None,
            variant: Some(file.variant().to_owned()),
            row: file.row().map(str::to_owned),
        }
    }
    pub fn fetch_preview(job_id: impl Into<String>, max_side: Option<u32>) -> Self {
        Request::FetchPreview {
            v: PROTOCOL_VERSION,
            req_id: None,
            on_behalf: None,
            job_id: job_id.into(),
            max_side,
        }
    }
    pub fn group(group_id: impl Into<String>) -> Self {
        Request::Group {
            v: PROTOCOL_VERSION,
            req_id: None,
            on_behalf: None,
            group_id: group_id.into(),
        }
    }
    pub fn drain(backend: impl Into<String>) -> Self {
        Request::Drain {
            v: PROTOCOL_VERSION,
            req_id: None,
            on_behalf: None,
            backend: backend.into(),
        }
    }
    pub fn disable(backend: impl Into<String>) -> Self {
        Request::Disable {
            v: PROTOCOL_VERSION,
            req_id: None,
            on_behalf: None,
            backend: backend.into(),
        }
    }
    pub fn enable(backend: impl Into<String>) -> Self {
        Request::Enable {
            v: PROTOCOL_VERSION,
            req_id: None,
            on_behalf: None,
            backend: backend.into(),
        }
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            Request::Ping { .. } => "ping",
            Request::Generate { .. } => "generate",
            Request::Cancel { .. } => "cancel",
            Request::Status { .. } => "status",
            Request::ListJobs { .. } => "list_jobs",
            Request::ListModels { .. } => "list_models",
            Request::ListWorkflows { .. } => "list_workflows",
            Request::Pause { .. } => "pause",
            Request::Resume { .. } => "resume",
            Request::Compare { .. } => "compare",
            Request::Sheet { .. } => "sheet",
            Request::Retry { .. } => "retry",
            Request::Group { .. } => "group",
            Request::FetchOutput { .. } => "fetch_output",
            Request::FetchPreview { .. } => "fetch_preview",
            Request::Drain { .. } => "drain",
            Request::Disable { .. } => "disable",
            Request::Enable { .. } => "enable",
        }
    }

    pub fn req_id_mut(&mut self) -> &mut Option<ReqId> {
        match self {
            Request::Ping { req_id, .. }
            | Request::Generate { req_id, .. }
            | Request::Cancel { req_id, .. }
            | Request::Status { req_id, .. }
            | Request::ListJobs { req_id, .. }
            | Request::ListModels { req_id, .. }
            | Request::ListWorkflows { req_id, .. }
            | Request::Pause { req_id, .. }
            | Request::Resume { req_id, .. }
            | Request::Compare { req_id, .. }
            | Request::Sheet { req_id, .. }
            | Request::Retry { req_id, .. }
            | Request::Group { req_id, .. }
            | Request::FetchOutput { req_id, .. }
            | Request::FetchPreview { req_id, .. }
            | Request::Drain { req_id, .. }
            | Request::Disable { req_id, .. }
            | Request::Enable { req_id, .. } => req_id,
        }
    }
}

/// A reply, tagged by `type`. Any request can be answered `Error`.
#[allow(clippy::large_enum_variant)] // a job snapshot is the common reply; boxing it buys nothing here
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Reply {
    Pong {
        v: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req_id: Option<ReqId>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        version: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        protocol: Option<u32>,
        /// When the worker started (ms): a change means it restarted.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        started_at: Option<u64>,
    },
    Accepted {
        v: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req_id: Option<ReqId>,
        job_id: String,
        /// The id was known: this is the existing job, nothing new was created.
        #[serde(default, deserialize_with = "nil_default")]
        existing: bool,
        state: JobState,
        /// The answer to `retry`: the old job's id.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_of: Option<String>,
    },
    Job {
        v: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req_id: Option<ReqId>,
        #[serde(flatten)]
        job: JobSnapshot,
    },
    Jobs {
        v: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req_id: Option<ReqId>,
        /// Newest first.
        #[serde(default, deserialize_with = "nil_default")]
        jobs: Vec<JobSnapshot>,
        #[serde(default, deserialize_with = "nil_default")]
        total: u64,
        #[serde(default, deserialize_with = "nil_default")]
        offset: u64,
        /// The job id to send as `before` for the following page; none after the last.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        next: Option<String>,
    },
    Worker {
        v: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req_id: Option<ReqId>,
        version: String,
        protocol: u32,
        started_at: u64,
        /// Not handing jobs to ComfyUI (`pause`).
        #[serde(default, deserialize_with = "nil_default")]
        paused: bool,
        /// The worker got SIGTERM and is finishing the jobs ComfyUI has.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        shutting_down: Option<bool>,
        /// Jobs waiting in pixflow's own queue, not yet handed to a backend.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        queued: Option<u64>,
        /// The limit past which `generate` answers `queue_full`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        max_queued: Option<u64>,
        /// State name → how many jobs the worker holds in it.
        #[serde(default, deserialize_with = "nil_default")]
        jobs: OrderedMap<u64>,
        #[serde(default, deserialize_with = "nil_default")]
        backends: Vec<BackendInfo>,
        #[serde(default, deserialize_with = "nil_default")]
        workflows: Vec<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        security: Option<SecurityInfo>,
    },
    Models {
        v: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req_id: Option<ReqId>,
        /// Sorted checkpoint names over all backends.
        #[serde(default, deserialize_with = "nil_default")]
        models: Vec<String>,
        /// Backend name → its checkpoints.
        #[serde(default, deserialize_with = "nil_default")]
        backends: OrderedMap<Vec<String>>,
    },
    Workflows {
        v: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req_id: Option<ReqId>,
        #[serde(default, deserialize_with = "nil_default")]
        workflows: Vec<WorkflowInfo>,
        default: String,
    },
    /// The answer to `compare`, `sheet` and `group`.
    Group {
        v: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req_id: Option<ReqId>,
        group_id: String,
        /// `<group_id>-<n>`: models outer, seeds inner.
        #[serde(default, deserialize_with = "nil_default")]
        job_ids: Vec<String>,
        /// The group id was known: nothing new was created.
        #[serde(default, deserialize_with = "nil_default")]
        existing: bool,
        /// The jobs' snapshots, in `job_ids` order.
        #[serde(default, deserialize_with = "nil_default")]
        jobs: Vec<JobSnapshot>,
        /// Every job has ended.
        #[serde(default, deserialize_with = "nil_default")]
        finished: bool,
        /// The contact sheet's path, once written.
        #[serde(default)]
        contact_sheet: Option<String>,
        /// A `sheet`'s files once it has ended (nil while a frame is still running; absent for `compare`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sprite_sheet: Option<SpriteSheet>,
    },
    /// The answer to `fetch_output` (`index`, `variant`; a sheet's file: `group_id`, `variant`,
    /// `name`) and `fetch_preview` (`seq`, `step`).
    Image {
        v: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req_id: Option<ReqId>,
        /// A job's image; absent for a sheet's file.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        job_id: Option<String>,
        /// A sheet's file.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        group_id: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        index: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        seq: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        step: Option<u64>,
        /// `final` or `raw` (a job's), `sheet`, `atlas`, `aseprite` or `preview` (a sheet's file).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        variant: Option<String>,
        /// A sheet file's name (`sheet.json`, `walk.gif`, ...).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        name: Option<String>,
        /// `png`, `jpeg`, ...; a sheet's file: `png`, `json`, `gif`, `aseprite`.
        format: String,
        /// Of the bytes sent; absent for a sheet's file.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        width: Option<u32>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        height: Option<u32>,
        bytes: u64,
        /// Hex SHA-256 of `image`.
        sha256: String,
        #[serde(with = "serde_bytes")]
        image: Vec<u8>,
    },
    /// The answer to `drain`, `disable` and `enable`: the backend's figures after the change.
    Backend {
        v: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req_id: Option<ReqId>,
        #[serde(flatten)]
        backend: BackendInfo,
    },
    Error {
        v: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        req_id: Option<ReqId>,
        code: ErrorCode,
        #[serde(default, deserialize_with = "nil_default")]
        message: String,
    },
}

impl Reply {
    pub fn type_name(&self) -> &'static str {
        match self {
            Reply::Pong { .. } => "pong",
            Reply::Accepted { .. } => "accepted",
            Reply::Job { .. } => "job",
            Reply::Jobs { .. } => "jobs",
            Reply::Worker { .. } => "worker",
            Reply::Models { .. } => "models",
            Reply::Workflows { .. } => "workflows",
            Reply::Group { .. } => "group",
            Reply::Image { .. } => "image",
            Reply::Backend { .. } => "backend",
            Reply::Error { .. } => "error",
        }
    }

    pub fn req_id(&self) -> Option<&ReqId> {
        match self {
            Reply::Pong { req_id, .. }
            | Reply::Accepted { req_id, .. }
            | Reply::Job { req_id, .. }
            | Reply::Jobs { req_id, .. }
            | Reply::Worker { req_id, .. }
            | Reply::Models { req_id, .. }
            | Reply::Workflows { req_id, .. }
            | Reply::Group { req_id, .. }
            | Reply::Image { req_id, .. }
            | Reply::Backend { req_id, .. }
            | Reply::Error { req_id, .. } => req_id.as_ref(),
        }
    }

    pub fn version(&self) -> u32 {
        match self {
            Reply::Pong { v, .. }
            | Reply::Accepted { v, .. }
            | Reply::Job { v, .. }
            | Reply::Jobs { v, .. }
            | Reply::Worker { v, .. }
            | Reply::Models { v, .. }
            | Reply::Workflows { v, .. }
            | Reply::Group { v, .. }
            | Reply::Image { v, .. }
            | Reply::Backend { v, .. }
            | Reply::Error { v, .. } => *v,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Events: [topic, payload] on the PUB socket. Every payload has `ts` (ms).

/// `job.state.<job_id>`: every state change, and creation (`from` nil, `to` queued).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobStateEvent {
    pub ts: u64,
    pub job_id: String,
    pub seq: u64,
    pub from: Option<JobState>,
    pub to: JobState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passes: Option<u32>,
    /// The backend the job was handed to (nil before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backend: Option<String>,
    /// On creation (`from` nil): the validated generate fields and the workflow.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub params: Option<JobParams>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<String>,
    /// On creation: the `compare` or `sheet` group the job belongs to (nil when none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_id: Option<String>,
    /// overall, eta, stage_progress, step_rate (see "Progress and ETA").
    #[serde(flatten)]
    pub figures: ProgressFigures,
    /// On `failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<JobError>,
    /// On `done`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outputs: Option<Vec<OutputInfo>>,
}

/// `job.progress.<job_id>`: every ComfyUI progress step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobProgressEvent {
    pub ts: u64,
    pub job_id: String,
    pub seq: u64,
    pub stage: Option<JobState>,
    pub node: String,
    pub value: u64,
    pub max: u64,
    /// overall, eta, stage_progress, step_rate (see "Progress and ETA").
    #[serde(flatten)]
    pub figures: ProgressFigures,
}

/// `job.preview.<job_id>`: a live preview frame (jobs sent with `previews: true`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobPreviewEvent {
    pub ts: u64,
    pub job_id: String,
    pub seq: u64,
    pub node: String,
    pub step: Option<u64>,
    /// `jpeg` or `png`.
    pub format: String,
    /// msgpack bin.
    #[serde(with = "serde_bytes")]
    pub image: Vec<u8>,
}

/// `job.output.<job_id>`: each saved image, just before `done`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobOutputEvent {
    pub ts: u64,
    pub job_id: String,
    pub seq: u64,
    #[serde(flatten)]
    pub output: OutputInfo,
}

/// `backend.<name>`: a backend's health, mode, capabilities or figures changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackendEvent {
    pub ts: u64,
    #[serde(flatten)]
    pub backend: BackendInfo,
}

/// `worker.stats`: every `stats_interval` (1 s by default).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerStatsEvent {
    pub ts: u64,
    pub queued: u64,
    pub running: u64,
    pub done: u64,
    pub failed: u64,
    pub cancelled: u64,
    #[serde(default, deserialize_with = "nil_default")]
    pub paused: bool,
    /// Jobs done in the last 60 seconds.
    #[serde(default, deserialize_with = "nil_default")]
    pub jobs_per_minute: u64,
    pub backends_up: u64,
    /// When the worker started (ms).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<u64>,
}

/// `group.done.<group_id>`: a `compare` or `sheet` group's last job ended and its contact sheet (and
/// a sheet's files) were written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupDoneEvent {
    pub ts: u64,
    pub group_id: String,
    #[serde(default, deserialize_with = "nil_default")]
    pub job_ids: Vec<String>,
    #[serde(default, deserialize_with = "nil_default")]
    pub done: u64,
    #[serde(default, deserialize_with = "nil_default")]
    pub failed: u64,
    #[serde(default, deserialize_with = "nil_default")]
    pub cancelled: u64,
    /// The sheet's path; nil when it could not be written (`error` says why).
    #[serde(default)]
    pub contact_sheet: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    /// A `sheet`'s files (absent for `compare`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sprite_sheet: Option<SpriteSheet>,
}

/// An event, by its topic family.
// A state event is the largest and among the most frequent: boxing it would allocate for nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    State(JobStateEvent),
    Progress(JobProgressEvent),
    Preview(JobPreviewEvent),
    Output(JobOutputEvent),
    Backend(BackendEvent),
    Stats(WorkerStatsEvent),
    GroupDone(GroupDoneEvent),
}

/// Why a payload does not decode as the protocol says.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    #[error("unknown event topic {0:?}")]
    UnknownTopic(String),
    #[error("not a message of the protocol")]
    Msgpack(#[from] rmp_serde::decode::Error),
    #[error("nested deeper than {max} levels")]
    TooDeep { max: usize },
}

/// Refuse a payload nested too deep to decode safely (see [`crate::depth`]).
fn guard_depth(payload: &[u8]) -> Result<(), DecodeError> {
    if crate::depth::within_depth(payload, crate::depth::MAX_DEPTH) {
        Ok(())
    } else {
        Err(DecodeError::TooDeep {
            max: crate::depth::MAX_DEPTH,
        })
    }
}

impl Event {
    /// Decode an event's payload by its topic.
    pub fn decode(topic: &str, payload: &[u8]) -> Result<Event, DecodeError> {
        guard_depth(payload)?;
        Ok(if topic.starts_with(TOPIC_STATE) {
            Event::State(rmp_serde::from_slice(payload)?)
        } else if topic.starts_with(TOPIC_PROGRESS) {
            Event::Progress(rmp_serde::from_slice(payload)?)
        } else if topic.starts_with(TOPIC_PREVIEW) {
            Event::Preview(rmp_serde::from_slice(payload)?)
        } else if topic.starts_with(TOPIC_OUTPUT) {
            Event::Output(rmp_serde::from_slice(payload)?)
        } else if topic.starts_with(TOPIC_BACKEND) {
            Event::Backend(rmp_serde::from_slice(payload)?)
        } else if topic == TOPIC_STATS {
            Event::Stats(rmp_serde::from_slice(payload)?)
        } else if topic.starts_with(TOPIC_GROUP_DONE) {
            Event::GroupDone(rmp_serde::from_slice(payload)?)
        } else {
            return Err(DecodeError::UnknownTopic(topic.to_owned()));
        })
    }

    pub fn encode(&self) -> Result<Vec<u8>, rmp_serde::encode::Error> {
        match self {
            Event::State(e) => encode(e),
            Event::Progress(e) => encode(e),
            Event::Preview(e) => encode(e),
            Event::Output(e) => encode(e),
            Event::Backend(e) => encode(e),
            Event::Stats(e) => encode(e),
            Event::GroupDone(e) => encode(e),
        }
    }

    /// The job's event number, for the four job topics.
    pub fn seq(&self) -> Option<u64> {
        match self {
            Event::State(e) => Some(e.seq),
            Event::Progress(e) => Some(e.seq),
            Event::Preview(e) => Some(e.seq),
            Event::Output(e) => Some(e.seq),
            Event::Backend(_) | Event::Stats(_) | Event::GroupDone(_) => None,
        }
    }

    pub fn job_id(&self) -> Option<&str> {
        match self {
            Event::State(e) => Some(&e.job_id),
            Event::Progress(e) => Some(&e.job_id),
            Event::Preview(e) => Some(&e.job_id),
            Event::Output(e) => Some(&e.job_id),
            Event::Backend(_) | Event::Stats(_) | Event::GroupDone(_) => None,
        }
    }
}

/// The topic of one of a job's four event families, e.g. `job_topic(TOPIC_STATE, "sprite-001")`.
/// Subscriptions match by prefix, so `job.state.a` also receives `job.state.ab`: compare the whole
/// topic (or the event's `job_id`) when following one job.
pub fn job_topic(prefix: &str, job_id: &str) -> String {
    format!("{prefix}{job_id}")
}

/// Encode a message as a MessagePack map with string keys.
pub fn encode<T: Serialize + ?Sized>(message: &T) -> Result<Vec<u8>, rmp_serde::encode::Error> {
    rmp_serde::to_vec_named(message)
}

pub fn decode_request(payload: &[u8]) -> Result<Request, DecodeError> {
    guard_depth(payload)?;
    Ok(rmp_serde::from_slice(payload)?)
}

pub fn decode_reply(payload: &[u8]) -> Result<Reply, DecodeError> {
    guard_depth(payload)?;
    Ok(rmp_serde::from_slice(payload)?)
}

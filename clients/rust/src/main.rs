//! pixflow-client: talk to a pixflow worker from the command line, the way the Rust TUI does.
//! Output is one JSON object per line: replies as the worker sent them (`"type": ...`), events as
//! `{"topic": ..., <the event's fields>}`.

use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use pixflow_client::protocol::*;
use pixflow_client::testing::vectors;
use pixflow_client::{new_job_id, Client, Error, FollowItem};
use serde::Serialize;

const USAGE: &str = "\
usage: pixflow-client [--req ADDR] [--pub ADDR] [--timeout SECS]
                      [--server-key FILE --client-key FILE] COMMAND [ARGS]

commands:
  ping
  generate [PROMPT] [--prompt TEXT] [--id ID] [--model NAME] [--size WxH] [--steps N]
           [--cfg-scale X] [--negative-prompt TEXT] [--seed N] [--sampler NAME]
           [--scheduler NAME] [--batch-size N] [--workflow NAME] [--priority N] [--previews]
           [--follow [--follow-timeout SECS]]
  sheet [PROMPT] --row NAME[:PROMPT] [--row ...] [--frames N] [--cell WxH] [--palette P]
           [--duration-ms N] [--group-id ID] [the generate options but --id, --follow]
                          a character's sprite sheet, one job per cell (docs/protocol.md, sheet)
  group GROUP             a group's jobs, contact sheet and sprite sheet
  retry JOB [--id ID] [--seed N | --new-seed]
                          an ended job again as a new job (a sheet's frame: in its cell)
  fetch-output JOB [--index N] [--max-side N] [--raw] [--out FILE]
                          one saved image (--raw: the generation a sprite was made from)
  fetch-sheet GROUP sheet|atlas|aseprite|preview [ROW] [--out FILE]
                          one of a sheet's files (preview: ROW's GIF)
  cancel JOB
  status [JOB]
  list-jobs [--state STATE[,STATE...]] [--limit N] [--offset N]
  list-models
  list-workflows
  pause | resume
  drain BACKEND | disable BACKEND | enable BACKEND
                          a backend's mode (docs/pool.md); prints its figures
  vectors PATH [--strict] decode and re-encode every vector of docs/protocol-vectors.json;
                          --strict: a field the Rust types do not know fails too

options:
  --req ADDR       the worker's request socket (default $PIXFLOW_REQ_ADDR or tcp://127.0.0.1:5555)
  --pub ADDR       the worker's event socket (default $PIXFLOW_PUB_ADDR or tcp://127.0.0.1:5556)
  --timeout SECS   how long to wait for a reply, or for the event subscription (default 5)
  --server-key FILE  the worker's public key, NAME.key or its 40 z85 characters
                     (default $PIXFLOW_SERVER_KEY); with --client-key: CURVE (docs/security.md)
  --client-key FILE  this client's NAME.key_secret (default $PIXFLOW_CLIENT_KEY)

sheet and retry choose the group's or the new job's id when none is given (a new UUID), as every
request that makes jobs does. An `image` reply prints without its bytes (`image_len`); --out FILE
writes them.

generate --follow subscribes to the job's events before sending it, then prints every event of the
job until its final state. Exit status: 0 success (job done), 1 the worker answered `error` or the
job failed or was cancelled, 2 usage, transport, timeout or decode errors.";

struct Args {
    positional: Vec<String>,
    options: Vec<(String, Option<String>)>,
}

/// Flags that take no value.
const SWITCHES: [&str; 6] = ["--follow", "--previews", "--help", "--strict", "--new-seed", "--raw"];

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        positional: Vec::new(),
        options: Vec::new(),
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        if arg == "-h" {
            args.options.push(("--help".into(), None));
        } else if let Some((name, value)) = arg.split_once('=').filter(|_| arg.starts_with("--")) {
            args.options.push((name.to_owned(), Some(value.to_owned())));
        } else if arg.starts_with("--") {
            if SWITCHES.contains(&arg.as_str()) {
                args.options.push((arg, None));
            } else {
                let value = it.next().ok_or_else(|| format!("{arg} needs a value"))?;
                args.options.push((arg, Some(value)));
            }
        } else {
            args.positional.push(arg);
        }
    }
    Ok(args)
}

impl Args {
    fn take(&mut self, name: &str) -> Option<String> {
        let i = self.options.iter().position(|(n, _)| n == name)?;
        Some(self.options.remove(i).1.unwrap_or_default())
    }
    fn flag(&mut self, name: &str) -> bool {
        self.take(name).is_some()
    }
    fn parsed<T: std::str::FromStr>(&mut self, name: &str) -> Result<Option<T>, String>
    where
        T::Err: std::fmt::Display,
    {
        self.take(name)
            .map(|v| v.parse::<T>().map_err(|e| format!("{name} {v:?}: {e}")))
            .transpose()
    }
    fn done(&self) -> Result<(), String> {
        match self.options.first() {
            Some((name, _)) => Err(format!("unknown option {name}")),
            None => Ok(()),
        }
    }
}

fn seconds(name: &str, value: Option<f64>, default: f64) -> Result<Duration, String> {
    let s = value.unwrap_or(default);
    if !(s.is_finite() && s > 0.0) {
        return Err(format!("{name} must be a positive number of seconds"));
    }
    Ok(Duration::from_secs_f64(s))
}

/// `WxH` of the option `name` (`--size`, `--cell`).
fn parse_size(name: &str, value: &str) -> Result<[u32; 2], String> {
    let (w, h) = value
        .split_once(['x', 'X'])
        .ok_or_else(|| format!("{name} {value:?}: expected WxH"))?;
    let side = |s: &str| s.trim().parse::<u32>().map_err(|e| format!("{name} {value:?}: {e}"));
    Ok([side(w)?, side(h)?])
}

fn print_json<T: Serialize>(value: &T) {
    // The protocol's types always serialize as JSON (string keys, no non-finite floats from msgpack
    // that JSON cannot hold are produced by the worker); a failure would be a bug here.
    match serde_json::to_string(value) {
        Ok(line) => println!("{line}"),
        Err(e) => eprintln!("pixflow-client: cannot print as JSON: {e}"),
    }
}

/// An event as one JSON line: the topic, then the event's fields (a preview's image as its length).
fn print_event(topic: &str, event: &Event) {
    #[derive(Serialize)]
    struct Line<'a, T: Serialize> {
        topic: &'a str,
        #[serde(flatten)]
        event: &'a T,
    }
    #[derive(Serialize)]
    struct Preview<'a> {
        ts: u64,
        job_id: &'a str,
        seq: u64,
        node: &'a str,
        step: Option<u64>,
        format: &'a str,
        image_len: usize,
    }
    let line = match event {
        Event::State(e) => serde_json::to_string(&Line { topic, event: e }),
        Event::Progress(e) => serde_json::to_string(&Line { topic, event: e }),
        Event::Output(e) => serde_json::to_string(&Line { topic, event: e }),
        Event::Backend(e) => serde_json::to_string(&Line { topic, event: e }),
        Event::Stats(e) => serde_json::to_string(&Line { topic, event: e }),
        Event::GroupDone(e) => serde_json::to_string(&Line { topic, event: e }),
        Event::Preview(e) => {
            let p = Preview {
                ts: e.ts,
                job_id: &e.job_id,
                seq: e.seq,
                node: &e.node,
                step: e.step,
                format: &e.format,
                image_len: e.image.len(),
            };
            serde_json::to_string(&Line { topic, event: &p })
        }
    };
    match line {
        Ok(line) => println!("{line}"),
        Err(e) => eprintln!("pixflow-client: cannot print as JSON: {e}"),
    }
}

enum Failure {
    Usage(String),
    Client(Error),
    /// Already printed: exit 1.
    Reported,
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Client(e)
    }
}

impl From<&str> for Failure {
    fn from(e: &str) -> Self {
        Failure::Usage(e.to_owned())
    }
}

impl From<String> for Failure {
    fn from(e: String) -> Self {
        Failure::Usage(e)
    }
}

/// Print a reply; an `error` reply makes the command fail (exit 1).
fn print_reply(reply: &Reply) -> Result<(), Failure> {
    print_json(reply);
    match reply {
        Reply::Error { code, message, .. } => {
            eprintln!("pixflow-client: the worker answered {code}: {message}");
            Err(Failure::Reported)
        }
        _ => Ok(()),
    }
}

/// Print an `image` reply without its bytes (their length as `image_len`, as for a preview event),
/// writing them to `out` first; any other reply as [`print_reply`] does.
fn print_image_reply(reply: &Reply, out: Option<&str>) -> Result<(), Failure> {
    #[derive(Serialize)]
    struct Line<'a> {
        #[serde(rename = "type")]
        kind: &'a str,
        v: u32,
        #[serde(skip_serializing_if = "Option::is_none")]
        req_id: &'a Option<ReqId>,
        #[serde(skip_serializing_if = "Option::is_none")]
        job_id: &'a Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        group_id: &'a Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        index: &'a Option<u32>,
        #[serde(skip_serializing_if = "Option::is_none")]
        seq: &'a Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        step: &'a Option<u64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        variant: &'a Option<String>,
        #[serde(skip_serializing_if = "Option::is_none")]
        name: &'a Option<String>,
        format: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        width: &'a Option<u32>,
        #[serde(skip_serializing_if = "Option::is_none")]
        height: &'a Option<u32>,
        bytes: u64,
        sha256: &'a str,
        image_len: usize,
    }
    let Reply::Image {
        v,
        req_id,
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
    } = reply
    else {
        return print_reply(reply);
    };
    if let Some(path) = out {
        std::fs::write(path, image).map_err(|e| format!("--out {path}: {e}"))?;
    }
    print_json(&Line {
        kind: reply.type_name(),
        v: *v,
        req_id,
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
        bytes: *bytes,
        sha256,
        image_len: image.len(),
    });
    Ok(())
}

fn generate_params(command: &str, args: &mut Args) -> Result<GenerateParams, String> {
    let prompt = match args.take("--prompt") {
        Some(p) => p,
        None if !args.positional.is_empty() => args.positional.remove(0),
        None => return Err(format!("{command} needs a prompt (PROMPT or --prompt TEXT)")),
    };
    Ok(GenerateParams {
        id: args.take("--id"),
        prompt,
        negative_prompt: args.take("--negative-prompt"),
        model: args.take("--model"),
        size: args.take("--size").map(|s| parse_size("--size", &s)).transpose()?,
        steps: args.parsed("--steps")?,
        cfg_scale: args.parsed("--cfg-scale")?,
        seed: args.parsed("--seed")?,
        sampler: args.take("--sampler"),
        scheduler: args.take("--scheduler"),
        batch_size: args.parsed("--batch-size")?,
        workflow: args.take("--workflow"),
        priority: args.parsed("--priority")?,
        previews: if args.flag("--previews") { Some(true) } else { None },
        params: None,
        images: None,
        loras: None,
    })
}

/// `sheet`'s own options: every `--row NAME[:PROMPT]` in order, and the layout.
fn sheet_spec(args: &mut Args) -> Result<SheetSpec, String> {
    let mut rows = Vec::new();
    while let Some(row) = args.take("--row") {
        rows.push(match row.split_once(':') {
            Some((name, prompt)) => SheetRow::new(name, prompt),
            None => SheetRow {
                name: row,
                prompt: None,
            },
        });
    }
    if rows.is_empty() {
        return Err("sheet needs at least one --row NAME[:PROMPT]".into());
    }
    Ok(SheetSpec {
        rows,
        frames: args.parsed("--frames")?,
        cell: args.take("--cell").map(|s| parse_size("--cell", &s)).transpose()?,
        palette: args.take("--palette"),
        duration_ms: args.parsed("--duration-ms")?,
    })
}

/// Subscribe, wait until the subscription is live, send `generate`, then print the job's events
/// until it ends (the library's `Follow`: seq tracked, `status` read and printed after a gap).
fn follow(client: &mut Client, mut params: GenerateParams, follow_timeout: Duration) -> Result<(), Failure> {
    let job_id = params.ensure_id().to_owned();
    client.prepare_follow(&job_id)?;

    // Sent as a raw request so that the reply prints as the worker sent it.
    let reply = client.request(Request::generate(params))?;
    print_reply(&reply)?;
    let state = match &reply {
        Reply::Accepted { state, .. } => *state,
        other => {
            return Err(Error::UnexpectedReply {
                request: "generate",
                got: other.type_name(),
            }
            .into())
        }
    };
    if state.is_terminal() {
        // A known id whose job has ended: no event will come; its snapshot tells all.
        let status = client.call(Request::status(Some(job_id)))?;
        print_json(&status);
        return if state == JobState::Done {
            Ok(())
        } else {
            Err(Failure::Reported)
        };
    }

    let mut follow = client.follow_prepared(&job_id).with_timeout(follow_timeout);
    for item in follow.by_ref() {
        match item {
            Ok(FollowItem::Event { topic, event }) => print_event(&topic, &event),
            Ok(FollowItem::Gap { expected, got }) => {
                eprintln!("pixflow-client: job {job_id}: expected seq {expected}, got {got}: events were missed")
            }
            Ok(FollowItem::Resynced(job)) => print_json(&Reply::Job {
                v: PROTOCOL_VERSION,
                req_id: None,
                job: *job,
            }),
            Ok(FollowItem::WorkerRestarted(restart)) => {
                eprintln!("pixflow-client: the worker restarted (started_at {})", restart.now)
            }
            Err(e @ Error::FollowTimeout { .. }) => return Err(e.into()),
            // One message or one status read; following goes on.
            Err(e) => eprintln!("pixflow-client: {}", chain(&e)),
        }
    }
    let Some(job) = follow.snapshot() else {
        return Err(Failure::Usage(format!("job {job_id} was never seen")));
    };
    match job.state {
        JobState::Done => Ok(()),
        other => {
            let why = job
                .error
                .as_ref()
                .map(|e| format!(": {}: {}", e.code, e.message))
                .unwrap_or_default();
            eprintln!("pixflow-client: job {job_id} {other}{why}");
            Err(Failure::Reported)
        }
    }
}

/// An error and its causes, on one line.
fn chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

fn vectors_command(path: &str, strict: bool) -> Result<(), Failure> {
    let results = vectors::check_file(Path::new(path), strict).map_err(Failure::Usage)?;
    let failed = results.iter().filter(|r| !r.ok).count();
    let byte_exact = results.iter().filter(|r| r.byte_exact).count();
    for r in &results {
        print_json(r);
        if !r.ok {
            eprintln!("pixflow-client: vector {:?} FAILED: {}", r.name, r.errors.join("; "));
        } else if !r.ignored_fields.is_empty() {
            eprintln!(
                "pixflow-client: vector {:?}: fields the Rust types ignore: {}",
                r.name,
                r.ignored_fields.join(", ")
            );
        }
    }
    #[derive(Serialize)]
    struct Summary {
        vectors: usize,
        decoded: usize,
        failed: usize,
        byte_exact: usize,
    }
    print_json(&Summary {
        vectors: results.len(),
        decoded: results.len() - failed,
        failed,
        byte_exact,
    });
    if failed > 0 {
        eprintln!("pixflow-client: {failed} of {} vectors failed", results.len());
        return Err(Failure::Reported);
    }
    Ok(())
}

fn run() -> Result<(), Failure> {
    let mut args = parse_args()?;
    if args.flag("--help") {
        println!("{USAGE}");
        return Ok(());
    }
    if args.positional.is_empty() {
        return Err(Failure::Usage("no command".into()));
    }
    let req = args.take("--req").or_else(|| std::env::var("PIXFLOW_REQ_ADDR").ok());
    let req = req.unwrap_or_else(|| DEFAULT_REQ_ADDR.into());
    let pub_ = args.take("--pub").or_else(|| std::env::var("PIXFLOW_PUB_ADDR").ok());
    let pub_ = pub_.unwrap_or_else(|| DEFAULT_PUB_ADDR.into());
    let timeout = seconds("--timeout", args.parsed("--timeout")?, 5.0)?;
    let (server_key, client_key) = (args.take("--server-key"), args.take("--client-key"));
    if server_key.is_some() || client_key.is_some() {
        pixflow_client::curve::set_key_files(server_key, client_key);
    }
    let command = args.positional.remove(0);

    if command == "vectors" {
        let path = args.positional.first().cloned().ok_or("vectors needs a PATH")?;
        let strict = args.flag("--strict");
        args.done()?;
        return vectors_command(&path, strict);
    }

    let mut client = Client::connect(&req, &pub_, timeout)?;
    let request = match command.as_str() {
        "ping" => Request::ping(),
        "generate" => {
            let params = generate_params("generate", &mut args)?;
            let follow_on = args.flag("--follow");
            let follow_timeout = seconds("--follow-timeout", args.parsed("--follow-timeout")?, 600.0)?;
            args.done()?;
            if follow_on {
                return follow(&mut client, params, follow_timeout);
            }
            Request::generate(params)
        }
        "sheet" => {
            let sheet = sheet_spec(&mut args)?;
            let group_id = args.take("--group-id").unwrap_or_else(new_job_id);
            let params = generate_params("sheet", &mut args)?;
            if params.id.is_some() {
                return Err("sheet takes --group-id (its jobs are <group_id>-<n>), not --id".into());
            }
            Request::sheet(group_id, sheet, params)
        }
        "group" => Request::group(args.positional.first().cloned().ok_or("group needs a GROUP")?),
        "retry" => {
            let job_id = args.positional.first().cloned().ok_or("retry needs a JOB")?;
            let mut params = RetryParams::new(job_id);
            params.id = args.take("--id");
            params.seed = args.parsed("--seed")?;
            if args.flag("--new-seed") {
                if params.seed.is_some() {
                    return Err("retry takes --seed N or --new-seed, not both".into());
                }
                params = params.new_seed();
            }
            params.ensure_id();
            Request::retry(params)
        }
        "fetch-output" => {
            let job_id = args.positional.first().cloned().ok_or("fetch-output needs a JOB")?;
            let index = args.parsed("--index")?.unwrap_or(0);
            let max_side = args.parsed("--max-side")?;
            let request = match args.flag("--raw") {
                true => Request::fetch_output_variant(job_id, index, max_side, OutputVariant::Raw),
                false => Request::fetch_output(job_id, index, max_side),
            };
            let out = args.take("--out");
            args.done()?;
            return print_image_reply(&client.request(request)?, out.as_deref());
        }
        "fetch-sheet" => {
            let group_id = args.positional.first().cloned().ok_or("fetch-sheet needs a GROUP")?;
            let file = match (args.positional.get(1).map(String::as_str), args.positional.get(2)) {
                (Some("sheet"), None) => SheetFile::Sheet,
                (Some("atlas"), None) => SheetFile::Atlas,
                (Some("aseprite"), None) => SheetFile::Aseprite,
                (Some("preview"), Some(row)) => SheetFile::Preview(row.clone()),
                (Some("preview"), None) => return Err("fetch-sheet GROUP preview needs a ROW".into()),
                _ => return Err("fetch-sheet needs GROUP and sheet, atlas, aseprite or preview ROW".into()),
            };
            let out = args.take("--out");
            args.done()?;
            return print_image_reply(
                &client.request(Request::fetch_sheet_file(group_id, &file))?,
                out.as_deref(),
            );
        }
        "cancel" => Request::cancel(args.positional.first().cloned().ok_or("cancel needs a JOB")?),
        "status" => Request::status(args.positional.first().cloned()),
        "list-jobs" => {
            let state = args.take("--state").map(|s| {
                let mut states: Vec<String> = s.split(',').map(str::to_owned).collect();
                match states.len() {
                    1 => StateFilter::One(states.remove(0)),
                    _ => StateFilter::Many(states),
                }
            });
            Request::list_jobs(state, args.parsed("--limit")?, args.parsed("--offset")?)
        }
        "list-models" => Request::list_models(),
        "list-workflows" => Request::list_workflows(),
        "pause" => Request::pause(),
        "resume" => Request::resume(),
        "drain" | "disable" | "enable" => {
            let backend = args.positional.first().cloned();
            let backend = backend.ok_or_else(|| format!("{command} needs a BACKEND"))?;
            match command.as_str() {
                "drain" => Request::drain(backend),
                "disable" => Request::disable(backend),
                _ => Request::enable(backend),
            }
        }
        other => return Err(Failure::Usage(format!("unknown command {other:?}"))),
    };
    args.done()?;
    print_reply(&client.request(request)?)
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Reported) => ExitCode::from(1),
        Err(Failure::Client(e)) => {
            eprintln!("pixflow-client: {}", chain(&e));
            ExitCode::from(if matches!(e, Error::Worker { .. }) { 1 } else { 2 })
        }
        Err(Failure::Usage(e)) => {
            eprintln!("pixflow-client: {e}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

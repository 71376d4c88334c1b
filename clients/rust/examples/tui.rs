//! A small terminal UI on the [`Handle`]: a live job list (state, stage, progress bar, ETA), the
//! selected job's last preview in half-blocks, the backends (state, loaded model, ComfyUI queue,
//! seconds per job), `n` to submit, `c` to cancel, arrows to select, `q` to quit. Built with Debian's `tui` 0.19 and `crossterm` 0.25.
//!
//!     cargo run --features preview --example tui -- [REQ_ADDR PUB_ADDR] [--model NAME] [--prompt TEXT]

use std::collections::HashMap;
use std::io;
use std::time::Duration;

use crossterm::event::{self, Event as Key, KeyCode};
use crossterm::execute;
use crossterm::terminal::{disable_raw_mode, enable_raw_mode, EnterAlternateScreen, LeaveAlternateScreen};
use pixflow_client::preview::decode_preview;
use pixflow_client::{
    BackendInfo, Connection, GenerateParams, Handle, HandleOptions, JobSnapshot, Update, DEFAULT_PUB_ADDR,
    DEFAULT_REQ_ADDR,
};
use tui::backend::{Backend, CrosstermBackend};
use tui::layout::{Constraint, Direction, Layout, Rect};
use tui::style::{Color, Modifier, Style};
use tui::text::{Span, Spans};
use tui::widgets::{Block, Borders, List, ListItem, ListState, Paragraph};
use tui::{Frame, Terminal};

/// The UI's state: everything comes from the handle's updates.
struct App {
    jobs: Vec<JobSnapshot>,
    previews: HashMap<String, image::RgbImage>,
    /// By name, in the order first seen.
    backends: Vec<BackendInfo>,
    selected: ListState,
    status: String,
    connection: Option<Connection>,
    prompt: String,
    model: Option<String>,
}

impl App {
    fn apply(&mut self, update: Update) {
        match update {
            Update::Job(job) => match self.jobs.iter_mut().find(|j| j.job_id == job.job_id) {
                Some(slot) => *slot = *job,
                None => {
                    self.jobs.push(*job);
                    if self.selected.selected().is_none() {
                        self.selected.select(Some(0));
                    }
                }
            },
            Update::Preview(preview) => {
                if let Ok(image) = decode_preview(&preview) {
                    self.previews.insert(preview.job_id.clone(), image.to_rgb8());
                }
            }
            Update::Reply { result: Err(e), .. } => self.status = e.to_string(),
            Update::Reply { .. } => {}
            Update::Stats(s) => {
                self.status = format!(
                    "queued {} running {} done {} failed {} · {}/min",
                    s.queued, s.running, s.done, s.failed, s.jobs_per_minute
                )
            }
            Update::Connection(c) => self.connection = Some(c),
            Update::WorkerRestarted(r) => self.status = format!("the worker restarted ({})", r.now),
            Update::Gap { job_id, .. } => self.status = format!("missed events of {job_id}: resynced"),
            Update::Problem(e) => self.status = e.to_string(),
            Update::Backend(b) => match self.backends.iter_mut().find(|known| known.name == b.name) {
                Some(slot) => *slot = b,
                None => self.backends.push(b),
            },
        }
    }

    fn selected_job(&self) -> Option<&JobSnapshot> {
        self.selected.selected().and_then(|i| self.jobs.get(i))
    }

    fn move_selection(&mut self, by: isize) {
        if self.jobs.is_empty() {
            return;
        }
        let current = self.selected.selected().unwrap_or(0) as isize;
        let next = (current + by).clamp(0, self.jobs.len() as isize - 1);
        self.selected.select(Some(next as usize));
    }
}

/// `[#####-----]  42%` as text: a bar that fits in a list row.
fn bar(fraction: Option<f64>, width: usize) -> String {
    let f = fraction.unwrap_or(0.0).clamp(0.0, 1.0);
    let filled = (f * width as f64).round() as usize;
    format!(
        "[{}{}] {:3.0}%",
        "#".repeat(filled),
        "-".repeat(width - filled),
        f * 100.0
    )
}

fn job_line(job: &JobSnapshot) -> ListItem<'static> {
    let color = match job.state.as_str() {
        "done" => Color::Green,
        "failed" | "cancelled" => Color::Red,
        "queued" => Color::Gray,
        _ => Color::Yellow,
    };
    let eta = job.figures.eta.map(|s| format!("eta {s:.0}s")).unwrap_or_default();
    ListItem::new(Spans::from(vec![
        Span::styled(format!("{:<10}", job.state), Style::default().fg(color)),
        Span::raw(format!(" {} {:<8} ", bar(job.figures.overall, 20), eta)),
        Span::raw(job.job_id.chars().take(13).collect::<String>()),
        Span::raw(format!(" {}", job.params.prompt)),
    ]))
}

/// `gpu0  draining  a.safetensors  q 2  1.4 s/job`: one line per backend.
fn backend_line(b: &BackendInfo) -> ListItem<'static> {
    let state = b.state();
    let color = match state.as_str() {
        "up" => Color::Green,
        "down" | "removed" => Color::Red,
        _ => Color::Yellow,
    };
    let queue = b
        .queue_remaining
        .map(|q| format!("q {q}"))
        .unwrap_or_else(|| "q ?".into());
    let rate = b.seconds_per_job.map(|s| format!("{s:.1} s/job")).unwrap_or_default();
    ListItem::new(Spans::from(vec![
        Span::raw(format!("{:<10} ", b.name)),
        Span::styled(format!("{:<9}", state.as_str()), Style::default().fg(color)),
        Span::raw(format!(
            " {} {}/{} {queue} {rate}",
            b.loaded_model.as_deref().unwrap_or("-"),
            b.inflight,
            b.max_inflight.map(|m| m.to_string()).unwrap_or_else(|| "?".into())
        )),
    ]))
}

/// The image as half-blocks: each cell shows two pixels, the upper as foreground of `▀`.
fn half_blocks(image: &image::RgbImage, area: Rect) -> Vec<Spans<'static>> {
    if area.width == 0 || area.height == 0 {
        return Vec::new();
    }
    let resized = image::imageops::resize(
        image,
        u32::from(area.width),
        u32::from(area.height) * 2,
        image::imageops::FilterType::Triangle,
    );
    let rgb = |x: u32, y: u32| {
        let p = resized.get_pixel(x, y);
        Color::Rgb(p[0], p[1], p[2])
    };
    (0..u32::from(area.height))
        .map(|row| {
            Spans::from(
                (0..u32::from(area.width))
                    .map(|x| Span::styled("▀", Style::default().fg(rgb(x, row * 2)).bg(rgb(x, row * 2 + 1))))
                    .collect::<Vec<_>>(),
            )
        })
        .collect()
}

fn draw<B: Backend>(frame: &mut Frame<B>, app: &mut App) {
    let rows = Layout::default()
        .direction(Direction::Vertical)
        .constraints([Constraint::Min(3), Constraint::Length(3)])
        .split(frame.size());
    let columns = Layout::default()
        .direction(Direction::Horizontal)
        .constraints([Constraint::Percentage(65), Constraint::Percentage(35)])
        .split(rows[0]);

    let items: Vec<ListItem> = app.jobs.iter().map(job_line).collect();
    let list = List::new(items)
        .block(Block::default().borders(Borders::ALL).title("jobs"))
        .highlight_style(Style::default().add_modifier(Modifier::REVERSED));
    frame.render_stateful_widget(list, columns[0], &mut app.selected);

    let side = Layout::default()
        .direction(Direction::Vertical)
        .constraints([Constraint::Min(3), Constraint::Length(app.backends.len() as u16 + 2)])
        .split(columns[1]);
    let backends = List::new(app.backends.iter().map(backend_line).collect::<Vec<_>>())
        .block(Block::default().borders(Borders::ALL).title("backends"));
    frame.render_widget(backends, side[1]);

    let block = Block::default().borders(Borders::ALL).title("preview");
    let inner = block.inner(side[0]);
    frame.render_widget(block, side[0]);
    let preview = app
        .selected_job()
        .and_then(|job| app.previews.get(&job.job_id))
        .map(|image| half_blocks(image, inner))
        .unwrap_or_default();
    frame.render_widget(Paragraph::new(preview), inner);

    let link = match app.connection {
        Some(Connection::Up) => "up",
        Some(Connection::Down) => "DOWN",
        None => "…",
    };
    let help = format!("worker {link} · {} · n submit  c cancel  ↑↓ select  q quit", app.status);
    frame.render_widget(
        Paragraph::new(help).block(Block::default().borders(Borders::ALL)),
        rows[1],
    );
}

fn run<B: Backend>(
    terminal: &mut Terminal<B>,
    handle: &Handle,
    app: &mut App,
) -> Result<(), Box<dyn std::error::Error>> {
    loop {
        // The UI tick: take what the handle has, draw, then wait a little for a key.
        for update in handle.updates().try_iter() {
            app.apply(update);
        }
        terminal.draw(|frame| draw(frame, app))?;
        if !event::poll(Duration::from_millis(50))? {
            continue;
        }
        if let Key::Key(key) = event::read()? {
            match key.code {
                KeyCode::Char('q') | KeyCode::Esc => return Ok(()),
                KeyCode::Char('n') => {
                    let params = GenerateParams {
                        prompt: app.prompt.clone(),
                        model: app.model.clone(),
                        size: Some([64, 64]),
                        steps: Some(8),
                        previews: Some(true),
                        ..Default::default()
                    };
                    let (_, job_id) = handle.submit(params)?;
                    app.status = format!("submitted {job_id}");
                }
                KeyCode::Char('c') => {
                    if let Some(job) = app.selected_job() {
                        handle.cancel(&job.job_id)?;
                    }
                }
                KeyCode::Up => app.move_selection(-1),
                KeyCode::Down => app.move_selection(1),
                _ => {}
            }
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut positional = Vec::new();
    let mut model = None;
    let mut prompt = "pixel art knight, 16-bit sprite".to_owned();
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--model" => model = args.next(),
            "--prompt" => prompt = args.next().unwrap_or(prompt),
            _ => positional.push(arg),
        }
    }
    let req = positional.first().cloned().unwrap_or_else(|| DEFAULT_REQ_ADDR.into());
    let pub_ = positional.get(1).cloned().unwrap_or_else(|| DEFAULT_PUB_ADDR.into());
    let handle = Handle::spawn(HandleOptions::new(req, pub_))?;
    let mut app = App {
        jobs: Vec::new(),
        previews: HashMap::new(),
        backends: Vec::new(),
        selected: ListState::default(),
        status: String::new(),
        connection: None,
        prompt,
        model,
    };

    enable_raw_mode()?;
    execute!(io::stdout(), EnterAlternateScreen)?;
    let mut terminal = Terminal::new(CrosstermBackend::new(io::stdout()))?;
    let result = run(&mut terminal, &handle, &mut app);
    disable_raw_mode()?;
    execute!(io::stdout(), LeaveAlternateScreen)?;
    result
}

//! Create a job and follow it to the end, printing its progress.
//!
//!     cargo run --example follow -- "pixel art knight" tiny-sd15.safetensors

use std::time::Duration;

use pixflow_client::{Client, Event, FollowItem, GenerateParams, DEFAULT_PUB_ADDR, DEFAULT_REQ_ADDR};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let prompt = args.next().unwrap_or_else(|| "pixel art knight".into());
    let model = args.next();

    let mut client = Client::connect(DEFAULT_REQ_ADDR, DEFAULT_PUB_ADDR, Duration::from_secs(5))?;
    let mut params = GenerateParams {
        prompt,
        model,
        size: Some([64, 64]),
        steps: Some(8),
        ..Default::default()
    };
    // The id is chosen here, so running this again after a timeout returns the same job.
    let (accepted, follow) = client.generate_and_follow(&mut params)?;
    println!("job {} ({})", accepted.job_id, accepted.state);
    for item in follow.with_timeout(Duration::from_secs(600)) {
        match item? {
            FollowItem::Event {
                event: Event::State(e), ..
            } => println!("{} -> {}", e.seq, e.to),
            FollowItem::Event {
                event: Event::Progress(e),
                ..
            } => println!("{} step {}/{} overall {:?}", e.seq, e.value, e.max, e.figures.overall),
            FollowItem::Event { .. } => {}
            FollowItem::Gap { expected, got } => println!("missed events {expected}..{got}"),
            FollowItem::Resynced(job) => println!("status: {} seq {}", job.state, job.seq),
            FollowItem::WorkerRestarted(r) => println!("the worker restarted at {}", r.now),
        }
    }
    Ok(())
}

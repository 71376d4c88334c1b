//! One blocking call: ask the worker how it is.
//!
//!     cargo run --example blocking -- tcp://127.0.0.1:5555 tcp://127.0.0.1:5556

use std::time::Duration;

use pixflow_client::{Client, DEFAULT_PUB_ADDR, DEFAULT_REQ_ADDR};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let req = args.next().unwrap_or_else(|| DEFAULT_REQ_ADDR.into());
    let pub_ = args.next().unwrap_or_else(|| DEFAULT_PUB_ADDR.into());

    let mut client = Client::connect(&req, &pub_, Duration::from_secs(2))?;
    match client.worker_status() {
        Ok(worker) => println!(
            "pixflow {} paused={} jobs={:?}",
            worker.version, worker.paused, worker.jobs
        ),
        // A worker that is down: the call returns after its timeout, and nothing is sent later.
        Err(e) if e.is_timeout() => println!("no worker at {req}: {e}"),
        Err(e) => return Err(e.into()),
    }
    Ok(())
}

//! Following a job to its end: a progress bar on a terminal (indicatif), plain lines otherwise.
//! Ctrl-C cancels the job, which then cleans up after itself.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};
use lifeboat_core::{Job, Lifeboat};
use tokio::sync::broadcast::error::RecvError;

pub async fn follow(lifeboat: &Lifeboat, job: &Job, quiet: bool) -> Job {
    let mut events = lifeboat.subscribe();
    let measured = ProgressStyle::with_template(
        "{spinner} {msg:<10} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec} {elapsed}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    // Phases without a byte count (preparing, verifying) show what happens, not "0 B/1 B".
    let unmeasured = ProgressStyle::with_template("{spinner} {msg}… {elapsed}")
        .unwrap_or_else(|_| ProgressStyle::default_spinner());
    let bar = (!quiet && std::io::stderr().is_terminal()).then(|| {
        let bar = ProgressBar::new(1);
        bar.set_style(unmeasured.clone());
        bar.enable_steady_tick(Duration::from_millis(120));
        bar
    });
    let mut last_line = Instant::now();
    let mut interrupted = false;
    loop {
        let current = match lifeboat.job(&job.id).await {
            Ok(j) if j.is_finished() => j,
            _ => {
                tokio::select! {
                    event = events.recv() => match event {
                        Ok(event) if event.id == job.id => event,
                        Ok(_) | Err(RecvError::Lagged(_)) => continue,
                        Err(RecvError::Closed) => break job.clone(),
                    },
                    _ = tokio::signal::ctrl_c(), if !interrupted => {
                        interrupted = true;
                        eprintln!("cancelling…");
                        lifeboat.cancel_job(&job.id);
                        continue;
                    }
                }
            }
        };
        if current.is_finished() {
            if let Some(bar) = &bar {
                bar.finish_and_clear();
            }
            return current;
        }
        match &bar {
            Some(bar) => {
                if current.bytes_total > 0 && current.phase != "verifying" {
                    bar.set_style(measured.clone());
                    bar.set_length(current.bytes_total.max(current.bytes_done));
                    bar.set_position(current.bytes_done);
                    bar.set_message(current.phase.clone());
                } else {
                    bar.set_style(unmeasured.clone());
                    bar.set_message(capitalized(&current.phase));
                }
            }
            None if !quiet && last_line.elapsed() >= Duration::from_secs(5) => {
                eprintln!(
                    "{}: {} of about {}",
                    current.phase,
                    lifeboat_core::human_bytes(current.bytes_done),
                    lifeboat_core::human_bytes(current.bytes_total)
                );
                last_line = Instant::now();
            }
            None => {}
        }
    }
}

/// "verifying" → "Verifying".
fn capitalized(phase: &str) -> String {
    let mut chars = phase.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

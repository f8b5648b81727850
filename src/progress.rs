//! Progress of an apply: indicatif bars on a terminal, timestamped lines otherwise.
//!
//! The only module that imports indicatif. Observers display events; they must not
//! affect control flow.

use std::collections::HashMap;
use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::execute::{Event, Observer};
use crate::plan::Action;
use crate::resource::ResourceId;

fn verb(action: Action) -> (&'static str, &'static str) {
    match action {
        Action::Create => ("creating", "created"),
        Action::Update => ("updating", "updated"),
        Action::Replace => ("replacing", "replaced"),
        Action::Delete => ("destroying", "destroyed"),
    }
}

fn now() -> String {
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    time::OffsetDateTime::now_utc()
        .format(&format)
        .unwrap_or_default()
}

/// One line per event with a UTC timestamp, for CI logs and pipes.
pub struct Lines<W: Write + Send> {
    out: Mutex<W>,
}

impl<W: Write + Send> Lines<W> {
    /// Writes events to `out`.
    pub fn new(out: W) -> Self {
        Lines {
            out: Mutex::new(out),
        }
    }
}

impl<W: Write + Send> Observer for Lines<W> {
    fn event(&self, event: &Event) {
        let line = match event {
            Event::Started { id, action } => format!("start   {id} ({})", verb(*action).0),
            Event::Finished {
                id,
                action,
                elapsed,
            } => format!(
                "done    {id} ({}, {:.2}s)",
                verb(*action).1,
                elapsed.as_secs_f64()
            ),
            Event::Failed { id, action, error } => {
                format!("FAILED  {id} ({}): {error}", verb(*action).0)
            }
            Event::Skipped { id, because } => {
                format!("skipped {id} (depends on {because}, which failed)")
            }
        };
        let mut out = self.out.lock().expect("progress output lock");
        let _ = writeln!(out, "{} {line}", now());
        let _ = out.flush();
    }
}

/// A bar for the whole apply and a spinner per running change, on a terminal.
pub struct Bars {
    multi: MultiProgress,
    total: ProgressBar,
    running: Mutex<HashMap<ResourceId, ProgressBar>>,
}

impl Bars {
    /// Bars for `total` changes at `parallelism`, drawn on stdout.
    pub fn new(total: usize, parallelism: usize) -> Bars {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stdout());
        let total_bar = multi.add(ProgressBar::new(total as u64));
        total_bar.set_style(
            ProgressStyle::with_template(
                "Applying {len} changes (parallelism {msg})  [{bar:24}]  {pos}/{len}  {elapsed_precise}",
            )
            .expect("valid template")
            .progress_chars("#>-"),
        );
        total_bar.set_message(parallelism.to_string());
        total_bar.enable_steady_tick(Duration::from_millis(200));
        Bars {
            multi,
            total: total_bar,
            running: Mutex::default(),
        }
    }

    /// Removes the bars once apply is over.
    pub fn finish(&self) {
        self.total.finish_and_clear();
    }
}

impl Observer for Bars {
    fn event(&self, event: &Event) {
        let mut running = self.running.lock().expect("progress lock");
        match event {
            Event::Started { id, action } => {
                let bar = self.multi.add(ProgressBar::new_spinner());
                bar.set_style(
                    ProgressStyle::with_template("{spinner} {msg}  {elapsed}")
                        .expect("valid template"),
                );
                bar.set_message(format!("{id}  {}", verb(*action).0));
                bar.enable_steady_tick(Duration::from_millis(120));
                running.insert(id.clone(), bar);
            }
            Event::Finished {
                id,
                action,
                elapsed,
            } => {
                if let Some(bar) = running.remove(id) {
                    bar.finish_and_clear();
                }
                self.total.inc(1);
                let _ = self.multi.println(format!(
                    "✓ {id}  {}  {:.2}s",
                    verb(*action).1,
                    elapsed.as_secs_f64()
                ));
            }
            Event::Failed { id, action, error } => {
                if let Some(bar) = running.remove(id) {
                    bar.finish_and_clear();
                }
                self.total.inc(1);
                let _ = self
                    .multi
                    .println(format!("✗ {id}  {} failed: {error}", verb(*action).0));
            }
            Event::Skipped { id, because } => {
                self.total.inc(1);
                let _ = self
                    .multi
                    .println(format!("- {id}  skipped (depends on {because})"));
            }
        }
    }
}

/// Collects events, for tests.
#[derive(Default)]
pub struct Recorder {
    events: Mutex<Vec<Event>>,
}

impl Recorder {
    /// Every event so far, in order.
    pub fn events(&self) -> Vec<Event> {
        self.events.lock().expect("recorder lock").clone()
    }
}

impl Observer for Recorder {
    fn event(&self, event: &Event) {
        self.events
            .lock()
            .expect("recorder lock")
            .push(event.clone());
    }
}

//! Progress of an apply: indicatif bars on a terminal, timestamped lines otherwise.
//!
//! The only module that imports indicatif. Observers display events; they must not
//! affect control flow. The test doubles (`Recorder`, `Screen`) exist only with the
//! `test-support` feature.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::execute::{Event, Observer};
use crate::pacing::Service;
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

/// `backoff IAM throttles: at most 5 IAM calls at once (of 10)`, or back at full speed.
fn backoff_line(service: Service, limit: usize, parallelism: usize) -> String {
    if limit < parallelism {
        format!(
            "backoff {service} throttles: at most {limit} {service} call{} at once (of {parallelism})",
            if limit == 1 { "" } else { "s" }
        )
    } else {
        format!("backoff {service} no longer throttles: up to {parallelism} calls at once again")
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
            Event::Note { id, message } => format!("...     {id}: {message}"),
            Event::Skipped { id, because } => {
                format!("skipped {id} (depends on {because}, which failed)")
            }
            Event::Pacing {
                service,
                limit,
                parallelism,
            } => backoff_line(*service, *limit, *parallelism),
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
    parallelism: usize,
    /// Services backing off, and their calls allowed at once.
    slowed: Mutex<BTreeMap<Service, usize>>,
}

impl Bars {
    /// Bars for `total` changes at `parallelism`, drawn on stdout.
    pub fn new(total: usize, parallelism: usize) -> Bars {
        Bars::with_target(total, parallelism, ProgressDrawTarget::stdout())
    }

    /// Bars drawn on `screen` instead of stdout (tests read what was drawn).
    #[cfg(any(test, feature = "test-support"))]
    pub fn on_screen(total: usize, parallelism: usize, screen: &Screen) -> Bars {
        let target = ProgressDrawTarget::term_like(Box::new(screen.clone()));
        Bars::with_target(total, parallelism, target)
    }

    fn with_target(total: usize, parallelism: usize, target: ProgressDrawTarget) -> Bars {
        let multi = MultiProgress::with_draw_target(target);
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
            parallelism,
            slowed: Mutex::default(),
        }
    }

    /// `10`, or `10; backing off: IAM 4, S3 8` while services throttle.
    fn parallelism_message(&self, slowed: &BTreeMap<Service, usize>) -> String {
        if slowed.is_empty() {
            return self.parallelism.to_string();
        }
        let services: Vec<String> = slowed
            .iter()
            .map(|(service, limit)| format!("{service} {limit}"))
            .collect();
        format!("{}; backing off: {}", self.parallelism, services.join(", "))
    }

    /// Leaves the whole-apply bar on screen at its final count once apply is over.
    ///
    /// Draws are rate-limited, so the last changes (local files take microseconds) often
    /// land between two draws: clearing the bar then left its last frame, short of the
    /// total, as the final picture. `abandon` draws the final count and keeps it, without
    /// claiming (as `finish` would) that changes that never ran are done.
    pub fn finish(&self) {
        self.total.abandon();
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
            Event::Note { id, message } => {
                if let Some(bar) = running.get(id) {
                    bar.set_message(format!("{id}  {message}"));
                }
            }
            Event::Skipped { id, because } => {
                self.total.inc(1);
                let _ = self
                    .multi
                    .println(format!("- {id}  skipped (depends on {because})"));
            }
            Event::Pacing {
                service,
                limit,
                parallelism,
            } => {
                let mut slowed = self.slowed.lock().expect("progress lock");
                if limit < parallelism {
                    slowed.insert(*service, *limit);
                } else {
                    slowed.remove(service);
                }
                self.total.set_message(self.parallelism_message(&slowed));
                let _ = self.multi.println(format!(
                    "~ {}",
                    backoff_line(*service, *limit, *parallelism)
                ));
            }
        }
    }
}

#[cfg(any(test, feature = "test-support"))]
pub use doubles::{Recorder, Screen};

/// Test doubles (the `test-support` feature): a screen that keeps what the bars draw, and
/// an observer that keeps the events.
#[cfg(any(test, feature = "test-support"))]
mod doubles {
    use std::sync::{Arc, Mutex};

    use indicatif::TermLike;

    use crate::execute::{Event, Observer};

    /// A terminal that keeps what is drawn on it, for tests of the bars.
    #[derive(Clone, Debug, Default)]
    pub struct Screen {
        text: Arc<Mutex<String>>,
    }

    impl Screen {
        /// Everything drawn so far (lines joined with `\n`, no cursor movements).
        pub fn text(&self) -> String {
            self.text.lock().expect("screen lock").clone()
        }

        /// The `done/total` the whole-apply bar showed last, e.g. `127/127`.
        pub fn last_count(&self) -> Option<String> {
            let text = self.text();
            let frame = &text[text.rfind("Applying ")?..];
            frame
                .split_whitespace()
                .find(|w| {
                    w.split_once('/').is_some_and(|(a, b)| {
                        !a.is_empty()
                            && !b.is_empty()
                            && a.bytes().all(|c| c.is_ascii_digit())
                            && b.bytes().all(|c| c.is_ascii_digit())
                    })
                })
                .map(str::to_string)
        }

        fn push(&self, s: &str) {
            self.text.lock().expect("screen lock").push_str(s);
        }
    }

    impl TermLike for Screen {
        fn width(&self) -> u16 {
            160
        }
        fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.push(s);
            self.push("\n");
            Ok(())
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            self.push(s);
            Ok(())
        }
        fn clear_line(&self) -> std::io::Result<()> {
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::resource::ResourceKind;

    /// Every change reported as its executor reports it: started, then finished (or
    /// failed, or skipped without starting), as fast as local file changes finish.
    fn feed(bars: &Bars, total: usize) {
        for i in 0..total {
            let kind = if i % 3 == 0 {
                ResourceKind::File
            } else {
                ResourceKind::IamRole
            };
            let id = ResourceId::new(kind, format!("r{i}"));
            let action = Action::Create;
            match i {
                0 => bars.event(&Event::Skipped {
                    id,
                    because: ResourceId::new(ResourceKind::IamRole, "r1"),
                }),
                1 => {
                    bars.event(&Event::Started {
                        id: id.clone(),
                        action,
                    });
                    bars.event(&Event::Failed {
                        id,
                        action,
                        error: "boom".into(),
                    });
                }
                _ => {
                    bars.event(&Event::Started {
                        id: id.clone(),
                        action,
                    });
                    bars.event(&Event::Finished {
                        id,
                        action,
                        elapsed: Duration::from_micros(20),
                    });
                }
            }
        }
    }

    fn tail(screen: &Screen) -> String {
        let text = screen.text();
        text[text.len().saturating_sub(400)..].to_string()
    }

    #[test]
    fn the_bar_ends_at_its_total_on_screen() {
        let screen = Screen::default();
        let bars = Bars::on_screen(127, 10, &screen);
        feed(&bars, 127);
        bars.finish();
        assert_eq!(
            screen.last_count().as_deref(),
            Some("127/127"),
            "{}",
            tail(&screen)
        );
    }

    #[test]
    fn backing_off_shows_on_the_bar_and_in_the_lines() {
        let screen = Screen::default();
        let bars = Bars::on_screen(3, 10, &screen);
        let pacing = |limit| Event::Pacing {
            service: Service::Iam,
            limit,
            parallelism: 10,
        };
        bars.event(&pacing(5));
        assert_eq!(bars.total.message(), "10; backing off: IAM 5");
        bars.event(&pacing(10));
        assert_eq!(bars.total.message(), "10");
        bars.finish();
        let text = screen.text();
        assert!(
            text.contains("~ backoff IAM throttles: at most 5 IAM calls at once (of 10)")
                && text.contains("~ backoff IAM no longer throttles: up to 10 calls at once again"),
            "{}",
            tail(&screen)
        );

        let mut out = Vec::new();
        {
            let lines = Lines::new(&mut out);
            lines.event(&pacing(1));
        }
        let out = String::from_utf8(out).unwrap();
        assert!(
            out.ends_with(" backoff IAM throttles: at most 1 IAM call at once (of 10)\n"),
            "{out}"
        );
    }

    #[test]
    fn an_interrupted_apply_shows_how_far_it_got() {
        let screen = Screen::default();
        let bars = Bars::on_screen(40, 10, &screen);
        feed(&bars, 25);
        bars.finish();
        assert_eq!(
            screen.last_count().as_deref(),
            Some("25/40"),
            "{}",
            tail(&screen)
        );
    }
}

//! `rotate-key`'s report: where the rotation stands, then the next steps, each with the
//! commands to paste into a shell (values quoted with `shlex`).
//!
//! Formats a `rotation::Status` into a `Write`; decides nothing.

use std::io::{self, Write};

use crate::rotation::{Stage, Status};

/// A value as a POSIX shell word (`my install/x` → `'my install/x'`).
pub fn quote(value: &str) -> String {
    // Only a NUL byte cannot be quoted, and no path or name given on a command line has one.
    shlex::try_quote(value).map_or_else(|_| value.to_string(), |q| q.into_owned())
}

fn kids(list: &[String]) -> String {
    match list.len() {
        1 => format!("kid {}", list[0]),
        _ => format!("kids {}", list.join(", ")),
    }
}

/// The stage in a sentence.
pub fn summary(status: &Status) -> String {
    match &status.stage {
        Stage::NotApplied => "keys.json is not served yet: there is nothing to rotate.".into(),
        Stage::Idle => {
            "No rotation in progress: keys.json serves one key, as the settings ask.".into()
        }
        Stage::AddPending { adding } => format!(
            "Phase 1 (add) is next: the settings add {} to the served key.",
            kids(adding)
        ),
        Stage::Overlap { retiring } => format!(
            "Phase 1 (add) is done: keys.json serves the old and the new key. Phase 2 (retire) \
             comes after the kube-apiserver rollout and the node reboots, and retires {}.",
            kids(retiring)
        ),
        Stage::RetirePending { retiring } => format!(
            "Phase 2 (retire) is next: the settings keep the newest key and retire {}.",
            kids(retiring)
        ),
        Stage::Blocked { why } => format!("Not the next step: {why}"),
    }
}

/// Writes the report: served keys, stage, notes, numbered steps with their commands.
pub fn text(status: &Status, out: &mut dyn Write) -> io::Result<()> {
    let file_of = |kid: &str| {
        status
            .files
            .iter()
            .find(|(k, _)| k == kid)
            .map(|(_, f)| f.display().to_string())
    };
    match status.served.len() {
        0 => writeln!(out, "keys.json serves no key.")?,
        n => {
            writeln!(
                out,
                "keys.json serves {n} key{}:",
                if n == 1 { "" } else { "s" }
            )?;
            for kid in &status.served {
                let newest = n > 1 && status.newest.as_deref() == Some(kid);
                let mut line = format!("  {kid}");
                if newest {
                    line.push_str("  (newest)");
                }
                if let Some(file) = file_of(kid) {
                    line.push_str(&format!("  {file}"));
                }
                writeln!(out, "{line}")?;
            }
        }
    }
    writeln!(out, "\n{}", summary(status))?;
    for note in &status.notes {
        writeln!(out, "\nnote: {note}")?;
    }
    writeln!(out, "\nNext steps:")?;
    for (i, step) in status.steps.iter().enumerate() {
        writeln!(out, "\n{}. {}\n", i + 1, step.title)?;
        for line in &step.lines {
            writeln!(out, "     {}", line.render(&quote))?;
        }
    }
    writeln!(out, "\n{}", status.then)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rotation::{Line, Step, Word};

    #[test]
    fn the_report_lists_served_keys_the_stage_and_pasteable_commands() {
        let status = Status {
            served: vec!["A".into(), "B".into()],
            newest: Some("B".into()),
            files: vec![("A".into(), "a.pub".into())],
            stage: Stage::Overlap {
                retiring: vec!["A".into()],
            },
            notes: vec!["keys.json was changed outside stsform.".into()],
            steps: vec![Step {
                title: "Phase 2.".into(),
                lines: vec![Line(vec![
                    Word::Raw("stsform".into()),
                    Word::Raw("--public-key-file".into()),
                    Word::Arg("my dir/b.pub".into()),
                    Word::Raw("<public key file of kid A>".into()),
                ])],
            }],
            then: "Done.".into(),
        };
        let mut out = Vec::new();
        text(&status, &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "keys.json serves 2 keys:\n  A  a.pub\n  B  (newest)\n\nPhase 1 (add) is done: keys.json serves the old and the new key. Phase 2 (retire) comes after the kube-apiserver rollout and the node reboots, and retires kid A.\n\nnote: keys.json was changed outside stsform.\n\nNext steps:\n\n1. Phase 2.\n\n     stsform --public-key-file 'my dir/b.pub' <public key file of kid A>\n\nDone.\n"
        );
        assert_eq!(quote("plain/path.pub"), "plain/path.pub");
    }
}

//! The text plan, in Terraform's vocabulary (`+ create`, `~ update in-place`,
//! `- destroy`, `-/+ replace`), with attribute lines and line diffs of documents.
//!
//! Formats a `Plan` into a `Write`; must not decide anything the plan did not.

use std::io::{self, Write};

use serde_json::Value;
use similar::{ChangeTag, TextDiff};

use super::{KEYS_ATTRIBUTE, SENSITIVE_ATTRIBUTES, key_lines, redact_change};
use crate::jwks::KeyChanges;
use crate::plan::{Action, AttributeChange, Change, Plan, Shown};
use crate::resource::{UNKNOWN, is_unknown};

/// Attributes holding policy documents, shown as `jsonencode(...)` like Terraform does.
pub(crate) const DOCUMENTS: [&str; 3] = ["policy", "trust_policy", "document"];

const GREEN: &str = "32";
const RED: &str = "31";
const YELLOW: &str = "33";
const BOLD: &str = "1";

/// `text` in an ANSI colour when `color` is on.
fn paint(color: bool, code: &str, text: &str) -> String {
    if color {
        format!("\x1b[{code}m{text}\x1b[0m")
    } else {
        text.to_string()
    }
}

/// Writes the whole plan without colour (files, pipes, tests).
pub fn render(shown: &Shown, out: &mut dyn Write) -> io::Result<()> {
    render_colored(shown, out, false)
}

/// Writes the whole plan: drift, changes, summary; ANSI colours when `color` (a terminal
/// without `NO_COLOR`).
pub fn render_colored(shown: &Shown, out: &mut dyn Write, color: bool) -> io::Result<()> {
    let plan = shown.plan;
    let owner = super::owner(plan);
    if !plan.notes.is_empty() {
        writeln!(out, "Notes:")?;
        for note in &plan.notes {
            writeln!(out, "  - {note}")?;
        }
        writeln!(out)?;
    }
    if !plan.unmanaged.is_empty() {
        writeln!(
            out,
            "{}:
",
            super::unmanaged_heading(owner)
        )?;
        for u in &plan.unmanaged {
            writeln!(out, "  # {}", u.id)?;
        }
        writeln!(out)?;
    }
    if !shown.drift.is_empty() {
        writeln!(
            out,
            "Objects have changed outside stsform since the last apply:\n"
        )?;
        for d in &shown.drift {
            match &d.live {
                None => writeln!(out, "  # {} has been deleted", d.id)?,
                Some(_) => {
                    writeln!(out, "  # {} has changed", d.id)?;
                    let width = name_width(&d.attributes);
                    let keys = d.keys();
                    for a in &d.attributes {
                        if let Some(k) = keys.as_ref().filter(|_| a.name == KEYS_ATTRIBUTE) {
                            key_attribute(out, k, a, 4, width, color)?;
                            continue;
                        }
                        let a = redact_change(SENSITIVE_ATTRIBUTES, d.id.kind, a);
                        attribute(out, &a, Action::Update, 4, width, color)?;
                    }
                }
            }
            writeln!(out)?;
        }
    }
    if !plan.has_changes() {
        writeln!(
            out,
            "No changes. The AWS resources and local files match the configuration."
        )?;
        return warnings(out, plan, color);
    }
    permissions(out, plan, color)?;
    writeln!(
        out,
        "stsform will perform the following actions:\n\n  (symbols: + create, ~ update in-place, - destroy, -/+ replace)\n"
    )?;
    for c in &shown.changes {
        change(out, c, owner, color)?;
        writeln!(out)?;
    }
    let summary = format!("Plan: {}.", super::summary_line(plan.summary));
    writeln!(out, "{}", paint(color, BOLD, &summary))?;
    warnings(out, plan, color)?;
    if !plan.issuer_changes.is_empty() {
        writeln!(
            out,
            "\n{}",
            paint(
                color,
                RED,
                "Warning: these changes break token validation for the running cluster:"
            )
        )?;
        for c in &plan.issuer_changes {
            writeln!(out, "  {c}")?;
        }
        writeln!(out, "  ({})", crate::safety::ISSUER_WHY)?;
    }
    if plan.has_unknowns() {
        writeln!(
            out,
            "\nValues shown as {UNKNOWN} are assigned by AWS or by key generation during apply."
        )?;
    }
    if super::has_late(plan) {
        writeln!(out, "{}", super::LATE_NOTE)?;
    }
    Ok(())
}

/// The permissions each role policy grants (`+`) and revokes (`-`), before the detailed
/// diff that holds them as JSON.
fn permissions(out: &mut dyn Write, plan: &Plan, color: bool) -> io::Result<()> {
    let Some(line) = super::permissions_line(plan) else {
        return Ok(());
    };
    writeln!(out, "Permission changes ({line}):\n")?;
    for change in &plan.permissions {
        writeln!(out, "  # {}", super::permission_heading(change))?;
        for line in crate::review::permissions::lines(change) {
            let painted = match line.as_bytes().first() {
                Some(b'+') => paint(color, GREEN, &line),
                _ => paint(color, RED, &line),
            };
            writeln!(out, "    {painted}")?;
        }
        writeln!(out)?;
    }
    Ok(())
}

/// The review's warnings not acknowledged, each with where it comes from, and how to
/// acknowledge a reviewed one.
fn warnings(out: &mut dyn Write, plan: &Plan, color: bool) -> io::Result<()> {
    let shown: Vec<&crate::review::Finding> = plan.warnings().collect();
    if shown.is_empty() {
        return Ok(());
    }
    let heading = format!("Warnings ({}):", shown.len());
    writeln!(out, "\n{}", paint(color, YELLOW, &heading))?;
    for finding in &shown {
        writeln!(out, "  - {}", finding.line())?;
    }
    if let Some(line) = super::acknowledged_line(plan) {
        writeln!(out, "  ({line})")?;
    }
    if let Some(example) = super::acknowledge_example(plan) {
        writeln!(
            out,
            "  To accept a reviewed warning of a request, acknowledge it in stsform.toml, e.g.:"
        )?;
        for line in example.lines() {
            writeln!(out, "    {line}")?;
        }
    }
    Ok(())
}

/// What `apply PLANFILE` shows instead of the plan (reviewed when it was made): what it
/// does, the changes that break token validation (allowed when it was made), and how many
/// resources of the cluster it leaves alone.
pub fn saved_plan_header(
    plan: &Plan,
    file: &str,
    destroy: bool,
    out: &mut dyn Write,
    color: bool,
) -> io::Result<()> {
    let verb = if destroy {
        "Destroying with"
    } else {
        "Applying"
    };
    let what = if plan.has_changes() {
        format!("{}.", super::summary_line(plan.summary))
    } else {
        "no changes.".to_string()
    };
    writeln!(
        out,
        "{}",
        paint(
            color,
            BOLD,
            &format!("{verb} the saved plan {file}: {what}")
        )
    )?;
    if !plan.issuer_changes.is_empty() {
        writeln!(
            out,
            "{}",
            paint(
                color,
                RED,
                "Warning: these changes break token validation for the running cluster (allowed when the plan was made):"
            )
        )?;
        for c in &plan.issuer_changes {
            writeln!(out, "  {c}")?;
        }
        writeln!(out, "  ({})", crate::safety::ISSUER_WHY)?;
    }
    if !plan.unmanaged.is_empty() {
        let n = plan.unmanaged.len();
        writeln!(
            out,
            "Note: {n} resource{} tagged for {}, not in the state, {} left alone.",
            if n == 1 { "" } else { "s" },
            super::owner(plan),
            if n == 1 { "is" } else { "are" }
        )?;
    }
    writeln!(out)
}

/// The Terraform symbol of an action.
pub(crate) fn symbol(action: Action) -> &'static str {
    match action {
        Action::Create => "+",
        Action::Update => "~",
        Action::Delete => "-",
        Action::Replace => "-/+",
    }
}

fn headline(c: &Change, owner: &str) -> String {
    format!("# {} {}", c.id, super::change_phrase(c, owner))
}

fn sign_color(sign: &str) -> &'static str {
    match sign {
        "+" => GREEN,
        "-" => RED,
        _ => YELLOW,
    }
}

fn change(out: &mut dyn Write, c: &Change, owner: &str, color: bool) -> io::Result<()> {
    writeln!(out, "  {}", paint(color, BOLD, &headline(c, owner)))?;
    let sign = symbol(c.action);
    writeln!(
        out,
        "{} resource \"{}\" \"{}\" {{",
        paint(color, sign_color(sign), &format!("{sign:>3}")),
        c.id.kind,
        c.id.name
    )?;
    let width = name_width(&c.attributes);
    let keys = c.keys();
    for a in &c.attributes {
        if let Some(k) = keys.as_ref().filter(|_| a.name == KEYS_ATTRIBUTE) {
            key_attribute(out, k, a, 6, width, color)?;
            continue;
        }
        attribute(
            out,
            &redact_change(SENSITIVE_ATTRIBUTES, c.id.kind, a),
            c.action,
            6,
            width,
            color,
        )?;
        if c.replace_because.contains(&a.name) {
            writeln!(out, "{}# forces replacement", " ".repeat(8))?;
        }
    }
    if c.attributes.is_empty() {
        // Made again as it is (what it lives in is replaced).
        writeln!(out, "{}# (no attribute changes)", " ".repeat(6))?;
    }
    writeln!(out, "    }}")
}

/// keys.json's content as the keys it serves, by kid: what a rotation changes, without
/// the JSON around it.
fn key_attribute(
    out: &mut dyn Write,
    keys: &KeyChanges,
    a: &AttributeChange,
    indent: usize,
    width: usize,
    color: bool,
) -> io::Result<()> {
    let pad = " ".repeat(indent);
    let sign = match (&a.before, &a.after) {
        (None, _) => "+",
        (_, None) => "-",
        _ => "~",
    };
    writeln!(
        out,
        "{pad}{} {:width$} = keys by kid:",
        paint(color, sign_color(sign), sign),
        a.name
    )?;
    let update = a.before.is_some() && a.after.is_some();
    for (sign, text) in key_lines(keys, update) {
        let line = format!("{sign} {text}");
        let line = match sign {
            '+' => paint(color, GREEN, &line),
            '-' => paint(color, RED, &line),
            '~' => paint(color, YELLOW, &line),
            _ => line,
        };
        writeln!(out, "{pad}    {line}")?;
    }
    Ok(())
}

/// Column width that aligns the `=` of a block's attributes, as Terraform does.
fn name_width(attributes: &[AttributeChange]) -> usize {
    attributes.iter().map(|a| a.name.len()).max().unwrap_or(0)
}

/// One attribute line (or block), indented by `indent`.
fn attribute(
    out: &mut dyn Write,
    a: &AttributeChange,
    action: Action,
    indent: usize,
    width: usize,
    color: bool,
) -> io::Result<()> {
    let pad = " ".repeat(indent);
    let sign = |s: &str| paint(color, sign_color(s), s);
    let doc = DOCUMENTS.contains(&a.name.as_str());
    let name = format!("{:width$}", a.name);
    // Continuation lines of a block sit under the attribute, past its sign.
    let inner = indent + 4;
    match (&a.before, &a.after) {
        (None, Some(v)) => writeln!(out, "{pad}{} {name} = {}", sign("+"), value(v, doc, inner)),
        (Some(v), None) => writeln!(out, "{pad}{} {name} = {}", sign("-"), value(v, doc, inner)),
        (Some(b), Some(v)) => {
            let (bt, vt) = (value(b, doc, inner), value(v, doc, inner));
            if action == Action::Create
                || action == Action::Delete
                || (!bt.contains('\n') && !vt.contains('\n'))
            {
                return writeln!(out, "{pad}{} {name} = {bt} -> {vt}", sign("~"));
            }
            writeln!(
                out,
                "{pad}{} {name} = (changed lines, with context)",
                sign("~")
            )?;
            line_diff(out, &plain(b, doc), &plain(v, doc), inner, color)
        }
        (None, None) => Ok(()),
    }
}

/// The text a value is compared as in a line diff.
pub(crate) fn plain(v: &Value, doc: bool) -> String {
    match v {
        Value::String(s) => s.clone(),
        other if doc => crate::iam_policy::pretty(other),
        other => serde_json::to_string_pretty(other).expect("JSON values serialize"),
    }
}

/// One line of a line diff: `-`, `+` or ` `, and its text without the line break.
pub(crate) type DiffLine = (char, String);

/// The changed hunks of a line diff, each with three lines of context around changes.
pub(crate) fn hunks(before: &str, after: &str) -> Vec<Vec<DiffLine>> {
    let diff = TextDiff::from_lines(before, after);
    diff.grouped_ops(3)
        .iter()
        .map(|group| {
            group
                .iter()
                .flat_map(|op| diff.iter_changes(op))
                .map(|line| {
                    let sign = match line.tag() {
                        ChangeTag::Delete => '-',
                        ChangeTag::Insert => '+',
                        ChangeTag::Equal => ' ',
                    };
                    (sign, line.value().trim_end_matches('\n').to_string())
                })
                .collect()
        })
        .collect()
}

/// Unified-diff hunks with three lines of context, never two opaque one-liners.
fn line_diff(
    out: &mut dyn Write,
    before: &str,
    after: &str,
    indent: usize,
    color: bool,
) -> io::Result<()> {
    let pad = " ".repeat(indent);
    for (i, hunk) in hunks(before, after).iter().enumerate() {
        if i > 0 {
            writeln!(out, "{pad}  ...")?;
        }
        for (sign, text) in hunk {
            // The sign sits just left of the line's own indentation, as Terraform shows
            // it, so changed lines stay aligned with their unchanged neighbours.
            let body = text.trim_start();
            let lead = " ".repeat(text.len() - body.len());
            let line = format!("{sign} {body}");
            let line = match sign {
                '+' => paint(color, GREEN, &line),
                '-' => paint(color, RED, &line),
                _ => line,
            };
            writeln!(out, "{pad}{lead}{line}")?;
        }
    }
    Ok(())
}

/// A value as shown on an attribute line; continuation lines start at column `indent`
/// and the closing line at `indent - 2`, so blocks line up under their attribute.
fn value(v: &Value, doc: bool, indent: usize) -> String {
    let pad = " ".repeat(indent);
    let close = " ".repeat(indent.saturating_sub(2));
    match v {
        Value::String(s) if is_unknown(s) => s.clone(),
        Value::String(s) if s.contains('\n') => {
            let body: String = s.lines().map(|l| format!("{pad}{l}\n")).collect();
            format!("<<-EOT\n{body}{close}EOT")
        }
        Value::String(s) => serde_json::to_string(s).expect("strings serialize"),
        Value::Object(m) if m.is_empty() => "{}".into(),
        Value::Array(a) if a.is_empty() => "[]".into(),
        Value::Object(_) | Value::Array(_) if doc => {
            let body: Vec<String> = plain(v, doc).lines().map(|l| format!("{pad}{l}")).collect();
            format!("jsonencode(\n{}\n{close})", body.join("\n"))
        }
        Value::Object(_) | Value::Array(_) => {
            let text = plain(v, doc);
            let mut lines = text.lines();
            let first = lines.next().unwrap_or_default().to_string();
            let rest: Vec<String> = lines.map(|l| format!("{close}{l}")).collect();
            std::iter::once(first)
                .chain(rest)
                .collect::<Vec<_>>()
                .join("\n")
        }
        other => other.to_string(),
    }
}

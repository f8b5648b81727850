//! The plan as GitHub-flavoured Markdown, for PR comments and `$GITHUB_STEP_SUMMARY`.
//!
//! Layout (Atlantis/tfcmt conventions): a heading with cluster, region, the plan line and
//! the permissions added and removed; the review's warnings; the order of the changes as a
//! Mermaid diagram in a collapsed section; a table of changes with the reason for each; the
//! drift found by the refresh; the permissions each role policy grants and revokes; then
//! one collapsed `<details>` block per resource holding a ```diff block with the signs in
//! column 0 so GitHub colours them, and a `<sub>` footer. The output always stays under
//! [`MAX_CHARS`] (GitHub's comment limit is 65,536): whole blocks are left out, never cut,
//! and a note says how many.

use std::io::{self, Write};

use serde_json::Value;

use super::text::{DOCUMENTS, hunks, plain, symbol};
use super::{Meta, SENSITIVE_ATTRIBUTES, redact_change};
use crate::plan::{Action, AttributeChange, Change, Drift, Plan, Reason, Shown};
use crate::resource::{ResourceKind, UNKNOWN, is_unknown};

/// The output is always shorter than this many characters.
pub const MAX_CHARS: usize = 65_000;

/// Room kept for the truncation notes, which are written last.
const NOTE_RESERVE: usize = 500;

/// Writes the plan as Markdown, at most [`MAX_CHARS`] characters long.
pub fn render(shown: &Shown, meta: &Meta, out: &mut dyn Write) -> io::Result<()> {
    out.write_all(document(shown, meta, MAX_CHARS).as_bytes())
}

/// The whole document, shorter than `limit` bytes (and so characters).
fn document(shown: &Shown, meta: &Meta, limit: usize) -> String {
    let plan = shown.plan;
    let head = head(plan, meta);
    let footer = footer(meta);
    let mut budget = limit
        .saturating_sub(1)
        .saturating_sub(head.len() + footer.len() + NOTE_RESERVE);
    let mut doc = head;

    // The table comes first and is cut only if it alone exceeds the budget.
    let owner = super::owner(plan);
    let rows: Vec<String> = shown.changes.iter().map(|c| row(c, owner)).collect();
    let mut table = String::new();
    let mut shown_rows = 0;
    if !rows.is_empty() {
        table.push_str("| | resource | why |\n|---|---|---|\n");
        budget = budget.saturating_sub(table.len() + 1);
        shown_rows = take(&rows, &mut budget);
        table.extend(rows[..shown_rows].iter().cloned());
        table.push('\n');
    }
    doc.push_str(&table);
    if shown_rows == rows.len() && plan.has_unknowns() {
        let mut note = unknown_note();
        if super::has_late(plan) {
            note = format!("{}{}\n\n", note, super::LATE_NOTE);
        }
        if note.len() <= budget {
            budget -= note.len();
            doc.push_str(&note);
        }
    }

    // Then drift: its table, whole or cut like the changes table.
    let mut shown_drift_rows = 0;
    let mut drift_head = String::new();
    if shown_rows == rows.len() && !shown.drift.is_empty() {
        drift_head = "#### Changed outside stsform since the last apply\n\n\
                      | | resource | what changed |\n|---|---|---|\n"
            .to_string();
        if drift_head.len() < budget {
            budget -= drift_head.len() + 1;
            let drift_rows: Vec<String> = shown.drift.iter().map(|d| drift_row(d)).collect();
            shown_drift_rows = take(&drift_rows, &mut budget);
            drift_head.extend(drift_rows[..shown_drift_rows].iter().cloned());
            drift_head.push('\n');
        } else {
            drift_head.clear();
        }
    }

    // Then the permission changes, whole role policies while they fit in half of what is
    // left: the resource diffs after them keep the other half.
    let mut permissions = String::new();
    let mut shown_permissions = 0;
    if shown_rows == rows.len()
        && let Some(line) = super::permissions_line(plan)
    {
        let heading = format!("#### Permission changes: {}\n\n", text(&line));
        let mut share = budget / 2;
        if heading.len() < share {
            share -= heading.len();
            budget -= heading.len();
            permissions = heading;
            for change in &plan.permissions {
                let block = permission_block(change);
                if block.len() > share {
                    break;
                }
                share -= block.len();
                budget -= block.len();
                permissions.push_str(&block);
                shown_permissions += 1;
            }
        }
    }

    // Then the details, change blocks before drift blocks, until the budget runs out.
    let mut shown_blocks = 0;
    let mut blocks = String::new();
    if shown_rows == rows.len() {
        for c in &shown.changes {
            let block = change_block(c, owner);
            if block.len() > budget {
                break;
            }
            budget -= block.len();
            blocks.push_str(&block);
            shown_blocks += 1;
        }
    }
    let mut drift_blocks = String::new();
    let mut shown_drift_blocks = 0;
    if shown_blocks == shown.changes.len() {
        for d in &shown.drift[..shown_drift_rows] {
            let block = drift_block(d);
            if block.len() > budget {
                break;
            }
            budget -= block.len();
            drift_blocks.push_str(&block);
            shown_drift_blocks += 1;
        }
    }
    doc.push_str(&drift_head);
    doc.push_str(&permissions);
    doc.push_str(&drift_blocks);
    doc.push_str(&blocks);
    doc.push_str(&footer);

    // A cut table counts the rows left out; otherwise the details blocks left out count.
    let (omitted_changes, omitted_drift) = if shown_rows < rows.len() {
        (rows.len() - shown_rows, shown.drift.len())
    } else {
        (
            shown.changes.len() - shown_blocks,
            shown.drift.len() - shown_drift_blocks,
        )
    };
    let policies = Omitted {
        count: plan.permissions.len() - shown_permissions,
        some_shown: shown_permissions > 0,
    };
    if omitted_changes + omitted_drift + policies.count > 0 {
        doc.push('\n');
        doc.push_str(&note(omitted_changes, omitted_drift, policies));
        doc.push('\n');
    }
    doc
}

/// One role policy's permission lines: its address and request, then a ```diff block.
fn permission_block(change: &crate::review::permissions::PermissionChange) -> String {
    let heading = match &change.source {
        Some(source) => format!(
            "{} from {}:",
            code(&change.id.to_string(), false),
            code(source, false)
        ),
        None => format!("{}:", code(&change.id.to_string(), false)),
    };
    let body = crate::review::permissions::lines(change).join("\n");
    format!("{heading}\n\n{}\n", fenced("diff", &body))
}

/// A fenced block that no line of `body` can close.
fn fenced(info: &str, body: &str) -> String {
    let longest = body.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    format!("{fence}{info}\n{body}\n{fence}\n")
}

/// How many of `items`, from the first, fit in `budget`; deducts what they take.
fn take(items: &[String], budget: &mut usize) -> usize {
    let mut n = 0;
    for item in items {
        if item.len() > *budget {
            break;
        }
        *budget -= item.len();
        n += 1;
    }
    n
}

/// What was left out, and where to see it.
fn note(changes: usize, drift: usize, policies: Omitted) -> String {
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} more {}", if n == 1 { one } else { many });
    let mut what = match (changes, drift) {
        (0, 0) => String::new(),
        (0, d) => plural(d, "drift entry", "drift entries"),
        (c, 0) => plural(c, "change", "changes"),
        (c, d) => format!(
            "{} and {d} drift {}",
            plural(c, "change", "changes"),
            if d == 1 { "entry" } else { "entries" }
        ),
    };
    if policies.count > 0 {
        let policies = format!(
            "the permission changes of {}{} role polic{}",
            policies.count,
            if policies.some_shown { " more" } else { "" },
            if policies.count == 1 { "y" } else { "ies" }
        );
        what = if what.is_empty() {
            policies
        } else {
            format!("{what} and {policies}")
        };
    }
    format!(
        "… {what} not shown (output capped at 65,000 characters for GitHub comments); \
         run stsform plan locally for the full plan."
    )
}

/// Role policies whose permission lines were left out, and whether others were shown.
#[derive(Clone, Copy)]
struct Omitted {
    count: usize,
    some_shown: bool,
}

/// Hidden marker (so a bot can update its comment), heading, and a banner for deletes.
fn head(plan: &Plan, meta: &Meta) -> String {
    let marker: String = meta
        .cluster
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    let s = plan.summary;
    let counts = if plan.has_changes() {
        super::summary_line(s)
    } else {
        "No changes".to_string()
    };
    let counts = match super::permissions_line(plan) {
        Some(line) => format!("{counts} · {line}"),
        None => counts,
    };
    let mut head = format!(
        "<!-- stsform:plan:{marker} -->\n### stsform plan for {} ({}): {counts}\n\n",
        code(&meta.cluster, false),
        text(&meta.region)
    );
    if !plan.has_changes() {
        head.push_str("The AWS resources and local files match the configuration.\n\n");
    }
    if s.destroy > 0 {
        let replaced = plan
            .changes
            .iter()
            .filter(|c| c.action == Action::Replace)
            .count();
        let including = if replaced > 0 {
            format!(" ({replaced} of them to be replaced)")
        } else {
            String::new()
        };
        head.push_str(&format!(
            "> [!WARNING]\n> This plan destroys {} resource{}{including}. Review the deletions carefully.\n\n",
            s.destroy,
            if s.destroy == 1 { "" } else { "s" }
        ));
    }
    if !plan.issuer_changes.is_empty() {
        head.push_str(&format!(
            "> [!CAUTION]\n> This plan breaks token validation for the running cluster ({}):\n",
            text(crate::safety::ISSUER_WHY)
        ));
        for c in &plan.issuer_changes {
            head.push_str(&format!(
                "> - {} {}\n",
                code(&c.id.to_string(), true),
                text(&c.what)
            ));
        }
        head.push('\n');
    }
    // Warnings, notes and untracked resources are few; a long list is cut so the head
    // stays small.
    let warnings: Vec<&crate::review::Finding> = plan.warnings().collect();
    if !warnings.is_empty() {
        head.push_str(&format!("#### Warnings ({})\n\n", warnings.len()));
        for finding in warnings.iter().take(LIST_CAP) {
            head.push_str(&format!("- {}\n", inline(&finding.line())));
        }
        head.push_str(&more(warnings.len()));
        head.push('\n');
        if let Some(line) = super::acknowledged_line(plan) {
            head.push_str(&format!("{}.\n\n", inline(&line)));
        }
        if let Some(example) = super::acknowledge_example(plan) {
            head.push_str(&format!(
                "To accept a reviewed warning of a request, acknowledge it in {}, e.g.:\n\n{}\n",
                code("stsform.toml", false),
                fenced("toml", &example)
            ));
        }
    }
    if !plan.notes.is_empty() {
        head.push_str("#### Notes\n\n");
        for note in plan.notes.iter().take(LIST_CAP) {
            head.push_str(&format!("- {}\n", inline(note)));
        }
        head.push_str(&more(plan.notes.len()));
        head.push('\n');
    }
    if !plan.unmanaged.is_empty() {
        let owner = super::owner(plan);
        head.push_str(&format!(
            "#### {}\n\n",
            inline(&super::unmanaged_heading(owner))
        ));
        for u in plan.unmanaged.iter().take(LIST_CAP) {
            head.push_str(&format!("- {}\n", code(&u.id.to_string(), false)));
        }
        head.push_str(&more(plan.unmanaged.len()));
        head.push('\n');
    }
    // The order, collapsed: small (grouped by kind past 40 changes), so it always fits.
    if let Some(diagram) = crate::review::mermaid::plan_diagram(plan) {
        head.push_str(&format!(
            "<details><summary>Order of the changes (diagram)</summary>\n\n{}</details>\n\n",
            fenced("mermaid", diagram.trim_end())
        ));
    }
    head
}

/// Most notes or untracked resources listed in the head; the JSON holds all of them.
const LIST_CAP: usize = 50;

/// `- … and N more (see --format json)` for a list longer than [`LIST_CAP`].
fn more(len: usize) -> String {
    if len <= LIST_CAP {
        return String::new();
    }
    format!(
        "- … and {} more (`--format json` lists all)\n",
        len - LIST_CAP
    )
}

fn unknown_note() -> String {
    format!(
        "Values shown as {} are assigned by AWS or by key generation during apply.\n\n",
        code(UNKNOWN, false)
    )
}

/// `state serial 14 · lineage 5f0c2a9e… · 26 AWS reads · stsform 0.4.0`.
fn footer(meta: &Meta) -> String {
    let mut lineage: String = meta.lineage.chars().take(8).collect();
    if meta.lineage.chars().count() > 8 {
        lineage.push('…');
    }
    if lineage.is_empty() {
        lineage = "none".into();
    }
    format!(
        "<sub>state serial {} · lineage {} · {} AWS read{} · stsform {}</sub>\n",
        meta.serial,
        text(&lineage),
        meta.reads,
        if meta.reads == 1 { "" } else { "s" },
        text(&meta.version)
    )
}

/// The `why` column: the plan's reason in words, plus what forces a replacement.
fn why(c: &Change, owner: &str) -> String {
    let reason = match c.reason {
        Reason::New => "new".to_string(),
        Reason::InputsChanged => "inputs changed".to_string(),
        Reason::RepairsDrift => "changed outside stsform".to_string(),
        Reason::DeletedOutside => "deleted outside stsform".to_string(),
        Reason::NoLongerWanted => "no longer in the configuration".to_string(),
        Reason::DestroyRequested => "destroy requested".to_string(),
        Reason::Adopted => format!("exists, tagged for {}: adopted", code(owner, true)),
        Reason::Unmanaged => format!("tagged for {}, not managed", code(owner, true)),
        Reason::ContainerReplaced => "what it lives in is replaced".to_string(),
    };
    // The request a new or changed resource comes from: what a reviewer opens next.
    let reason = match (&c.source, c.reason) {
        (Some(source), Reason::New | Reason::InputsChanged) => {
            format!("{reason}: {}", code(source, true))
        }
        _ => reason,
    };
    if c.replace_because.is_empty() {
        return reason;
    }
    let forcing: Vec<String> = c.replace_because.iter().map(|a| code(a, true)).collect();
    format!("{reason}; replacement forced by {}", forcing.join(", "))
}

fn row(c: &Change, owner: &str) -> String {
    format!(
        "| {} | {} | {} |\n",
        symbol(c.action),
        code(&c.id.to_string(), true),
        why(c, owner)
    )
}

fn drift_row(d: &Drift) -> String {
    let (sign, what) = match d.live {
        None => ("-", "deleted outside stsform".to_string()),
        Some(_) => {
            let names: Vec<String> = d.attributes.iter().map(|a| code(&a.name, true)).collect();
            ("~", names.join(", "))
        }
    };
    format!("| {sign} | {} | {what} |\n", code(&d.id.to_string(), true))
}

fn change_block(c: &Change, owner: &str) -> String {
    let summary = format!(
        "{} <code>{}</code> {}",
        html(symbol(c.action)),
        html(&c.id.to_string()),
        html(&super::change_phrase(c, owner))
    );
    let mut lines = diff_lines(
        c.id.kind,
        &c.attributes,
        &c.replace_because,
        c.keys().as_ref(),
    );
    if lines.is_empty() {
        // Made again as it is (what it lives in is replaced): say so, no empty fence.
        lines.push("  (no attribute changes)".to_string());
    }
    details(&summary, &lines)
}

fn drift_block(d: &Drift) -> String {
    let (sign, what) = match d.live {
        None => ("-", "was deleted outside stsform"),
        Some(_) => ("~", "has changed outside stsform"),
    };
    let summary = format!("{sign} <code>{}</code> {what}", html(&d.id.to_string()));
    details(
        &summary,
        &diff_lines(d.id.kind, &d.attributes, &[], d.keys().as_ref()),
    )
}

/// A collapsed block holding a diff, fenced so that no line of it can close the fence.
fn details(summary: &str, lines: &[String]) -> String {
    let body = lines.join("\n");
    let longest = body.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    format!("<details><summary>{summary}</summary>\n\n{fence}diff\n{body}\n{fence}\n</details>\n\n")
}

/// The diff lines of a resource's attribute changes: documents and other multi-line
/// values as hunks under an `@@ name @@` header, the rest as `- name = old` / `+ name = new`;
/// keys.json's content (`keys`) as the keys it serves, by kid.
fn diff_lines(
    kind: ResourceKind,
    attributes: &[AttributeChange],
    forced: &[String],
    keys: Option<&crate::jwks::KeyChanges>,
) -> Vec<String> {
    let width = attributes.iter().map(|a| a.name.len()).max().unwrap_or(0);
    let mut lines = Vec::new();
    for a in attributes {
        if let Some(k) = keys.filter(|_| a.name == super::KEYS_ATTRIBUTE) {
            lines.push(format!("@@ {} (keys by kid) @@", a.name));
            lines.extend(
                super::key_lines(k, a.before.is_some() && a.after.is_some())
                    .into_iter()
                    .map(|(sign, text)| format!("{sign} {text}")),
            );
            continue;
        }
        let a = redact_change(SENSITIVE_ATTRIBUTES, kind, a);
        let doc = DOCUMENTS.contains(&a.name.as_str());
        let forces = forced.contains(&a.name);
        let mark = if forces { "  # forces replacement" } else { "" };
        let name = format!("{:width$}", a.name);
        let assign = |sign: char, v: &Value, mark: &str, lines: &mut Vec<String>| {
            let shown = shown(v, doc);
            for (i, l) in shown.iter().enumerate() {
                let last = if i + 1 == shown.len() { mark } else { "" };
                if i == 0 {
                    lines.push(format!("{sign} {name} = {l}{last}"));
                } else {
                    lines.push(format!("{sign} {l}{last}"));
                }
            }
        };
        match (&a.before, &a.after) {
            (None, Some(v)) => assign('+', v, mark, &mut lines),
            (Some(v), None) => assign('-', v, mark, &mut lines),
            (Some(b), Some(v)) if shown(b, doc).len() == 1 && shown(v, doc).len() == 1 => {
                assign('-', b, "", &mut lines);
                assign('+', v, mark, &mut lines);
            }
            (Some(b), Some(v)) => {
                let header = if forces {
                    format!("@@ {} (forces replacement) @@", a.name)
                } else {
                    format!("@@ {} @@", a.name)
                };
                for hunk in hunks(&plain(b, doc), &plain(v, doc)) {
                    lines.push(header.clone());
                    lines.extend(hunk.into_iter().map(|(sign, l)| format!("{sign}{l}")));
                }
            }
            (None, None) => {}
        }
    }
    lines
}

/// A value as the lines of an assignment: JSON for documents and collections, a heredoc
/// for multi-line strings, the unknown placeholder bare.
fn shown(v: &Value, doc: bool) -> Vec<String> {
    match v {
        Value::String(s) if is_unknown(s) => vec![s.clone()],
        Value::String(s) if s.contains('\n') => std::iter::once("<<EOT".to_string())
            .chain(s.lines().map(|l| format!("  {l}")))
            .chain(std::iter::once("EOT".to_string()))
            .collect(),
        Value::Object(_) | Value::Array(_) => plain(v, doc).lines().map(String::from).collect(),
        other => vec![other.to_string()],
    }
}

/// Text for an HTML context (`<summary>`).
fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

/// Plain text for an inline Markdown context (table cells, headings): nothing in it can
/// end a cell, open a code span or emphasis, or start an HTML tag.
fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\n' | '\r' => out.push(' '),
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' | '#' | '!' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// Prose whose `backticked` parts are code: each part escaped as text or code, so a note
/// built from user input cannot inject Markdown either way.
fn inline(s: &str) -> String {
    s.split('`')
        .enumerate()
        .map(|(i, part)| {
            if i % 2 == 1 && !part.is_empty() {
                code(part, false)
            } else {
                text(part)
            }
        })
        .collect()
}

/// A code span; in a table cell its pipes are escaped (GFM splits cells before parsing
/// code spans). Backticks inside get a longer delimiter. A backslash cannot be written
/// before an escaped pipe in a code span, so such text falls back to escaped plain text.
fn code(s: &str, in_table: bool) -> String {
    if in_table && s.contains('\\') {
        return text(s);
    }
    let s = s.replace(['\n', '\r'], " ");
    let s = if in_table { s.replace('|', "\\|") } else { s };
    let longest = s.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let delimiter = "`".repeat(longest + 1);
    let pad = if s.starts_with('`') || s.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{delimiter}{pad}{s}{pad}{delimiter}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Summary;
    use crate::resource::{ResourceId, RoleSpec, Spec};

    fn meta() -> Meta {
        Meta {
            cluster: "c".into(),
            region: "us-east-2".into(),
            serial: 1,
            lineage: "0123456789abcdef".into(),
            reads: 1,
            version: "test".into(),
        }
    }

    fn role(name: &str, description: &str) -> Spec {
        Spec::IamRole(RoleSpec {
            name: name.into(),
            arn: UNKNOWN.into(),
            description: description.into(),
            trust_policy: serde_json::json!({"Statement": []}),
            permissions_boundary: None,
            tags: Default::default(),
        })
    }

    fn creates(n: usize) -> Plan {
        let changes: Vec<Change> = (0..n)
            .map(|i| {
                let spec = role(&format!("role-{i:04}"), &"x".repeat(200));
                Change {
                    id: ResourceId::new(ResourceKind::IamRole, format!("role-{i:04}")),
                    action: Action::Create,
                    reason: Reason::New,
                    attributes: crate::plan::diff_attributes(None, Some(&spec)),
                    before: None,
                    after: Some(spec),
                    replace_because: vec![],
                    depends_on: vec![],
                    source: None,
                    state_rule: crate::plan::StateRule::of(ResourceKind::IamRole, Action::Create),
                }
            })
            .collect();
        Plan {
            summary: Summary {
                add: n,
                ..Summary::default()
            },
            changes,
            ..Plan::default()
        }
    }

    #[test]
    fn notes_keep_their_code_spans_and_escape_the_rest() {
        assert_eq!(
            inline("a_b: `x_y` and `<z>` *w*"),
            "a\\_b: `x_y` and `<z>` \\*w\\*"
        );
        // An odd backtick cannot open an unclosed span.
        assert_eq!(inline("a `b"), "a `b`");
    }

    #[test]
    fn cells_and_summaries_are_escaped() {
        assert_eq!(text("a|b<c>`d`*"), "a\\|b&lt;c&gt;\\`d\\`\\*");
        assert_eq!(code("a|b<c>", true), "`a\\|b<c>`");
        assert_eq!(code("a|b", false), "`a|b`");
        assert_eq!(code("x`y", true), "``x`y``");
        assert_eq!(code("`y", true), "`` `y ``");
        assert_eq!(code("a\\|b", true), "a\\\\\\|b");
        assert_eq!(html("</details>"), "&lt;/details&gt;");
    }

    #[test]
    fn fences_outgrow_backticks_in_the_content() {
        let block = details("s", &["+ content = ```````".into()]);
        assert!(block.contains("\n````````diff\n"), "{block}");
        assert!(block.ends_with("\n````````\n</details>\n\n"), "{block}");
        let block = details("s", &["+ plain".into()]);
        assert!(block.contains("\n```diff\n"), "{block}");
    }

    /// How a change's details block starts (the diagram's block does not).
    const BLOCK: &str = "<details><summary>+ <code>";

    #[test]
    fn a_table_over_the_budget_is_cut_with_a_note() {
        let plan = creates(50);
        let full = document(&Shown::recorded(&plan), &meta(), usize::MAX);
        assert!(!full.contains("not shown"));
        assert_eq!(full.matches(BLOCK).count(), 50);

        let doc = document(&Shown::recorded(&plan), &meta(), 2_000);
        assert!(doc.len() < 2_000, "{}", doc.len());
        assert!(!doc.contains(BLOCK));
        // The order diagram is in the head: a cut table keeps it.
        assert!(doc.contains("<details><summary>Order of the changes (diagram)</summary>"));
        let rows = doc.matches("| + | `iam_role.").count();
        assert!(rows > 0 && rows < 50, "{rows}");
        assert!(
            doc.trim_end().ends_with(&format!(
                "… {} more changes not shown (output capped at 65,000 characters for GitHub comments); run stsform plan locally for the full plan.",
                50 - rows
            )),
            "{doc}"
        );
        assert!(
            doc.contains(
                "<sub>state serial 1 · lineage 01234567… · 1 AWS read · stsform test</sub>"
            )
        );
    }

    #[test]
    fn blocks_stop_whole_when_over_the_budget() {
        let plan = creates(50);
        let doc = document(&Shown::recorded(&plan), &meta(), 12_000);
        assert!(doc.len() < 12_000);
        let shown = doc.matches(BLOCK).count();
        assert!(shown > 0 && shown < 50, "{shown}");
        // Every block closes: the change blocks and the diagram's.
        assert_eq!(doc.matches("</details>").count(), shown + 1);
        assert_eq!(doc.matches("| + | `iam_role.").count(), 50);
        assert!(doc.trim_end().ends_with(&format!(
            "… {} more changes not shown (output capped at 65,000 characters for GitHub comments); run stsform plan locally for the full plan.",
            50 - shown
        )));
    }
}

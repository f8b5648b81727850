//! Formats a verify `Report`: a table for people, or a versioned JSON document.
//!
//! Pure formatting: the report already holds every verdict and reason.

use std::io::{self, Write};

use super::{ISSUER_BLOCKED, NO_KEY, Report, Status};

/// Output format of `verify`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// A table with ✓/✗ marks and a summary line.
    #[default]
    Text,
    /// The same content as JSON (`format_version` 1).
    Json,
}

/// Writes `report` in `format`.
pub fn write(report: &Report, format: Format, out: &mut impl Write) -> io::Result<()> {
    match format {
        Format::Text => text(report, out),
        Format::Json => {
            serde_json::to_writer_pretty(&mut *out, report).map_err(io::Error::other)?;
            writeln!(out)
        }
    }
}

fn mark(status: Status) -> &'static str {
    match status {
        Status::Pass => "✓",
        Status::Fail => "✗",
        Status::Skip => "–",
    }
}

/// The last line: `N of M service accounts can assume their role. K failures.`, with
/// how many could not be tested for want of a private key, when some could not.
pub fn summary_line(report: &Report) -> String {
    let s = report.summary;
    let untested = if s.untested > 0 {
        format!(
            "; {} not tested (no private key of a served kid here)",
            s.untested
        )
    } else {
        String::new()
    };
    format!(
        "{} of {} service account{} can assume their role{untested}. {} failure{}.",
        s.can_assume,
        s.service_accounts,
        if s.service_accounts == 1 { "" } else { "s" },
        s.failures,
        if s.failures == 1 { "" } else { "s" }
    )
}

/// The table.
pub fn text(report: &Report, out: &mut impl Write) -> io::Result<()> {
    writeln!(out, "issuer    {}", report.issuer)?;
    for c in &report.checks {
        writeln!(out, "  {} {:<20} {}", mark(c.status), c.title, c.detail)?;
    }
    writeln!(out)?;
    let accounts: Vec<String> = report
        .rows
        .iter()
        .map(|r| format!("{}:{}", r.namespace, r.service_account))
        .collect();
    let role_w = report
        .rows
        .iter()
        .map(|r| r.role.chars().count())
        .max()
        .unwrap_or(0)
        .max("role".len())
        + 2;
    let sa_w = accounts
        .iter()
        .map(|a| a.chars().count())
        .max()
        .unwrap_or(0)
        .max("service account".len())
        + 2;
    if !report.rows.is_empty() {
        writeln!(
            out,
            "{:<role_w$}{:<sa_w$}{:<7}sts",
            "role", "service account", "trust"
        )?;
    }
    for (row, account) in report.rows.iter().zip(&accounts) {
        writeln!(
            out,
            "{:<role_w$}{:<sa_w$}{:<7}{}",
            row.role,
            account,
            mark(row.trust),
            mark(row.sts)
        )?;
        // The issuer-level reasons are the same for every row: said once below.
        for reason in row
            .reasons
            .iter()
            .filter(|r| *r != ISSUER_BLOCKED && *r != NO_KEY)
        {
            writeln!(out, "    {reason}")?;
        }
    }
    if report
        .rows
        .iter()
        .any(|r| r.reasons.iter().any(|x| x == ISSUER_BLOCKED))
    {
        writeln!(
            out,
            "\nsts – : not called, because an issuer check above failed and STS would reject every token."
        )?;
    }
    if report
        .rows
        .iter()
        .any(|r| r.reasons.iter().any(|x| x == NO_KEY))
    {
        writeln!(
            out,
            "\nsts – : not called, because no private key of a served kid is here to sign a token with (after a rotation the cluster holds the new key); the trust column still holds."
        )?;
    }
    if let Some(note) = &report.note {
        writeln!(out, "\nnote: {note}")?;
    }
    writeln!(out, "\n{}", summary_line(report))
}

#[cfg(test)]
mod tests {
    use super::super::{Check, Row, Summary};
    use super::*;

    fn report() -> Report {
        let row = |sa: &str, trust, sts, reasons: &[&str]| Row {
            role: "c1-openshift-ingress-operator-cloud-credentials".into(),
            role_arn:
                "arn:aws:iam::123456789012:role/c1-openshift-ingress-operator-cloud-credentials"
                    .into(),
            namespace: "openshift-ingress-operator".into(),
            service_account: sa.into(),
            trust,
            sts,
            assumed_role_arn: None,
            reasons: reasons.iter().map(|r| r.to_string()).collect(),
            passed: trust == Status::Pass && sts == Status::Pass,
        };
        Report {
            format_version: 1,
            issuer: "https://c1-oidc.s3.us-east-2.amazonaws.com".into(),
            provider_arn:
                "arn:aws:iam::123456789012:oidc-provider/c1-oidc.s3.us-east-2.amazonaws.com".into(),
            audience: "openshift".into(),
            checks: vec![Check {
                id: "jwks",
                kid: None,
                title: "JWKS",
                status: Status::Pass,
                detail: "1 key, kid Lx…KI matches the key in serviceaccount-signer.private".into(),
            }],
            rows: vec![
                row("ingress-operator", Status::Pass, Status::Pass, &[]),
                row(
                    "x",
                    Status::Fail,
                    Status::Skip,
                    &["trust policy admits a, not b"],
                ),
            ],
            note: None,
            summary: Summary {
                service_accounts: 2,
                can_assume: 1,
                failures: 1,
                untested: 0,
            },
        }
    }

    #[test]
    fn text_has_marks_reasons_and_the_summary_line() {
        let mut out = Vec::new();
        text(&report(), &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let expected = "\
issuer    https://c1-oidc.s3.us-east-2.amazonaws.com
  ✓ JWKS                 1 key, kid Lx…KI matches the key in serviceaccount-signer.private

role                                             service account                              trust  sts
c1-openshift-ingress-operator-cloud-credentials  openshift-ingress-operator:ingress-operator  ✓      ✓
c1-openshift-ingress-operator-cloud-credentials  openshift-ingress-operator:x                 ✗      –
    trust policy admits a, not b

1 of 2 service accounts can assume their role. 1 failure.
";
        assert_eq!(text, expected);
    }

    #[test]
    fn rows_without_a_key_to_sign_with_are_counted_and_explained_once() {
        let mut r = report();
        for row in &mut r.rows {
            row.trust = Status::Pass;
            row.sts = Status::Skip;
            row.passed = false;
            row.reasons = vec![NO_KEY.to_string()];
        }
        r.summary = Summary {
            service_accounts: 2,
            can_assume: 0,
            failures: 0,
            untested: 2,
        };
        assert!(r.passed());
        let mut out = Vec::new();
        text(&r, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains(NO_KEY), "{text}");
        assert_eq!(
            text.matches("no private key of a served kid is here")
                .count(),
            1,
            "{text}"
        );
        assert!(
            text.ends_with("\n0 of 2 service accounts can assume their role; 2 not tested (no private key of a served kid here). 0 failures.\n"),
            "{text}"
        );
    }

    #[test]
    fn a_failed_issuer_check_is_explained_once_not_per_row() {
        let mut r = report();
        for row in &mut r.rows {
            row.trust = Status::Pass;
            row.sts = Status::Skip;
            row.reasons = vec![ISSUER_BLOCKED.to_string()];
        }
        let mut out = Vec::new();
        text(&r, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(!text.contains(ISSUER_BLOCKED), "{text}");
        assert_eq!(text.matches("sts – : not called").count(), 1, "{text}");
    }

    #[test]
    fn json_is_versioned_and_carries_the_same_content() {
        let mut out = Vec::new();
        write(&report(), Format::Json, &mut out).unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(doc["format_version"], 1);
        assert_eq!(doc["checks"][0]["status"], "pass");
        assert_eq!(doc["rows"][1]["trust"], "fail");
        assert_eq!(doc["rows"][1]["sts"], "skip");
        assert_eq!(doc["rows"][1]["reasons"][0], "trust policy admits a, not b");
        assert_eq!(doc["summary"]["can_assume"], 1);
        assert!(doc.get("note").is_none());
    }
}

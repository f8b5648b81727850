//! Policy checks on a request's statements: what IAM refuses, and what it allows but a
//! reviewer should see.
//!
//! Errors are what IAM refuses with `MalformedPolicyDocument` (an action without a service
//! prefix, an unknown condition operator, `Null…IfExists`) and what IAM Access Analyzer's
//! policy validation reports as an error (a condition value of the wrong type for its
//! operator): a policy that cannot be created or can never match. Warnings are allowed
//! and risky: `"Action": "*"`, `service:*`, `iam:PassRole` on every resource. Pure.

use std::net::{Ipv4Addr, Ipv6Addr};

use base64::Engine as _;
use serde_json::Value;

use super::findings::Check;
use super::limits::check_policy_text;
use crate::credentials_request::StatementEntry;

/// Where the statements live in a request.
pub const STATEMENTS: &str = "spec.providerSpec.statementEntries";

/// Something IAM (or Access Analyzer) refuses, at a field of the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    /// The field (`spec.providerSpec.statementEntries[0].action[1]`).
    pub field: String,
    /// What is wrong, one line, starting lowercase.
    pub message: String,
}

/// Something allowed but risky, at a field of the request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Warning {
    /// Which check.
    pub check: Check,
    /// The field of the action.
    pub field: String,
    /// The action as written.
    pub action: String,
    /// What is risky, one line, starting lowercase.
    pub message: String,
}

/// Checks every statement; problems and warnings in field order.
pub fn check(statements: &[StatementEntry]) -> (Vec<Problem>, Vec<Warning>) {
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    for (i, statement) in statements.iter().enumerate() {
        let at = format!("{STATEMENTS}[{i}]");
        let allow = statement.effect == "Allow";
        for (j, action) in statement.action.iter().enumerate() {
            let field = format!("{at}.action[{j}]");
            match check_action(action) {
                Err(message) => problems.push(Problem {
                    field: field.clone(),
                    message,
                }),
                Ok(()) if allow => {
                    warnings.extend(risks(action, &statement.resource, &field));
                }
                Ok(()) => {}
            }
        }
        if let Err(message) = check_resource(&statement.resource) {
            problems.push(Problem {
                field: format!("{at}.resource"),
                message,
            });
        }
        if let Some(condition) = &statement.policy_condition {
            check_condition(condition, &format!("{at}.policyCondition"), &mut problems);
        }
    }
    (problems, warnings)
}

// ---------------------------------------------------------------------------------------
// Actions

/// An action IAM accepts: `*`, or `service:Action` where the service prefix is letters,
/// digits and `-` (no wildcards) and the action name letters and digits with `*` and `?`.
pub fn check_action(action: &str) -> Result<(), String> {
    check_policy_text(action)?;
    if action == "*" {
        return Ok(());
    }
    let Some((service, name)) = action.split_once(':') else {
        return Err(format!(
            "`{action}` has no service prefix: IAM actions are `service:Action` (`ec2:DescribeInstances`) or `*` (IAM: \"Actions/Conditions must be prefaced by a vendor\")"
        ));
    };
    if name.contains(':') {
        return Err(format!(
            "`{action}` holds more than one `:`; IAM actions are `service:Action` (IAM: \"Actions/Condition can contain only one colon\")"
        ));
    }
    if service.is_empty() {
        return Err(format!(
            "`{action}` has an empty service prefix; IAM actions are `service:Action`"
        ));
    }
    if service.contains(['*', '?']) {
        return Err(format!(
            "`{action}` has a wildcard in its service prefix, which IAM refuses (\"Action vendors must not contain wildcards\"): name the service"
        ));
    }
    if let Some(c) = service
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
    {
        return Err(format!(
            "`{action}`: the service prefix holds `{c}`; service prefixes are letters, digits and `-`"
        ));
    }
    if name.is_empty() {
        return Err(format!(
            "`{action}` has no action name after `{service}:` (write `{service}:*` for every action of the service)"
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '*' | '?')))
    {
        return Err(format!(
            "`{action}`: the action name holds `{}`; action names are letters and digits, with `*` and `?` as wildcards",
            c.escape_debug()
        ));
    }
    Ok(())
}

/// Case-insensitive glob match, `*` any run and `?` one character, as IAM matches actions.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.to_ascii_lowercase().chars().collect();
    let t: Vec<char> = text.to_ascii_lowercase().chars().collect();
    // Iterative matching with one backtrack point for the last `*`.
    let (mut i, mut j) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while j < t.len() {
        if i < p.len() && (p[i] == '?' || p[i] == t[j]) {
            i += 1;
            j += 1;
        } else if i < p.len() && p[i] == '*' {
            star = Some((i, j));
            i += 1;
        } else if let Some((si, sj)) = star {
            i = si + 1;
            j = sj + 1;
            star = Some((si, sj + 1));
        } else {
            return false;
        }
    }
    p[i..].iter().all(|c| *c == '*')
}

/// The risky findings of one allowed action on `resource`.
fn risks(action: &str, resource: &str, field: &str) -> Vec<Warning> {
    let warning = |check, message: String| Warning {
        check,
        field: field.to_string(),
        action: action.to_string(),
        message,
    };
    if action == "*" {
        return vec![warning(
            Check::ActionWildcard,
            "`*` allows every action of every AWS service".to_string(),
        )];
    }
    let (service, name) = action.split_once(':').unwrap_or(("", action));
    if name == "*" {
        return vec![warning(
            Check::ServiceWildcard,
            format!("`{action}` allows every `{service}` action"),
        )];
    }
    if resource == "*" && glob_matches(action, "iam:PassRole") {
        let what = if action.eq_ignore_ascii_case("iam:PassRole") {
            format!("`{action}`")
        } else {
            format!("`{action}` (which includes `iam:PassRole`)")
        };
        return vec![warning(
            Check::PassroleOnAnyResource,
            format!(
                "{what} on every resource (`*`): the role can hand any role of the account to an AWS service"
            ),
        )];
    }
    Vec::new()
}

// ---------------------------------------------------------------------------------------
// Resources

/// A resource IAM accepts: `*`, or an ARN with its six fields
/// (`arn:partition:service:region:account:resource`, fields may be empty or wildcards).
pub fn check_resource(resource: &str) -> Result<(), String> {
    check_policy_text(resource)?;
    if resource == "*" {
        return Ok(());
    }
    if !resource.starts_with("arn:") || resource.splitn(6, ':').count() < 6 {
        return Err(format!(
            "`{resource}` is not an ARN (`arn:partition:service:region:account:resource`) or `*`; IAM refuses any other resource (MalformedPolicyDocument)"
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Conditions

/// The kind of value a condition operator compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ValueType {
    /// `String…`: any string (numbers and booleans are read as strings).
    String,
    /// `Numeric…`: an integer or decimal.
    Numeric,
    /// `Date…`: a W3C ISO 8601 date or epoch seconds.
    Date,
    /// `Bool`: `true` or `false`.
    Bool,
    /// `BinaryEquals`: base64.
    Binary,
    /// `IpAddress`, `NotIpAddress`: an IPv4 or IPv6 address or CIDR range.
    Ip,
    /// `Arn…`: an ARN (read as a string).
    Arn,
    /// `Null`: `true` (the key is absent) or `false` (it is present).
    Null,
}

/// IAM's condition operators, by the type of value they compare.
pub const OPERATORS: &[(&str, ValueType)] = &[
    ("StringEquals", ValueType::String),
    ("StringNotEquals", ValueType::String),
    ("StringEqualsIgnoreCase", ValueType::String),
    ("StringNotEqualsIgnoreCase", ValueType::String),
    ("StringLike", ValueType::String),
    ("StringNotLike", ValueType::String),
    ("NumericEquals", ValueType::Numeric),
    ("NumericNotEquals", ValueType::Numeric),
    ("NumericLessThan", ValueType::Numeric),
    ("NumericLessThanEquals", ValueType::Numeric),
    ("NumericGreaterThan", ValueType::Numeric),
    ("NumericGreaterThanEquals", ValueType::Numeric),
    ("DateEquals", ValueType::Date),
    ("DateNotEquals", ValueType::Date),
    ("DateLessThan", ValueType::Date),
    ("DateLessThanEquals", ValueType::Date),
    ("DateGreaterThan", ValueType::Date),
    ("DateGreaterThanEquals", ValueType::Date),
    ("Bool", ValueType::Bool),
    ("BinaryEquals", ValueType::Binary),
    ("IpAddress", ValueType::Ip),
    ("NotIpAddress", ValueType::Ip),
    ("ArnEquals", ValueType::Arn),
    ("ArnLike", ValueType::Arn),
    ("ArnNotEquals", ValueType::Arn),
    ("ArnNotLike", ValueType::Arn),
    ("Null", ValueType::Null),
];

/// The set qualifiers that may prefix an operator.
pub const QUALIFIERS: [&str; 2] = ["ForAllValues", "ForAnyValue"];

/// A parsed condition operator: `[ForAllValues:|ForAnyValue:]<Operator>[IfExists]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Operator {
    /// `ForAllValues` or `ForAnyValue`, if given.
    pub qualifier: Option<&'static str>,
    /// The operator proper (`StringEquals`).
    pub name: &'static str,
    /// What its values must be.
    pub value_type: ValueType,
    /// `…IfExists`.
    pub if_exists: bool,
}

/// Parses an operator as IAM does: names are case-sensitive (IAM refuses `stringEquals`
/// with "Invalid Condition type"), so a wrong case gets a hint, not a pass.
pub fn parse_operator(text: &str) -> Result<Operator, String> {
    let (qualifier, rest) = match text.split_once(':') {
        Some((q, rest)) => match QUALIFIERS.iter().find(|k| **k == q) {
            Some(k) => (Some(*k), rest),
            None => {
                let hint = QUALIFIERS
                    .iter()
                    .find(|k| k.eq_ignore_ascii_case(q))
                    .map(|k| format!(" (did you mean `{k}`?)"))
                    .unwrap_or_default();
                return Err(format!(
                    "`{text}`: `{q}` is not a set qualifier{hint}; IAM knows `ForAllValues:` and `ForAnyValue:`"
                ));
            }
        },
        None => (None, text),
    };
    let (base, if_exists) = match rest.strip_suffix("IfExists") {
        Some(base) => (base, true),
        None => (rest, false),
    };
    let Some((name, value_type)) = OPERATORS.iter().find(|(n, _)| *n == base) else {
        // IAM compares operator names exactly; a name that differs only in case gets a hint.
        let lower = rest.to_ascii_lowercase();
        let (lower_base, suffix) = match lower.strip_suffix("ifexists") {
            Some(b) => (b.to_string(), "IfExists"),
            None => (lower.clone(), ""),
        };
        let hint = OPERATORS
            .iter()
            .find(|(n, _)| n.to_ascii_lowercase() == lower_base)
            .map(|(n, _)| {
                let prefix = qualifier.map(|q| format!("{q}:")).unwrap_or_default();
                format!(" (did you mean `{prefix}{n}{suffix}`? operator names are case-sensitive)")
            })
            .unwrap_or_default();
        return Err(format!(
            "`{text}` is not an IAM condition operator{hint}; IAM refuses it (\"Invalid Condition type\")"
        ));
    };
    if *name == "Null" && if_exists {
        return Err(format!(
            "`{text}`: `Null` cannot take `IfExists` (it already tests whether the key is present)"
        ));
    }
    Ok(Operator {
        qualifier,
        name,
        value_type: *value_type,
        if_exists,
    })
}

fn check_condition(
    condition: &serde_json::Map<String, Value>,
    at: &str,
    problems: &mut Vec<Problem>,
) {
    for (operator, keys) in condition {
        let field = format!("{at}.{operator}");
        let parsed = match parse_operator(operator) {
            Ok(op) => op,
            Err(message) => {
                problems.push(Problem { field, message });
                continue;
            }
        };
        // The loader guarantees a mapping; anything else was reported there.
        let Value::Object(keys) = keys else { continue };
        let mut seen: Vec<&str> = Vec::new();
        for (key, value) in keys {
            let field = format!("{field}.{key}");
            if let Err(message) = check_condition_key(key) {
                problems.push(Problem {
                    field: field.clone(),
                    message,
                });
            }
            // Condition key names are not case-sensitive: two spellings in one block are
            // one key given twice (Access Analyzer: "Duplicate keys with different case").
            if let Some(first) = seen.iter().find(|k| k.eq_ignore_ascii_case(key)) {
                problems.push(Problem {
                    field: field.clone(),
                    message: format!(
                        "`{key}` is the key `{first}` again (condition key names are not case-sensitive); give it once"
                    ),
                });
            }
            seen.push(key);
            let values: Vec<(String, &Value)> = match value {
                Value::Array(items) => items
                    .iter()
                    .enumerate()
                    .map(|(k, v)| (format!("{field}[{k}]"), v))
                    .collect(),
                single => vec![(field.clone(), single)],
            };
            for (field, value) in values {
                if let Err(message) = check_condition_value(&parsed, value) {
                    problems.push(Problem { field, message });
                }
            }
        }
    }
}

/// A condition key IAM accepts: `prefix:name` (`aws:SourceIp`, `ec2:ResourceTag/Name`).
pub fn check_condition_key(key: &str) -> Result<(), String> {
    check_policy_text(key)?;
    match key.split_once(':') {
        Some((prefix, name)) if !prefix.is_empty() && !name.is_empty() => Ok(()),
        _ => Err(format!(
            "condition key `{key}` has no service prefix: keys are `service:name` (`aws:SourceIp`) (IAM: \"Actions/Conditions must be prefaced by a vendor\")"
        )),
    }
}

/// A condition value of the type `operator` compares (Access Analyzer's "Type mismatch"
/// errors: such a condition never matches).
pub fn check_condition_value(operator: &Operator, value: &Value) -> Result<(), String> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => {
            return Err("a condition value must be a string, number or boolean, not null".into());
        }
        Value::Array(_) | Value::Object(_) => {
            return Err(
                "a condition value must be a string, number or boolean (a list of them at most one level deep)"
                    .into(),
            );
        }
    };
    check_policy_text(&text)?;
    let name = operator.name;
    let ok = match operator.value_type {
        ValueType::String | ValueType::Arn => return Ok(()),
        ValueType::Numeric => is_number(&text),
        ValueType::Date => is_date(&text),
        ValueType::Bool | ValueType::Null => {
            text.eq_ignore_ascii_case("true") || text.eq_ignore_ascii_case("false")
        }
        ValueType::Binary => base64::engine::general_purpose::STANDARD
            .decode(&text)
            .is_ok(),
        ValueType::Ip => is_ip_range(&text),
    };
    if ok {
        return Ok(());
    }
    let expected = match operator.value_type {
        ValueType::Numeric => "an integer or decimal number",
        ValueType::Date => {
            "a date in W3C ISO 8601 form (`2026-01-31`, `2026-01-31T12:00:00Z`) or epoch seconds"
        }
        ValueType::Bool => "`true` or `false`",
        ValueType::Null => "`true` (the key is absent) or `false` (the key is present)",
        ValueType::Binary => "base64-encoded bytes",
        ValueType::Ip => "an IPv4 or IPv6 address or CIDR range (`203.0.113.0/24`)",
        ValueType::String | ValueType::Arn => unreachable!("strings always pass"),
    };
    Err(format!(
        "`{text}` is not a value `{name}` can compare: it takes {expected} (the condition would never match)"
    ))
}

/// An integer or decimal: `-12`, `3.5`, `+7` (no exponent, no `NaN` or infinity).
fn is_number(s: &str) -> bool {
    let body = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (whole, fraction) = match body.split_once('.') {
        Some((w, f)) => (w, Some(f)),
        None => (body, None),
    };
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    match fraction {
        None => !whole.is_empty() && digits(whole),
        Some(f) => (!whole.is_empty() || !f.is_empty()) && digits(whole) && digits(f),
    }
}

/// Epoch seconds, or one of the W3C profiles of ISO 8601 (`YYYY`, `YYYY-MM`,
/// `YYYY-MM-DD`, then `Thh:mm`, `:ss`, `.s…`, with an optional `Z` or `±hh:mm`).
fn is_date(s: &str) -> bool {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && s.len() != 4 {
        return true; // epoch seconds (a bare year is the date form below)
    }
    let number = |t: &str, len: usize, max: u32, min: u32| {
        t.len() == len
            && t.bytes().all(|b| b.is_ascii_digit())
            && t.parse::<u32>().is_ok_and(|n| (min..=max).contains(&n))
    };
    let (date, time) = match s.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (s, None),
    };
    let parts: Vec<&str> = date.split('-').collect();
    let date_ok = match parts.as_slice() {
        [y] => number(y, 4, 9999, 0),
        [y, m] => number(y, 4, 9999, 0) && number(m, 2, 12, 1),
        [y, m, d] => number(y, 4, 9999, 0) && number(m, 2, 12, 1) && number(d, 2, 31, 1),
        _ => false,
    };
    let Some(time) = time else {
        return date_ok;
    };
    if !date_ok || parts.len() != 3 {
        return false;
    }
    let (clock, zone) = if let Some(c) = time.strip_suffix('Z') {
        (c, None)
    } else if let Some(i) = time.rfind(['+', '-']) {
        (&time[..i], Some(&time[i + 1..]))
    } else {
        (time, None)
    };
    if let Some(zone) = zone {
        match zone.split_once(':') {
            Some((h, m)) if number(h, 2, 23, 0) && number(m, 2, 59, 0) => {}
            _ => return false,
        }
    }
    let (clock, fraction) = match clock.split_once('.') {
        Some((c, f)) => (c, Some(f)),
        None => (clock, None),
    };
    if fraction.is_some_and(|f| f.is_empty() || !f.bytes().all(|b| b.is_ascii_digit())) {
        return false;
    }
    match clock.split(':').collect::<Vec<_>>().as_slice() {
        [h, m] => fraction.is_none() && number(h, 2, 23, 0) && number(m, 2, 59, 0),
        [h, m, sec] => number(h, 2, 23, 0) && number(m, 2, 59, 0) && number(sec, 2, 60, 0),
        _ => false,
    }
}

/// An IPv4 or IPv6 address, with an optional `/prefix` within the family's length.
fn is_ip_range(s: &str) -> bool {
    let (address, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let bits = if address.parse::<Ipv4Addr>().is_ok() {
        32
    } else if address.parse::<Ipv6Addr>().is_ok() {
        128
    } else {
        return false;
    };
    prefix.is_none_or(|p| {
        !p.is_empty()
            && p.bytes().all(|b| b.is_ascii_digit())
            && p.parse::<u32>().is_ok_and(|n| n <= bits)
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn statement(
        effect: &str,
        actions: &[&str],
        resource: &str,
        condition: Value,
    ) -> StatementEntry {
        StatementEntry {
            effect: effect.into(),
            action: actions.iter().map(|a| a.to_string()).collect(),
            resource: resource.into(),
            policy_condition: match condition {
                Value::Object(m) if !m.is_empty() => Some(m),
                _ => None,
            },
        }
    }

    fn problems(statements: &[StatementEntry]) -> Vec<String> {
        check(statements)
            .0
            .into_iter()
            .map(|p| format!("{}: {}", p.field, p.message))
            .collect()
    }

    fn warnings(statements: &[StatementEntry]) -> Vec<String> {
        check(statements)
            .1
            .into_iter()
            .map(|w| format!("{}: {}: {}", w.check, w.field, w.message))
            .collect()
    }

    #[test]
    fn actions_have_iams_shape() {
        for good in [
            "*",
            "ec2:DescribeInstances",
            "ec2:Describe*",
            "s3:Get?bject",
            "execute-api:Invoke",
            "ec2:*",
        ] {
            assert_eq!(check_action(good), Ok(()), "{good}");
        }
        let cases = [
            (
                "DescribeInstances",
                "`DescribeInstances` has no service prefix: IAM actions are `service:Action` (`ec2:DescribeInstances`) or `*` (IAM: \"Actions/Conditions must be prefaced by a vendor\")",
            ),
            (
                "ec2:Describe:Instances",
                "`ec2:Describe:Instances` holds more than one `:`; IAM actions are `service:Action` (IAM: \"Actions/Condition can contain only one colon\")",
            ),
            (
                ":Describe",
                "`:Describe` has an empty service prefix; IAM actions are `service:Action`",
            ),
            (
                "*:Get*",
                "`*:Get*` has a wildcard in its service prefix, which IAM refuses (\"Action vendors must not contain wildcards\"): name the service",
            ),
            (
                "ec2 :Describe",
                "`ec2 :Describe`: the service prefix holds ` `; service prefixes are letters, digits and `-`",
            ),
            (
                "ec2:",
                "`ec2:` has no action name after `ec2:` (write `ec2:*` for every action of the service)",
            ),
            (
                "ec2:Describe Instances",
                "`ec2:Describe Instances`: the action name holds ` `; action names are letters and digits, with `*` and `?` as wildcards",
            ),
            (
                "ec2:Describe€",
                "`ec2:Describe€` holds `€` (U+20AC); IAM policy documents allow only tab, line feed, carriage return and the characters U+0020 to U+00FF",
            ),
        ];
        for (action, message) in cases {
            assert_eq!(check_action(action).unwrap_err(), message, "{action}");
        }
    }

    #[test]
    fn globs_match_as_iam_matches_actions() {
        assert!(glob_matches("iam:PassRole", "iam:PassRole"));
        assert!(glob_matches("IAM:passrole", "iam:PassRole"));
        assert!(glob_matches("iam:Pass*", "iam:PassRole"));
        assert!(glob_matches("iam:*Role", "iam:PassRole"));
        assert!(glob_matches("iam:P?ssRole", "iam:PassRole"));
        assert!(glob_matches("*", "iam:PassRole"));
        assert!(glob_matches("i*:*a*R*e", "iam:PassRole"));
        assert!(!glob_matches("iam:Pass", "iam:PassRole"));
        assert!(!glob_matches("iam:Get*", "iam:PassRole"));
        assert!(!glob_matches("iam:PassRole?", "iam:PassRole"));
    }

    #[test]
    fn risky_allows_are_warnings_with_their_field() {
        let statements = [
            statement("Allow", &["*", "ec2:*", "ec2:Describe*"], "*", json!({})),
            statement(
                "Allow",
                &["iam:PassRole", "iam:Pass*", "iam:GetRole", "iam:*"],
                "*",
                json!({}),
            ),
            // PassRole limited to named roles is what least privilege looks like.
            statement(
                "Allow",
                &["iam:PassRole"],
                "arn:aws:iam::123456789012:role/worker",
                json!({}),
            ),
            // A Deny of everything is not a risk.
            statement("Deny", &["*", "s3:*", "iam:PassRole"], "*", json!({})),
        ];
        assert!(problems(&statements).is_empty());
        assert_eq!(
            warnings(&statements),
            [
                "action-wildcard: spec.providerSpec.statementEntries[0].action[0]: `*` allows every action of every AWS service",
                "service-wildcard: spec.providerSpec.statementEntries[0].action[1]: `ec2:*` allows every `ec2` action",
                "passrole-on-any-resource: spec.providerSpec.statementEntries[1].action[0]: `iam:PassRole` on every resource (`*`): the role can hand any role of the account to an AWS service",
                "passrole-on-any-resource: spec.providerSpec.statementEntries[1].action[1]: `iam:Pass*` (which includes `iam:PassRole`) on every resource (`*`): the role can hand any role of the account to an AWS service",
                "service-wildcard: spec.providerSpec.statementEntries[1].action[3]: `iam:*` allows every `iam` action",
            ]
        );
        let w = &check(&statements).1[3];
        assert_eq!(w.action, "iam:Pass*");
    }

    #[test]
    fn resources_are_arns_or_star() {
        for good in [
            "*",
            "arn:aws:s3:::bucket/*",
            "arn:aws:ec2:*:*:security-group/*",
            "arn:aws:iam::123456789012:role/a:b",
        ] {
            assert_eq!(check_resource(good), Ok(()), "{good}");
        }
        assert_eq!(
            check_resource("vpc-123").unwrap_err(),
            "`vpc-123` is not an ARN (`arn:partition:service:region:account:resource`) or `*`; IAM refuses any other resource (MalformedPolicyDocument)"
        );
        assert!(check_resource("arn:aws:s3").is_err());
        assert!(check_resource("ARN:aws:s3:::b").is_err());
        let statements = [statement("Allow", &["s3:GetObject"], "bucket/*", json!({}))];
        assert_eq!(
            problems(&statements),
            [
                "spec.providerSpec.statementEntries[0].resource: `bucket/*` is not an ARN (`arn:partition:service:region:account:resource`) or `*`; IAM refuses any other resource (MalformedPolicyDocument)"
            ]
        );
    }

    #[test]
    fn operators_parse_with_qualifiers_and_if_exists() {
        let op = parse_operator("ForAnyValue:StringLikeIfExists").unwrap();
        assert_eq!(
            (op.qualifier, op.name, op.value_type, op.if_exists),
            (Some("ForAnyValue"), "StringLike", ValueType::String, true)
        );
        for (name, _) in OPERATORS {
            assert_eq!(parse_operator(name).unwrap().name, *name);
            if *name != "Null" {
                assert!(
                    parse_operator(&format!("{name}IfExists"))
                        .unwrap()
                        .if_exists
                );
            }
            for q in QUALIFIERS {
                assert_eq!(
                    parse_operator(&format!("{q}:{name}")).unwrap().qualifier,
                    Some(q)
                );
            }
        }
        let cases = [
            (
                "StringEqual",
                "`StringEqual` is not an IAM condition operator; IAM refuses it (\"Invalid Condition type\")",
            ),
            (
                "stringEquals",
                "`stringEquals` is not an IAM condition operator (did you mean `StringEquals`? operator names are case-sensitive); IAM refuses it (\"Invalid Condition type\")",
            ),
            (
                "ForAnyValue:stringlikeifexists",
                "`ForAnyValue:stringlikeifexists` is not an IAM condition operator (did you mean `ForAnyValue:StringLikeIfExists`? operator names are case-sensitive); IAM refuses it (\"Invalid Condition type\")",
            ),
            (
                "forallvalues:StringEquals",
                "`forallvalues:StringEquals`: `forallvalues` is not a set qualifier (did you mean `ForAllValues`?); IAM knows `ForAllValues:` and `ForAnyValue:`",
            ),
            (
                "ForEachValue:StringEquals",
                "`ForEachValue:StringEquals`: `ForEachValue` is not a set qualifier; IAM knows `ForAllValues:` and `ForAnyValue:`",
            ),
            (
                "NullIfExists",
                "`NullIfExists`: `Null` cannot take `IfExists` (it already tests whether the key is present)",
            ),
        ];
        for (text, message) in cases {
            assert_eq!(parse_operator(text).unwrap_err(), message, "{text}");
        }
    }

    #[test]
    fn condition_values_must_suit_their_operator() {
        let ok = |op: &str, v: Value| check_condition_value(&parse_operator(op).unwrap(), &v);
        for (op, v) in [
            ("StringEquals", json!("x")),
            ("StringEquals", json!(12)),
            ("StringLike", json!(true)),
            ("ArnLike", json!("arn:aws:iam::*:role/x")),
            ("NumericLessThan", json!(10)),
            ("NumericLessThan", json!("10")),
            ("NumericEquals", json!("-2.5")),
            ("NumericEquals", json!(".5")),
            ("DateGreaterThan", json!("2020-01-01T00:00:01Z")),
            ("DateGreaterThan", json!("2020-01-01T00:00:01.123+02:00")),
            ("DateLessThan", json!("2020-01-01T10:30Z")),
            ("DateLessThan", json!("2020-01-01")),
            ("DateLessThan", json!("2020-01")),
            ("DateLessThan", json!("2020")),
            ("DateEquals", json!(1_700_000_000)),
            ("DateEquals", json!("1700000000")),
            ("Bool", json!(true)),
            ("Bool", json!("false")),
            ("Bool", json!("True")),
            ("Null", json!("true")),
            ("BinaryEquals", json!("QmluYXJ5VmFsdWVJbkJhc2U2NA==")),
            ("IpAddress", json!("203.0.113.0/24")),
            ("NotIpAddress", json!("2001:DB8:1234:5678::/64")),
            ("IpAddress", json!("203.0.113.7")),
        ] {
            assert_eq!(ok(op, v.clone()), Ok(()), "{op} {v}");
        }
        let cases = [
            (
                "NumericLessThan",
                json!("ten"),
                "`ten` is not a value `NumericLessThan` can compare: it takes an integer or decimal number (the condition would never match)",
            ),
            (
                "NumericLessThan",
                json!("NaN"),
                "`NaN` is not a value `NumericLessThan` can compare: it takes an integer or decimal number (the condition would never match)",
            ),
            (
                "DateGreaterThan",
                json!("yesterday"),
                "`yesterday` is not a value `DateGreaterThan` can compare: it takes a date in W3C ISO 8601 form (`2026-01-31`, `2026-01-31T12:00:00Z`) or epoch seconds (the condition would never match)",
            ),
            (
                "DateGreaterThan",
                json!("2020-13-01"),
                "`2020-13-01` is not a value `DateGreaterThan` can compare: it takes a date in W3C ISO 8601 form (`2026-01-31`, `2026-01-31T12:00:00Z`) or epoch seconds (the condition would never match)",
            ),
            (
                "Bool",
                json!("yes"),
                "`yes` is not a value `Bool` can compare: it takes `true` or `false` (the condition would never match)",
            ),
            (
                "Null",
                json!(1),
                "`1` is not a value `Null` can compare: it takes `true` (the key is absent) or `false` (the key is present) (the condition would never match)",
            ),
            (
                "BinaryEquals",
                json!("not base64!"),
                "`not base64!` is not a value `BinaryEquals` can compare: it takes base64-encoded bytes (the condition would never match)",
            ),
            (
                "IpAddress",
                json!("10.0.0.0/33"),
                "`10.0.0.0/33` is not a value `IpAddress` can compare: it takes an IPv4 or IPv6 address or CIDR range (`203.0.113.0/24`) (the condition would never match)",
            ),
            (
                "StringEquals",
                json!({"a": 1}),
                "a condition value must be a string, number or boolean (a list of them at most one level deep)",
            ),
            (
                "StringEquals",
                Value::Null,
                "a condition value must be a string, number or boolean, not null",
            ),
        ];
        for (op, v, message) in cases {
            assert_eq!(ok(op, v.clone()).unwrap_err(), message, "{op} {v}");
        }
        for bad_date in [
            "2020-01-01T25:00Z",
            "2020-01-01T10Z",
            "2020-01T10:00Z",
            "2020-01-01T10:00:00+2",
            "2020-01-01T10:00.5Z",
            "20-01-01",
        ] {
            assert!(!is_date(bad_date), "{bad_date}");
        }
    }

    #[test]
    fn conditions_are_checked_key_by_key_and_value_by_value() {
        let statements = [statement(
            "Allow",
            &["ec2:CreateTags"],
            "*",
            json!({
                "StringEquals": {"ec2:CreateAction": ["RunInstances", "CreateVolume"]},
                "Bool": {"kms:GrantIsForAWSResource": true},
                "NumericLessThan": {"s3:max-keys": ["10", "many"]},
                "stringLike": {"aws:RequestTag/x": "y"},
                "Null": {"noprefix": "true", "aws:ResourceTag/a": "false", "AWS:resourcetag/A": "true"},
            }),
        )];
        assert_eq!(
            problems(&statements),
            [
                "spec.providerSpec.statementEntries[0].policyCondition.NumericLessThan.s3:max-keys[1]: `many` is not a value `NumericLessThan` can compare: it takes an integer or decimal number (the condition would never match)",
                "spec.providerSpec.statementEntries[0].policyCondition.stringLike: `stringLike` is not an IAM condition operator (did you mean `StringLike`? operator names are case-sensitive); IAM refuses it (\"Invalid Condition type\")",
                "spec.providerSpec.statementEntries[0].policyCondition.Null.noprefix: condition key `noprefix` has no service prefix: keys are `service:name` (`aws:SourceIp`) (IAM: \"Actions/Conditions must be prefaced by a vendor\")",
                "spec.providerSpec.statementEntries[0].policyCondition.Null.AWS:resourcetag/A: `AWS:resourcetag/A` is the key `aws:ResourceTag/a` again (condition key names are not case-sensitive); give it once",
            ]
        );
    }

    #[test]
    fn real_requests_have_no_problems() {
        // The conditions OpenShift's own requests use pass, as they pass IAM.
        let statements = [
            statement(
                "Allow",
                &["kms:RevokeGrant", "kms:CreateGrant", "kms:ListGrants"],
                "*",
                json!({"Bool": {"kms:GrantIsForAWSResource": true}}),
            ),
            statement(
                "Allow",
                &["ec2:CreateTags"],
                "arn:aws:ec2:*:*:security-group/*",
                json!({
                    "StringEquals": {"ec2:CreateAction": "CreateSecurityGroup"},
                    "Null": {"aws:RequestTag/elbv2.k8s.aws/cluster": "false"},
                }),
            ),
        ];
        assert_eq!(check(&statements), (vec![], vec![]));
    }
}

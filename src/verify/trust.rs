//! The trust-policy evaluator of `verify`: whether a role's trust policy lets one web
//! identity (a service account's token, federated through the OIDC provider) call
//! AssumeRoleWithWebIdentity, evaluated as IAM does for the parts trust policies use.
//! Pure; `Err` says why not, worded for the report.

use serde_json::Value;

/// The STS action a web identity needs.
pub const ACTION: &str = "sts:AssumeRoleWithWebIdentity";

/// A web identity asking STS for a role: who federates it and what its token says.
#[derive(Clone, Copy, Debug)]
pub struct WebIdentity<'a> {
    /// ARN of the OIDC provider that vouches for the token.
    pub provider_arn: &'a str,
    /// Issuer host (and path): the prefix of the condition keys (`<host>:sub`).
    pub host: &'a str,
    /// The token's `sub`.
    pub sub: &'a str,
    /// The token's `aud`.
    pub aud: &'a str,
}

/// `StringLike`: `*` matches any run of characters, `?` exactly one.
pub fn string_like(pattern: &str, value: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let v: Vec<char> = value.chars().collect();
    let (mut pi, mut vi) = (0, 0);
    // Where the last `*` was, and the value position it currently covers up to.
    let mut star: Option<(usize, usize)> = None;
    while vi < v.len() {
        if pi < p.len() && p[pi] == '*' {
            star = Some((pi, vi));
            pi += 1;
        } else if pi < p.len() && (p[pi] == '?' || p[pi] == v[vi]) {
            pi += 1;
            vi += 1;
        } else if let Some((sp, sv)) = star {
            pi = sp + 1;
            vi = sv + 1;
            star = Some((sp, sv + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// A string or a list of strings (scalars as text), as IAM reads policy values.
fn strings(value: &Value) -> Vec<String> {
    let items: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    items
        .into_iter()
        .map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect()
}

/// How far one statement got in admitting the identity.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Fit {
    /// The statement is not about the web-identity action.
    NoAction,
    /// It is, for other principals.
    OtherPrincipal(String),
    /// Principal and action fit; a condition does not hold.
    ConditionFails(String),
    /// A condition uses something this evaluator does not know.
    CannotEvaluate(String),
    /// Everything fits.
    Matches,
}

fn action_fits(statement: &Value) -> bool {
    let fits = |list: &Value| {
        strings(list)
            .iter()
            .any(|a| string_like(&a.to_ascii_lowercase(), &ACTION.to_ascii_lowercase()))
    };
    match (statement.get("Action"), statement.get("NotAction")) {
        (Some(actions), _) => fits(actions),
        (None, Some(not)) => !fits(not),
        (None, None) => false,
    }
}

/// `Ok(())` when the principal is the provider, else the principals it names.
fn principal_fits(statement: &Value, provider_arn: &str) -> Result<(), String> {
    if statement.get("NotPrincipal").is_some() {
        return Err("a NotPrincipal (not evaluated)".into());
    }
    match statement.get("Principal") {
        Some(Value::String(s)) if s == "*" => Ok(()),
        Some(Value::Object(p)) => {
            let federated = p.get("Federated").map(strings).unwrap_or_default();
            if federated.iter().any(|f| f == provider_arn) {
                Ok(())
            } else if federated.is_empty() {
                let kinds: Vec<&str> = p.keys().map(String::as_str).collect();
                Err(format!("{} principals only", kinds.join(", ")))
            } else {
                Err(federated.join(", "))
            }
        }
        _ => Err("no principal".into()),
    }
}

/// Evaluates a statement's `Condition` block for the identity.
fn conditions_hold(statement: &Value, who: &WebIdentity<'_>) -> Fit {
    let Some(block) = statement.get("Condition") else {
        return Fit::Matches;
    };
    let Some(ops) = block.as_object() else {
        return Fit::CannotEvaluate("a Condition that is not an object".into());
    };
    let sub_key = format!("{}:sub", who.host);
    let aud_key = format!("{}:aud", who.host);
    for (op, keys) in ops {
        let (base, if_exists) = match op.strip_suffix("IfExists") {
            Some(base) => (base, true),
            None => (op.as_str(), false),
        };
        let (negated, matcher): (bool, fn(&str, &str) -> bool) = match base {
            "StringEquals" => (false, |p, v| p == v),
            "StringNotEquals" => (true, |p, v| p == v),
            "StringEqualsIgnoreCase" => (false, |p, v| p.eq_ignore_ascii_case(v)),
            "StringNotEqualsIgnoreCase" => (true, |p, v| p.eq_ignore_ascii_case(v)),
            "StringLike" => (false, string_like),
            "StringNotLike" => (true, string_like),
            _ => return Fit::CannotEvaluate(format!("cannot evaluate {op}")),
        };
        let Some(keys) = keys.as_object() else {
            return Fit::CannotEvaluate(format!("cannot evaluate {op}: not a key map"));
        };
        for (key, wanted) in keys {
            let wanted = strings(wanted);
            // Condition keys are case-insensitive in IAM.
            let value = if key.eq_ignore_ascii_case(&sub_key) {
                Some(who.sub)
            } else if key.eq_ignore_ascii_case(&aud_key) {
                Some(who.aud)
            } else {
                None
            };
            let holds = match value {
                // A key the request does not carry: only the negated and IfExists forms hold.
                None => negated || if_exists,
                Some(v) => wanted.iter().any(|w| matcher(w, v)) != negated,
            };
            if holds {
                continue;
            }
            let reason = match value {
                None => {
                    format!("trust policy requires {op} on {key}, which the token does not carry")
                }
                Some(_) if key.eq_ignore_ascii_case(&sub_key) && !negated => format!(
                    "trust policy admits {}, not {}",
                    wanted.join(", "),
                    who.sub
                        .strip_prefix("system:serviceaccount:")
                        .unwrap_or(who.sub)
                ),
                Some(v) if key.eq_ignore_ascii_case(&aud_key) && !negated => format!(
                    "trust policy requires audience {}, the token carries {v}",
                    wanted.join(", ")
                ),
                Some(v) => format!(
                    "trust policy condition {op} {key} {} excludes {v}",
                    wanted.join(", ")
                ),
            };
            return Fit::ConditionFails(reason);
        }
    }
    Fit::Matches
}

fn fit(statement: &Value, who: &WebIdentity<'_>) -> Fit {
    if !action_fits(statement) {
        return Fit::NoAction;
    }
    if let Err(named) = principal_fits(statement, who.provider_arn) {
        return Fit::OtherPrincipal(named);
    }
    conditions_hold(statement, who)
}

/// Whether a role's trust policy lets `who` call AssumeRoleWithWebIdentity, evaluated
/// like IAM does for the parts trust policies use: an explicit Deny wins, then some
/// Allow must fit in action, principal and every condition. `Err` says why not.
pub fn evaluate_trust(policy: &Value, who: &WebIdentity<'_>) -> Result<(), String> {
    let statements: Vec<&Value> = match policy.get("Statement") {
        Some(Value::Array(items)) => items.iter().collect(),
        Some(one @ Value::Object(_)) => vec![one],
        _ => return Err("trust policy has no statements".into()),
    };
    let mut best: Option<Fit> = None;
    for statement in &statements {
        let effect = statement.get("Effect").and_then(Value::as_str);
        let fit = fit(statement, who);
        match (effect, fit) {
            (Some("Deny"), Fit::Matches) => {
                return Err("trust policy denies it explicitly (Effect Deny)".into());
            }
            (Some("Deny"), Fit::CannotEvaluate(reason)) => {
                return Err(format!("{reason} in a Deny statement"));
            }
            (Some("Allow"), Fit::Matches) => {
                // An explicit Deny elsewhere still wins: keep looking at the others.
                best = Some(Fit::Matches);
            }
            (Some("Allow"), other) if best.as_ref().is_none_or(|b| other > *b) => {
                best = Some(other);
            }
            _ => {}
        }
    }
    match best {
        Some(Fit::Matches) => Ok(()),
        Some(Fit::CannotEvaluate(reason)) | Some(Fit::ConditionFails(reason)) => Err(reason),
        Some(Fit::OtherPrincipal(named)) => Err(format!(
            "trust policy federates {named}, not {}",
            who.provider_arn
        )),
        Some(Fit::NoAction) | None => Err(format!("no Allow statement for {ACTION}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    use super::super::issuer::AUDIENCE;

    const ARN: &str = "arn:aws:iam::123456789012:oidc-provider/c1-oidc.s3.us-east-2.amazonaws.com";
    const HOST: &str = "c1-oidc.s3.us-east-2.amazonaws.com";

    fn who(sub: &str) -> WebIdentity<'_> {
        WebIdentity {
            provider_arn: ARN,
            host: HOST,
            sub,
            aud: AUDIENCE,
        }
    }

    fn ours(subjects: &[&str]) -> Value {
        let subjects: Vec<String> = subjects.iter().map(|s| s.to_string()).collect();
        crate::iam_policy::trust_policy(ARN, HOST, &subjects)
    }

    const INGRESS: &str = "system:serviceaccount:openshift-ingress-operator:ingress-operator";

    #[test]
    fn the_policy_stsform_writes_admits_its_service_accounts() {
        let policy = ours(&[
            INGRESS,
            "system:serviceaccount:openshift-ingress-operator:x",
        ]);
        assert_eq!(evaluate_trust(&policy, &who(INGRESS)), Ok(()));
        // ccoctl's raw form (single strings, not lists) reads the same.
        let raw = json!({"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Federated": ARN},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {format!("{HOST}:sub"): INGRESS}}}]});
        assert_eq!(evaluate_trust(&raw, &who(INGRESS)), Ok(()));
    }

    #[test]
    fn another_namespace_is_rejected_with_what_is_admitted() {
        let policy = ours(&["system:serviceaccount:openshift-ingress:ingress-operator"]);
        assert_eq!(
            evaluate_trust(&policy, &who(INGRESS)),
            Err("trust policy admits system:serviceaccount:openshift-ingress:ingress-operator, not openshift-ingress-operator:ingress-operator".into())
        );
    }

    #[test]
    fn string_like_wildcards_admit_and_reject() {
        let policy = json!({"Statement": [{
            "Effect": "Allow", "Principal": {"Federated": ARN},
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringLike": {format!("{HOST}:sub"): "system:serviceaccount:openshift-ingress-operator:*"}}}]});
        assert_eq!(evaluate_trust(&policy, &who(INGRESS)), Ok(()));
        assert!(
            evaluate_trust(
                &policy,
                &who("system:serviceaccount:other:ingress-operator")
            )
            .is_err()
        );
        assert!(string_like("a?c*", "abcdef"));
        assert!(string_like("*", ""));
        assert!(string_like("*-operator", "ingress-operator"));
        assert!(string_like("a*b*c", "axxbyyc"));
        assert!(!string_like("a?c", "ac"));
        assert!(!string_like("a*b", "acbd"));
        assert!(!string_like("abc", "abcd"));
    }

    #[test]
    fn wrong_federated_principal_is_rejected() {
        let other = "arn:aws:iam::123456789012:oidc-provider/other.example.com";
        let policy = crate::iam_policy::trust_policy(other, HOST, &[INGRESS.to_string()]);
        assert_eq!(
            evaluate_trust(&policy, &who(INGRESS)),
            Err(format!("trust policy federates {other}, not {ARN}"))
        );
        let service = json!({"Statement": [{"Effect": "Allow",
            "Principal": {"Service": "ec2.amazonaws.com"}, "Action": "sts:AssumeRoleWithWebIdentity"}]});
        assert!(
            evaluate_trust(&service, &who(INGRESS))
                .unwrap_err()
                .contains("Service principals only")
        );
    }

    #[test]
    fn missing_or_other_action_is_rejected_and_wildcards_count() {
        let with_action = |action: Value| json!({"Statement": [{"Effect": "Allow", "Principal": {"Federated": ARN}, "Action": action}]});
        assert_eq!(
            evaluate_trust(&with_action(json!("sts:AssumeRole")), &who(INGRESS)),
            Err("no Allow statement for sts:AssumeRoleWithWebIdentity".into())
        );
        let no_action =
            json!({"Statement": [{"Effect": "Allow", "Principal": {"Federated": ARN}}]});
        assert!(evaluate_trust(&no_action, &who(INGRESS)).is_err());
        for ok in [
            "sts:*",
            "*",
            "STS:assumerolewithwebidentity",
            "sts:AssumeRoleWith*",
        ] {
            assert_eq!(
                evaluate_trust(&with_action(json!(ok)), &who(INGRESS)),
                Ok(()),
                "{ok}"
            );
        }
    }

    #[test]
    fn audience_conditions_and_unknown_operators() {
        let policy = |cond: Value| {
            json!({"Statement": [{"Effect": "Allow", "Principal": {"Federated": ARN},
                "Action": "sts:AssumeRoleWithWebIdentity", "Condition": cond}]})
        };
        let aud = format!("{HOST}:aud");
        assert_eq!(
            evaluate_trust(
                &policy(json!({"StringEquals": {&aud: "openshift"}})),
                &who(INGRESS)
            ),
            Ok(())
        );
        assert_eq!(
            evaluate_trust(
                &policy(json!({"StringEquals": {&aud: "sts.amazonaws.com"}})),
                &who(INGRESS)
            ),
            Err(
                "trust policy requires audience sts.amazonaws.com, the token carries openshift"
                    .into()
            )
        );
        assert_eq!(
            evaluate_trust(
                &policy(json!({"DateGreaterThan": {"aws:CurrentTime": "2020-01-01T00:00:00Z"}})),
                &who(INGRESS)
            ),
            Err("cannot evaluate DateGreaterThan".into())
        );
        // A key the token does not carry fails a positive operator, passes IfExists.
        let other = json!({"StringEquals": {"other.example.com:sub": INGRESS}});
        assert!(evaluate_trust(&policy(other), &who(INGRESS)).is_err());
        let if_exists = json!({"StringEqualsIfExists": {"other.example.com:sub": INGRESS}});
        assert_eq!(evaluate_trust(&policy(if_exists), &who(INGRESS)), Ok(()));
    }

    #[test]
    fn an_explicit_deny_wins() {
        let mut policy = ours(&[INGRESS]);
        policy["Statement"].as_array_mut().unwrap().push(json!({
            "Effect": "Deny", "Principal": "*", "Action": "sts:*"}));
        assert_eq!(
            evaluate_trust(&policy, &who(INGRESS)),
            Err("trust policy denies it explicitly (Effect Deny)".into())
        );
    }
}

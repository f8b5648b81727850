//! Policy documents: built from requests, parsed from AWS, compared by meaning.
//!
//! Owns the three documents stsform writes (trust, permissions, bucket policy) and the
//! canonical form that makes equal meanings equal values: sorted keys, statements sorted,
//! a single string equals a one-item list, condition scalars as strings, IAM's
//! URL-encoded text decoded. Must not call AWS. Compare with `==` only after `canonicalize`.

use serde_json::{Map, Value, json};

/// IAM policy language version every document uses.
pub const VERSION: &str = "2012-10-17";

/// Keys whose value is a set of strings: order and `"x"` vs `["x"]` carry no meaning.
const SET_KEYS: [&str; 4] = ["Action", "NotAction", "Resource", "NotResource"];

/// One permission statement, as a CredentialsRequest states it.
#[derive(Clone, Debug, PartialEq)]
pub struct Statement<'a> {
    /// `Allow` or `Deny`.
    pub effect: &'a str,
    /// Actions.
    pub actions: &'a [String],
    /// Resource ARN pattern.
    pub resource: &'a str,
    /// Condition block (operator → key → value), if any.
    pub condition: Option<&'a Map<String, Value>>,
}

/// Trust policy letting the given service accounts assume a role through the provider.
///
/// Same meaning as ccoctl's: one statement, `sts:AssumeRoleWithWebIdentity`, and a
/// `StringEquals` on `<issuer host>:sub` listing `system:serviceaccount:<ns>:<sa>`.
pub fn trust_policy(provider_arn: &str, issuer_host: &str, subjects: &[String]) -> Value {
    canonicalize(&json!({
        "Version": VERSION,
        "Statement": [{
            "Effect": "Allow",
            "Principal": { "Federated": provider_arn },
            "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": { "StringEquals": { format!("{issuer_host}:sub"): subjects } },
        }],
    }))
}

/// Permissions policy from a request's statement entries, in canonical form.
pub fn permissions_policy(statements: &[Statement<'_>]) -> Value {
    let statements: Vec<Value> = statements
        .iter()
        .map(|s| {
            let mut m = Map::new();
            m.insert("Effect".into(), json!(s.effect));
            m.insert("Action".into(), json!(s.actions));
            m.insert("Resource".into(), json!(s.resource));
            if let Some(c) = s.condition.filter(|c| !c.is_empty()) {
                m.insert("Condition".into(), Value::Object(c.clone()));
            }
            Value::Object(m)
        })
        .collect();
    canonicalize(&json!({ "Version": VERSION, "Statement": statements }))
}

/// Bucket policy allowing anonymous `s3:GetObject` on the bucket's objects only
/// (what ccoctl sets since it stopped using public-read ACLs).
pub fn bucket_policy(partition: &str, bucket: &str) -> Value {
    canonicalize(&json!({
        "Version": VERSION,
        "Statement": [{
            "Sid": "AllowReadPublicAccess",
            "Effect": "Allow",
            "Principal": "*",
            "Action": ["s3:GetObject"],
            "Resource": [format!("arn:{partition}:s3:::{bucket}/*")],
        }],
    }))
}

/// Parses a document as AWS returns it (IAM URL-encodes it) into canonical form.
pub fn parse_aws_document(text: &str) -> Result<Value, serde_json::Error> {
    let trimmed = text.trim_start();
    let decoded;
    let text = if trimmed.starts_with('%') {
        decoded = percent_encoding::percent_decode_str(trimmed)
            .decode_utf8_lossy()
            .into_owned();
        decoded.as_str()
    } else {
        text
    };
    Ok(canonicalize(&serde_json::from_str(text)?))
}

/// Pretty JSON (2-space indent, keys in canonical order), the form plans show.
pub fn pretty(doc: &Value) -> String {
    serde_json::to_string_pretty(doc).expect("JSON values always serialize")
}

/// Rewrites a policy document so that documents with the same meaning are equal.
pub fn canonicalize(doc: &Value) -> Value {
    let Value::Object(top) = doc else {
        return sorted(doc);
    };
    let mut out = Map::new();
    let mut keys: Vec<&String> = top.keys().collect();
    keys.sort();
    for key in keys {
        let value = &top[key];
        let value = if key == "Statement" {
            // A lone statement object means the same as a one-item list.
            let list = match value {
                Value::Array(items) => items.clone(),
                other => vec![other.clone()],
            };
            let mut statements: Vec<Value> = list.iter().map(canonical_statement).collect();
            statements.sort_by_cached_key(|s| s.to_string());
            statements.dedup();
            Value::Array(statements)
        } else {
            sorted(value)
        };
        out.insert(key.clone(), value);
    }
    Value::Object(out)
}

fn canonical_statement(statement: &Value) -> Value {
    let Value::Object(fields) = statement else {
        return sorted(statement);
    };
    let mut out = Map::new();
    let mut keys: Vec<&String> = fields.keys().collect();
    keys.sort();
    for key in keys {
        let value = &fields[key];
        let value = if SET_KEYS.contains(&key.as_str()) {
            string_set(value)
        } else if key == "Condition" {
            canonical_condition(value)
        } else if key == "Principal" || key == "NotPrincipal" {
            match value {
                Value::Object(m) => {
                    Value::Object(m.iter().map(|(k, v)| (k.clone(), string_set(v))).collect())
                }
                other => other.clone(),
            }
        } else {
            sorted(value)
        };
        out.insert(key.clone(), value);
    }
    Value::Object(sort_object(out))
}

/// Condition values are strings to IAM: `true` and `"true"` mean the same.
fn canonical_condition(condition: &Value) -> Value {
    let Value::Object(ops) = condition else {
        return sorted(condition);
    };
    let ops = ops
        .iter()
        .map(|(op, keys)| {
            let keys = match keys {
                Value::Object(k) => Value::Object(sort_object(
                    k.iter().map(|(k, v)| (k.clone(), string_set(v))).collect(),
                )),
                other => sorted(other),
            };
            (op.clone(), keys)
        })
        .collect();
    Value::Object(sort_object(ops))
}

/// A sorted, de-duplicated list of strings; scalars become strings.
fn string_set(value: &Value) -> Value {
    let items: Vec<&Value> = match value {
        Value::Array(items) => items.iter().collect(),
        other => vec![other],
    };
    let mut strings: Vec<String> = items
        .into_iter()
        .map(|v| match v {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        })
        .collect();
    strings.sort();
    strings.dedup();
    Value::Array(strings.into_iter().map(Value::String).collect())
}

fn sort_object(map: Map<String, Value>) -> Map<String, Value> {
    let mut entries: Vec<(String, Value)> = map.into_iter().collect();
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    entries.into_iter().collect()
}

/// Sorts object keys recursively, leaving arrays in order.
fn sorted(value: &Value) -> Value {
    match value {
        Value::Object(m) => Value::Object(sort_object(
            m.iter().map(|(k, v)| (k.clone(), sorted(v))).collect(),
        )),
        Value::Array(items) => Value::Array(items.iter().map(sorted).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ccoctl_trust_policy_text_equals_ours_by_meaning() {
        // ccoctl-aws.md §3.3: the exact text ccoctl sends, odd spacing included.
        let ccoctl = r#"{ "Version": "2012-10-17", "Statement": [ { "Effect": "Allow", "Principal": { "Federated": "arn:aws:iam::123456789012:oidc-provider/testing123-oidc.s3.amazonaws.com" }, "Action": "sts:AssumeRoleWithWebIdentity", "Condition":  { "StringEquals": { "testing123-oidc.s3.amazonaws.com:sub": [ "system:serviceaccount:namespace1:testServiceAccount1"  , "system:serviceaccount:namespace1:testServiceAccount2" ] } } } ] }"#;
        let ours = trust_policy(
            "arn:aws:iam::123456789012:oidc-provider/testing123-oidc.s3.amazonaws.com",
            "testing123-oidc.s3.amazonaws.com",
            &[
                "system:serviceaccount:namespace1:testServiceAccount2".into(),
                "system:serviceaccount:namespace1:testServiceAccount1".into(),
            ],
        );
        assert_eq!(parse_aws_document(ccoctl).unwrap(), ours);
    }

    #[test]
    fn url_encoded_documents_from_iam_are_decoded() {
        let text = "%7B%22Version%22%3A%222012-10-17%22%2C%22Statement%22%3A%7B%22Effect%22%3A%22Allow%22%2C%22Action%22%3A%22s3%3AListAllMyBuckets%22%2C%22Resource%22%3A%22%2A%22%7D%7D";
        let actions = ["s3:ListAllMyBuckets".to_string()];
        let expected = permissions_policy(&[Statement {
            effect: "Allow",
            actions: &actions,
            resource: "*",
            condition: None,
        }]);
        assert_eq!(parse_aws_document(text).unwrap(), expected);
    }

    #[test]
    fn meaning_not_text_decides_equality() {
        let a = parse_aws_document(
            r#"{"Statement":[{"Action":["b","a","a"],"Effect":"Allow","Resource":"*","Condition":{"Bool":{"k":true}}},{"Effect":"Deny","Action":"x","Resource":["*"]}],"Version":"2012-10-17"}"#,
        )
        .unwrap();
        let b = parse_aws_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":["x"],"Resource":"*"},{"Effect":"Allow","Resource":["*"],"Action":["a","b"],"Condition":{"Bool":{"k":"true"}}}]}"#,
        )
        .unwrap();
        assert_eq!(a, b);
        let c = parse_aws_document(
            r#"{"Version":"2012-10-17","Statement":[{"Effect":"Deny","Action":["x"],"Resource":"*"},{"Effect":"Allow","Resource":["*"],"Action":["a","c"]}]}"#,
        )
        .unwrap();
        assert_ne!(a, c);
    }

    #[test]
    fn bucket_policy_names_the_partition() {
        let p = bucket_policy("aws-cn", "c-oidc");
        assert_eq!(
            p["Statement"][0]["Resource"],
            json!(["arn:aws-cn:s3:::c-oidc/*"])
        );
        assert_eq!(p["Statement"][0]["Principal"], json!("*"));
        // Canonical documents print with sorted keys, so diffs are stable.
        assert!(
            pretty(&p).find("\"Statement\"").unwrap() < pretty(&p).find("\"Version\"").unwrap()
        );
    }
}

//! Validating one document: is it an AWS CredentialsRequest stsform keeps, one it skips
//! (another cloud, deleted, a feature set) and why, or an error located by field? ccoctl's
//! filtering rules, and Kubernetes' name rules for namespaces and Secrets.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::*;
use crate::error::InputError;

pub(super) enum Outcome {
    /// An empty document (null): nothing to report.
    Empty,
    /// An AWS request left out by a rule (deletion, feature gating); the reason is shown.
    Skip(String),
    /// Not an AWS CredentialsRequest (another kind or cloud); the reason is shown on request.
    NotAws(String),
    /// A valid AWS request.
    Keep(Box<CredentialsRequest>),
    /// Errors were recorded; carries the secretRef if that part was valid, for the
    /// duplicate check.
    Invalid(Option<SecretRef>),
}

/// One document being read, collecting its errors.
pub(super) struct Document<'a> {
    pub(super) source: &'a Source,
    pub(super) errors: Vec<InputError>,
}

/// How a JSON value's type is named in messages.
fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// Present and not null.
fn present<'v>(map: &'v Map<String, Value>, key: &str) -> Option<&'v Value> {
    map.get(key).filter(|v| !v.is_null())
}

impl Document<'_> {
    pub(super) fn error(&mut self, field: impl Into<String>, problem: impl Into<String>) {
        self.errors.push(
            InputError::new(&self.source.file, problem)
                .in_document(self.source.document)
                .at(field),
        );
    }

    /// An optional mapping field; `Err(())` after recording a type error.
    fn optional_map<'v>(
        &mut self,
        map: &'v Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<Option<&'v Map<String, Value>>, ()> {
        match present(map, key) {
            None => Ok(None),
            Some(Value::Object(m)) => Ok(Some(m)),
            Some(other) => {
                self.error(
                    path,
                    format!("expected a mapping, found {}", type_name(other)),
                );
                Err(())
            }
        }
    }

    /// A required, non-empty string field.
    fn required_string(
        &mut self,
        map: &Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Option<String> {
        match present(map, key) {
            None => {
                self.error(path, "missing");
                None
            }
            Some(Value::String(s)) if s.is_empty() => {
                self.error(path, "must not be empty");
                None
            }
            Some(Value::String(s)) => Some(s.clone()),
            Some(other) => {
                self.error(
                    path,
                    format!("expected a string, found {}", type_name(other)),
                );
                None
            }
        }
    }

    /// A required, non-empty list of non-empty strings. `why` explains why it is needed.
    fn required_strings(
        &mut self,
        value: Option<&Value>,
        path: &str,
        why: &str,
    ) -> Option<Vec<String>> {
        let items = match value.filter(|v| !v.is_null()) {
            None => {
                self.error(path, format!("missing{why}"));
                return None;
            }
            Some(Value::Array(items)) if items.is_empty() => {
                self.error(path, format!("must not be empty{why}"));
                return None;
            }
            Some(Value::Array(items)) => items,
            Some(other) => {
                self.error(
                    path,
                    format!("expected a list of strings, found {}", type_name(other)),
                );
                return None;
            }
        };
        let before = self.errors.len();
        let mut out = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            match item {
                Value::String(s) if s.is_empty() => {
                    self.error(format!("{path}[{i}]"), "must not be empty")
                }
                Value::String(s) => out.push(s.clone()),
                other => self.error(
                    format!("{path}[{i}]"),
                    format!("expected a string, found {}", type_name(other)),
                ),
            }
        }
        (self.errors.len() == before).then_some(out)
    }

    /// Decides what the document is and, for an AWS request, validates it.
    pub(super) fn read(&mut self, value: &Value, opts: &LoadOptions) -> Outcome {
        let object = match value {
            Value::Null => return Outcome::Empty,
            Value::Object(object) => object,
            other => {
                self.errors.push(
                    InputError::new(
                        &self.source.file,
                        format!(
                            "expected a Kubernetes object (a mapping), found {}",
                            type_name(other)
                        ),
                    )
                    .in_document(self.source.document),
                );
                return Outcome::Invalid(None);
            }
        };

        // Unlike ccoctl, which decodes every document as a CredentialsRequest, we skip other
        // kinds: `oc adm release extract` filters them out too, and a mixed directory is
        // easier to keep than to prune by hand.
        match present(object, "kind") {
            Some(Value::String(kind)) if kind == CREDENTIALS_REQUEST => {}
            Some(Value::String(kind)) => {
                return Outcome::NotAws(format!(
                    "kind is `{}`, not `{CREDENTIALS_REQUEST}`",
                    shown(kind)
                ));
            }
            None => {
                return Outcome::NotAws(format!("kind is missing, not `{CREDENTIALS_REQUEST}`"));
            }
            Some(other) => {
                return Outcome::NotAws(format!(
                    "kind is {}, not `{CREDENTIALS_REQUEST}`",
                    type_name(other)
                ));
            }
        }

        let Ok(metadata) = self.optional_map(object, "metadata", "metadata") else {
            return Outcome::Invalid(None);
        };
        let empty = Map::new();
        let metadata = metadata.unwrap_or(&empty);
        let Ok(annotations) = self.optional_map(metadata, "annotations", "metadata.annotations")
        else {
            return Outcome::Invalid(None);
        };
        let mut notes: HashMap<&str, &str> = HashMap::new();
        for (key, value) in annotations.unwrap_or(&empty) {
            match value {
                Value::String(s) => {
                    notes.insert(key, s);
                }
                // Kubernetes annotations are strings; a YAML `true` here would be rejected by
                // the API server, and guessing could keep a request meant to be deleted.
                other => self.error(
                    format!("metadata.annotations[\"{}\"]", shown(key)),
                    format!("expected a string, found {}", type_name(other)),
                ),
            }
        }
        if !self.errors.is_empty() {
            return Outcome::Invalid(None);
        }

        // Same rule as ccoctl: exactly the string "true". Checked before the providerSpec
        // because deletion-marked manifests may have an empty spec.
        if notes.get(DELETE_ANNOTATION) == Some(&"true") {
            return Outcome::Skip(format!(
                "marked for deletion (annotation `{DELETE_ANNOTATION}: \"true\"`)"
            ));
        }

        // ccoctl fails (or panics) on non-AWS documents; release payloads put all clouds in
        // one file, so we skip them instead, naming the kind.
        let Ok(spec) = self.optional_map(object, "spec", "spec") else {
            return Outcome::Invalid(None);
        };
        let spec = spec.unwrap_or(&empty);
        let Ok(provider) = self.optional_map(spec, "providerSpec", "spec.providerSpec") else {
            return Outcome::Invalid(None);
        };
        let Some(provider) = provider else {
            return Outcome::NotAws(format!(
                "spec.providerSpec is missing, so it is not an `{AWS_PROVIDER_SPEC}` request"
            ));
        };
        match present(provider, "kind") {
            Some(Value::String(kind)) if kind == AWS_PROVIDER_SPEC => {}
            Some(Value::String(kind)) => {
                return Outcome::NotAws(format!(
                    "providerSpec kind is `{}`, not `{AWS_PROVIDER_SPEC}`",
                    shown(kind)
                ));
            }
            None => {
                return Outcome::NotAws(format!(
                    "providerSpec kind is missing, not `{AWS_PROVIDER_SPEC}`"
                ));
            }
            Some(other) => {
                return Outcome::NotAws(format!(
                    "providerSpec kind is {}, not `{AWS_PROVIDER_SPEC}`",
                    type_name(other)
                ));
            }
        }

        if let Some(reason) = feature_skip(&notes, opts) {
            return Outcome::Skip(reason);
        }

        let feature_gate = notes.get(FEATURE_GATE_ANNOTATION).map(|g| g.to_string());
        match self.validate(metadata, spec, provider) {
            Outcome::Keep(mut request) => {
                request.feature_gate = feature_gate;
                Outcome::Keep(request)
            }
            other => other,
        }
    }

    /// Validates a kept AWS request, recording every problem.
    fn validate(
        &mut self,
        metadata: &Map<String, Value>,
        spec: &Map<String, Value>,
        provider: &Map<String, Value>,
    ) -> Outcome {
        let name = match present(metadata, "name") {
            None => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => {
                self.error(
                    "metadata.name",
                    format!("expected a string, found {}", type_name(other)),
                );
                String::new()
            }
        };

        let secret_ref = match self.optional_map(spec, "secretRef", "spec.secretRef") {
            Ok(None) => {
                self.error("spec.secretRef", "missing");
                None
            }
            Ok(Some(secret)) => {
                let namespace = self
                    .required_string(secret, "namespace", "spec.secretRef.namespace")
                    .filter(|ns| self.kubernetes_name(ns, "spec.secretRef.namespace", true));
                let name = self
                    .required_string(secret, "name", "spec.secretRef.name")
                    .filter(|n| self.kubernetes_name(n, "spec.secretRef.name", false));
                namespace
                    .zip(name)
                    .map(|(namespace, name)| SecretRef { namespace, name })
            }
            Err(()) => None,
        };

        let accounts = self.required_strings(
            spec.get("serviceAccountNames"),
            "spec.serviceAccountNames",
            " (a role needs at least one service account to trust)",
        );
        if let Some(accounts) = &accounts {
            for (i, account) in accounts.iter().enumerate() {
                // They end up in the trust policy's `system:serviceaccount:<ns>:<sa>` subject.
                self.kubernetes_name(account, &format!("spec.serviceAccountNames[{i}]"), false);
            }
        }

        let statements = self.statements(provider);

        match (secret_ref, accounts, statements) {
            (Some(secret_ref), Some(service_account_names), Some(statements))
                if self.errors.is_empty() =>
            {
                Outcome::Keep(Box::new(CredentialsRequest {
                    source: self.source.clone(),
                    name,
                    secret_ref,
                    service_account_names,
                    statements,
                    feature_gate: None,
                }))
            }
            (secret_ref, _, _) => Outcome::Invalid(secret_ref),
        }
    }

    /// Checks a DNS-1123 label (namespace) or subdomain (other names); records an error and
    /// returns false if it is not one.
    fn kubernetes_name(&mut self, value: &str, path: &str, label: bool) -> bool {
        let valid = if label {
            is_dns1123_label(value)
        } else {
            is_dns1123_subdomain(value)
        };
        if !valid {
            let hint = if value.contains('$') || value.contains("{{") {
                "unexpanded template?"
            } else if label {
                "a DNS-1123 label: at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit"
            } else {
                "a DNS-1123 subdomain: at most 253 lowercase letters, digits, '-' and '.', each part starting and ending with a letter or digit"
            };
            self.error(
                path,
                format!("`{}` is not a valid Kubernetes name ({hint})", shown(value)),
            );
        }
        valid
    }

    /// `spec.providerSpec.statementEntries`, validated.
    fn statements(&mut self, provider: &Map<String, Value>) -> Option<Vec<StatementEntry>> {
        const PATH: &str = "spec.providerSpec.statementEntries";
        let entries = match present(provider, "statementEntries") {
            None => {
                self.error(
                    PATH,
                    "missing (an AWS request needs at least one statement)",
                );
                return None;
            }
            Some(Value::Array(entries)) if entries.is_empty() => {
                self.error(
                    PATH,
                    "must not be empty (an AWS request needs at least one statement)",
                );
                return None;
            }
            Some(Value::Array(entries)) => entries,
            Some(other) => {
                self.error(
                    PATH,
                    format!("expected a list of statements, found {}", type_name(other)),
                );
                return None;
            }
        };
        let before = self.errors.len();
        let mut out = Vec::with_capacity(entries.len());
        for (i, entry) in entries.iter().enumerate() {
            let path = format!("{PATH}[{i}]");
            let Value::Object(entry) = entry else {
                self.error(
                    &path,
                    format!("expected a mapping, found {}", type_name(entry)),
                );
                continue;
            };
            let effect = match present(entry, "effect") {
                Some(Value::String(s)) if s == "Allow" || s == "Deny" => Some(s.clone()),
                None => {
                    self.error(
                        format!("{path}.effect"),
                        "missing (expected `Allow` or `Deny`)",
                    );
                    None
                }
                Some(Value::String(s)) => {
                    self.error(
                        format!("{path}.effect"),
                        format!("expected `Allow` or `Deny`, found `{}`", shown(s)),
                    );
                    None
                }
                Some(other) => {
                    self.error(
                        format!("{path}.effect"),
                        format!("expected `Allow` or `Deny`, found {}", type_name(other)),
                    );
                    None
                }
            };
            let action = self.required_strings(entry.get("action"), &format!("{path}.action"), "");
            let resource = self.required_string(entry, "resource", &format!("{path}.resource"));
            let condition = self.condition(entry, &format!("{path}.policyCondition"));
            if let (Some(effect), Some(action), Some(resource), Ok(policy_condition)) =
                (effect, action, resource, condition)
            {
                out.push(StatementEntry {
                    effect,
                    action,
                    resource,
                    policy_condition,
                });
            }
        }
        (self.errors.len() == before).then_some(out)
    }

    /// `policyCondition`: operator → { key → value }, as IAM's `Condition` block.
    fn condition(
        &mut self,
        entry: &Map<String, Value>,
        path: &str,
    ) -> Result<Option<Map<String, Value>>, ()> {
        let condition = match present(entry, "policyCondition") {
            None => return Ok(None),
            Some(Value::Object(condition)) => condition,
            Some(other) => {
                self.error(
                    path,
                    format!(
                        "expected a mapping of condition operators to mappings of keys and values, found {}",
                        type_name(other)
                    ),
                );
                return Err(());
            }
        };
        let mut ok = true;
        for (operator, keys) in condition {
            if !keys.is_object() {
                self.error(
                    format!("{path}.{}", shown(operator)),
                    format!(
                        "expected a mapping of condition keys to values, found {}",
                        type_name(keys)
                    ),
                );
                ok = false;
            }
        }
        match (ok, condition.is_empty()) {
            (false, _) => Err(()),
            (true, true) => Ok(None),
            (true, false) => Ok(Some(condition.clone())),
        }
    }
}

/// ccoctl's feature-set rule; `Some(reason)` to skip.
///
/// Any `release.openshift.io/feature-set` annotation (whatever its value) skips the request
/// unless `--enable-tech-preview`; with it, only the exact value `TechPreviewNoUpgrade` is
/// kept (so `CustomNoUpgrade,TechPreviewNoUpgrade` is skipped), as ccoctl does. The
/// per-gate `release.openshift.io/feature-gate` annotation skips nothing: which gates are
/// on depends on the release and cluster, which `oc adm release extract --included`
/// evaluates; a missing role breaks a component, an extra one costs nothing.
fn feature_skip(notes: &HashMap<&str, &str>, opts: &LoadOptions) -> Option<String> {
    let set = notes.get(FEATURE_SET_ANNOTATION)?;
    if !opts.enable_tech_preview {
        return Some(format!(
            "annotation `{FEATURE_SET_ANNOTATION}: {}` puts it in a feature set (`--enable-tech-preview` includes `{TECH_PREVIEW}` requests)",
            shown(set)
        ));
    }
    if *set != TECH_PREVIEW {
        return Some(format!(
            "annotation `{FEATURE_SET_ANNOTATION}: {}` is not exactly `{TECH_PREVIEW}`, the only feature set `--enable-tech-preview` includes",
            shown(set)
        ));
    }
    None
}

/// RFC 1123 label as Kubernetes checks it: `[a-z0-9]([-a-z0-9]*[a-z0-9])?`, at most 63.
fn is_dns1123_label(s: &str) -> bool {
    s.len() <= 63 && is_label_shaped(s)
}

/// RFC 1123 subdomain as Kubernetes checks it: label-shaped parts joined by dots (no
/// per-part length limit), at most 253 in total.
fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_label_shaped)
}

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`
fn is_label_shaped(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_names() {
        assert!(is_dns1123_label("a"));
        assert!(is_dns1123_label(&"a".repeat(63)));
        assert!(!is_dns1123_label(&"a".repeat(64)));
        assert!(!is_dns1123_label("-a"));
        assert!(!is_dns1123_label("a-"));
        assert!(!is_dns1123_label("a.b"));
        assert!(!is_dns1123_label(""));
        assert!(is_dns1123_subdomain("a.b-c.d"));
        assert!(!is_dns1123_subdomain("a..b"));
        assert!(!is_dns1123_subdomain(&"a".repeat(254)));
    }
}

//! TEMPORARY stub: types only, replaced by the loader branch.
#![allow(missing_docs)]
use crate::error::InputErrors;
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadOptions {
    pub enable_tech_preview: bool,
}
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Source {
    pub file: String,
    pub document: usize,
}
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SecretRef {
    pub namespace: String,
    pub name: String,
}
#[derive(Clone, Debug, PartialEq)]
pub struct StatementEntry {
    pub effect: String,
    pub action: Vec<String>,
    pub resource: String,
    pub policy_condition: Option<serde_json::Map<String, serde_json::Value>>,
}
#[derive(Clone, Debug, PartialEq)]
pub struct CredentialsRequest {
    pub source: Source,
    pub name: String,
    pub secret_ref: SecretRef,
    pub service_account_names: Vec<String>,
    pub statements: Vec<StatementEntry>,
}
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    pub source: Source,
    pub reason: String,
}
impl Skipped {
    pub fn note(&self) -> String {
        format!(
            "{}: document {}: skipped: {}",
            self.source.file, self.source.document, self.reason
        )
    }
}
#[derive(Clone, Debug, PartialEq)]
pub struct Loaded {
    pub requests: Vec<CredentialsRequest>,
    pub skipped: Vec<Skipped>,
}
pub fn load(_dir: &std::path::Path, _opts: &LoadOptions) -> Result<Loaded, InputErrors> {
    unimplemented!()
}

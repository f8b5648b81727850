//! CredentialsRequest input: the YAML/JSON schema stsform reads, loading it from a directory,
//! and validating it, with every problem located by file, document and field.
//!
//! [`load`] runs three steps, one module each: `dir` lists and reads the directory's
//! request files, `documents` splits a file into YAML (or JSON) documents, `validate`
//! checks one document and says whether it is a request, a skip or an error. This file
//! holds the types they produce.
//!
//! It only reads the directory it is given (never writes, never recurses) and knows nothing
//! about AWS resource kinds: turning requests into roles and policies is `desired`'s job.

mod dir;
mod documents;
mod validate;

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use serde_json::{Map, Value};

use crate::error::InputErrors;
use dir::{list_files, read_text, shown_path};
use documents::{json_documents, yaml_documents};
use validate::{Document, Outcome};

/// Largest request file we read. The directory often comes from an untrusted pull request,
/// and real CredentialsRequest files are a few KiB, so anything bigger is a mistake or an attack.
pub const MAX_FILE_BYTES: u64 = 4 * 1024 * 1024;

const CREDENTIALS_REQUEST: &str = "CredentialsRequest";
const AWS_PROVIDER_SPEC: &str = "AWSProviderSpec";
const DELETE_ANNOTATION: &str = "release.openshift.io/delete";
const FEATURE_SET_ANNOTATION: &str = "release.openshift.io/feature-set";
const FEATURE_GATE_ANNOTATION: &str = "release.openshift.io/feature-gate";
const TECH_PREVIEW: &str = "TechPreviewNoUpgrade";

/// How to filter the requests in the directory.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Keep requests annotated `release.openshift.io/feature-set: TechPreviewNoUpgrade`
    /// (`--enable-tech-preview`), as ccoctl does.
    pub enable_tech_preview: bool,
}

/// Where a document came from.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Source {
    /// The file as displayed to the user: `dir.join(file_name)`, relative to the working
    /// directory when it is an absolute path inside it.
    pub file: String,
    /// 1-based document number within the file (see [`load`] for how documents are counted).
    pub document: usize,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: document {}", self.file, self.document)
    }
}

/// The Secret a request asks the credentials to be written to (`spec.secretRef`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SecretRef {
    /// Namespace of the Secret (a DNS-1123 label).
    pub namespace: String,
    /// Name of the Secret (a DNS-1123 subdomain).
    pub name: String,
}

/// One entry of `spec.providerSpec.statementEntries`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StatementEntry {
    /// `Allow` or `Deny`, exactly.
    pub effect: String,
    /// IAM actions; never empty, no empty strings.
    pub action: Vec<String>,
    /// The resource ARN pattern (a single string, as in the CredentialsRequest type).
    pub resource: String,
    /// Condition operator → { condition key → value }. Values keep their YAML types
    /// (a plain `true` is a JSON boolean, a quoted `"false"` stays a string).
    /// `None` when absent or empty.
    pub policy_condition: Option<Map<String, Value>>,
}

/// A validated AWS CredentialsRequest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CredentialsRequest {
    /// Where it was read from.
    pub source: Source,
    /// `metadata.name` (empty if absent; only used in messages).
    pub name: String,
    /// Where the credentials go.
    pub secret_ref: SecretRef,
    /// Service accounts (in `secret_ref.namespace`) allowed to assume the role; never empty.
    pub service_account_names: Vec<String>,
    /// The permissions; never empty.
    pub statements: Vec<StatementEntry>,
    /// `release.openshift.io/feature-gate`, when present: the request is kept (as ccoctl
    /// keeps it), and plans say so, because its role is used only if the gate is on.
    pub feature_gate: Option<String>,
}

impl CredentialsRequest {
    /// The note plans show for a feature-gated request, `None` for others.
    pub fn feature_gate_note(&self) -> Option<String> {
        self.feature_gate.as_ref().map(|gates| {
            format!(
                "{}: feature-gated (`{FEATURE_GATE_ANNOTATION}: {}`): included, as ccoctl includes it; its role is used only if the release turns the gate on",
                self.source,
                shown(gates)
            )
        })
    }
}

/// A document that was read but deliberately not used.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skipped {
    /// Where it was read from.
    pub source: Source,
    /// Why it was skipped: one line, starting lowercase.
    pub reason: String,
    /// Not an AWS CredentialsRequest at all (another kind, or another cloud's request):
    /// summed up in one note, while requests skipped by a rule get a note each.
    pub not_aws: bool,
}

impl Skipped {
    /// The line shown to users: `<file>: document N: skipped: <reason>`.
    pub fn note(&self) -> String {
        format!("{}: skipped: {}", self.source, self.reason)
    }
}

/// A file in the directory that was not read, though it may look like a request file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IgnoredFile {
    /// The file as displayed to the user.
    pub file: String,
}

impl IgnoredFile {
    /// The line shown to users.
    pub fn note(&self) -> String {
        format!(
            "{}: not read: like ccoctl, stsform reads only `.yaml` and `.yml` files (rename it to include it)",
            self.file
        )
    }
}

/// Everything read from a directory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Loaded {
    /// Kept requests, in file name order, then document order.
    pub requests: Vec<CredentialsRequest>,
    /// Skipped documents, in the same order.
    pub skipped: Vec<Skipped>,
    /// `.json` files, which ccoctl does not read either, in file name order.
    pub ignored: Vec<IgnoredFile>,
}

impl Loaded {
    /// The notes to show for the skipped documents and the `.json` files not read: one
    /// per request skipped by a rule and per such file;
    /// for documents that are not AWS requests at all, one summary line (release payloads
    /// ship every cloud's requests, so listing them buries the notes that matter), or one
    /// line each when `verbose`.
    pub fn notes(&self, verbose: bool) -> Vec<String> {
        let mut notes: Vec<String> = Vec::new();
        let not_aws: Vec<&Skipped> = self.skipped.iter().filter(|s| s.not_aws).collect();
        for skipped in &self.skipped {
            if !skipped.not_aws || verbose {
                notes.push(skipped.note());
            }
        }
        if !verbose && !not_aws.is_empty() {
            let files: std::collections::BTreeSet<&str> =
                not_aws.iter().map(|s| s.source.file.as_str()).collect();
            let (n, f) = (not_aws.len(), files.len());
            notes.push(format!(
                "skipped {n} non-AWS document{} in {f} file{} (--verbose lists them)",
                if n == 1 { "" } else { "s" },
                if f == 1 { "" } else { "s" },
            ));
        }
        notes.extend(self.ignored.iter().map(IgnoredFile::note));
        notes
    }
}

/// Reads every `.yaml` and `.yml` regular file directly in `dir` (sorted by file name, byte
/// order; symlinks followed; other files and subdirectories ignored, `.json` files with a
/// note, as ccoctl ignores them) and returns the AWS CredentialsRequests in them, or every
/// input problem found. A file whose first non-blank character is `{` is read as a stream
/// of JSON values, as ccoctl's YAML-or-JSON decoder does.
///
/// Document numbering (YAML): every `---` line starts a document; text before the first
/// `---` (or after a `...` end marker) is a document only if it holds more than blank lines,
/// comments and directives. Empty documents (a trailing `---`, a comment-only document) keep
/// their number but yield nothing. This is how YAML itself counts documents, and it is what
/// a user counting `---` separators gets for the real manifests (which may start with `---`
/// or with a comment block). JSON streams hold one or more JSON values, numbered in order.
///
/// Documents that are not AWS CredentialsRequests, are marked for deletion, or belong to a
/// feature set (unless `opts.enable_tech_preview` and the set is `TechPreviewNoUpgrade`) are
/// returned in [`Loaded::skipped`], with a reason: exactly the requests ccoctl skips, so
/// both tools make the same roles. `release.openshift.io/feature-gate` does not skip.
pub fn load(dir: &Path, opts: &LoadOptions) -> Result<Loaded, InputErrors> {
    let (files, ignored) = list_files(dir)?;
    let mut errors = Vec::new();
    let mut loaded = Loaded {
        ignored,
        ..Loaded::default()
    };
    // Secret → first request asking for it: two roles writing one Secret would overwrite
    // each other's credentials on the cluster.
    let mut secrets: HashMap<SecretRef, Source> = HashMap::new();

    let cwd = std::env::current_dir().ok();
    for path in files {
        let file = shown_path(&path, cwd.as_deref());
        let text = match read_text(&path, &file) {
            Ok(Some(text)) => text,
            // A directory named like a request file: ignored like every subdirectory.
            Ok(None) => continue,
            Err(e) => {
                errors.push(e);
                continue;
            }
        };
        let documents = if text.trim_start().starts_with('{') {
            json_documents(&text, &file, &mut errors)
        } else {
            yaml_documents(&text, &file, &mut errors)
        };
        for (document, value) in documents {
            let source = Source {
                file: file.clone(),
                document,
            };
            let mut doc = Document {
                source: &source,
                errors: Vec::new(),
            };
            let (request, secret_ref) = match doc.read(&value, opts) {
                Outcome::Empty => (None, None),
                Outcome::Skip(reason) => {
                    loaded.skipped.push(Skipped {
                        source: source.clone(),
                        reason,
                        not_aws: false,
                    });
                    (None, None)
                }
                Outcome::NotAws(reason) => {
                    loaded.skipped.push(Skipped {
                        source: source.clone(),
                        reason,
                        not_aws: true,
                    });
                    (None, None)
                }
                Outcome::Keep(request) => {
                    let secret_ref = request.secret_ref.clone();
                    (Some(*request), Some(secret_ref))
                }
                // An invalid request still claims its Secret, so a duplicate is reported in
                // the same run rather than after the first fix.
                Outcome::Invalid(secret_ref) => (None, secret_ref),
            };
            if let Some(secret_ref) = secret_ref {
                if let Some(first) = secrets.get(&secret_ref) {
                    doc.error(
                        "spec.secretRef",
                        format!(
                            "secret {}/{} is also requested by {first}",
                            secret_ref.namespace, secret_ref.name
                        ),
                    );
                } else {
                    secrets.insert(secret_ref, source.clone());
                }
            }
            if let Some(request) = request
                && doc.errors.is_empty()
            {
                loaded.requests.push(request);
            }
            errors.append(&mut doc.errors);
        }
    }

    if errors.is_empty() {
        Ok(loaded)
    } else {
        Err(InputErrors(errors))
    }
}

/// Collapses whitespace runs (including newlines) so every message is one line, and
/// escapes other control characters so input cannot rewrite the terminal.
fn one_line(s: &str) -> String {
    let words: Vec<&str> = s.split_whitespace().collect();
    shown(&words.join(" "))
}

/// A user-supplied value made safe to show inside a one-line message.
fn shown(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

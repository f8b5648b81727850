//! CredentialsRequest input: the YAML/JSON schema stsform reads, loading it from a directory,
//! and validating it, with every problem located by file, document and field.
//!
//! It only reads the directory it is given (never writes, never recurses) and knows nothing
//! about AWS resource kinds: turning requests into roles and policies is `desired`'s job.

use std::collections::HashMap;
use std::fmt;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::error::{InputError, InputErrors};

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
    /// Keep requests that only ship with the `TechPreviewNoUpgrade` feature set or behind
    /// feature gates (`--enable-tech-preview`).
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

/// Everything read from a directory.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Loaded {
    /// Kept requests, in file name order, then document order.
    pub requests: Vec<CredentialsRequest>,
    /// Skipped documents, in the same order.
    pub skipped: Vec<Skipped>,
}

impl Loaded {
    /// The notes to show for the skipped documents: one per request skipped by a rule;
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
        notes
    }
}

/// Reads every `.yaml`, `.yml` and `.json` regular file directly in `dir` (sorted by file
/// name, byte order; symlinks followed; other files and subdirectories ignored) and returns
/// the AWS CredentialsRequests in them, or every input problem found.
///
/// Document numbering (YAML): every `---` line starts a document; text before the first
/// `---` (or after a `...` end marker) is a document only if it holds more than blank lines,
/// comments and directives. Empty documents (a trailing `---`, a comment-only document) keep
/// their number but yield nothing. This is how YAML itself counts documents, and it is what
/// a user counting `---` separators gets for the real manifests (which may start with `---`
/// or with a comment block). JSON files hold one or more JSON values, numbered in order.
///
/// Documents that are not AWS CredentialsRequests, are marked for deletion, or are
/// tech-preview only (unless `opts.enable_tech_preview`) are returned in
/// [`Loaded::skipped`], with a reason.
pub fn load(dir: &Path, opts: &LoadOptions) -> Result<Loaded, InputErrors> {
    let files = list_files(dir)?;
    let mut errors = Vec::new();
    let mut loaded = Loaded::default();
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
        let documents = if path.extension().is_some_and(|e| e == "json") {
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

// ---------------------------------------------------------------------------------------
// Reading files

/// The request files in `dir`, sorted by file name (byte order, as ccoctl's `os.ReadDir`).
fn list_files(dir: &Path) -> Result<Vec<PathBuf>, InputError> {
    let shown = dir.display().to_string();
    let meta = fs::metadata(dir).map_err(|e| InputError::new(&shown, io_problem(&e)))?;
    if !meta.is_dir() {
        return Err(InputError::new(&shown, "not a directory"));
    }
    let entries = fs::read_dir(dir).map_err(|e| {
        InputError::new(&shown, format!("cannot read directory: {}", io_problem(&e)))
    })?;
    let mut files = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| {
            InputError::new(&shown, format!("cannot read directory: {}", io_problem(&e)))
        })?;
        let name = entry.file_name();
        let path = dir.join(&name);
        // Extension first: the other files are none of our business, even broken ones.
        let wanted = path
            .extension()
            .is_some_and(|e| e == "yaml" || e == "yml" || e == "json");
        if wanted {
            files.push((name, path));
        }
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(files.into_iter().map(|(_, path)| path).collect())
}

/// How a request file is named in plans, notes and errors: relative to the working
/// directory when it is inside it, so that a plan made in CI does not carry the runner's
/// absolute checkout path (and reads the same on every machine); as given otherwise.
fn shown_path(path: &Path, cwd: Option<&Path>) -> String {
    match cwd.and_then(|cwd| path.strip_prefix(cwd).ok()) {
        Some(rel) if path.is_absolute() && !rel.as_os_str().is_empty() => rel.display().to_string(),
        _ => path.display().to_string(),
    }
}

/// The file's text, checked for size, type and encoding; `None` for a directory.
fn read_text(path: &Path, file: &str) -> Result<Option<String>, InputError> {
    // `fs::metadata` follows symlinks, so a broken or looping link fails here.
    let meta = fs::metadata(path).map_err(|e| {
        let is_link = fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink());
        let problem = if is_link {
            format!("cannot follow symlink: {}", io_problem(&e))
        } else {
            format!("cannot read file: {}", io_problem(&e))
        };
        InputError::new(file, problem)
    })?;
    if meta.is_dir() {
        return Ok(None);
    }
    if !meta.is_file() {
        // A FIFO or device would block or never end; refuse rather than hang.
        return Err(InputError::new(file, "not a regular file"));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(too_large(file, meta.len()));
    }
    let handle = fs::File::open(path)
        .map_err(|e| InputError::new(file, format!("cannot read file: {}", io_problem(&e))))?;
    let mut bytes = Vec::new();
    // `take` guards against the file growing between the size check and the read.
    handle
        .take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| InputError::new(file, format!("cannot read file: {}", io_problem(&e))))?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(too_large(file, bytes.len() as u64));
    }
    let mut text = String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        // `valid` is valid UTF-8 by construction.
        let before = std::str::from_utf8(valid).unwrap_or_default();
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
        InputError::new(
            file,
            format!("not valid UTF-8 (invalid byte at line {line}, column {column})"),
        )
    })?;
    // A leading byte-order mark is legal in both YAML and JSON text but trips serde_json.
    if text.starts_with('\u{feff}') {
        text.drain(..'\u{feff}'.len_utf8());
    }
    Ok(Some(text))
}

fn too_large(file: &str, len: u64) -> InputError {
    InputError::new(
        file,
        format!("file is larger than 4 MiB ({len} bytes); refusing to read it"),
    )
}

/// A stable, one-line description of an I/O error.
fn io_problem(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::NotFound => "does not exist".to_string(),
        std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
        _ => one_line(&e.to_string()),
    }
}

// ---------------------------------------------------------------------------------------
// Splitting and parsing documents

/// One YAML document's text and the file line it starts on.
struct YamlChunk<'a> {
    first_line: usize,
    text: &'a str,
}

/// Whether `line` is the document marker `marker` (`---` or `...`) at column 0.
fn is_marker(line: &str, marker: &str) -> bool {
    line.strip_prefix(marker)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t', '\r', '\n']))
}

/// Splits a YAML stream into documents by the rule documented on [`load`].
///
/// We split ourselves, and parse each piece alone, because serde-saphyr's multi-document
/// API silently drops empty documents, which would shift the numbers we report.
/// Splitting on column-0 markers is exact: YAML forbids `---`/`...` at column 0 inside a
/// document's content (even in block scalars), so such a line always ends a document.
fn split_yaml(text: &str) -> Vec<YamlChunk<'_>> {
    let mut chunks = Vec::new();
    let (mut start, mut start_line) = (0, 1);
    // `explicit`: the current document began with `---`, so it counts even when empty.
    let (mut explicit, mut content) = (false, false);
    let mut offset = 0;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let line_no = index + 1;
        if is_marker(line, "---") {
            if explicit || content {
                chunks.push(YamlChunk {
                    first_line: start_line,
                    text: &text[start..offset],
                });
                start = offset;
                start_line = line_no;
            }
            // Otherwise the blank/comment/directive prefix joins this document, which keeps
            // directives (`%YAML`) with the document they apply to.
            explicit = true;
            content = false;
        } else if is_marker(line, "...") {
            let end = offset + line.len();
            if explicit || content {
                chunks.push(YamlChunk {
                    first_line: start_line,
                    text: &text[start..end],
                });
            }
            start = end;
            start_line = line_no + 1;
            explicit = false;
            content = false;
        } else {
            let trimmed = line.trim_start();
            let directive = !explicit && !content && line.starts_with('%');
            if !(trimmed.is_empty() || trimmed.starts_with('#') || directive) {
                content = true;
            }
        }
        offset += line.len();
    }
    if explicit || content {
        chunks.push(YamlChunk {
            first_line: start_line,
            text: &text[start..],
        });
    }
    chunks
}

/// Parses every YAML document; syntax errors are recorded and the next document is tried
/// (documents are independent once split).
fn yaml_documents(text: &str, file: &str, errors: &mut Vec<InputError>) -> Vec<(usize, Value)> {
    let mut documents = Vec::new();
    for (index, chunk) in split_yaml(text).into_iter().enumerate() {
        let document = index + 1;
        // `strict_booleans`: only YAML 1.2 `true`/`false` are booleans, so `no`, `on`,
        // `yes` stay strings (the "Norway problem" would turn namespace `no` into `false`).
        // Duplicate keys stay an error (the default): which one wins is ambiguous.
        let options = serde_saphyr::options! { strict_booleans: true, with_snippet: false };
        match serde_saphyr::from_str_with_options::<Option<Value>>(chunk.text, options) {
            Ok(Some(value)) => documents.push((document, value)),
            Ok(None) => {}
            Err(e) => {
                let rendered = e.render_with_formatter(&serde_saphyr::UserMessageFormatter);
                let mut error = InputError::new(file, "").in_document(document);
                let message = match e.location() {
                    Some(loc) => {
                        let line = loc.line() as usize + chunk.first_line - 1;
                        error = error.at(format!("line {line}, column {}", loc.column()));
                        let suffix = format!(" at line {}, column {}", loc.line(), loc.column());
                        let message = rendered
                            .strip_suffix(&suffix)
                            .map(str::to_string)
                            .unwrap_or(rendered);
                        // A `[` or `{` left open swallows the lines after it, and the
                        // parser only notices where they stop making sense: point at the
                        // bracket, which is what needs fixing.
                        match unclosed_flow(chunk.text, loc.line() as usize) {
                            Some((open_line, column, bracket)) => {
                                let open_line = open_line + chunk.first_line - 1;
                                error.field = Some(format!("line {open_line}, column {column}"));
                                format!(
                                    "`{bracket}` is never closed (the parser stopped at line {line}, column {}: {message})",
                                    loc.column()
                                )
                            }
                            None => message,
                        }
                    }
                    None => rendered,
                };
                error.problem = one_line(&message);
                errors.push(error);
            }
        }
    }
    documents
}

/// The innermost flow collection (`[` or `{`) opened before line `before` (1-based,
/// relative to `text`) and never closed: `(line, column, bracket)`, 1-based.
///
/// A rough YAML scan, only consulted after a syntax error: a bracket counts when it
/// starts a value (line start, after `: `, `- `, `? `) or sits inside another flow, and
/// quoted scalars and comments are skipped, so `foo[0]` or `"[x"` open nothing.
fn unclosed_flow(text: &str, before: usize) -> Option<(usize, usize, char)> {
    let mut open: Vec<(usize, usize, char)> = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let chars: Vec<char> = line.chars().collect();
        let next_is_blank = |j: usize| chars.get(j + 1).is_none_or(|c| c.is_whitespace());
        let mut value_start = true;
        let mut j = 0;
        while j < chars.len() {
            let c = chars[j];
            match c {
                ' ' | '\t' => {}
                '#' if j == 0 || chars[j - 1].is_whitespace() => break,
                '\'' | '"' if value_start => {
                    // Skip to the closing quote (`''` is an escaped quote, `\"` too).
                    let mut k = j + 1;
                    while k < chars.len() {
                        if chars[k] == '\\' && c == '"' {
                            k += 1;
                        } else if chars[k] == c {
                            if c == '\'' && chars.get(k + 1) == Some(&'\'') {
                                k += 1;
                            } else {
                                break;
                            }
                        }
                        k += 1;
                    }
                    j = k;
                    value_start = false;
                }
                '[' | '{' if value_start || !open.is_empty() => {
                    open.push((index + 1, j + 1, c));
                    value_start = true;
                }
                ']' | '}' if !open.is_empty() => {
                    let opener = if c == ']' { '[' } else { '{' };
                    if open.last().is_some_and(|(_, _, b)| *b == opener) {
                        open.pop();
                    }
                    value_start = false;
                }
                ',' if !open.is_empty() => value_start = true,
                ':' if next_is_blank(j) => value_start = true,
                '-' | '?' if value_start && next_is_blank(j) => {}
                _ => value_start = false,
            }
            j += 1;
        }
    }
    open.into_iter().rev().find(|(line, _, _)| *line < before)
}

/// Parses a stream of JSON values. A syntax error ends the file: JSON has no separator to
/// resynchronise on.
fn json_documents(text: &str, file: &str, errors: &mut Vec<InputError>) -> Vec<(usize, Value)> {
    let mut documents = Vec::new();
    for value in serde_json::Deserializer::from_str(text).into_iter::<Value>() {
        let document = documents.len() + 1;
        match value {
            Ok(value) => documents.push((document, value)),
            Err(e) => {
                let rendered = e.to_string();
                let suffix = format!(" at line {} column {}", e.line(), e.column());
                let message = rendered.strip_suffix(&suffix).unwrap_or(&rendered);
                errors.push(
                    InputError::new(file, one_line(message))
                        .in_document(document)
                        .at(format!("line {}, column {}", e.line(), e.column())),
                );
                break;
            }
        }
    }
    documents
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

// ---------------------------------------------------------------------------------------
// Interpreting one document

enum Outcome {
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
struct Document<'a> {
    source: &'a Source,
    errors: Vec<InputError>,
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
    fn error(&mut self, field: impl Into<String>, problem: impl Into<String>) {
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
    fn read(&mut self, value: &Value, opts: &LoadOptions) -> Outcome {
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

        self.validate(metadata, spec, provider)
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

/// The feature-set / feature-gate rule; `Some(reason)` to skip.
///
/// ccoctl skips any `feature-set` unless `--enable-tech-preview`, and then keeps only the
/// exact value `TechPreviewNoUpgrade`; it ignores `feature-gate`. We read `feature-set` as
/// the comma-separated list it is (`CustomNoUpgrade,TechPreviewNoUpgrade` is in tech preview)
/// and treat any `feature-gate` as tech preview too: such requests (cluster-api AWS) only
/// apply when the gate is on, which a default cluster does not do.
fn feature_skip(notes: &HashMap<&str, &str>, opts: &LoadOptions) -> Option<String> {
    if let Some(set) = notes.get(FEATURE_SET_ANNOTATION) {
        let tech_preview = set.split(',').any(|s| s.trim() == TECH_PREVIEW);
        if !tech_preview {
            return Some(format!(
                "annotation `{FEATURE_SET_ANNOTATION}: {}` does not include `{TECH_PREVIEW}`",
                shown(set)
            ));
        }
        if !opts.enable_tech_preview {
            return Some(format!(
                "annotation `{FEATURE_SET_ANNOTATION}: {}` marks it tech preview (`--enable-tech-preview` includes it)",
                shown(set)
            ));
        }
    }
    if let Some(gate) = notes.get(FEATURE_GATE_ANNOTATION)
        && !opts.enable_tech_preview
    {
        return Some(format!(
            "annotation `{FEATURE_GATE_ANNOTATION}: {}` puts it behind a feature gate (`--enable-tech-preview` includes it)",
            shown(gate)
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
    use std::collections::BTreeMap;
    use std::path::PathBuf;

    use serde_json::json;
    use tempfile::TempDir;

    use super::*;

    const TP: LoadOptions = LoadOptions {
        enable_tech_preview: true,
    };
    const DEFAULT: LoadOptions = LoadOptions {
        enable_tech_preview: false,
    };

    /// A valid AWS request; cases below break it by replacing one line.
    const BASE: &str = r#"apiVersion: cloudcredential.openshift.io/v1
kind: CredentialsRequest
metadata:
  name: ingress
  namespace: openshift-cloud-credential-operator
spec:
  secretRef:
    name: cloud-credentials
    namespace: openshift-ingress-operator
  serviceAccountNames:
  - ingress-operator
  providerSpec:
    apiVersion: cloudcredential.openshift.io/v1
    kind: AWSProviderSpec
    statementEntries:
    - effect: Allow
      action:
      - route53:ListHostedZones
      - tag:GetResources
      resource: "*"
"#;

    fn base_with(from: &str, to: &str) -> String {
        assert!(BASE.contains(from), "BASE has no {from:?}");
        BASE.replacen(from, to, 1)
    }

    fn fixtures() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/credreqs")
    }

    fn dir_with(files: &[(&str, &[u8])]) -> TempDir {
        let dir = tempfile::tempdir().unwrap();
        for (name, bytes) in files {
            let path = dir.path().join(name);
            fs::create_dir_all(path.parent().unwrap()).unwrap();
            fs::write(path, bytes).unwrap();
        }
        dir
    }

    /// Copies one fixture (`openshift/x.yaml`) into a fresh directory and loads it alone.
    fn load_fixture(rel: &str, opts: LoadOptions) -> (TempDir, Result<Loaded, InputErrors>) {
        let name = Path::new(rel).file_name().unwrap().to_str().unwrap();
        let bytes = fs::read(fixtures().join(rel)).unwrap();
        let dir = dir_with(&[(name, &bytes)]);
        let result = load(dir.path(), &opts);
        (dir, result)
    }

    /// Text with the temporary directory prefix removed, so messages are stable.
    fn rel(dir: &TempDir, text: &str) -> String {
        text.replace(&format!("{}/", dir.path().display()), "")
    }

    fn notes(dir: &TempDir, loaded: &Loaded) -> Vec<String> {
        loaded.skipped.iter().map(|s| rel(dir, &s.note())).collect()
    }

    fn error_lines(dir: &TempDir, errors: &InputErrors) -> Vec<String> {
        errors.0.iter().map(|e| rel(dir, &e.to_string())).collect()
    }

    fn only_request(loaded: &Loaded) -> &CredentialsRequest {
        assert_eq!(loaded.requests.len(), 1, "{loaded:#?}");
        &loaded.requests[0]
    }

    fn secret(ns: &str, name: &str) -> SecretRef {
        SecretRef {
            namespace: ns.into(),
            name: name.into(),
        }
    }

    fn kms_condition() -> Option<Map<String, Value>> {
        let Value::Object(map) = json!({"Bool": {"kms:GrantIsForAWSResource": true}}) else {
            unreachable!()
        };
        Some(map)
    }

    /// File names and bytes under `dir` (recursive), to prove loading changed nothing.
    fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Option<Vec<u8>>> {
        let mut out = BTreeMap::new();
        let Ok(entries) = fs::read_dir(dir) else {
            return out;
        };
        for entry in entries {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                out.insert(path.clone(), None);
                out.extend(snapshot(&path));
            } else if meta.file_type().is_symlink() {
                out.insert(
                    path.clone(),
                    Some(
                        fs::read_link(&path)
                            .unwrap()
                            .into_os_string()
                            .into_encoded_bytes(),
                    ),
                );
            } else {
                out.insert(path.clone(), Some(fs::read(&path).unwrap()));
            }
        }
        out
    }

    /// Loads `files` from a fresh directory and asserts the full error display, and that
    /// the directory is unchanged.
    fn expect_invalid(files: &[(&str, &[u8])], expected: &str) {
        let dir = dir_with(files);
        let before = snapshot(dir.path());
        let err = load(dir.path(), &DEFAULT).expect_err("input should be rejected");
        assert_eq!(rel(&dir, &err.to_string()), expected);
        assert_eq!(
            snapshot(dir.path()),
            before,
            "loading must not touch the directory"
        );
    }

    // -----------------------------------------------------------------------------------
    // Real manifests, each loaded alone

    #[test]
    fn ingress_keeps_aws_and_skips_other_clouds() {
        let (dir, loaded) = load_fixture("openshift/00-ingress-credentials-request.yaml", DEFAULT);
        let loaded = loaded.unwrap();
        let request = only_request(&loaded);
        assert_eq!(request.name, "openshift-ingress");
        assert_eq!(
            request.secret_ref,
            secret("openshift-ingress-operator", "cloud-credentials")
        );
        assert_eq!(request.service_account_names, ["ingress-operator"]);
        assert_eq!(request.statements.len(), 1);
        assert_eq!(request.statements[0].effect, "Allow");
        assert_eq!(request.statements[0].action.len(), 6);
        assert_eq!(request.statements[0].resource, "*");
        assert_eq!(request.statements[0].policy_condition, None);
        assert_eq!(
            rel(&dir, &request.source.to_string()),
            "00-ingress-credentials-request.yaml: document 1"
        );
        assert_eq!(
            notes(&dir, &loaded),
            [
                "00-ingress-credentials-request.yaml: document 2: skipped: providerSpec kind is `AzureProviderSpec`, not `AWSProviderSpec`",
                "00-ingress-credentials-request.yaml: document 3: skipped: providerSpec kind is `GCPProviderSpec`, not `AWSProviderSpec`",
                "00-ingress-credentials-request.yaml: document 4: skipped: providerSpec kind is `IBMCloudProviderSpec`, not `AWSProviderSpec`",
                "00-ingress-credentials-request.yaml: document 5: skipped: providerSpec kind is `IBMCloudPowerVSProviderSpec`, not `AWSProviderSpec`",
            ]
        );
    }

    #[test]
    fn machine_api_has_one_aws_document_of_eight() {
        let (dir, loaded) = load_fixture(
            "openshift/0000_30_machine-api-operator_00_credentials-request.yaml",
            DEFAULT,
        );
        let loaded = loaded.unwrap();
        let request = only_request(&loaded);
        assert_eq!(
            request.secret_ref,
            secret("openshift-machine-api", "aws-cloud-credentials")
        );
        assert_eq!(request.service_account_names, ["machine-api-controllers"]);
        assert_eq!(request.statements.len(), 3);
        assert_eq!(request.statements[1].policy_condition, None);
        assert_eq!(request.statements[2].policy_condition, kms_condition());
        let f = "0000_30_machine-api-operator_00_credentials-request.yaml";
        let expected: Vec<String> = [
            (2, "AzureProviderSpec"),
            (3, "OpenStackProviderSpec"),
            (4, "GCPProviderSpec"),
            (5, "VSphereProviderSpec"),
            (6, "IBMCloudProviderSpec"),
            (7, "IBMCloudPowerVSProviderSpec"),
            (8, "NutanixProviderSpec"),
        ]
        .iter()
        .map(|(n, kind)| {
            format!(
                "{f}: document {n}: skipped: providerSpec kind is `{kind}`, not `AWSProviderSpec`"
            )
        })
        .collect();
        assert_eq!(notes(&dir, &loaded), expected);
    }

    #[test]
    fn cluster_api_aws_document_needs_tech_preview() {
        let f = "0000_30_cluster-api_01_credentials-request.yaml";
        let others = |dir: &TempDir, loaded: &Loaded| {
            notes(dir, loaded).split_off(usize::from(loaded.requests.is_empty()))
        };
        let expected_others: Vec<String> = [
            (2, "AzureProviderSpec"),
            (3, "GCPProviderSpec"),
            (4, "OpenStackProviderSpec"),
            (5, "IBMCloudPowerVSProviderSpec"),
            (6, "VSphereProviderSpec"),
        ]
        .iter()
        .map(|(n, kind)| {
            format!(
                "{f}: document {n}: skipped: providerSpec kind is `{kind}`, not `AWSProviderSpec`"
            )
        })
        .collect();

        let (dir, loaded) = load_fixture(&format!("openshift/{f}"), DEFAULT);
        let loaded = loaded.unwrap();
        assert!(loaded.requests.is_empty());
        assert_eq!(
            notes(&dir, &loaded)[0],
            format!(
                "{f}: document 1: skipped: annotation `release.openshift.io/feature-gate: \
                 ClusterAPIMachineManagement,ClusterAPIMachineManagementAWS` puts it behind a \
                 feature gate (`--enable-tech-preview` includes it)"
            )
        );
        assert_eq!(others(&dir, &loaded), expected_others);

        let (dir, loaded) = load_fixture(&format!("openshift/{f}"), TP);
        let loaded = loaded.unwrap();
        let request = only_request(&loaded);
        assert_eq!(request.source.document, 1);
        assert_eq!(
            request.secret_ref,
            secret(
                "openshift-cluster-api",
                "capa-manager-bootstrap-credentials"
            )
        );
        assert_eq!(request.service_account_names, ["capa-controller-manager"]);
        assert_eq!(request.statements.len(), 3);
        assert_eq!(request.statements[2].policy_condition, kms_condition());
        assert_eq!(others(&dir, &loaded), expected_others);
    }

    #[test]
    fn registry_iam_ro_and_ebs_load() {
        let (_dir, loaded) =
            load_fixture("openshift/01-registry-credentials-request.yaml", DEFAULT);
        let loaded = loaded.unwrap();
        let r = only_request(&loaded);
        assert_eq!(
            r.secret_ref,
            secret("openshift-image-registry", "installer-cloud-credentials")
        );
        assert_eq!((r.service_account_names.len(), r.statements.len()), (2, 1));
        assert!(loaded.skipped.is_empty());

        let (_dir, loaded) = load_fixture("openshift/05-iam-ro-credentialsrequest.yaml", DEFAULT);
        let loaded = loaded.unwrap();
        let r = only_request(&loaded);
        assert_eq!(r.name, "cloud-credential-operator-iam-ro");
        assert_eq!(
            r.secret_ref,
            secret(
                "openshift-cloud-credential-operator",
                "cloud-credential-operator-iam-ro-creds"
            )
        );
        assert_eq!(r.service_account_names, ["cloud-credential-operator"]);
        assert_eq!(
            r.statements[0].action,
            ["iam:GetUser", "iam:GetUserPolicy", "iam:ListAccessKeys"]
        );

        let (_dir, loaded) = load_fixture("openshift/03_credentials_request_aws.yaml", DEFAULT);
        let loaded = loaded.unwrap();
        let r = only_request(&loaded);
        assert_eq!(
            r.secret_ref,
            secret("openshift-cluster-csi-drivers", "ebs-cloud-credentials")
        );
        assert_eq!((r.service_account_names.len(), r.statements.len()), (2, 3));
        assert_eq!(r.statements[0].policy_condition, None);
        assert_eq!(r.statements[2].policy_condition, kms_condition());
        // A YAML boolean stays a JSON boolean (not the string "true").
        let condition = r.statements[2].policy_condition.as_ref().unwrap();
        assert_eq!(
            condition["Bool"]["kms:GrantIsForAWSResource"],
            Value::Bool(true)
        );
        assert!(
            r.statements[1]
                .action
                .contains(&"kms:ReEncrypt*".to_string())
        );
    }

    #[test]
    fn cncc_aws_is_second_document_after_a_comment_block() {
        let (dir, loaded) = load_fixture("openshift/02-cncc-credentials.yaml", DEFAULT);
        let loaded = loaded.unwrap();
        let r = only_request(&loaded);
        assert_eq!(r.source.document, 2);
        assert_eq!(
            r.secret_ref,
            secret(
                "openshift-cloud-network-config-controller",
                "cloud-credentials"
            )
        );
        assert_eq!((r.service_account_names.len(), r.statements.len()), (1, 1));
        assert_eq!(
            notes(&dir, &loaded),
            [
                "02-cncc-credentials.yaml: document 1: skipped: providerSpec kind is `GCPProviderSpec`, not `AWSProviderSpec`",
                "02-cncc-credentials.yaml: document 3: skipped: providerSpec kind is `AzureProviderSpec`, not `AWSProviderSpec`",
                "02-cncc-credentials.yaml: document 4: skipped: providerSpec kind is `OpenStackProviderSpec`, not `AWSProviderSpec`",
            ]
        );
    }

    #[test]
    fn efs_controller_request_is_rejected_with_both_problems() {
        let (dir, result) = load_fixture("openshift/credentials.yaml", DEFAULT);
        assert_eq!(
            error_lines(&dir, &result.unwrap_err()),
            [
                "credentials.yaml: document 1: spec.secretRef.namespace: `${NAMESPACE}` is not a valid Kubernetes name (unexpanded template?)",
                "credentials.yaml: document 1: spec.serviceAccountNames: missing (a role needs at least one service account to trust)",
            ]
        );
        let (dir, result) = load_fixture("openshift/credentials-node.yaml", DEFAULT);
        assert_eq!(
            error_lines(&dir, &result.unwrap_err()),
            [
                "credentials-node.yaml: document 1: spec.serviceAccountNames: missing (a role needs at least one service account to trust)"
            ]
        );
    }

    #[test]
    fn olm_operator_requests_load_with_string_conditions() {
        let (_dir, loaded) = load_fixture("openshift/controller-credentials-request.yaml", DEFAULT);
        let loaded = loaded.unwrap();
        let r = only_request(&loaded);
        assert_eq!(
            r.secret_ref,
            secret(
                "aws-load-balancer-operator",
                "aws-load-balancer-controller-cluster"
            )
        );
        assert_eq!(r.statements.len(), 23);
        assert_eq!(
            r.statements[5].policy_condition,
            Some(
                json!({
                    "Null": {"aws:RequestTag/elbv2.k8s.aws/cluster": "false"},
                    "StringEquals": {"ec2:CreateAction": "CreateSecurityGroup"}
                })
                .as_object()
                .unwrap()
                .clone()
            )
        );
        assert_eq!(r.statements[5].resource, "arn:aws:ec2:*:*:security-group/*");
        assert_eq!(
            r.statements[17].policy_condition.as_ref().unwrap()["StringEquals"],
            json!({"elasticloadbalancing:CreateAction": ["CreateTargetGroup", "CreateLoadBalancer"]})
        );

        let (_dir, loaded) = load_fixture("openshift/operator-credentials-request.yaml", DEFAULT);
        let loaded = loaded.unwrap();
        let r = only_request(&loaded);
        assert_eq!(
            r.secret_ref,
            secret("aws-load-balancer-operator", "aws-load-balancer-operator")
        );
        assert_eq!(r.statements[1].resource, "arn:aws:ec2:*:*:subnet/*");

        let (_dir, loaded) = load_fixture("openshift/credentialsrequest_aws.yaml", DEFAULT);
        let loaded = loaded.unwrap();
        let r = only_request(&loaded);
        assert_eq!(r.secret_ref, secret("cert-manager", "aws-creds"));
        assert_eq!(r.statements.len(), 3);
        assert_eq!(r.statements[0].resource, "arn:aws:route53:::change/*");
    }

    #[test]
    fn whole_openshift_fixture_folder_reports_both_efs_files() {
        let dir = fixtures().join("openshift");
        let err = load(&dir, &DEFAULT).unwrap_err();
        // Inside the working directory (the crate root here), files are shown relative to it.
        let cwd = std::env::current_dir().unwrap();
        let prefix = format!("{}/", dir.strip_prefix(&cwd).unwrap_or(&dir).display());
        let lines: Vec<String> = err
            .0
            .iter()
            .map(|e| e.to_string().replace(&prefix, ""))
            .collect();
        assert_eq!(
            lines,
            [
                "credentials-node.yaml: document 1: spec.serviceAccountNames: missing (a role needs at least one service account to trust)",
                "credentials.yaml: document 1: spec.secretRef.namespace: `${NAMESPACE}` is not a valid Kubernetes name (unexpanded template?)",
                "credentials.yaml: document 1: spec.serviceAccountNames: missing (a role needs at least one service account to trust)",
            ]
        );
    }

    #[test]
    fn ccoctl_test_data() {
        // ccoctl's own test request uses camelCase names, which Kubernetes would refuse for a
        // Secret or ServiceAccount; we reject it rather than plan a Secret that cannot exist.
        let f = "create-iam-roles_test.credReqTemplate.firstcredreq.yaml";
        let (dir, result) = load_fixture(&format!("ccoctl-testdata/{f}"), DEFAULT);
        let subdomain = "(a DNS-1123 subdomain: at most 253 lowercase letters, digits, '-' and '.', \
                         each part starting and ending with a letter or digit)";
        assert_eq!(
            error_lines(&dir, &result.unwrap_err()),
            [
                format!(
                    "{f}: document 1: spec.secretRef.name: `secretName1` is not a valid Kubernetes name {subdomain}"
                ),
                format!(
                    "{f}: document 1: spec.serviceAccountNames[0]: `testServiceAccount1` is not a valid Kubernetes name {subdomain}"
                ),
                format!(
                    "{f}: document 1: spec.serviceAccountNames[1]: `testServiceAccount2` is not a valid Kubernetes name {subdomain}"
                ),
            ]
        );
        // The same request with Kubernetes-valid names loads; the file starts with `---` and
        // its request is still document 1.
        let text = fs::read_to_string(fixtures().join("ccoctl-testdata").join(f))
            .unwrap()
            .replace("secretName1", "secret-name1")
            .replace("testServiceAccount", "test-service-account");
        let dir = dir_with(&[(f, text.as_bytes())]);
        let loaded = load(dir.path(), &DEFAULT).unwrap();
        let r = only_request(&loaded);
        assert_eq!(r.name, "firstcredreq");
        assert_eq!(r.source.document, 1);
        assert_eq!(r.secret_ref, secret("namespace1", "secret-name1"));
        assert_eq!(
            r.service_account_names,
            ["test-service-account1", "test-service-account2"]
        );
        assert_eq!(r.statements.len(), 2);

        let cases = [
            (
                "create-iam-roles_test.credReqMarkedForDeletionTemplate.yaml",
                "marked for deletion (annotation `release.openshift.io/delete: \"true\"`)",
            ),
            (
                "credentials_request.yaml",
                "kind is `Template`, not `CredentialsRequest`",
            ),
            (
                "05-gcp-ro-credentialsrequest.yaml",
                "providerSpec kind is `GCPProviderSpec`, not `AWSProviderSpec`",
            ),
        ];
        for (file, reason) in cases {
            let (dir, loaded) = load_fixture(&format!("ccoctl-testdata/{file}"), TP);
            let loaded = loaded.unwrap();
            assert!(loaded.requests.is_empty());
            assert_eq!(
                notes(&dir, &loaded),
                [format!("{file}: document 1: skipped: {reason}")]
            );
        }
    }

    #[test]
    fn examples_load() {
        let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("examples");
        let secrets = |loaded: &Loaded| -> Vec<String> {
            loaded
                .requests
                .iter()
                .map(|r| format!("{}/{}", r.secret_ref.namespace, r.secret_ref.name))
                .collect()
        };
        let mut expected = vec![
            "openshift-ingress-operator/cloud-credentials",
            "openshift-machine-api/aws-cloud-credentials",
            "openshift-image-registry/installer-cloud-credentials",
            "openshift-cloud-network-config-controller/cloud-credentials",
            "openshift-cluster-csi-drivers/ebs-cloud-credentials",
            "openshift-cloud-credential-operator/cloud-credential-operator-iam-ro-creds",
        ];
        let loaded = load(&root.join("cluster"), &DEFAULT).unwrap();
        assert_eq!(secrets(&loaded), expected);
        // File name order: `00-ingress` < `0000_30_cluster-api` < `0000_30_machine-api`.
        expected.insert(
            1,
            "openshift-cluster-api/capa-manager-bootstrap-credentials",
        );
        let loaded = load(&root.join("cluster"), &TP).unwrap();
        assert_eq!(secrets(&loaded), expected);

        let loaded = load(&root.join("day2"), &DEFAULT).unwrap();
        let r = only_request(&loaded);
        assert_eq!(r.name, "s3-access");
        assert_eq!(r.secret_ref, secret("default", "s3-access-secret"));
        assert_eq!(r.service_account_names, ["default"]);
        assert_eq!(
            r.statements,
            [StatementEntry {
                effect: "Allow".into(),
                action: vec!["s3:ListAllMyBuckets".into()],
                resource: "*".into(),
                policy_condition: None,
            }]
        );
        assert!(loaded.skipped.is_empty());
    }

    // -----------------------------------------------------------------------------------
    // Invalid input: exact messages, directory untouched

    #[test]
    fn missing_secret_name() {
        expect_invalid(
            &[(
                "a.yaml",
                base_with("    name: cloud-credentials\n", "").as_bytes(),
            )],
            "invalid input (1 problem)\n  a.yaml: document 1: spec.secretRef.name: missing",
        );
    }

    #[test]
    fn empty_secret_namespace() {
        expect_invalid(
            &[(
                "a.yaml",
                base_with("namespace: openshift-ingress-operator", "namespace: \"\"").as_bytes(),
            )],
            "invalid input (1 problem)\n  a.yaml: document 1: spec.secretRef.namespace: must not be empty",
        );
    }

    #[test]
    fn missing_service_accounts() {
        expect_invalid(
            &[(
                "a.yaml",
                base_with("  serviceAccountNames:\n  - ingress-operator\n", "").as_bytes(),
            )],
            "invalid input (1 problem)\n  a.yaml: document 1: spec.serviceAccountNames: missing \
             (a role needs at least one service account to trust)",
        );
    }

    #[test]
    fn empty_service_accounts() {
        expect_invalid(
            &[(
                "a.yaml",
                base_with(
                    "  serviceAccountNames:\n  - ingress-operator\n",
                    "  serviceAccountNames: []\n",
                )
                .as_bytes(),
            )],
            "invalid input (1 problem)\n  a.yaml: document 1: spec.serviceAccountNames: must not be empty \
             (a role needs at least one service account to trust)",
        );
    }

    #[test]
    fn service_accounts_of_wrong_type() {
        expect_invalid(
            &[(
                "a.yaml",
                base_with(
                    "  serviceAccountNames:\n  - ingress-operator\n",
                    "  serviceAccountNames: 5\n",
                )
                .as_bytes(),
            )],
            "invalid input (1 problem)\n  a.yaml: document 1: spec.serviceAccountNames: expected a list of strings, found a number",
        );
    }

    #[test]
    fn empty_service_account_name() {
        expect_invalid(
            &[(
                "a.yaml",
                base_with("  - ingress-operator\n", "  - ingress-operator\n  - \"\"\n").as_bytes(),
            )],
            "invalid input (1 problem)\n  a.yaml: document 1: spec.serviceAccountNames[1]: must not be empty",
        );
    }

    #[test]
    fn empty_statement_entries() {
        let yaml = format!(
            "{}    statementEntries: []\n",
            &BASE[..BASE.find("    statementEntries:").unwrap()]
        );
        expect_invalid(
            &[("a.yaml", yaml.as_bytes())],
            "invalid input (1 problem)\n  a.yaml: document 1: spec.providerSpec.statementEntries: must not be empty \
             (an AWS request needs at least one statement)",
        );
    }

    #[test]
    fn empty_action_list() {
        expect_invalid(
            &[(
                "a.yaml",
                base_with(
                    "      action:\n      - route53:ListHostedZones\n      - tag:GetResources\n",
                    "      action: []\n",
                )
                .as_bytes(),
            )],
            "invalid input (1 problem)\n  a.yaml: document 1: spec.providerSpec.statementEntries[0].action: must not be empty",
        );
    }

    #[test]
    fn empty_action_string() {
        expect_invalid(
            &[(
                "a.yaml",
                base_with(
                    "      - tag:GetResources\n",
                    "      - tag:GetResources\n      - ''\n",
                )
                .as_bytes(),
            )],
            "invalid input (1 problem)\n  a.yaml: document 1: spec.providerSpec.statementEntries[0].action[2]: must not be empty",
        );
    }

    #[test]
    fn bad_effect() {
        expect_invalid(
            &[(
                "a.yaml",
                base_with("effect: Allow", "effect: allow").as_bytes(),
            )],
            "invalid input (1 problem)\n  a.yaml: document 1: spec.providerSpec.statementEntries[0].effect: \
             expected `Allow` or `Deny`, found `allow`",
        );
    }

    #[test]
    fn missing_resource() {
        expect_invalid(
            &[(
                "a.yaml",
                base_with("      resource: \"*\"\n", "").as_bytes(),
            )],
            "invalid input (1 problem)\n  a.yaml: document 1: spec.providerSpec.statementEntries[0].resource: missing",
        );
    }

    #[test]
    fn policy_condition_not_a_map_of_maps() {
        let list = base_with(
            "      resource: \"*\"\n",
            "      resource: \"*\"\n      policyCondition: [Bool]\n",
        );
        expect_invalid(
            &[("a.yaml", list.as_bytes())],
            "invalid input (1 problem)\n  a.yaml: document 1: spec.providerSpec.statementEntries[0].policyCondition: \
             expected a mapping of condition operators to mappings of keys and values, found a list",
        );
        let flat = base_with(
            "      resource: \"*\"\n",
            "      resource: \"*\"\n      policyCondition:\n        Bool: true\n",
        );
        expect_invalid(
            &[("a.yaml", flat.as_bytes())],
            "invalid input (1 problem)\n  a.yaml: document 1: spec.providerSpec.statementEntries[0].policyCondition.Bool: \
             expected a mapping of condition keys to values, found a boolean",
        );
    }

    #[test]
    fn malformed_yaml_reports_line_and_column_in_the_file() {
        // The broken document is the second one: line numbers count from the file start.
        let yaml =
            format!("{BASE}---\nkind: CredentialsRequest\nspec:\n  secretRef: [a, b\n  other: x\n");
        expect_invalid(
            &[("a.yaml", yaml.as_bytes())],
            "invalid input (1 problem)\n  a.yaml: document 2: line 24, column 14: `[` is never closed (the parser stopped at line 25, column 8: illegal placement of ':' indicator)",
        );
    }

    #[test]
    fn malformed_json_reports_line_and_column() {
        expect_invalid(
            &[(
                "a.json",
                b"{\"kind\": \"CredentialsRequest\",\n  \"spec\": {,}\n}\n",
            )],
            "invalid input (1 problem)\n  a.json: document 1: line 2, column 12: key must be a string",
        );
    }

    #[test]
    fn duplicate_secret_refs_name_the_first_request() {
        let second = base_with("name: ingress", "name: ingress-again");
        expect_invalid(
            &[
                ("a.yaml", BASE.as_bytes()),
                ("b.yaml", format!("{BASE}---\n{second}").as_bytes()),
            ],
            "invalid input (2 problems)\n  \
             b.yaml: document 1: spec.secretRef: secret openshift-ingress-operator/cloud-credentials is also requested by a.yaml: document 1\n  \
             b.yaml: document 2: spec.secretRef: secret openshift-ingress-operator/cloud-credentials is also requested by a.yaml: document 1",
        );
    }

    #[test]
    fn unexpanded_template_in_secret_ref() {
        let yaml = base_with(
            "namespace: openshift-ingress-operator",
            "namespace: ${NAMESPACE}",
        )
        .replace("name: cloud-credentials", "name: \"{{ .Name }}\"");
        expect_invalid(
            &[("a.yaml", yaml.as_bytes())],
            "invalid input (2 problems)\n  \
             a.yaml: document 1: spec.secretRef.namespace: `${NAMESPACE}` is not a valid Kubernetes name (unexpanded template?)\n  \
             a.yaml: document 1: spec.secretRef.name: `{{ .Name }}` is not a valid Kubernetes name (unexpanded template?)",
        );
    }

    #[test]
    fn invalid_kubernetes_names() {
        let yaml = base_with(
            "namespace: openshift-ingress-operator",
            "namespace: openshift.ingress",
        )
        .replace("name: cloud-credentials", "name: Cloud_Credentials");
        expect_invalid(
            &[("a.yaml", yaml.as_bytes())],
            "invalid input (2 problems)\n  \
             a.yaml: document 1: spec.secretRef.namespace: `openshift.ingress` is not a valid Kubernetes name (a DNS-1123 label: \
             at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit)\n  \
             a.yaml: document 1: spec.secretRef.name: `Cloud_Credentials` is not a valid Kubernetes name (a DNS-1123 subdomain: \
             at most 253 lowercase letters, digits, '-' and '.', each part starting and ending with a letter or digit)",
        );
    }

    #[test]
    fn non_utf8_file() {
        expect_invalid(
            &[(
                "a.yaml",
                b"kind: CredentialsRequest\nmetadata:\n  name: caf\xe9\n",
            )],
            "invalid input (1 problem)\n  a.yaml: not valid UTF-8 (invalid byte at line 3, column 12)",
        );
    }

    #[test]
    fn oversized_file() {
        let big = vec![b'#'; MAX_FILE_BYTES as usize + 1];
        expect_invalid(
            &[("a.yaml", &big)],
            "invalid input (1 problem)\n  a.yaml: file is larger than 4 MiB (4194305 bytes); refusing to read it",
        );
        // Exactly 4 MiB is fine (a comment-only file: no documents).
        let dir = dir_with(&[("a.yaml", &big[1..])]);
        assert_eq!(load(dir.path(), &DEFAULT).unwrap(), Loaded::default());
    }

    #[test]
    fn missing_directory_and_file_as_directory() {
        let dir = dir_with(&[("a.yaml", BASE.as_bytes())]);
        let before = snapshot(dir.path());
        let err = load(&dir.path().join("missing"), &DEFAULT).unwrap_err();
        assert_eq!(
            rel(&dir, &err.to_string()),
            "invalid input (1 problem)\n  missing: does not exist"
        );
        let err = load(&dir.path().join("a.yaml"), &DEFAULT).unwrap_err();
        assert_eq!(
            rel(&dir, &err.to_string()),
            "invalid input (1 problem)\n  a.yaml: not a directory"
        );
        assert_eq!(snapshot(dir.path()), before);
    }

    #[test]
    fn wrong_types_everywhere() {
        let yaml = "kind: CredentialsRequest\nmetadata:\n  name: 7\nspec:\n  secretRef: x\n  serviceAccountNames: [sa, 3]\n  \
                    providerSpec:\n    kind: AWSProviderSpec\n    statementEntries:\n    - effect: 1\n      action: s3:GetObject\n      \
                    resource: [\"*\"]\n    - nope\n";
        expect_invalid(
            &[("a.yaml", yaml.as_bytes())],
            "invalid input (7 problems)\n  \
             a.yaml: document 1: metadata.name: expected a string, found a number\n  \
             a.yaml: document 1: spec.secretRef: expected a mapping, found a string\n  \
             a.yaml: document 1: spec.serviceAccountNames[1]: expected a string, found a number\n  \
             a.yaml: document 1: spec.providerSpec.statementEntries[0].effect: expected `Allow` or `Deny`, found a number\n  \
             a.yaml: document 1: spec.providerSpec.statementEntries[0].action: expected a list of strings, found a string\n  \
             a.yaml: document 1: spec.providerSpec.statementEntries[0].resource: expected a string, found a list\n  \
             a.yaml: document 1: spec.providerSpec.statementEntries[1]: expected a mapping, found a string",
        );
    }

    #[test]
    fn every_problem_in_every_file_is_reported() {
        let no_name = base_with("    name: cloud-credentials\n", "");
        let bad_effect =
            base_with("effect: Allow", "effect: Permit").replace("cloud-credentials", "other");
        expect_invalid(
            &[
                ("a.yaml", format!("{no_name}---\n{bad_effect}").as_bytes()),
                ("b.json", b"[1, 2"),
                (
                    "c.yml",
                    b"kind: CredentialsRequest\nspec: {providerSpec: {kind: AWSProviderSpec}}\n",
                ),
                ("d.yaml", b"\xff"),
            ],
            "invalid input (7 problems)\n  \
             a.yaml: document 1: spec.secretRef.name: missing\n  \
             a.yaml: document 2: spec.providerSpec.statementEntries[0].effect: expected `Allow` or `Deny`, found `Permit`\n  \
             b.json: document 1: line 1, column 5: EOF while parsing a list\n  \
             c.yml: document 1: spec.secretRef: missing\n  \
             c.yml: document 1: spec.serviceAccountNames: missing (a role needs at least one service account to trust)\n  \
             c.yml: document 1: spec.providerSpec.statementEntries: missing (an AWS request needs at least one statement)\n  \
             d.yaml: not valid UTF-8 (invalid byte at line 1, column 1)",
        );
    }

    #[test]
    fn broken_symlink_names_the_file() {
        let dir = dir_with(&[]);
        std::os::unix::fs::symlink("nowhere.yaml", dir.path().join("a.yaml")).unwrap();
        std::os::unix::fs::symlink("loop.yaml", dir.path().join("loop.yaml")).unwrap();
        let before = snapshot(dir.path());
        let err = load(dir.path(), &DEFAULT).unwrap_err();
        let lines = error_lines(&dir, &err);
        assert_eq!(lines[0], "a.yaml: cannot follow symlink: does not exist");
        assert!(
            lines[1].starts_with("loop.yaml: cannot follow symlink: "),
            "{lines:?}"
        );
        assert_eq!(lines.len(), 2);
        assert_eq!(snapshot(dir.path()), before);
    }

    // -----------------------------------------------------------------------------------
    // What is read and how documents are counted

    #[test]
    fn other_files_and_subdirectories_are_ignored_and_symlinks_followed() {
        let elsewhere = dir_with(&[("target.yaml", BASE.as_bytes())]);
        let dir = dir_with(&[
            ("README", b"not yaml: [".as_slice()),
            ("notes.txt", b"\xff\xfe"),
            ("a.yaml.bak", b"{"),
            ("sub/b.yaml", BASE.as_bytes()),
        ]);
        fs::create_dir(dir.path().join("dir.yaml")).unwrap();
        std::os::unix::fs::symlink(
            elsewhere.path().join("target.yaml"),
            dir.path().join("link.yaml"),
        )
        .unwrap();
        let loaded = load(dir.path(), &DEFAULT).unwrap();
        let r = only_request(&loaded);
        assert_eq!(rel(&dir, &r.source.file), "link.yaml");
        assert!(loaded.skipped.is_empty());
    }

    #[test]
    fn json_files_hold_one_or_more_requests() {
        let yaml_value: Value = serde_saphyr::from_str(BASE).unwrap();
        let mut second = yaml_value.clone();
        second["spec"]["secretRef"]["name"] = json!("second");
        let text = format!(
            "{yaml_value}\n{}\n",
            serde_json::to_string_pretty(&second).unwrap()
        );
        let dir = dir_with(&[("requests.json", text.as_bytes())]);
        let loaded = load(dir.path(), &DEFAULT).unwrap();
        assert_eq!(loaded.requests.len(), 2);
        assert_eq!(loaded.requests[1].source.document, 2);
        assert_eq!(
            loaded.requests[1].secret_ref,
            secret("openshift-ingress-operator", "second")
        );
        let yaml = dir_with(&[("a.yaml", BASE.as_bytes())]);
        let from_yaml = load(yaml.path(), &DEFAULT).unwrap();
        assert_eq!(
            loaded.requests[0].statements,
            only_request(&from_yaml).statements
        );
    }

    #[test]
    fn document_numbers_count_separators_as_users_do() {
        let other = base_with("cloud-credentials", "second");
        let text = format!(
            "# leading comment, not a document\n---\n{BASE}---\n# comment-only document\n---\n---\n{other}...\n---\n"
        );
        let dir = dir_with(&[("a.yaml", text.as_bytes())]);
        let loaded = load(dir.path(), &DEFAULT).unwrap();
        let documents: Vec<usize> = loaded.requests.iter().map(|r| r.source.document).collect();
        assert_eq!(documents, [1, 4]);
        assert!(loaded.skipped.is_empty());

        // A trailing `---` is fine.
        let dir = dir_with(&[("a.yaml", format!("{BASE}---\n").as_bytes())]);
        assert_eq!(load(dir.path(), &DEFAULT).unwrap().requests.len(), 1);
    }

    #[test]
    fn split_yaml_rule() {
        let numbers = |text: &str| -> Vec<(usize, String)> {
            split_yaml(text)
                .iter()
                .map(|c| (c.first_line, c.text.to_string()))
                .collect()
        };
        assert_eq!(numbers(""), []);
        assert_eq!(numbers("# only a comment\n"), []);
        assert_eq!(numbers("a: 1\n"), [(1, "a: 1\n".to_string())]);
        assert_eq!(numbers("---\na: 1\n"), [(1, "---\na: 1\n".to_string())]);
        assert_eq!(
            numbers("%YAML 1.2\n---\na: 1"),
            [(1, "%YAML 1.2\n---\na: 1".to_string())]
        );
        assert_eq!(
            numbers("a: 1\n---\n--- # c\nb: |\n  ---x\n...\nc: 3\n"),
            [
                (1, "a: 1\n".to_string()),
                (2, "---\n".to_string()),
                (3, "--- # c\nb: |\n  ---x\n...\n".to_string()),
                (7, "c: 3\n".to_string()),
            ]
        );
        assert!(!is_marker("----\n", "---"));
        assert!(is_marker("---\r\n", "---"));
    }

    #[test]
    fn norway_problem_does_not_bite() {
        let yaml = base_with("namespace: openshift-ingress-operator", "namespace: no")
            .replace("name: cloud-credentials", "name: yes")
            .replace("- ingress-operator", "- on");
        let dir = dir_with(&[("a.yaml", yaml.as_bytes())]);
        let r = only_request(&load(dir.path(), &DEFAULT).unwrap()).clone();
        assert_eq!(r.secret_ref, secret("no", "yes"));
        assert_eq!(r.service_account_names, ["on"]);
    }

    #[test]
    fn feature_set_rules() {
        let with_set = |value: &str| {
            base_with(
                "  namespace: openshift-cloud-credential-operator\n",
                &format!(
                    "  namespace: openshift-cloud-credential-operator\n  annotations:\n    release.openshift.io/feature-set: {value}\n"
                ),
            )
        };
        let dir = dir_with(&[
            (
                "a.yaml",
                with_set("CustomNoUpgrade,TechPreviewNoUpgrade").as_bytes(),
            ),
            (
                "b.yaml",
                with_set("CustomNoUpgrade")
                    .replace("cloud-credentials", "b")
                    .as_bytes(),
            ),
        ]);
        let loaded = load(dir.path(), &DEFAULT).unwrap();
        assert!(loaded.requests.is_empty());
        assert_eq!(
            notes(&dir, &loaded),
            [
                "a.yaml: document 1: skipped: annotation `release.openshift.io/feature-set: CustomNoUpgrade,TechPreviewNoUpgrade` \
                 marks it tech preview (`--enable-tech-preview` includes it)",
                "b.yaml: document 1: skipped: annotation `release.openshift.io/feature-set: CustomNoUpgrade` \
                 does not include `TechPreviewNoUpgrade`",
            ]
        );
        let loaded = load(dir.path(), &TP).unwrap();
        assert_eq!(
            only_request(&loaded).source.file,
            dir.path().join("a.yaml").display().to_string()
        );
        assert_eq!(
            notes(&dir, &loaded),
            [
                "b.yaml: document 1: skipped: annotation `release.openshift.io/feature-set: CustomNoUpgrade` \
              does not include `TechPreviewNoUpgrade`"
            ]
        );
    }

    #[test]
    fn skip_reasons_for_odd_documents() {
        let dir = dir_with(&[(
            "a.yaml",
            b"kind: ConfigMap\n---\napiVersion: v1\n---\nkind: CredentialsRequest\nspec: {}\n---\n\
              kind: CredentialsRequest\nspec:\n  providerSpec: {statementEntries: []}\n"
                .as_slice(),
        )]);
        let loaded = load(dir.path(), &DEFAULT).unwrap();
        assert_eq!(
            notes(&dir, &loaded),
            [
                "a.yaml: document 1: skipped: kind is `ConfigMap`, not `CredentialsRequest`",
                "a.yaml: document 2: skipped: kind is missing, not `CredentialsRequest`",
                "a.yaml: document 3: skipped: spec.providerSpec is missing, so it is not an `AWSProviderSpec` request",
                "a.yaml: document 4: skipped: providerSpec kind is missing, not `AWSProviderSpec`",
            ]
        );
        let skipped = &loaded.skipped[0];
        assert_eq!(
            skipped.note(),
            format!(
                "{}: document 1: skipped: {}",
                skipped.source.file, skipped.reason
            )
        );
    }

    #[test]
    fn deny_effect_and_empty_condition_are_accepted() {
        let yaml = base_with("effect: Allow", "effect: Deny").replace(
            "      resource: \"*\"\n",
            "      resource: \"*\"\n      policyCondition: {}\n",
        );
        let dir = dir_with(&[("a.yml", yaml.as_bytes())]);
        let r = only_request(&load(dir.path(), &DEFAULT).unwrap()).clone();
        assert_eq!(r.statements[0].effect, "Deny");
        assert_eq!(r.statements[0].policy_condition, None);
    }

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

    #[test]
    fn an_unclosed_bracket_is_reported_where_it_opens() {
        let dir = tempfile::tempdir().unwrap();
        let text = "apiVersion: cloudcredential.openshift.io/v1\nkind: CredentialsRequest\nspec:\n  providerSpec:\n    kind: AWSProviderSpec\n    statementEntries:\n    - action: [s3:GetObject\n      effect: Allow\n      resource: \"*\"\n";
        std::fs::write(dir.path().join("a.yaml"), format!("---\n{text}")).unwrap();
        let errors = load(dir.path(), &LoadOptions::default()).unwrap_err().0;
        assert_eq!(errors.len(), 1, "{errors:?}");
        let e = &errors[0];
        // Line 8 (the `---` is line 1), where the `[` is; the parser noticed on line 9.
        assert_eq!(e.field.as_deref(), Some("line 8, column 15"), "{e}");
        assert!(
            e.problem
                .starts_with("`[` is never closed (the parser stopped at line 9, column 13: "),
            "{e}"
        );
    }

    #[test]
    fn the_unclosed_bracket_scan_ignores_quotes_comments_and_plain_scalars() {
        assert_eq!(unclosed_flow("a: [x, y\nb: 1\n", 2), Some((1, 4, '[')));
        assert_eq!(unclosed_flow("a: {x: [1, 2]\nb: 1\n", 2), Some((1, 4, '{')));
        // Closed on a later line: a multi-line flow is fine.
        assert_eq!(unclosed_flow("a: [x,\n  y]\nb: [\n", 3), None);
        assert_eq!(
            unclosed_flow("a: \"[x\"\nb: 'it''s [' # [\nc: foo[0]\n", 4),
            None
        );
        // Only brackets opened before the error line count.
        assert_eq!(unclosed_flow("a: 1\nb: [x\n", 2), None);
    }

    #[test]
    fn request_files_inside_the_working_directory_are_shown_relative_to_it() {
        let cwd = Path::new("/home/runner/work/repo");
        assert_eq!(
            shown_path(
                Path::new("/home/runner/work/repo/credreqs/a.yaml"),
                Some(cwd)
            ),
            "credreqs/a.yaml"
        );
        assert_eq!(
            shown_path(Path::new("credreqs/a.yaml"), Some(cwd)),
            "credreqs/a.yaml"
        );
        assert_eq!(
            shown_path(Path::new("/srv/credreqs/a.yaml"), Some(cwd)),
            "/srv/credreqs/a.yaml"
        );
        assert_eq!(shown_path(Path::new("/srv/a.yaml"), None), "/srv/a.yaml");
    }

    #[test]
    fn non_aws_documents_are_summed_up_and_rule_skips_stay_one_per_request() {
        let skipped = |file: &str, document: usize, reason: &str, not_aws: bool| Skipped {
            source: Source {
                file: file.into(),
                document,
            },
            reason: reason.into(),
            not_aws,
        };
        let loaded = Loaded {
            requests: Vec::new(),
            skipped: vec![
                skipped(
                    "a.yaml",
                    2,
                    "providerSpec kind is `GCPProviderSpec`, not `AWSProviderSpec`",
                    true,
                ),
                skipped(
                    "a.yaml",
                    3,
                    "providerSpec kind is `AzureProviderSpec`, not `AWSProviderSpec`",
                    true,
                ),
                skipped("b.yaml", 1, "marked for deletion", false),
                skipped(
                    "c.yaml",
                    1,
                    "kind is `ConfigMap`, not `CredentialsRequest`",
                    true,
                ),
            ],
        };
        assert_eq!(
            loaded.notes(false),
            [
                "b.yaml: document 1: skipped: marked for deletion",
                "skipped 3 non-AWS documents in 2 files (--verbose lists them)",
            ]
        );
        assert_eq!(
            loaded.notes(true),
            loaded.skipped.iter().map(Skipped::note).collect::<Vec<_>>()
        );
        let one = Loaded {
            requests: Vec::new(),
            skipped: loaded.skipped[..1].to_vec(),
        };
        assert_eq!(
            one.notes(false),
            ["skipped 1 non-AWS document in 1 file (--verbose lists them)"]
        );
        // The real examples: every other cloud's request is a non-AWS document, the
        // feature-gated AWS request is not.
        let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/cluster");
        let loaded = load(&examples, &DEFAULT).unwrap();
        assert!(
            loaded
                .skipped
                .iter()
                .filter(|s| s.not_aws)
                .all(|s| !s.reason.contains("feature"))
        );
        assert!(
            loaded
                .skipped
                .iter()
                .any(|s| !s.not_aws && s.reason.contains("feature-gate"))
        );
    }
}

//! Reading the requests directory: which files are request files (`.yaml`/`.yml`, sorted
//! as ccoctl sorts them; `.json` files are listed as ignored), and each file's text, with
//! size and type checks before anything is read.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use super::{IgnoredFile, MAX_FILE_BYTES, one_line};
use crate::error::InputError;

/// The request files in `dir`, sorted by file name (byte order, as ccoctl's `os.ReadDir`),
/// and the `.json` files left out.
pub(super) fn list_files(dir: &Path) -> Result<(Vec<PathBuf>, Vec<IgnoredFile>), InputError> {
    let shown = dir.display().to_string();
    let meta = fs::metadata(dir).map_err(|e| InputError::new(&shown, io_problem(&e)))?;
    if !meta.is_dir() {
        return Err(InputError::new(&shown, "not a directory"));
    }
    let entries = fs::read_dir(dir).map_err(|e| {
        InputError::new(&shown, format!("cannot read directory: {}", io_problem(&e)))
    })?;
    let mut files = Vec::new();
    let mut ignored = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| {
            InputError::new(&shown, format!("cannot read directory: {}", io_problem(&e)))
        })?;
        let name = entry.file_name();
        let path = dir.join(&name);
        // The name first: the other files are none of our business, even broken ones.
        // ccoctl matches the suffix exactly (`.yaml`, `.yml`, case-sensitive).
        let text = name.to_string_lossy();
        if text.ends_with(".yaml") || text.ends_with(".yml") {
            files.push((name, path));
        } else if text.ends_with(".json") && !path.is_dir() {
            ignored.push((name, path));
        }
    }
    files.sort_by(|a, b| a.0.cmp(&b.0));
    ignored.sort_by(|a, b| a.0.cmp(&b.0));
    let cwd = std::env::current_dir().ok();
    let ignored = ignored
        .into_iter()
        .map(|(_, path)| IgnoredFile {
            file: shown_path(&path, cwd.as_deref()),
        })
        .collect();
    Ok((files.into_iter().map(|(_, path)| path).collect(), ignored))
}

/// How a request file is named in plans, notes and errors: relative to the working
/// directory when it is inside it, so that a plan made in CI does not carry the runner's
/// absolute checkout path (and reads the same on every machine); as given otherwise.
pub(super) fn shown_path(path: &Path, cwd: Option<&Path>) -> String {
    match cwd.and_then(|cwd| path.strip_prefix(cwd).ok()) {
        Some(rel) if path.is_absolute() && !rel.as_os_str().is_empty() => rel.display().to_string(),
        _ => path.display().to_string(),
    }
}

/// The file's text, checked for size, type and encoding; `None` for a directory.
pub(super) fn read_text(path: &Path, file: &str) -> Result<Option<String>, InputError> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}

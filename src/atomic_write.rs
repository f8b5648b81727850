//! atomic_write: the one way stsform replaces a file (the state and its backup, the
//! signing key and the installer's copy, the manifests, a saved plan), so that a crash
//! leaves the old content or the new, never a mix, and never a readable secret.
//!
//! A temporary file next to the target (same filesystem, so the rename is atomic), created
//! 0600 before any byte is written, given its final mode, fsynced, renamed over the target,
//! and the directory fsynced so the new name survives a crash. Parents are created (0700
//! for an owner-only file). A writer killed between creating its temporary file and the
//! rename leaves it behind, maybe holding key material: the next write of the same file
//! removes it (writers of one file hold the state lock, so no other writer's temporary
//! file is in flight). Must not decide what to write or where.

use std::fs;
use std::io::{self, Write as _};
use std::path::{Path, PathBuf};

/// A failed write: the file or directory the failing step was on, and the OS error.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct WriteError {
    /// The target, its directory, or the temporary file, whichever the step was on.
    pub path: PathBuf,
    /// The OS error.
    pub source: io::Error,
}

fn at(path: &Path) -> impl FnOnce(io::Error) -> WriteError + '_ {
    move |source| WriteError {
        path: path.to_path_buf(),
        source,
    }
}

/// Replaces `path` with `bytes`, mode `mode` (e.g. `0o600`, `0o644`), as described above.
pub fn write(path: &Path, bytes: &[u8], mode: u32) -> Result<(), WriteError> {
    write_stat(path, bytes, mode).map(drop)
}

/// [`write`], returning the new file's metadata as it was renamed into place (taken from
/// the written file itself, so a change someone makes after the rename shows as a
/// difference from it).
pub fn write_stat(path: &Path, bytes: &[u8], mode: u32) -> Result<fs::Metadata, WriteError> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let file_name = path.file_name().ok_or_else(|| WriteError {
        path: path.to_path_buf(),
        source: io::Error::new(io::ErrorKind::InvalidInput, "not a file path"),
    })?;
    create_dirs(dir, mode & 0o077 == 0).map_err(at(dir))?;

    let mut prefix = std::ffi::OsString::from(".");
    prefix.push(file_name);
    prefix.push(".");
    remove_stale_temps(dir, &prefix);
    let mut builder = tempfile::Builder::new();
    builder.prefix(&prefix).suffix(".tmp");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        // Passed to open(2), so the file is 0600 from creation, before any byte is written.
        builder.permissions(fs::Permissions::from_mode(0o600));
    }
    // On any error below the NamedTempFile is dropped, which deletes it.
    let mut tmp = builder.tempfile_in(dir).map_err(at(dir))?;
    tmp.write_all(bytes).map_err(at(tmp.path()))?;
    #[cfg(unix)]
    if mode != 0o600 {
        use std::os::unix::fs::PermissionsExt as _;
        // fchmod, so the umask does not narrow what the plan asked for.
        tmp.as_file()
            .set_permissions(fs::Permissions::from_mode(mode))
            .map_err(at(tmp.path()))?;
    }
    tmp.as_file().sync_all().map_err(at(tmp.path()))?;
    // A rename keeps the inode and the modification time.
    let written = tmp.as_file().metadata().map_err(at(tmp.path()))?;
    tmp.persist(path).map_err(|e| WriteError {
        path: path.to_path_buf(),
        source: e.error,
    })?;
    sync_dir(dir).map_err(at(dir))?;
    Ok(written)
}

/// Deletes `<prefix>*.tmp` files in `dir` (best effort: a failure leaves them, nothing else).
fn remove_stale_temps(dir: &Path, prefix: &std::ffi::OsStr) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    let prefix = prefix.to_string_lossy();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with(prefix.as_ref()) && name.ends_with(".tmp") {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// `mkdir -p`; with `private`, mode 0700 for the directories it creates (existing ones
/// are untouched).
fn create_dirs(dir: &Path, private: bool) -> io::Result<()> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    if private {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(dir)
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    // Directories cannot be opened for fsync on Windows; the rename is still atomic.
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt as _;

    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn writes_with_the_mode_asked_and_removes_a_killed_writers_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("manifests/x.yaml");
        write(&path, b"one", 0o644).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"one");
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o644);
        // Not an owner-only file: its directory is made as usual, not 0700.
        assert_ne!(mode(&dir.path().join("manifests")), 0o700);

        // What a writer killed before its rename leaves behind, and an unrelated file.
        let stale = dir.path().join("manifests/.x.yaml.AbC123.tmp");
        fs::write(&stale, b"half").unwrap();
        fs::write(dir.path().join("manifests/.y.yaml.AbC123.tmp"), b"other").unwrap();
        write(&path, b"two", 0o600).unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(mode(&path), 0o600);
        assert_eq!(
            names(&dir.path().join("manifests")),
            [".y.yaml.AbC123.tmp", "x.yaml"]
        );
    }

    #[test]
    fn an_error_names_where_it_happened_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let blocker = dir.path().join("not-a-dir");
        fs::write(&blocker, b"").unwrap();
        let err = write(&blocker.join("x"), b"x", 0o644).unwrap_err();
        assert_eq!(err.path, blocker);
        // A directory where the file should be: the rename fails, nothing is left.
        let target = dir.path().join("taken");
        fs::create_dir(&target).unwrap();
        let err = write(&target, b"x", 0o644).unwrap_err();
        assert_eq!(err.path, target, "{err}");
        assert_eq!(names(dir.path()), ["not-a-dir", "taken"]);
    }
}

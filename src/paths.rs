//! Local paths: how the state records where a key or manifest file is, and where runs
//! find it. Pure: callers pass the working directory; nothing here touches a file.
//!
//! Settings paths are relative to the **settings base**: the directory of the settings
//! file when one is used, else the working directory. The state and plans record a local
//! file's path relative to that base too (absolute only when the output directory was
//! given as an absolute path), so the same settings give the same state, and a plan
//! without changes, from any working directory and from any checkout path. Runs reach a
//! recorded path through the base ([`resolve`]) and show it as it is found from the
//! working directory ([`shown`]).
//!
//! States written before version 3 recorded paths relative to the working directory of
//! the run that wrote them; [`anchor`] reads them from the current working directory (as
//! the stsform that wrote them did) and re-records them relative to the base.

use std::path::{Component, Path, PathBuf};

use crate::resource::Spec;
use crate::settings::Settings;
use crate::state::{LocalPaths, State};

/// `path` with `.` dropped and `name/..` folded, lexically (the path need not exist).
/// A relative path keeps its leading `..`; an empty result is `.`.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => match out.components().next_back() {
                Some(Component::Normal(_)) => {
                    out.pop();
                }
                // `/..` is `/`.
                Some(Component::RootDir | Component::Prefix(_)) => {}
                _ => out.push(".."),
            },
            other => out.push(other),
        }
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// `path` as reached from `base`; both absolute and normalized (`../x` when `x` is a
/// sibling of `base`, `.` when they are the same).
pub fn relative_to(path: &Path, base: &Path) -> PathBuf {
    let (path, base): (Vec<Component<'_>>, Vec<Component<'_>>) =
        (path.components().collect(), base.components().collect());
    let common = path.iter().zip(&base).take_while(|(a, b)| a == b).count();
    let mut out = PathBuf::new();
    for _ in common..base.len() {
        out.push("..");
    }
    for part in &path[common..] {
        out.push(part);
    }
    normalize(&out)
}

/// `path` (relative to `cwd` unless absolute) as absolute and normalized.
fn absolute(cwd: &Path, path: &Path) -> PathBuf {
    normalize(&cwd.join(path))
}

/// How the state records `path`, a path given relative to the working directory `cwd`
/// (a flag): relative to `base` (itself relative to `cwd`), or absolute when given so.
pub fn recorded_from_cwd(path: &Path, base: &Path, cwd: &Path) -> PathBuf {
    if path.is_absolute() {
        return normalize(path);
    }
    relative_to(&absolute(cwd, path), &absolute(cwd, base))
}

/// A recorded path (relative to `base`, or absolute) as the working directory reaches
/// it: what local reads and writes open.
pub fn resolve(base: &Path, recorded: &str) -> PathBuf {
    let recorded = Path::new(recorded);
    if recorded.is_absolute() {
        recorded.to_path_buf()
    } else {
        base.join(recorded)
    }
}

/// A recorded path as the user finds it from the working directory (`base` joined and
/// normalized: `../install/x` from a base `cfg` is `install/x`).
pub fn shown(base: &Path, recorded: &str) -> String {
    normalize(&resolve(base, recorded)).display().to_string()
}

/// Records the local paths of a state older than version 3 relative to the settings
/// base. Those paths were relative to the working directory of the run that wrote them,
/// which the state did not record: they are read from the current working directory
/// `cwd`, as that stsform read them, and re-recorded in the form the output directory
/// setting takes (relative to the base, or absolute). Run from the directory the state
/// was last applied from, the files are found where they are. Does nothing to a state
/// whose paths are relative to the base already.
pub fn anchor(state: &mut State, settings: &Settings, cwd: &Path) {
    if state.local_paths == LocalPaths::SettingsBase {
        return;
    }
    let base = absolute(cwd, &settings.base);
    let keep_absolute = settings.recorded_output_dir.is_absolute();
    let anchored = |old: &str| -> String {
        let found = absolute(cwd, Path::new(old));
        let path = if keep_absolute {
            found
        } else {
            relative_to(&found, &base)
        };
        path.display().to_string()
    };
    for resource in state.resources.values_mut() {
        resource.spec = resource.spec.with_local_paths(anchored);
    }
    state.local_paths = LocalPaths::SettingsBase;
}

/// `spec` with its local paths shown from the working directory (see [`shown`]).
pub fn spec_shown(spec: &Spec, base: &Path) -> Spec {
    spec.with_local_paths(|p| shown(base, p))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(p: &str) -> String {
        normalize(Path::new(p)).display().to_string()
    }

    #[test]
    fn paths_normalize_lexically() {
        assert_eq!(n("cfg/../install2/x"), "install2/x");
        assert_eq!(n("./install/./x"), "install/x");
        assert_eq!(n("../a/../../b"), "../../b");
        assert_eq!(n("/a/../../b"), "/b");
        assert_eq!(n("a/.."), ".");
        assert_eq!(n(""), ".");
    }

    #[test]
    fn relative_paths_between_absolute_ones() {
        let r = |p: &str, b: &str| {
            relative_to(Path::new(p), Path::new(b))
                .display()
                .to_string()
        };
        assert_eq!(r("/w/install2/x", "/w/cfg"), "../install2/x");
        assert_eq!(r("/w/cfg/x", "/w/cfg"), "x");
        assert_eq!(r("/w/cfg", "/w/cfg"), ".");
        assert_eq!(r("/a/b", "/c/d"), "../../a/b");
    }

    #[test]
    fn a_flag_path_is_recorded_from_the_base_and_found_from_the_working_directory() {
        let cwd = Path::new("/w");
        // `--config cfg/stsform.toml --output-dir install2` run from /w.
        let rec = recorded_from_cwd(Path::new("install2"), Path::new("cfg"), cwd);
        assert_eq!(rec, Path::new("../install2"));
        // The same from /w/cfg with `--config stsform.toml --output-dir ../install2`.
        let from_cfg =
            recorded_from_cwd(Path::new("../install2"), Path::new("."), &cwd.join("cfg"));
        assert_eq!(from_cfg, rec);
        // A config reached through `..`: the working directory's own name matters.
        let rec = recorded_from_cwd(Path::new("out"), Path::new("../cfg"), Path::new("/w/run"));
        assert_eq!(rec, Path::new("../run/out"));
        assert_eq!(
            recorded_from_cwd(Path::new("/abs/out/"), Path::new("cfg"), cwd),
            Path::new("/abs/out")
        );
        assert_eq!(
            resolve(Path::new("cfg"), "../install2/x"),
            Path::new("cfg/../install2/x")
        );
        assert_eq!(resolve(Path::new("cfg"), "/abs/x"), Path::new("/abs/x"));
        assert_eq!(shown(Path::new("cfg"), "../install2/x"), "install2/x");
        assert_eq!(shown(Path::new("."), "install/x"), "install/x");
    }

    fn settings(base: &str, recorded_output_dir: &str) -> Settings {
        let input = crate::settings::SettingsInput {
            name: Some("c1".into()),
            region: Some("us-east-2".into()),
            credentials_requests_dir: Some("creds".into()),
            config: Some(
                Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/empty-stsform.toml"),
            ),
            ..Default::default()
        };
        let mut s = crate::settings::resolve(&input, crate::settings::Need::Cluster).unwrap();
        s.base = base.into();
        s.recorded_output_dir = recorded_output_dir.into();
        s
    }

    fn old_state(paths: &[&str]) -> State {
        use crate::resource::{FileContent, FileSpec, KeyPairSpec, ResourceId, ResourceKind};
        let mut state = State::new("c1");
        state.local_paths = LocalPaths::WorkingDir;
        let key = Spec::KeyPair(KeyPairSpec {
            private_key_file: Some(paths[0].into()),
            public_key_file: paths[1].into(),
            kid: "k".into(),
        });
        let file = Spec::File(FileSpec {
            path: paths[2].into(),
            mode: 0o600,
            content: FileContent::Text("x".into()),
        });
        for (id, spec) in [
            (
                ResourceId::new(ResourceKind::KeyPair, "serviceaccount-signer"),
                key,
            ),
            (
                ResourceId::new(ResourceKind::File, "manifests/a.yaml"),
                file,
            ),
        ] {
            let resource = crate::state::StateResource {
                spec,
                depends_on: vec![],
            };
            state.resources.insert(id, resource);
        }
        state
    }

    fn local(state: &State) -> Vec<String> {
        let out = std::cell::RefCell::new(Vec::new());
        for r in state.resources.values() {
            r.spec.with_local_paths(|p| {
                out.borrow_mut().push(p.to_string());
                p.to_string()
            });
        }
        out.into_inner()
    }

    #[test]
    fn an_older_states_paths_are_read_from_the_working_directory_and_recorded_from_the_base() {
        // Written by `apply --config cfg/stsform.toml` run in /w, anchored in /w: the same
        // files, now recorded from cfg/ as a version 3 state records them.
        let mut state = old_state(&[
            "cfg/../install2/serviceaccount-signer.private",
            "cfg/../install2/serviceaccount-signer.public",
            "/w/cfg/../install2/manifests/a.yaml",
        ]);
        let s = settings("cfg", "../install2");
        anchor(&mut state, &s, Path::new("/w"));
        assert_eq!(
            local(&state),
            [
                "../install2/serviceaccount-signer.private",
                "../install2/serviceaccount-signer.public",
                "../install2/manifests/a.yaml",
            ]
        );
        assert_eq!(state.local_paths, LocalPaths::SettingsBase);
        // Once anchored, never again (the paths no longer depend on the directory).
        let before = state.clone();
        anchor(&mut state, &s, Path::new("/elsewhere"));
        assert_eq!(state, before);
        // An absolute output directory setting keeps absolute paths.
        let mut state = old_state(&["./out/p", "out/q", "/srv/out/../out/m.yaml"]);
        anchor(&mut state, &settings(".", "/srv/out"), Path::new("/srv"));
        assert_eq!(
            local(&state),
            ["/srv/out/p", "/srv/out/q", "/srv/out/m.yaml"]
        );
    }
}

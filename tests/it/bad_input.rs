//! Bad input through the binary: every case exits 1 with a precise message, makes no AWS
//! call (the endpoint is a loopback counting listener that must see zero requests) and
//! writes nothing (the whole scratch directory is byte-for-byte unchanged).
//!
//! Runs as root in CI, so `chmod 000` does not make a file unreadable (root reads through
//! it); the unreadable cases use a UNIX socket and a FIFO at a request's path instead,
//! which stsform refuses as "not a regular file" before opening (so a FIFO cannot hang it).

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::binary::{Cluster, assert_no_secrets, text};
use crate::proxy::{FaultPlan, Proxy};

/// Every file (and symlink target text, and dir) under `dir` with its bytes and mode.
fn tree(dir: &Path) -> BTreeMap<PathBuf, (Vec<u8>, u32)> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, (Vec<u8>, u32)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let meta = std::fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(base).unwrap().to_path_buf();
            let mode = meta.permissions().mode();
            if meta.is_dir() {
                out.insert(rel, (b"<dir>".to_vec(), mode));
                walk(base, &p, out);
            } else if meta.file_type().is_symlink() {
                let target = std::fs::read_link(&p).unwrap();
                out.insert(rel, (target.display().to_string().into_bytes(), mode));
            } else if meta.is_file() {
                out.insert(rel, (std::fs::read(&p).unwrap(), mode));
            } else {
                out.insert(rel, (b"<special>".to_vec(), mode));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// One bad input: how to break a fresh cluster dir, the command, the expected message.
struct Case {
    what: &'static str,
    verb: &'static str,
    extra: Vec<String>,
    arrange: Box<dyn Fn(&Cluster)>,
    message: String,
}

fn case(
    what: &'static str,
    verb: &'static str,
    arrange: impl Fn(&Cluster) + 'static,
    message: impl Into<String>,
) -> Case {
    Case {
        what,
        verb,
        extra: Vec::new(),
        arrange: Box::new(arrange),
        message: message.into(),
    }
}

fn with_flags(mut c: Case, flags: &[&str]) -> Case {
    c.extra = flags.iter().map(|s| s.to_string()).collect();
    c
}

fn write(c: &Cluster, rel: &str, bytes: impl AsRef<[u8]>) {
    let p = c.path().join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, bytes).unwrap();
}

/// A valid request for secret `ns/name`, with `spec` lines appended/replaced by `edit`.
fn request(ns: &str, name: &str) -> String {
    format!(
        "apiVersion: cloudcredential.openshift.io/v1\nkind: CredentialsRequest\nmetadata:\n  name: {name}\n  namespace: openshift-cloud-credential-operator\nspec:\n  secretRef:\n    name: {name}\n    namespace: {ns}\n  serviceAccountNames:\n  - sa\n  providerSpec:\n    apiVersion: cloudcredential.openshift.io/v1\n    kind: AWSProviderSpec\n    statementEntries:\n    - effect: Allow\n      action:\n      - s3:GetObject\n      resource: \"*\"\n"
    )
}

fn state_text(cluster: &str, version: i64) -> String {
    format!(
        "version = {version}\nserial = 3\nlineage = \"7d1b1f8e-8a43-4b4b-9d0e-5f7a1c2b3d4e\"\ncluster = \"{cluster}\"\n"
    )
}

fn cases(name: &str) -> Vec<Case> {
    let state = format!("state/{name}.toml");
    let n = name.to_string();
    let st = state.clone();
    let put_state = move |text: String| {
        let st = st.clone();
        move |c: &Cluster| write(c, &st, &text)
    };
    vec![
        // CredentialsRequest files.
        case(
            "YAML syntax error",
            "apply",
            |c| {
                write(
                    c,
                    "creds/zz.yaml",
                    "kind: CredentialsRequest\nspec: [unclosed\n",
                )
            },
            "creds/zz.yaml: document 1: line 2, column 7: unclosed bracket '['",
        ),
        case(
            "tab-indented YAML",
            "apply",
            |c| {
                write(
                    c,
                    "creds/zz.yaml",
                    "kind: CredentialsRequest\nspec:\n\tsecretRef: x\n",
                )
            },
            "creds/zz.yaml: document 1: line 3",
        ),
        case(
            "JSON syntax error",
            "apply",
            |c| {
                write(
                    c,
                    "creds/zz.yaml",
                    "{\"kind\": \"CredentialsRequest\", \"spec\": }",
                )
            },
            "creds/zz.yaml: document 1: line 1, column 40: expected value",
        ),
        case(
            "serviceAccountNames is a number",
            "apply",
            |c| {
                write(
                    c,
                    "creds/zz.yaml",
                    request("ns-a", "x").replace(
                        "  serviceAccountNames:\n  - sa\n",
                        "  serviceAccountNames: 5\n",
                    ),
                )
            },
            "creds/zz.yaml: document 1: spec.serviceAccountNames: expected a list of strings, found a number",
        ),
        case(
            "secretRef is a string",
            "apply",
            |c| {
                write(
                    c,
                    "creds/zz.yaml",
                    request("ns-a", "x").replace(
                        "  secretRef:\n    name: x\n    namespace: ns-a\n",
                        "  secretRef: ns-a/x\n",
                    ),
                )
            },
            "creds/zz.yaml: document 1: spec.secretRef: expected a mapping, found a string",
        ),
        case(
            "secretRef missing",
            "apply",
            |c| {
                write(
                    c,
                    "creds/zz.yaml",
                    request("ns-a", "x")
                        .replace("  secretRef:\n    name: x\n    namespace: ns-a\n", ""),
                )
            },
            "creds/zz.yaml: document 1: spec.secretRef: missing",
        ),
        case(
            "secretRef namespace missing",
            "apply",
            |c| {
                write(
                    c,
                    "creds/zz.yaml",
                    request("ns-a", "x").replace("    namespace: ns-a\n", ""),
                )
            },
            "creds/zz.yaml: document 1: spec.secretRef.namespace: missing",
        ),
        case(
            "statementEntries empty",
            "apply",
            |c| {
                let text = request("ns-a", "x");
                let cut = text.find("    statementEntries:").unwrap();
                write(
                    c,
                    "creds/zz.yaml",
                    format!("{}    statementEntries: []\n", &text[..cut]),
                )
            },
            "creds/zz.yaml: document 1: spec.providerSpec.statementEntries: must not be empty",
        ),
        case(
            "effect is neither Allow nor Deny",
            "apply",
            |c| {
                write(
                    c,
                    "creds/zz.yaml",
                    request("ns-a", "x").replace("effect: Allow", "effect: Maybe"),
                )
            },
            "creds/zz.yaml: document 1: spec.providerSpec.statementEntries[0].effect: expected `Allow` or `Deny`, found `Maybe`",
        ),
        case(
            "action is a mapping",
            "apply",
            |c| {
                write(
                    c,
                    "creds/zz.yaml",
                    request("ns-a", "x").replace(
                        "      action:\n      - s3:GetObject\n",
                        "      action: {s3: GetObject}\n",
                    ),
                )
            },
            "creds/zz.yaml: document 1: spec.providerSpec.statementEntries[0].action: expected a list of strings, found a mapping",
        ),
        case(
            "resource missing",
            "apply",
            |c| {
                write(
                    c,
                    "creds/zz.yaml",
                    request("ns-a", "x").replace("      resource: \"*\"\n", ""),
                )
            },
            "creds/zz.yaml: document 1: spec.providerSpec.statementEntries[0].resource: missing",
        ),
        case(
            "invalid secret name",
            "apply",
            |c| write(c, "creds/zz.yaml", request("ns-a", "Bad_Name")),
            "creds/zz.yaml: document 1: spec.secretRef.name: `Bad_Name` is not a valid Kubernetes name",
        ),
        case(
            "invalid service account name",
            "apply",
            |c| {
                write(
                    c,
                    "creds/zz.yaml",
                    request("ns-a", "x").replace("  - sa\n", "  - -sa-\n"),
                )
            },
            "creds/zz.yaml: document 1: spec.serviceAccountNames[0]: `-sa-` is not a valid Kubernetes name",
        ),
        case(
            "two requests for one Secret",
            "apply",
            |c| {
                let ingress = std::fs::read_to_string(
                    c.path().join("creds/00-ingress-credentials-request.yaml"),
                )
                .unwrap();
                write(c, "creds/zz-dup.yaml", ingress)
            },
            "creds/zz-dup.yaml: document 1: spec.secretRef: secret openshift-ingress-operator/cloud-credentials is also requested by creds/00-ingress-credentials-request.yaml: document 1",
        ),
        case(
            "role names that collide once cut to 64 bytes",
            "apply",
            |c| {
                let ns = "openshift-a-very-long-namespace-name-for-testing";
                write(c, "creds/zz-1.yaml", request(ns, "credentials-one"));
                write(c, "creds/zz-2.yaml", request(ns, "credentials-two"));
            },
            "collides with the request in creds/zz-1.yaml: document 1",
        ),
        case(
            "a bad second document",
            "apply",
            |c| {
                write(
                    c,
                    "creds/zz.yaml",
                    format!(
                        "{}---\nkind: CredentialsRequest\nspec: 7\n",
                        request("ns-a", "x")
                    ),
                )
            },
            "creds/zz.yaml: document 2: spec: expected a mapping, found a number",
        ),
        case(
            "file over 4 MiB",
            "apply",
            |c| {
                let mut text = request("ns-a", "x");
                text.push_str(&format!("# {}\n", "x".repeat(5 * 1024 * 1024)));
                write(c, "creds/zz.yaml", text)
            },
            "creds/zz.yaml: file is larger than 4 MiB (",
        ),
        case(
            "not UTF-8",
            "apply",
            |c| {
                write(
                    c,
                    "creds/zz.yaml",
                    b"kind: CredentialsRequest\nspec:\n  x: \xff\xfe\n",
                )
            },
            "creds/zz.yaml: not valid UTF-8 (invalid byte at line 3, column 6)",
        ),
        case(
            "symlink loop",
            "apply",
            |c| std::os::unix::fs::symlink("zz.yaml", c.path().join("creds/zz.yaml")).unwrap(),
            "creds/zz.yaml: cannot follow symlink:",
        ),
        case(
            "dangling symlink",
            "apply",
            |c| std::os::unix::fs::symlink("nowhere.yaml", c.path().join("creds/zz.yaml")).unwrap(),
            "creds/zz.yaml: cannot follow symlink:",
        ),
        case(
            "unreadable file (a socket, which even root cannot read)",
            "apply",
            |c| {
                let l =
                    std::os::unix::net::UnixListener::bind(c.path().join("creds/zz.yaml")).unwrap();
                drop(l);
            },
            "creds/zz.yaml: not a regular file",
        ),
        case(
            "a FIFO (reading it would block forever)",
            "apply",
            |c| {
                let p = c.path().join("creds/zz.yaml");
                let ok = std::process::Command::new("mkfifo")
                    .arg(&p)
                    .status()
                    .unwrap();
                assert!(ok.success());
            },
            "creds/zz.yaml: not a regular file",
        ),
        case(
            "requests dir is a file",
            "apply",
            |c| write(c, "notadir", "x"),
            "notadir: not a directory",
        ),
        // Settings.
        with_flags(
            case(
                "uppercase cluster name",
                "apply",
                |_| {},
                "--name: `Prod_East` contains `P`",
            ),
            &["--name", "Prod_East"],
        ),
        with_flags(
            case(
                "cluster name too long",
                "apply",
                |_| {},
                "would exceed S3's 63 (use at most 58)",
            ),
            &["--name", &"a".repeat(59)],
        ),
        with_flags(
            case(
                "unknown region",
                "apply",
                |_| {},
                "--region: unknown region `us-east-9`",
            ),
            &["--region", "us-east-9"],
        ),
        with_flags(
            case(
                "boundary in another partition",
                "apply",
                |_| {},
                "--permissions-boundary-arn: `arn:aws-cn:iam::123456789012:policy/b` is in partition `aws-cn`, but the region is in `aws`",
            ),
            &[
                "--permissions-boundary-arn",
                "arn:aws-cn:iam::123456789012:policy/b",
            ],
        ),
        with_flags(
            case(
                "identity provider ARN of a role",
                "apply",
                |_| {},
                "--identity-provider-arn: `arn:aws:iam::123456789012:role/x` is not of the form",
            ),
            &[
                "--identity-provider-arn",
                "arn:aws:iam::123456789012:role/x",
            ],
        ),
        with_flags(
            case(
                "config with a misspelt key",
                "apply",
                |c| write(c, "bad.toml", "regon = \"us-east-1\"\n"),
                "bad.toml: line 1, column 1: unknown field `regon`",
            ),
            &["--config", "bad.toml"],
        ),
        with_flags(
            case(
                "config that is not TOML",
                "apply",
                |c| write(c, "bad.toml", "name = \n"),
                "bad.toml: line 1, column 8",
            ),
            &["--config", "bad.toml"],
        ),
        with_flags(
            case(
                "reserved tag key",
                "apply",
                |c| write(c, "tags.toml", "[tags]\n\"aws:x\" = \"y\"\n"),
                "tags.toml: tags.aws:x: tag keys starting with `aws:` are reserved by AWS",
            ),
            &["--config", "tags.toml"],
        ),
        with_flags(
            case(
                "missing public key file",
                "apply",
                |_| {},
                "nope.pem: cannot read the public key",
            ),
            &["--public-key-file", "nope.pem"],
        ),
        // Keys in the output dir.
        case(
            "corrupt private key",
            "apply",
            |c| {
                write(
                    c,
                    "install/serviceaccount-signer.private",
                    "-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n",
                )
            },
            "install/serviceaccount-signer.private",
        ),
        case(
            "public key without its private half",
            "apply",
            |c| {
                std::fs::remove_file(c.path().join("install/serviceaccount-signer.private"))
                    .unwrap()
            },
            "install/serviceaccount-signer.private",
        ),
        case(
            "key pair halves that do not match",
            "apply",
            |c| {
                let other =
                    crate::derive::root().join("tests/fixtures/keys/ccoctl-test.public.pem");
                std::fs::copy(other, c.path().join("install/serviceaccount-signer.public"))
                    .unwrap();
            },
            "install/serviceaccount-signer.public",
        ),
        // State files.
        case(
            "state that is not TOML",
            "apply",
            put_state("version = 1\nserial = \n".into()),
            format!("{state}: line 2, column 10"),
        ),
        case(
            "state from a newer stsform",
            "apply",
            put_state(state_text(&n, 9)),
            format!(
                "{state}: state version 9 was written by a newer stsform; this build reads up to version 3"
            ),
        ),
        case(
            "state of another cluster",
            "apply",
            put_state(state_text("other-cluster", 1)),
            format!(
                "{state}: this state belongs to cluster `other-cluster`, not `{n}`; check --state and --name"
            ),
        ),
        case(
            "state with an unknown field",
            "destroy",
            put_state(format!("{}colour = \"blue\"\n", state_text(&n, 1))),
            format!("{state}: line 5, column 1: unknown field `colour`"),
        ),
        case(
            "state whose kind disagrees with its id",
            "destroy",
            put_state(format!(
                "{}\n[[resources]]\nid = \"iam_role.x\"\nkind = \"s3_bucket\"\nattributes = {{ name = \"x\" }}\n",
                state_text(&n, 1)
            )),
            format!(
                "{state}: resources[0] (iam_role.x): kind: `s3_bucket` does not match the id's kind `iam_role`"
            ),
        ),
        case(
            "state that is not UTF-8",
            "plan",
            {
                let st = state.clone();
                move |c: &Cluster| write(c, &st, b"version = 1\n# \xff\n")
            },
            state.clone(),
        ),
        case(
            "state with version 0",
            "plan",
            put_state(state_text(&n, 0)),
            format!("{state}: version: unsupported version 0"),
        ),
    ]
}

#[test]
fn bad_input_is_refused_precisely_without_aws_calls_or_writes() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    // No upstream: it counts every request and answers 500.
    let listener = rt.block_on(Proxy::start(
        None,
        std::time::Duration::ZERO,
        FaultPlan::none(),
    ));
    let name = "bad-input";
    let all = cases(name);
    assert!(all.len() >= 30, "{} cases", all.len());
    let mut failures = Vec::new();
    for case in &all {
        let c = Cluster::new(name);
        // A lock file left by an earlier run, so the state cases' lock changes no bytes.
        write(&c, &format!("state/{name}.toml.lock"), "");
        (case.arrange)(&c);
        let mut args = c.args(case.verb);
        for pair in case.extra.chunks(2) {
            match args.iter().position(|a| *a == pair[0]) {
                Some(i) => args[i + 1] = pair[1].clone(),
                None => args.extend(pair.iter().cloned()),
            }
        }
        if case.what == "requests dir is a file" {
            let i = args.iter().position(|a| a == "creds").unwrap();
            args[i] = "notadir".into();
        }
        let before = tree(c.path());
        let calls_before = listener.counts().requests;
        let o = c.run(&listener.url(), &args);
        let err = String::from_utf8_lossy(&o.stderr);
        let problems = [
            (o.status.code() != Some(1)).then(|| "exit code is not 1".to_string()),
            (!err.contains(&case.message)).then(|| format!("expected `{}`", case.message)),
            (listener.counts().requests != calls_before).then(|| "made AWS calls".to_string()),
            (tree(c.path()) != before).then(|| "changed files".to_string()),
        ];
        let problems: Vec<String> = problems.into_iter().flatten().collect();
        if !problems.is_empty() {
            failures.push(format!(
                "{}: {}\n{}",
                case.what,
                problems.join("; "),
                text(&o)
            ));
        }
        assert_no_secrets(c.path(), &[&o]);
    }
    assert_eq!(listener.counts().requests, 0);
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

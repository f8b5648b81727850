//! Signing-key rotation: the served keys are a setting; phase 1 adds the cluster's new key
//! to keys.json and changes nothing else, phase 2 retires the old key and is refused
//! without --allow-issuer-change; a token signed with the retired key is then rejected.
//! Through the stages against the fake and moto, through the binary (rotate-key's printed
//! commands are the ones run), with kill -9 during each phase, across two machines sharing
//! an S3 state, and for a cluster adopted with `import`.
//!
//! The old key is the fixed test key (in the output dir, as if stsform had generated it);
//! the new key is `next.public.pem`, written as the kube-apiserver operator writes it
//! (`next.operator.pub`: a SubjectPublicKeyInfo under an `RSA PUBLIC KEY` label).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use stsform::keypair::PrivateKey;
use stsform::plan::Action;
use stsform::provider::Provider as _;
use stsform::resource::{ObjectSpec, ResourceId, ResourceKind, Spec};
use stsform::safety::Refusal;
use stsform::workflow::{self, Mode};

use crate::binary::{Cluster, text};
use crate::derive::root;
use crate::harness::{Account, Env, files_under, scenario};
use crate::moto_account::unique_name;

/// kid of `fixed.public.pem` (openssl, see tests/fixtures/keys/README.md).
const OLD_KID: &str = "yOLncXRrBJ6wYxcvUcKXTF1tRUGKVW6_7x5sQhsk4Is";
/// kid of `next.public.pem` (openssl, see tests/fixtures/keys/README.md).
const NEW_KID: &str = "jA8KMo4SvEZLdFk3L7OAL9TQK5xWlueYAmmfLn_aSN8";
/// Where the new public key is saved, as rotate-key proposes it.
const NEW_FILE: &str = "install/serviceaccount-signer-2.public";
const OLD_FILE: &str = "install/serviceaccount-signer.public";

fn fixture(name: &str) -> PathBuf {
    root().join("tests/fixtures/keys").join(name)
}

fn private(name: &str) -> PrivateKey {
    PrivateKey::from_pem(&std::fs::read_to_string(fixture(name)).unwrap(), name).unwrap()
}

/// The cluster made a new key: its public half saved where rotate-key says.
fn save_new_key(dir: &Path) {
    std::fs::copy(fixture("next.operator.pub"), dir.join(NEW_FILE)).unwrap();
}

fn jwks_id(name: &str) -> ResourceId {
    ResourceId::new(ResourceKind::S3Object, format!("{name}-oidc/keys.json"))
}

/// keys.json as AWS serves it now, read through a provider.
async fn served<A: Account>(account: &A, name: &str) -> String {
    let probe = Spec::S3Object(ObjectSpec {
        bucket: format!("{name}-oidc"),
        key: "keys.json".into(),
        content_type: String::new(),
        tags: Default::default(),
        content: String::new(),
    });
    match account
        .provider(None)
        .await
        .read(&jwks_id(name), &probe)
        .await
        .unwrap()
    {
        Some(Spec::S3Object(o)) => o.content,
        other => panic!("keys.json: {other:?}"),
    }
}

/// Everything of the cluster but keys.json, as AWS holds it: which resources exist, the
/// roles' documents and tags, the bucket's and provider's tags, the discovery document;
/// and every file of the output dir but the new public key.
async fn all_but_keys<A: Account>(env: &Env<A>) -> BTreeMap<String, String> {
    let account = &env.account;
    let name = &env.name;
    let mut out = BTreeMap::new();
    let inventory = account.inventory(name).await;
    for what in &inventory {
        if let Some(role) = what.strip_prefix("role:") {
            let docs = account.role_documents(role).await.unwrap();
            out.insert(
                format!("{what} documents"),
                format!("{} {} {:?}", docs.trust, docs.description, docs.inline),
            );
        }
        if what.starts_with("role:") || what.starts_with("bucket:") || what.starts_with("provider:")
        {
            out.insert(
                format!("{what} tags"),
                format!("{:?}", account.tags_of(what).await),
            );
        }
    }
    out.insert("inventory".into(), format!("{inventory:?}"));
    let id = ResourceId::new(
        ResourceKind::S3Object,
        format!("{name}-oidc/.well-known/openid-configuration"),
    );
    let probe = Spec::S3Object(ObjectSpec {
        bucket: format!("{name}-oidc"),
        key: ".well-known/openid-configuration".into(),
        content_type: String::new(),
        tags: Default::default(),
        content: String::new(),
    });
    let discovery = account
        .provider(None)
        .await
        .read(&id, &probe)
        .await
        .unwrap();
    out.insert("discovery".into(), format!("{discovery:?}"));
    let install = env.path("install");
    for file in files_under(&install) {
        if format!("install/{file}") != NEW_FILE {
            let bytes = std::fs::read(install.join(&file)).unwrap();
            out.insert(
                format!("file {file}"),
                String::from_utf8_lossy(&bytes).into_owned(),
            );
        }
    }
    out
}

/// A plan in the three formats.
struct Shown {
    text: String,
    markdown: String,
    json: serde_json::Value,
}

fn render_all(plan: &stsform::plan::Plan, name: &str) -> Shown {
    let meta = stsform::render::Meta {
        cluster: name.to_string(),
        region: "us-east-2".into(),
        serial: 1,
        lineage: "l".into(),
        reads: 0,
        version: "test".into(),
    };
    let (mut text, mut markdown, mut json) = (Vec::new(), Vec::new(), Vec::new());
    let shown = stsform::plan::Shown::recorded(plan);
    stsform::render::text::render(&shown, &mut text).unwrap();
    stsform::render::markdown::render(&shown, &meta, &mut markdown).unwrap();
    stsform::render::json::render(&shown, &meta, &mut json).unwrap();
    Shown {
        text: String::from_utf8(text).unwrap(),
        markdown: String::from_utf8(markdown).unwrap(),
        json: serde_json::from_slice(&json).unwrap(),
    }
}

/// A token signed with `key`, checked against `jwks` as STS checks it.
fn token_against(key: &PrivateKey, jwks: &str, name: &str) -> Result<(), String> {
    use stsform::verify::issuer;
    let iss = format!("https://{name}-oidc.s3.us-east-2.amazonaws.com");
    let claims = issuer::Claims::new(
        &iss,
        "system:serviceaccount:openshift-ingress-operator:ingress-operator",
        stsform::verify::now(),
    );
    let token = issuer::mint_token(key, &claims)?;
    issuer::verify_token(&token, &issuer::parse_jwks(jwks)?, &iss, issuer::AUDIENCE).map(|_| ())
}

scenario!(phase_1_adds_the_new_kid_only_and_phase_2_retires_the_old_one_with_the_flag);
async fn phase_1_adds_the_new_kid_only_and_phase_2_retires_the_old_one_with_the_flag<A: Account>(
    account: A,
    name: String,
) {
    let mut env = Env::new(account.clone(), &name, "cluster");
    let (_, outcome) = env.apply().await;
    assert!(outcome.is_complete(), "{outcome:#?}");
    assert_eq!(
        stsform::jwks::kids(&served(&account, &name).await),
        [OLD_KID]
    );
    let before = all_but_keys(&env).await;

    // Phase 1: the current key (the output dir's pair) and the cluster's new one.
    save_new_key(env.dir.path());
    env.extra.public_key_files = vec![env.path(OLD_FILE), env.path(NEW_FILE)];
    let planned = env.plan().await;
    let ids: Vec<(String, Action)> = planned
        .plan
        .changes
        .iter()
        .map(|c| (c.id.to_string(), c.action))
        .collect();
    assert_eq!(
        ids,
        [(jwks_id(&name).to_string(), Action::Update)],
        "phase 1 changes keys.json only"
    );
    let keys = planned.plan.changes[0].keys().unwrap();
    assert_eq!(
        (keys.added.as_slice(), keys.kept.as_slice()),
        (
            [NEW_KID.to_string()].as_slice(),
            [OLD_KID.to_string()].as_slice()
        )
    );
    assert!(keys.removed.is_empty() && planned.plan.issuer_changes.is_empty());
    // Every format shows the change by kid, not as a JSON document.
    let shown = render_all(&planned.plan, &name);
    assert!(
        shown.text.contains(&format!(
            "      ~ content = keys by kid:\n            kid {OLD_KID}\n          + kid {NEW_KID} (added: tokens signed with it will verify)\n    }}\n"
        )),
        "{}",
        shown.text
    );
    assert!(
        shown.markdown.contains(&format!(
            "@@ content (keys by kid) @@\n  kid {OLD_KID}\n+ kid {NEW_KID} (added: tokens signed with it will verify)\n"
        )),
        "{}",
        shown.markdown
    );
    assert!(!shown.text.contains("\"keys\": [") && !shown.markdown.contains("\"keys\": ["));
    assert_eq!(
        shown.json["changes"][0]["keys"]["added"],
        serde_json::json!([NEW_KID])
    );
    assert_eq!(
        shown.json["changes"][0]["keys"]["after"],
        serde_json::json!([OLD_KID, NEW_KID])
    );
    assert_eq!(shown.json["changes"][0]["keys"]["breaks_tokens"], false);
    let (_, outcome) = env.apply().await;
    assert!(outcome.is_complete(), "{outcome:#?}");
    let both = served(&account, &name).await;
    assert_eq!(stsform::jwks::kids(&both), [OLD_KID, NEW_KID]);
    assert_eq!(
        all_but_keys(&env).await,
        before,
        "phase 1 changed more than keys.json"
    );
    assert!(!env.plan().await.plan.has_changes());
    // Tokens of both keys verify now (the new key's are what the cluster is starting to issue).
    token_against(&private("fixed.private.pem"), &both, &name).unwrap();
    token_against(&private("next.private.pem"), &both, &name).unwrap();

    // Phase 2: the new key alone. Refused without the flag, and nothing changes.
    env.extra.public_key_files = vec![env.path(NEW_FILE)];
    let shown = render_all(&env.plan().await.plan, &name);
    assert!(
        shown.text.contains(&format!(
            "            kid {NEW_KID}\n          - kid {OLD_KID} (removed: tokens signed with it will be rejected)\n"
        )),
        "{}",
        shown.text
    );
    assert!(
        shown.markdown.contains(&format!(
            "- kid {OLD_KID} (removed: tokens signed with it will be rejected)"
        )),
        "{}",
        shown.markdown
    );
    let keys_change = shown.json["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"] == jwks_id(&name).to_string())
        .unwrap()
        .clone();
    assert_eq!(keys_change["keys"]["removed"], serde_json::json!([OLD_KID]));
    assert_eq!(keys_change["keys"]["breaks_tokens"], true);
    let refusal = match env.try_run(Mode::Apply).await {
        Err(refusal) => refusal,
        Ok((planned, ..)) => panic!("phase 2 ran without the flag: {:#?}", planned.plan.changes),
    };
    let Refusal::IssuerChanges(changes) = &refusal else {
        panic!("{refusal}")
    };
    let said: Vec<String> = changes.iter().map(ToString::to_string).collect();
    assert!(
        said.contains(&format!(
            "{} stops serving key id {OLD_KID}: tokens signed with it will be rejected",
            jwks_id(&name)
        )),
        "{said:?}"
    );
    assert_eq!(
        served(&account, &name).await,
        both,
        "a refused phase 2 changed keys.json"
    );

    env.allow.issuer_change = true;
    let (planned, outcome, _) = env.run(Mode::Apply).await;
    assert!(outcome.is_complete(), "{outcome:#?}");
    // keys.json, and the retired key pair with the installer's copy of its private key.
    let mut changed: Vec<String> = planned
        .plan
        .changes
        .iter()
        .map(|c| c.id.to_string())
        .collect();
    changed.sort();
    assert_eq!(
        changed,
        [
            "file.tls/bound-service-account-signing-key.key".to_string(),
            "key_pair.serviceaccount-signer".to_string(),
            jwks_id(&name).to_string()
        ]
    );
    let new_only = served(&account, &name).await;
    assert_eq!(stsform::jwks::kids(&new_only), [NEW_KID]);
    assert!(!env.path("install/serviceaccount-signer.private").exists());
    let err = token_against(&private("fixed.private.pem"), &new_only, &name).unwrap_err();
    assert!(err.contains("has no key with kid"), "{err}");
    token_against(&private("next.private.pem"), &new_only, &name).unwrap();
    env.allow.issuer_change = false;
    assert!(!env.plan().await.plan.has_changes());
}

/// Where `rotate-key` says the rotation stands, with the env's settings.
async fn rotation_status<A: Account>(env: &Env<A>) -> stsform::rotation::Status {
    let settings = env.settings();
    let keys = workflow::signing_key(&settings, false).unwrap().public;
    let provider = env.account.provider(None).await;
    workflow::rotation(
        provider.as_ref(),
        &settings,
        &env.state(),
        keys.as_ref(),
        (Vec::new(), Vec::new()),
    )
    .await
    .unwrap()
}

/// The keys of `files` (fixtures) as one JWKS, in that order.
fn jwks_of(files: &[&str]) -> String {
    let keys: Vec<stsform::keypair::PublicKey> = files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(fixture(f)).unwrap();
            stsform::keypair::PublicKey::from_pem(&text, f).unwrap()
        })
        .collect();
    stsform::jwks::document(&keys)
}

// Which served key is the newest does not depend on the order of the settings or of a
// hand-made merge, so the phase 2 rotate-key prints keeps the cluster's new key: an apply
// keeps the keys it recorded in their places and serves other keys after them. Here the
// new key is listed first, and the documented `jq` merge done by hand puts it first too;
// the settings from before the rotation are then refused for dropping it.
scenario!(the_new_key_is_served_last_whatever_the_order_given_or_merged);
async fn the_new_key_is_served_last_whatever_the_order_given_or_merged<A: crate::verify::Break>(
    account: A,
    name: String,
) {
    use stsform::rotation::Stage;
    let mut env = Env::new(account.clone(), &name, "cluster");
    let (_, outcome) = env.apply().await;
    assert!(outcome.is_complete(), "{outcome:#?}");
    save_new_key(env.dir.path());

    // Phase 1 with the new key listed first: served after the current one.
    env.extra.public_key_files = vec![env.path(NEW_FILE), env.path(OLD_FILE)];
    let planned = env.plan().await;
    assert_eq!(planned.plan.changes.len(), 1, "{:#?}", planned.plan.changes);
    let keys = planned.plan.changes[0].keys().unwrap();
    assert_eq!(keys.after, [OLD_KID, NEW_KID]);
    assert!(!keys.reordered && keys.removed.is_empty());
    let (_, outcome) = env.apply().await;
    assert!(outcome.is_complete(), "{outcome:#?}");
    assert_eq!(
        stsform::jwks::kids(&served(&account, &name).await),
        [OLD_KID, NEW_KID]
    );
    assert!(!env.plan().await.plan.has_changes());
    env.extra.public_key_files = vec![env.path(OLD_FILE), env.path(NEW_FILE)];
    assert!(!env.plan().await.plan.has_changes());
    let status = rotation_status(&env).await;
    assert_eq!(status.newest.as_deref(), Some(NEW_KID));
    assert_eq!(
        status.stage,
        Stage::Overlap {
            retiring: vec![OLD_KID.to_string()]
        }
    );

    // Back to one key; then the jq merge by hand, the new key first (state: old key only).
    env.allow.issuer_change = true;
    env.extra.public_key_files = vec![env.path(OLD_FILE)];
    let (_, outcome, _) = env.run(Mode::Apply).await;
    assert!(outcome.is_complete(), "{outcome:#?}");
    env.allow.issuer_change = false;
    let merged = jwks_of(&["next.public.pem", "fixed.public.pem"]);
    account
        .put_document(&format!("{name}-oidc"), "keys.json", &merged)
        .await;
    // The settings from before the rotation drop the cluster's new key: refused.
    let refusal = match env.try_run(Mode::Apply).await {
        Err(refusal) => refusal,
        Ok((planned, ..)) => panic!("dropped the new key: {:#?}", planned.plan.changes),
    };
    assert!(
        refusal
            .to_string()
            .contains(&format!("stops serving key id {NEW_KID}")),
        "{refusal}"
    );
    assert_eq!(served(&account, &name).await, merged);
    // rotate-key: the merged-in key is the newest, wherever the merge put it; with the
    // old settings the next step it shows is phase 2 keeping that key.
    let status = rotation_status(&env).await;
    assert_eq!(status.newest.as_deref(), Some(NEW_KID));
    let Stage::Blocked { why } = &status.stage else {
        panic!("{:?}", status.stage)
    };
    assert!(
        why.contains(&format!("drop {NEW_KID}, the newest")),
        "{why}"
    );
    let printed: Vec<String> = status
        .steps
        .iter()
        .flat_map(|s| s.lines.iter().map(|l| l.render(&|w: &str| w.to_string())))
        .collect();
    let phase_2 = printed
        .iter()
        .rfind(|l| l.starts_with("stsform apply "))
        .unwrap();
    assert!(
        phase_2.ends_with(&format!(
            "--public-key-file {} --allow-issuer-change",
            env.path(NEW_FILE).display()
        )),
        "{printed:#?}"
    );
    // Adopting the merge with both keys listed, old first: keys.json is put in the
    // recorded order (a reorder, which breaks nothing), and the new key stays the newest.
    env.extra.public_key_files = vec![env.path(OLD_FILE), env.path(NEW_FILE)];
    let planned = env.plan().await;
    let keys = planned.plan.changes[0].keys().unwrap();
    assert!(
        keys.reordered && !keys.breaks_tokens() && keys.added.is_empty(),
        "{keys:?}"
    );
    assert!(planned.plan.issuer_changes.is_empty());
    let (_, outcome) = env.apply().await;
    assert!(outcome.is_complete(), "{outcome:#?}");
    assert_eq!(
        stsform::jwks::kids(&served(&account, &name).await),
        [OLD_KID, NEW_KID]
    );
    let status = rotation_status(&env).await;
    assert_eq!(status.newest.as_deref(), Some(NEW_KID));
    assert!(!env.plan().await.plan.has_changes());
}

/// The settings' keys and the output dir's pair: which keys are served, and when the pair
/// is managed.
#[test]
fn served_keys_follow_the_files_given_and_manage_the_pair_only_while_served() {
    let dir = crate::support::scratch("cluster", true);
    save_new_key(dir.path());
    let settings = |files: &[&str]| {
        let input = stsform::settings::SettingsInput {
            name: Some("c".into()),
            region: Some("us-east-2".into()),
            credentials_requests_dir: Some(dir.path().join("creds")),
            output_dir: Some(dir.path().join("install")),
            public_key_files: files.iter().map(|f| dir.path().join(f)).collect(),
            config: Some(root().join("tests/fixtures/empty-stsform.toml")),
            ..Default::default()
        };
        stsform::settings::resolve(&input, stsform::settings::Need::Cluster).unwrap()
    };
    // No file: the pair, alone.
    let k = workflow::signing_key(&settings(&[]), false).unwrap();
    let public = k.public.unwrap();
    assert_eq!(
        (public.kids.clone(), public.key_pair),
        (vec![OLD_KID.to_string()], Some(OLD_KID.to_string()))
    );
    assert!(k.private.is_some());
    // Both, in the order given: the pair is one of them, so it stays managed.
    let k = workflow::signing_key(&settings(&[OLD_FILE, NEW_FILE]), false).unwrap();
    let public = k.public.unwrap();
    assert_eq!(public.kids, [OLD_KID, NEW_KID]);
    assert_eq!(public.key_pair.as_deref(), Some(OLD_KID));
    assert!(k.private.is_some());
    let k = workflow::signing_key(&settings(&[NEW_FILE, OLD_FILE]), false).unwrap();
    assert_eq!(k.public.unwrap().kids, [NEW_KID, OLD_KID]);
    // The new key alone: the pair is no longer served, nor held for writing.
    let k = workflow::signing_key(&settings(&[NEW_FILE]), false).unwrap();
    assert_eq!(k.public.as_ref().unwrap().key_pair, None);
    assert!(k.private.is_none());
    // A key given twice (another file, same key) is refused, naming both files.
    std::fs::copy(fixture("next.public.pem"), dir.path().join("again.pub")).unwrap();
    let err = workflow::signing_key(&settings(&[NEW_FILE, "again.pub"]), false)
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("again.pub: holds the same public key (kid")
            && err.contains("serviceaccount-signer-2.public; give each key once"),
        "{err}"
    );
    // A ccoctl output dir holding the public key only is no pair: the files are served.
    std::fs::remove_file(dir.path().join("install/serviceaccount-signer.private")).unwrap();
    let k = workflow::signing_key(&settings(&[OLD_FILE, NEW_FILE]), false).unwrap();
    assert_eq!(k.public.unwrap().key_pair, None);
}

/// The whole procedure with the binary against moto, running the commands rotate-key
/// prints: apply → rotate-key (idle) → phase 1 → plan: No changes → verify passes for both
/// keys (one tested, one not) → rotate-key (overlap) → phase 2 refused without the flag →
/// phase 2 → a token of the retired key fails against the served JWKS, and verify says so
/// → No changes → rotate-key (idle again).
#[test]
fn the_procedure_through_the_binary_runs_the_commands_rotate_key_prints() {
    let (rt, moto, _account) = crate::binary::moto_setup();
    let c = Cluster::new(&unique_name());
    let run = |args: &[String]| c.run(&moto, args);
    let stdout = |o: &std::process::Output| String::from_utf8_lossy(&o.stdout).into_owned();
    let o = run(&c.args("apply"));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let keys_json = || keys_json(&rt, &moto, &c.name);
    assert_eq!(stsform::jwks::kids(&keys_json()), [OLD_KID]);

    // rotate-key, idle: the oc steps, then phase 1 with both keys.
    let o = run(&c.args("rotate-key"));
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(out.contains("No rotation in progress"), "{out}");
    assert!(
        out.contains("     oc -n openshift-kube-apiserver-operator delete secrets/next-bound-service-account-signing-key\n"),
        "{out}"
    );
    assert!(
        out.contains(&format!("| base64 -d > {NEW_FILE}\n")),
        "{out}"
    );
    let phase_1 = printed(&out, "apply");
    assert!(
        phase_1.ends_with(&format!(
            "--public-key-file {OLD_FILE} --public-key-file {NEW_FILE}"
        )),
        "{phase_1}"
    );
    save_new_key(c.path());
    let o = run(&with_approve(&phase_1));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        stdout(&o).contains("Resources: 0 added, 1 changed, 0 destroyed."),
        "{}",
        text(&o)
    );
    assert_eq!(stsform::jwks::kids(&keys_json()), [OLD_KID, NEW_KID]);
    let o = run(&args_of(&printed(&out, "plan")));
    assert!(stdout(&o).contains("No changes."), "{}", text(&o));

    // verify: both keys reported; the held one tested, the other said not tested.
    let both = [
        "--public-key-file".to_string(),
        OLD_FILE.into(),
        "--public-key-file".into(),
        NEW_FILE.into(),
    ];
    let mut verify = c.args("verify");
    verify.extend(both.iter().cloned());
    let o = run(&verify);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        out.contains("  ✓ JWKS                 2 keys, kids yO…Is, jA…N8, as the settings serve\n"),
        "{out}"
    );
    assert!(out.contains("  ✓ token                kid yO…Is: signed with the private key here, verifies against the served JWKS\n"), "{out}");
    assert!(
        out.contains("  – token                kid jA…N8: not tested, no private key of it here"),
        "{out}"
    );
    assert!(
        out.ends_with("\n9 of 9 service accounts can assume their role. 0 failures.\n"),
        "{out}"
    );

    // rotate-key, overlap: the waits, then phase 2.
    let mut rotate = c.args("rotate-key");
    rotate.extend(both.iter().cloned());
    let o = run(&rotate);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(out.contains("Phase 1 (add) is done"), "{out}");
    assert!(
        out.contains(&format!("  {NEW_KID}  (newest)  {NEW_FILE}\n")),
        "{out}"
    );
    assert!(
        out.contains("     oc adm reboot-machine-config-pool mcp/worker mcp/master\n"),
        "{out}"
    );
    assert!(
        out.contains("It also deletes the output dir's key pair"),
        "{out}"
    );
    let phase_2 = printed(&out, "apply");
    assert!(
        phase_2.ends_with(&format!(
            "--public-key-file {NEW_FILE} --allow-issuer-change"
        )),
        "{phase_2}"
    );

    // Phase 2 without the flag: refused, saying what breaks; keys.json unchanged.
    let refused: Vec<String> = with_approve(&phase_2)
        .into_iter()
        .filter(|a| a != "--allow-issuer-change")
        .collect();
    let o = run(&refused);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains(&format!(
            "stops serving key id {OLD_KID}: tokens signed with it will be rejected"
        )),
        "{}",
        text(&o)
    );
    assert_eq!(stsform::jwks::kids(&keys_json()), [OLD_KID, NEW_KID]);
    let o = run(&with_approve(&phase_2));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let new_only = keys_json();
    assert_eq!(stsform::jwks::kids(&new_only), [NEW_KID]);
    let err = token_against(&private("fixed.private.pem"), &new_only, &c.name).unwrap_err();
    assert!(err.contains("has no key with kid"), "{err}");

    // verify: the retired key's token is rejected (and a served key given as retired fails).
    let new = ["--public-key-file".to_string(), NEW_FILE.into()];
    let mut verify = c.args("verify");
    verify.extend(new.iter().cloned());
    let mut retired = verify.clone();
    retired.extend([
        "--retired-key-file".into(),
        fixture("fixed.private.pem").display().to_string(),
    ]);
    let o = run(&retired);
    let out = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        out.contains("  ✓ JWKS                 1 key, kid jA…N8, as the settings serve\n"),
        "{out}"
    );
    assert!(out.contains("  ✓ retired key          kid yO…Is: a token signed with it is rejected (the served JWKS has no key with kid yO…Is)\n"), "{out}");
    assert!(
        out.contains("9 not tested (no private key of a served kid here)"),
        "{out}"
    );
    let mut wrong = verify.clone();
    wrong.extend([
        "--retired-key-file".into(),
        fixture("next.private.pem").display().to_string(),
    ]);
    let o = run(&wrong);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        stdout(&o).contains("still verifies against the served JWKS"),
        "{}",
        text(&o)
    );

    let mut plan = c.args("plan");
    plan.extend(new.iter().cloned());
    assert!(stdout(&run(&plan)).contains("No changes."));
    let mut rotate = c.args("rotate-key");
    rotate.extend(new.iter().cloned());
    let o = run(&rotate);
    assert!(
        stdout(&o).contains("No rotation in progress"),
        "{}",
        text(&o)
    );
    // The next rotation's key goes to a file that holds none yet.
    assert!(
        stdout(&o).contains("| base64 -d > install/serviceaccount-signer-3.public\n"),
        "{}",
        text(&o)
    );
    // Settings that would skip phase 1 (replace the key outright) are not guided, exit 1.
    let mut skip = c.args("rotate-key");
    skip.extend([
        "--public-key-file".into(),
        fixture("ccoctl-test.public.pem").display().to_string(),
    ]);
    let o = run(&skip);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(stdout(&o).contains("skips phase 1"), "{}", text(&o));
    crate::binary::assert_no_secrets(c.path(), &[&o]);
    // Day-2 roles trust a provider stsform does not own: no keys to rotate.
    let mut day2 = c.args("rotate-key");
    day2.extend([
        "--identity-provider-arn".into(),
        format!(
            "arn:aws:iam::123456789012:oidc-provider/{}-oidc.s3.us-east-2.amazonaws.com",
            c.name
        ),
    ]);
    let o = run(&day2);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("rotate-key works on a cluster's own issuer"),
        "{}",
        text(&o)
    );
}

/// The last `stsform VERB …` line rotate-key printed.
fn printed(out: &str, verb: &str) -> String {
    out.lines()
        .map(str::trim)
        .rfind(|l| l.starts_with(&format!("stsform {verb} ")))
        .unwrap_or_else(|| panic!("no `stsform {verb}` in:\n{out}"))
        .to_string()
}

/// A printed command as arguments for the binary (the shell's quoting undone).
fn args_of(line: &str) -> Vec<String> {
    let words = shlex::split(line).unwrap();
    assert_eq!(words[0], "stsform");
    words[1..].to_vec()
}

fn with_approve(line: &str) -> Vec<String> {
    let mut a = args_of(line);
    a.push("--auto-approve".into());
    a
}

/// `kill -9` of each phase's apply, then a re-run converges: one trial where keys.json's
/// write lands in S3 but its answer is lost and the process dies before saving the state
/// (the window a crash can leave the state behind AWS), and trials killed at seeded random
/// points of the apply through a slow proxy. After each: keys.json holds the old or the
/// new keys (never anything else), the state parses, a re-run of the same command exits 0,
/// the plan says No changes, and the state records what S3 serves.
#[test]
fn kill_9_during_each_phase_then_a_rerun_converges() {
    use crate::proxy::{Fault, FaultPlan, Proxy, Service, upstream_addr};
    use std::time::{Duration, Instant};
    const RANDOM_TRIALS: usize = 3;
    let (rt, moto, _account) = crate::binary::moto_setup();
    let started = Instant::now();
    let mut seed = 0x5EED_u64;
    let mut unit = move || {
        seed = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = seed;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        ((z ^ (z >> 31)) >> 11) as f64 / (1u64 << 53) as f64
    };
    let keys = |flag: &[&str]| -> Vec<String> {
        flag.iter()
            .flat_map(|f| ["--public-key-file".to_string(), f.to_string()])
            .collect()
    };
    let mut killed = 0;
    let mut lost_writes = 0;
    for phase in [1, 2] {
        let (files, extra, before, after): (&[&str], &[&str], &[&str], &[&str]) = if phase == 1 {
            (&[OLD_FILE, NEW_FILE], &[], &[OLD_KID], &[OLD_KID, NEW_KID])
        } else {
            (
                &[NEW_FILE],
                &["--allow-issuer-change"],
                &[OLD_KID, NEW_KID],
                &[NEW_KID],
            )
        };
        for trial in 0..=RANDOM_TRIALS {
            let c = Cluster::new(&unique_name());
            let what = format!("phase {phase}, trial {trial} ({})", c.name);
            let o = c.run(&moto, &c.args("apply"));
            assert_eq!(o.status.code(), Some(0), "{what}: {}", text(&o));
            save_new_key(c.path());
            if phase == 2 {
                let mut first = c.args("apply");
                first.extend(keys(&[OLD_FILE, NEW_FILE]));
                let o = c.run(&moto, &first);
                assert_eq!(o.status.code(), Some(0), "{what}: {}", text(&o));
            }
            let mut args = c.args("apply");
            args.extend(keys(files));
            args.extend(extra.iter().map(|s| s.to_string()));
            let mut plan = c.args("plan");
            plan.extend(keys(files));
            plan.extend(extra.iter().map(|s| s.to_string()));
            let object = format!("/{}-oidc/keys.json", c.name);
            let faults = if trial == 0 {
                // The write is forwarded (it lands), its answer held back.
                FaultPlan {
                    seed: 1,
                    rate: 1.0,
                    kinds: vec![Fault::Timeout],
                    only: Some(Service::S3),
                    hold: Duration::from_secs(5),
                    matching: Some(format!("PUT {object}")),
                    limit: Some(1),
                    ..FaultPlan::none()
                }
            } else {
                FaultPlan::none()
            };
            let proxy = rt.block_on(Proxy::start(
                Some(upstream_addr(&moto)),
                Duration::from_millis(40),
                faults,
            ));
            // How long the phase's refresh takes through the proxy: the kills aim around it.
            let t = Instant::now();
            let o = c.run(&proxy.url(), &plan);
            assert_eq!(o.status.code(), Some(0), "{what}: {}", text(&o));
            let refresh = t.elapsed();
            let mut child = c
                .command(&proxy.url(), &args)
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .spawn()
                .unwrap();
            let spawned = Instant::now();
            if trial == 0 {
                // Killed once the write is upstream and its answer is being held.
                let put = format!("PUT {object}");
                while !proxy.log().iter().any(|l| l.contains(&put)) {
                    assert!(
                        spawned.elapsed() < Duration::from_secs(60),
                        "{what}: no write of keys.json: {:#?}",
                        proxy.log()
                    );
                    std::thread::sleep(Duration::from_millis(5));
                }
                std::thread::sleep(Duration::from_millis(500));
                lost_writes += 1;
            } else {
                let at = refresh.mul_f64(0.3 + 1.2 * unit());
                while spawned.elapsed() < at && child.try_wait().unwrap().is_none() {
                    std::thread::sleep(Duration::from_millis(2));
                }
            }
            if child.try_wait().unwrap().is_none() {
                child.kill().unwrap(); // SIGKILL
                killed += 1;
            }
            child.wait().unwrap();
            rt.block_on(proxy.wait_idle(Duration::from_secs(30)));

            let live = keys_json(&rt, &moto, &c.name);
            let kids = stsform::jwks::kids(&live);
            assert!(
                kids == before || kids == after,
                "{what}: keys.json serves {kids:?}"
            );
            if trial == 0 {
                // The write landed; the state, saved only after an answer, still has the old.
                assert_eq!(kids, after, "{what}");
                assert_eq!(recorded_kids(&c), before, "{what}");
            }
            let _ = c.state(); // parses

            let o = c.run(&moto, &args);
            assert_eq!(o.status.code(), Some(0), "{what}: {}", text(&o));
            let o = c.run(&moto, &plan);
            assert!(
                String::from_utf8_lossy(&o.stdout).contains("No changes."),
                "{what}: {}",
                text(&o)
            );
            assert_eq!(
                stsform::jwks::kids(&keys_json(&rt, &moto, &c.name)),
                after,
                "{what}"
            );
            assert_eq!(recorded_kids(&c), after, "{what}");
        }
    }
    eprintln!(
        "rotation crash: {killed} of {} phase applies killed ({lost_writes} right after keys.json's write landed); {:.1}s",
        2 * (RANDOM_TRIALS + 1),
        started.elapsed().as_secs_f64()
    );
    assert!(killed >= lost_writes && lost_writes == 2);
}

/// keys.json as S3 serves it, read with the test's own client.
fn keys_json(rt: &tokio::runtime::Runtime, moto: &str, name: &str) -> String {
    let (s3, _) = crate::support::sdk_clients(moto);
    rt.block_on(async {
        let out = s3
            .get_object()
            .bucket(format!("{name}-oidc"))
            .key("keys.json")
            .send()
            .await
            .unwrap();
        String::from_utf8(out.body.collect().await.unwrap().into_bytes().to_vec()).unwrap()
    })
}

/// The kids the state records for keys.json.
fn recorded_kids(c: &Cluster) -> Vec<String> {
    let state = c.state();
    match &state.resources[&jwks_id(&c.name)].spec {
        Spec::S3Object(o) => stsform::jwks::kids(&o.content),
        other => panic!("{other:?}"),
    }
}

/// A rotation started on one machine is finished on another: the state is in S3, the
/// second machine has the requests and the new public key only (no key pair, no manifests).
#[test]
fn a_rotation_started_on_one_machine_is_finished_on_another() {
    let (rt, moto, account) = crate::binary::moto_setup();
    let (s3, _) = crate::support::sdk_clients(&moto);
    let bucket = format!(
        "states-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    );
    rt.block_on(async {
        s3.create_bucket()
            .bucket(&bucket)
            .create_bucket_configuration(
                aws_sdk_s3::types::CreateBucketConfiguration::builder()
                    .location_constraint("us-east-2".into())
                    .build(),
            )
            .send()
            .await
            .unwrap();
    });
    let a = Cluster::new(&unique_name());
    let state = [
        "--state".to_string(),
        format!("s3://{bucket}/{}.toml", a.name),
    ];
    let with = |c: &Cluster, verb: &str, files: &[&str], extra: &[&str]| {
        let mut args = c.args(verb);
        args.extend(state.iter().cloned());
        for f in files {
            args.extend(["--public-key-file".to_string(), f.to_string()]);
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    let o = a.run(&moto, &with(&a, "apply", &[], &[]));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    save_new_key(a.path());
    let o = a.run(&moto, &with(&a, "apply", &[OLD_FILE, NEW_FILE], &[]));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(!a.path().join("state").exists(), "the state is remote");

    // Machine B: same name, its own directory.
    let b = Cluster {
        dir: crate::support::scratch("cluster", false),
        name: a.name.clone(),
    };
    std::fs::create_dir_all(b.path().join("install")).unwrap();
    save_new_key(b.path());
    let o = b.run(&moto, &with(&b, "rotate-key", &[NEW_FILE], &[]));
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(out.contains("Phase 2 (retire) is next"), "{out}");
    assert!(
        out.contains(&format!("  {NEW_KID}  (newest)  {NEW_FILE}\n")),
        "{out}"
    );
    let o = b.run(&moto, &with(&b, "apply", &[NEW_FILE], &[]));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert_eq!(
        stsform::jwks::kids(&keys_json(&rt, &moto, &b.name)),
        [OLD_KID, NEW_KID]
    );
    let o = b.run(
        &moto,
        &with(&b, "apply", &[NEW_FILE], &["--allow-issuer-change"]),
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(
        stsform::jwks::kids(&keys_json(&rt, &moto, &b.name)),
        [NEW_KID]
    );
    // Nothing else in AWS changed; B wrote the manifests it lacked (the same content).
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("Resources: 8 added, 1 changed, 0 destroyed."),
        "{}",
        text(&o)
    );
    assert_eq!(
        rt.block_on(account.inventory(&b.name)),
        crate::harness::expected_cluster_inventory(&b.name)
    );
    for file in files_under(&a.path().join("install/manifests")) {
        let path = format!("install/manifests/{file}");
        assert_eq!(
            std::fs::read(a.path().join(&path)).unwrap(),
            std::fs::read(b.path().join(&path)).unwrap(),
            "{path}"
        );
    }
    let o = b.run(&moto, &with(&b, "plan", &[NEW_FILE], &[]));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("No changes."),
        "{}",
        text(&o)
    );
    // And machine A agrees, with the new settings.
    let o = a.run(&moto, &with(&a, "plan", &[NEW_FILE], &[]));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("No changes."),
        "{}",
        text(&o)
    );
}

/// Phase 1 changes keys.json only, phase 2 is refused without the flag and then retires
/// the old key: for a cluster whose state `import` made.
async fn rotate_imported<A: Account>(env: &mut Env<A>, current: &[PathBuf], retired_pair: bool) {
    let name = env.name.clone();
    save_new_key(env.dir.path());
    env.extra.public_key_files = current.to_vec();
    env.extra.public_key_files.push(env.path(NEW_FILE));
    let planned = env.plan().await;
    let ids: Vec<String> = planned
        .plan
        .changes
        .iter()
        .map(|c| c.id.to_string())
        .collect();
    assert_eq!(ids, [jwks_id(&name).to_string()], "phase 1 after import");
    let (_, outcome) = env.apply().await;
    assert!(outcome.is_complete(), "{outcome:#?}");
    assert_eq!(
        stsform::jwks::kids(&served(&env.account, &name).await),
        [OLD_KID, NEW_KID]
    );
    assert!(!env.plan().await.plan.has_changes());
    env.extra.public_key_files = vec![env.path(NEW_FILE)];
    assert!(matches!(
        env.try_run(Mode::Apply).await,
        Err(Refusal::IssuerChanges(_))
    ));
    env.allow.issuer_change = true;
    let (planned, outcome, _) = env.run(Mode::Apply).await;
    assert!(outcome.is_complete(), "{outcome:#?}");
    let kinds: BTreeSet<ResourceKind> = planned.plan.changes.iter().map(|c| c.id.kind).collect();
    let expected: BTreeSet<ResourceKind> = if retired_pair {
        [
            ResourceKind::KeyPair,
            ResourceKind::S3Object,
            ResourceKind::File,
        ]
        .into()
    } else {
        [ResourceKind::S3Object].into()
    };
    assert_eq!(kinds, expected);
    assert_eq!(
        stsform::jwks::kids(&served(&env.account, &name).await),
        [NEW_KID]
    );
    env.allow.issuer_change = false;
    assert!(!env.plan().await.plan.has_changes());
}

scenario!(a_cluster_adopted_with_import_rotates_its_generated_key);
async fn a_cluster_adopted_with_import_rotates_its_generated_key<A: Account>(
    account: A,
    name: String,
) {
    // As `ccoctl aws create-all` leaves it: the key pair in the output dir, no state.
    let mut env = Env::new(account, &name, "cluster");
    let (_, outcome) = env.apply().await;
    assert!(outcome.is_complete(), "{outcome:#?}");
    std::fs::remove_file(env.settings().state).unwrap();
    let report = env.import().await;
    assert!(
        report
            .imported
            .iter()
            .any(|id| id.kind == ResourceKind::KeyPair),
        "{report:#?}"
    );
    let current = [env.path(OLD_FILE)];
    rotate_imported(&mut env, &current, true).await;
}

scenario!(a_cluster_adopted_with_import_rotates_a_public_key_it_was_given);
async fn a_cluster_adopted_with_import_rotates_a_public_key_it_was_given<A: Account>(
    account: A,
    name: String,
) {
    // Bring your own key: only the public half, given with --public-key-file.
    let mut env = Env::new(account, &name, "cluster");
    std::fs::remove_file(env.path("install/serviceaccount-signer.private")).unwrap();
    let given = env.path("given.pub");
    std::fs::copy(fixture("fixed.public.pem"), &given).unwrap();
    env.extra.public_key_files = vec![given.clone()];
    let (_, outcome) = env.apply().await;
    assert!(outcome.is_complete(), "{outcome:#?}");
    std::fs::remove_file(env.settings().state).unwrap();
    let report = env.import().await;
    assert!(
        !report
            .imported
            .iter()
            .any(|id| id.kind == ResourceKind::KeyPair),
        "{report:#?}"
    );
    rotate_imported(&mut env, &[given], false).await;
}

/// A reviewed phase 2 saved with `plan --out` carries its keys and its
/// `--allow-issuer-change`: `apply PLANFILE` needs neither, and refuses other keys beside it.
#[test]
fn a_saved_phase_2_plan_carries_its_keys_and_the_flag() {
    let (rt, moto, _account) = crate::binary::moto_setup();
    let c = Cluster::new(&unique_name());
    let files = |list: &[&str]| -> Vec<String> {
        list.iter()
            .flat_map(|f| ["--public-key-file".to_string(), f.to_string()])
            .collect()
    };
    let o = c.run(&moto, &c.args("apply"));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    save_new_key(c.path());
    let mut phase_1 = c.args("apply");
    phase_1.extend(files(&[OLD_FILE, NEW_FILE]));
    assert_eq!(c.run(&moto, &phase_1).status.code(), Some(0));
    let mut plan = c.args("plan");
    plan.extend(files(&[NEW_FILE]));
    plan.extend([
        "--allow-issuer-change".into(),
        "--out".into(),
        "retire.plan".into(),
    ]);
    let o = c.run(&moto, &plan);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let apply = |extra: &[String]| {
        let mut a = vec!["apply".to_string(), "retire.plan".to_string()];
        a.extend(extra.iter().cloned());
        c.run(&moto, &a)
    };
    let o = apply(&files(&[OLD_FILE, NEW_FILE]));
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("--public-key-file"),
        "{}",
        text(&o)
    );
    assert_eq!(
        stsform::jwks::kids(&keys_json(&rt, &moto, &c.name)),
        [OLD_KID, NEW_KID]
    );
    let o = apply(&[]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert_eq!(
        stsform::jwks::kids(&keys_json(&rt, &moto, &c.name)),
        [NEW_KID]
    );
}

//! Renderers on plans computed from the real requests in examples/cluster: Markdown for
//! PR comments, JSON for machines, text for terminals. Snapshots plus the contracts
//! (size cap, balanced blocks, JSON covers everything Markdown shows).

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::{Value, json};
use stsform::desired::{self, Desired, Facts};
use stsform::iam_policy::canonicalize;
use stsform::plan::{self, Observed, ObservedResource, Plan};
use stsform::render::{self, Meta};
use stsform::resource::{
    Resource, ResourceId, ResourceKind, RolePolicySpec, RoleSpec, Spec, Tags, UNKNOWN,
};
use stsform::settings::Settings;

use crate::derive::{fixed_key, requests, root, settings};

const ACCOUNT: &str = "123456789012";
const CLUSTER: &str = "prod-east";
const REGION: &str = "us-east-2";
const EBS: &str = "prod-east-openshift-cluster-csi-drivers-ebs-cloud-credentials";
const INGRESS: &str = "prod-east-openshift-ingress-operator-cloud-credentials";
const MACHINE_API: &str = "prod-east-openshift-machine-api-aws-cloud-credentials";
const NOTE_TAIL: &str = "not shown (output capped at 65,000 characters for GitHub comments); run stsform plan locally for the full plan.";

fn meta() -> Meta {
    Meta {
        cluster: CLUSTER.into(),
        region: REGION.into(),
        serial: 14,
        lineage: "5f0c2a9e-4b1d-4c3e-9a57-0d8e2f6b1c44".into(),
        reads: 26,
        version: "0.1.0-test".into(),
    }
}

fn online() -> Facts {
    Facts {
        account_id: Some(ACCOUNT.into()),
        signing_key: Some(fixed_key()),
        ..Facts::default()
    }
}

/// Desired from a copy of examples/cluster after `edit`, with `tweak` applied to settings.
fn derive_edited(
    facts: &Facts,
    edit: impl FnOnce(&Path),
    tweak: impl FnOnce(&mut Settings),
) -> Desired {
    let dir = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(root().join("examples/cluster")).unwrap() {
        let path = entry.unwrap().path();
        std::fs::copy(&path, dir.path().join(path.file_name().unwrap())).unwrap();
    }
    edit(dir.path());
    let mut s = settings(CLUSTER, REGION, dir.path());
    tweak(&mut s);
    desired::derive(&requests(dir.path()), &s, facts).unwrap()
}

fn baseline() -> Desired {
    derive_edited(&online(), |_| {}, |_| {})
}

/// What the state and AWS hold after applying `d`, with nothing changed since.
fn applied(d: &Desired) -> Observed {
    Observed {
        resources: d
            .resources
            .iter()
            .map(|(id, r)| {
                let o = ObservedResource {
                    recorded: r.spec.clone(),
                    live: Some(r.spec.clone()),
                    depends_on: r.depends_on.clone(),
                };
                (id.clone(), o)
            })
            .collect(),
        refreshed: true,
        discovery: Default::default(),
    }
}

fn replace_in(dir: &Path, file: &str, from: &str, to: &str) {
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains(from), "{from:?} not in {file}");
    std::fs::write(&path, text.replacen(from, to, 1)).unwrap();
}

fn add_ebs_action(dir: &Path) {
    replace_in(
        dir,
        "03_credentials_request_aws.yaml",
        "      - ec2:AttachVolume\n",
        "      - ec2:AttachVolume\n      - ec2:CopySnapshot\n",
    );
}

fn remove_iam_ro(dir: &Path) {
    std::fs::remove_file(dir.join("05-iam-ro-credentialsrequest.yaml")).unwrap();
}

fn id(kind: ResourceKind, name: &str) -> ResourceId {
    ResourceId::new(kind, name)
}

/// The bucket was made in another region: the plan must replace it.
fn bucket_elsewhere(o: &mut Observed) {
    let r = o
        .resources
        .get_mut(&id(ResourceKind::S3Bucket, "prod-east-oidc"))
        .unwrap();
    let Spec::S3Bucket(b) = &mut r.recorded else {
        panic!()
    };
    b.region = "us-east-1".into();
    r.live = Some(r.recorded.clone());
}

/// Someone added `route53:*` to the ingress policy, deleted the machine-api role, and
/// deleted a role the configuration no longer wants.
fn drifted(o: &mut Observed) {
    let policy = o
        .resources
        .get_mut(&id(ResourceKind::IamRolePolicy, INGRESS))
        .unwrap();
    let Some(Spec::IamRolePolicy(p)) = &mut policy.live else {
        panic!()
    };
    p.document["Statement"][0]["Action"]
        .as_array_mut()
        .unwrap()
        .push(json!("route53:*"));
    p.document = canonicalize(&p.document);

    let role = o
        .resources
        .get_mut(&id(ResourceKind::IamRole, MACHINE_API))
        .unwrap();
    role.live = None;

    let old = "prod-east-openshift-retired-operator-credentials";
    let mut gone = o.resources[&id(ResourceKind::IamRole, INGRESS)].clone();
    let Spec::IamRole(r) = &mut gone.recorded else {
        panic!()
    };
    r.name = old.into();
    r.arn = format!("arn:aws:iam::{ACCOUNT}:role/{old}");
    gone.live = None;
    o.resources.insert(id(ResourceKind::IamRole, old), gone);
}

fn markdown(plan: &Plan, meta: &Meta) -> String {
    let mut out = Vec::new();
    render::markdown::render(&stsform::plan::Shown::recorded(plan), meta, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

fn json_text(plan: &Plan, meta: &Meta) -> String {
    let mut out = Vec::new();
    render::json::render(&stsform::plan::Shown::recorded(plan), meta, &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

fn text(plan: &Plan) -> String {
    let mut out = Vec::new();
    render::text::render(&stsform::plan::Shown::recorded(plan), &mut out).unwrap();
    String::from_utf8(out).unwrap()
}

/// Request files live in the checkout or in a per-test temp dir; snapshots name them
/// `[root]` and `[tmp]` so they hold wherever the tests run.
fn with_path_filters(f: impl FnOnce()) {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(&env!("CARGO_MANIFEST_DIR").replace('.', r"\."), "[root]");
    settings.add_filter(r#"/[^\s`"]*/\.tmp[A-Za-z0-9]+"#, "[tmp]");
    settings.bind(f);
}

/// Snapshots Markdown and JSON and checks the contracts every plan must keep.
fn check(name: &str, plan: &Plan, meta: &Meta) -> (String, Value) {
    let md = markdown(plan, meta);
    let js = json_text(plan, meta);
    assert!(js.ends_with("}\n"));
    let v: Value = serde_json::from_str(&js).unwrap();
    assert_eq!(v["format_version"], "1.2");
    assert_balanced(&md);
    assert_json_covers_markdown(&md, &v);
    // Request files live in a per-test temp dir; snapshots name it [tmp].
    with_path_filters(|| {
        insta::assert_snapshot!(format!("{name}_md"), md);
        insta::assert_snapshot!(format!("{name}_json"), js);
    });
    (md, v)
}

/// `<details>` blocks and code fences open and close in turn; fences hold diffs, the
/// Mermaid diagram (in a `<details>` block) or the acknowledgement example.
fn assert_balanced(md: &str) {
    let mut in_details = false;
    let mut fence: Option<usize> = None;
    for line in md.lines() {
        let ticks = line.chars().take_while(|c| *c == '`').count();
        match fence {
            Some(n) if ticks == n && line.len() == n => fence = None,
            Some(_) => {}
            None if ticks >= 3 => {
                // Resource diffs and the order diagram are collapsed; permission changes
                // and the acknowledgement example are shown open.
                let info = &line[ticks..];
                match info {
                    "mermaid" => assert!(in_details, "diagram outside <details>"),
                    "diff" | "toml" => {}
                    other => panic!("unexpected fence `{other}`: {line}"),
                }
                fence = Some(ticks);
            }
            None if line.starts_with("<details>") => {
                assert!(!in_details, "nested <details>");
                in_details = true;
            }
            None if line == "</details>" => {
                assert!(in_details, "</details> without <details>");
                in_details = false;
            }
            None => {}
        }
    }
    assert_eq!(fence, None, "unclosed fence");
    assert!(!in_details, "unclosed <details>");
    assert_eq!(
        md.matches("<details>").count(),
        md.matches("</details>").count()
    );
}

/// Every resource address and attribute name the Markdown shows is in the JSON too,
/// and so are the footer's facts.
fn assert_json_covers_markdown(md: &str, v: &Value) {
    let mut addresses = BTreeSet::new();
    let mut attributes = BTreeSet::new();
    let names = |v: &Value, into: &mut BTreeSet<String>| match v {
        Value::Object(m) => into.extend(m.keys().cloned()),
        Value::Array(a) => into.extend(a.iter().filter_map(|s| s.as_str().map(String::from))),
        _ => {}
    };
    for c in v["changes"].as_array().unwrap() {
        addresses.insert(c["address"].as_str().unwrap().to_string());
        for key in ["before", "after", "changed_attributes", "replace_because"] {
            names(&c[key], &mut attributes);
        }
    }
    for u in v["unmanaged"].as_array().unwrap() {
        addresses.insert(u["address"].as_str().unwrap().to_string());
    }
    for d in v["drift"].as_array().unwrap() {
        addresses.insert(d["address"].as_str().unwrap().to_string());
        for key in ["recorded", "live", "changed_attributes"] {
            names(&d[key], &mut attributes);
        }
    }

    let mut shown_addresses = BTreeSet::new();
    let mut shown_attributes = BTreeSet::new();
    let mut prose = String::new();
    let mut fenced = false;
    for line in md.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
        } else if !fenced {
            prose.push_str(line);
            prose.push('\n');
        }
    }
    let spans = prose
        .split("<code>")
        .skip(1)
        .filter_map(|s| s.split_once("</code>").map(|(a, _)| a))
        .chain(prose.split('`').skip(1).step_by(2));
    for span in spans {
        let span = span.trim();
        let is_address = span
            .split_once('.')
            .is_some_and(|(k, _)| k.parse::<ResourceKind>().is_ok());
        if is_address {
            shown_addresses.insert(span.to_string());
        } else if span.chars().all(|c| c.is_ascii_lowercase() || c == '_') && !span.is_empty() {
            shown_attributes.insert(span.to_string());
        }
    }
    for line in md.lines() {
        if let Some(rest) = line.strip_prefix("@@ ") {
            shown_attributes.insert(rest.split(' ').next().unwrap().to_string());
        }
        let Some(rest) = line.strip_prefix("+ ").or_else(|| line.strip_prefix("- ")) else {
            continue;
        };
        if let Some((name, value)) = rest.split_once(' ')
            && !name.is_empty()
            && value.trim_start().starts_with("= ")
        {
            shown_attributes.insert(name.to_string());
        }
    }
    assert!(!shown_addresses.is_empty() || v["changes"].as_array().unwrap().is_empty());
    let missing: Vec<_> = shown_addresses.difference(&addresses).collect();
    assert!(missing.is_empty(), "addresses not in the JSON: {missing:?}");
    let missing: Vec<_> = shown_attributes.difference(&attributes).collect();
    assert!(
        missing.is_empty(),
        "attributes not in the JSON: {missing:?}"
    );

    let footer = md.lines().find(|l| l.starts_with("<sub>")).unwrap();
    for fact in [
        format!("state serial {}", v["state"]["serial"]),
        format!("lineage {}", &v["state"]["lineage"].as_str().unwrap()[..8]),
        format!("{} AWS read", v["aws_reads"]),
        format!("stsform {}", v["stsform_version"].as_str().unwrap()),
    ] {
        assert!(footer.contains(&fact), "{fact} not in {footer}");
    }
    let heading = md.lines().find(|l| l.starts_with("### ")).unwrap();
    assert!(heading.contains(v["cluster"].as_str().unwrap()));
    assert!(heading.contains(v["region"].as_str().unwrap()));
}

fn change<'a>(v: &'a Value, address: &str) -> &'a Value {
    v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"] == address)
        .unwrap_or_else(|| panic!("no change for {address}"))
}

#[test]
fn new_cluster_offline_creates_everything_with_unknown_arns() {
    let dir = root().join("examples/cluster");
    let d = desired::derive(
        &requests(&dir),
        &settings(CLUSTER, REGION, &dir),
        &Facts::default(),
    )
    .unwrap();
    let plan = plan::compute(&d, &Observed::default());
    let meta = Meta {
        serial: 0,
        reads: 0,
        ..meta()
    };
    let (md, v) = check("new_cluster", &plan, &meta);
    assert!(md.contains(": 28 to add, 0 to change, 0 to destroy"));
    assert!(md.contains("Values shown as `(known after apply)`"));
    assert!(!md.contains("not shown"));
    assert_eq!(
        v["summary"],
        json!({"adopt": 0, "add": 28, "change": 0, "destroy": 0, "unchanged": 0,
               "permissions_added": 127, "permissions_removed": 0})
    );
    // Every statement's actions of the seven requests, as data: the EBS driver's too.
    let granted: usize = v["permission_changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["granted"].as_array().unwrap().len())
        .sum();
    assert_eq!(granted, 127);
    assert_eq!(v["has_changes"], true);
    let role = change(&v, &format!("iam_role.{EBS}"));
    assert_eq!(role["actions"], json!(["create"]));
    assert_eq!(role["reason"], "new");
    assert_eq!(role["before"], Value::Null);
    // The trust policy names the provider, whose ARN is unknown offline too.
    assert_eq!(role["after_unknown"], json!(["arn", "trust_policy"]));
    assert_eq!(role["after"]["arn"], UNKNOWN);
    // Policies are nested JSON, not strings to decode again.
    assert!(role["after"]["trust_policy"]["Statement"].is_array());
    assert_eq!(
        role["depends_on"],
        json!(["iam_oidc_provider.prod-east-oidc.s3.us-east-2.amazonaws.com"])
    );
    let key = change(&v, "key_pair.serviceaccount-signer");
    assert_eq!(key["after_unknown"], json!(["kid"]));
}

#[test]
fn trust_policy_update() {
    let want = derive_edited(
        &online(),
        |dir| {
            replace_in(
                dir,
                "03_credentials_request_aws.yaml",
                "  - aws-ebs-csi-driver-controller-sa\n",
                "  - aws-ebs-csi-driver-controller-sa\n  - aws-ebs-csi-driver-node-sa\n",
            )
        },
        |_| {},
    );
    let plan = plan::compute(&want, &applied(&baseline()));
    let (md, v) = check("trust_policy_update", &plan, &meta());
    assert!(md.contains("@@ trust_policy @@"));
    assert!(md.contains("+            \"system:serviceaccount:openshift-cluster-csi-drivers:aws-ebs-csi-driver-node-sa\""));
    let c = change(&v, &format!("iam_role.{EBS}"));
    assert_eq!(c["actions"], json!(["update"]));
    assert_eq!(c["reason"], "inputs_changed");
    assert_eq!(c["changed_attributes"], json!(["trust_policy"]));
    assert_eq!(c["after_unknown"], json!([]));
}

#[test]
fn inline_policy_update() {
    let want = derive_edited(&online(), add_ebs_action, |_| {});
    let plan = plan::compute(&want, &applied(&baseline()));
    let (md, v) = check("inline_policy_update", &plan, &meta());
    assert!(md.contains("\n+        \"ec2:CopySnapshot\",\n"), "{md}");
    assert_eq!(v["summary"]["change"], 1);
    assert_eq!(
        change(&v, &format!("iam_role_policy.{EBS}"))["changed_attributes"],
        json!(["document"])
    );
}

#[test]
fn tags_update() {
    let want = derive_edited(
        &online(),
        |_| {},
        |s| {
            s.tags.insert("team".into(), "platform|infra".into());
        },
    );
    let plan = plan::compute(&want, &applied(&baseline()));
    let (md, v) = check("tags_update", &plan, &meta());
    assert!(md.contains("@@ tags @@"));
    assert!(md.contains("+  \"team\": \"platform|infra\""));
    let c = change(&v, "s3_bucket.prod-east-oidc");
    assert_eq!(c["changed_attributes"], json!(["tags"]));
    assert_eq!(c["after"]["tags"]["team"], "platform|infra");
    let tags: Tags = serde_json::from_value(c["before"]["tags"].clone()).unwrap();
    assert!(!tags.contains_key("team"));
}

/// A role found tagged for the cluster but missing from the state is adopted (and updated
/// where it differs); a tagged role no request derives is listed, not changed.
#[test]
fn adopted_and_unmanaged() {
    use stsform::discover::{ExtraPolicies, Found};
    let want = baseline();
    let mut o = applied(&want);
    o.discovery.cluster = CLUSTER.into();
    for kind in [ResourceKind::IamRole, ResourceKind::IamRolePolicy] {
        let observed = o.resources.remove(&id(kind, INGRESS)).unwrap();
        let mut spec = observed.recorded;
        if let Spec::IamRole(r) = &mut spec {
            r.description = "made by hand".into();
        }
        o.discovery.tagged.insert(
            id(kind, INGRESS),
            Found {
                spec,
                depends_on: observed.depends_on,
            },
        );
    }
    let orphan = "prod-east-openshift-old-operator-old-credentials";
    let Spec::IamRole(mut old) = want.resources[&id(ResourceKind::IamRole, EBS)].spec.clone()
    else {
        unreachable!()
    };
    old.name = orphan.into();
    old.arn = format!("arn:aws:iam::{ACCOUNT}:role/{orphan}");
    o.discovery.tagged.insert(
        id(ResourceKind::IamRole, orphan),
        Found {
            spec: Spec::IamRole(old),
            depends_on: vec![],
        },
    );
    o.discovery.extra_policies.insert(
        orphan.into(),
        ExtraPolicies {
            inline: vec![],
            managed: vec!["arn:aws:iam::aws:policy/ReadOnlyAccess".into()],
        },
    );
    let plan = plan::compute(&want, &o);
    let (md, v) = check("adopted_unmanaged", &plan, &meta());
    assert!(
        md.contains(": 2 to adopt, 0 to add, 1 to change, 0 to destroy\n"),
        "{md}"
    );
    assert!(
        md.contains(&format!(
            "| ~ | `iam_role.{INGRESS}` | exists, tagged for `prod-east`: adopted |"
        )),
        "{md}"
    );
    assert!(md.contains(&format!("- `iam_role.{orphan}`\n")), "{md}");
    assert_eq!(v["summary"]["adopt"], 2);
    assert_eq!(v["owner"], CLUSTER);
    assert_eq!(v["unmanaged"][0]["address"], format!("iam_role.{orphan}"));
    assert_eq!(
        change(&v, &format!("iam_role.{INGRESS}"))["reason"],
        "adopted"
    );
    let text = text(&plan);
    assert!(
        text.contains(&format!("# iam_role.{INGRESS} exists, tagged for prod-east: will be adopted and updated in-place"))
            && text.contains(&format!("# iam_role_policy.{INGRESS} exists, tagged for prod-east: will be adopted\n"))
            && text.contains("Plan: 2 to adopt, 0 to add, 1 to change, 0 to destroy."),
        "{text}"
    );
    with_path_filters(|| insta::assert_snapshot!("adopted_unmanaged_text", text));

    // Destroying it too: a delete for the untracked role, and what goes with it.
    let plan = plan::compute_with(&Desired::empty(), &o, true);
    let (md, v) = check("destroy_unmanaged", &plan, &meta());
    assert_eq!(
        change(&v, &format!("iam_role.{orphan}"))["reason"],
        "unmanaged"
    );
    assert!(
        md.contains(&format!(
            "| - | `iam_role.{orphan}` | tagged for `prod-east`, not managed |"
        )),
        "{md}"
    );
    assert!(
        md.contains(&format!("- iam\\_role.{}: has policies stsform did not make; before the role is deleted, managed `arn:aws:iam::aws:policy/ReadOnlyAccess` detached", orphan)),
        "{md}"
    );
}

#[test]
fn delete_of_a_request_that_is_gone() {
    let want = derive_edited(&online(), remove_iam_ro, |_| {});
    let plan = plan::compute(&want, &applied(&baseline()));
    let (md, v) = check("delete", &plan, &meta());
    assert!(md.contains("> [!WARNING]\n> This plan destroys 3 resources."));
    assert!(md.contains("| no longer in the configuration |"));
    let deletes: Vec<&str> = v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["actions"].as_array().unwrap().contains(&json!("delete")))
        .map(|c| c["address"].as_str().unwrap())
        .collect();
    assert_eq!(deletes.len(), 3, "{deletes:?}");
    for c in v["changes"].as_array().unwrap() {
        assert_eq!(c["after"], Value::Null);
        assert_eq!(c["reason"], "no_longer_wanted");
    }
}

#[test]
fn bucket_region_change_replaces_it() {
    let mut observed = applied(&baseline());
    bucket_elsewhere(&mut observed);
    let plan = plan::compute(&baseline(), &observed);
    let (md, v) = check("replace", &plan, &meta());
    assert!(md.contains(
        "| -/+ | `s3_bucket.prod-east-oidc` | inputs changed; replacement forced by `region` |"
    ));
    assert!(md.contains("+ region = \"us-east-2\"  # forces replacement"));
    let c = change(&v, "s3_bucket.prod-east-oidc");
    assert_eq!(c["actions"], json!(["delete", "create"]));
    assert_eq!(c["replace_because"], json!(["region"]));
    // The objects go with the old bucket: both are made again in the new one, although
    // their content is unchanged.
    for key in ["keys.json", ".well-known/openid-configuration"] {
        let o = change(&v, &format!("s3_object.prod-east-oidc/{key}"));
        assert_eq!(o["actions"], json!(["delete", "create"]), "{key}");
        assert_eq!(o["reason"], "container_replaced", "{key}");
    }
    assert_eq!(v["summary"]["add"], 3);
    assert_eq!(v["summary"]["destroy"], 3);
    assert_eq!(v["summary"]["unchanged"], 25);
    // All three break token validation: the plan says so, in every format.
    let issuer: Vec<&str> = v["issuer_changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["address"].as_str().unwrap())
        .collect();
    assert_eq!(
        issuer,
        [
            "s3_bucket.prod-east-oidc",
            "s3_object.prod-east-oidc/.well-known/openid-configuration",
            "s3_object.prod-east-oidc/keys.json"
        ]
    );
    assert!(
        md.contains(
            "> [!CAUTION]\n> This plan breaks token validation for the running cluster (pods"
        ) && md.contains("> - `s3_bucket.prod-east-oidc` must be replaced (region)\n"),
        "{md}"
    );
    let text = text(&plan);
    assert!(
        text.contains(
            "Warning: these changes break token validation for the running cluster:\n  \
             s3_bucket.prod-east-oidc must be replaced (region)\n"
        ),
        "{text}"
    );
}

#[test]
fn drift_changed_and_deleted_outside() {
    let mut observed = applied(&baseline());
    drifted(&mut observed);
    let plan = plan::compute(&baseline(), &observed);
    let (md, v) = check("drift", &plan, &meta());
    assert!(md.contains("#### Changed outside stsform since the last apply"));
    assert!(md.contains("| changed outside stsform |"));
    assert!(md.contains("| deleted outside stsform |"));
    let drift = v["drift"].as_array().unwrap();
    assert_eq!(drift.len(), 3);
    let deleted: Vec<bool> = drift
        .iter()
        .map(|d| d["deleted"].as_bool().unwrap())
        .collect();
    assert_eq!(deleted, [true, true, false]);
    assert_eq!(drift[2]["changed_attributes"], json!(["document"]));
    assert_eq!(drift[0]["live"], Value::Null);
    assert_eq!(
        change(&v, &format!("iam_role_policy.{INGRESS}"))["reason"],
        "repairs_drift"
    );
    assert_eq!(
        change(&v, &format!("iam_role.{MACHINE_API}"))["reason"],
        "deleted_outside"
    );
}

#[test]
fn combined_plan_in_all_three_formats() {
    let want = derive_edited(
        &online(),
        |dir| {
            add_ebs_action(dir);
            remove_iam_ro(dir);
        },
        |_| {},
    );
    let mut observed = applied(&baseline());
    bucket_elsewhere(&mut observed);
    drifted(&mut observed);
    let plan = plan::compute(&want, &observed);
    let (md, v) = check("combined", &plan, &meta());
    let actions: BTreeSet<String> = v["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["actions"].to_string())
        .collect();
    assert_eq!(actions.len(), 4, "{actions:?}");
    assert!(md.contains("This plan destroys 6 resources (3 of them to be replaced)."));
    with_path_filters(|| insta::assert_snapshot!("combined_text", text(&plan)));
}

#[test]
fn no_changes() {
    let plan = plan::compute(&baseline(), &applied(&baseline()));
    let (md, v) = check("no_changes", &plan, &meta());
    assert!(md.contains(": No changes\n"));
    assert_eq!(v["has_changes"], false);
    assert_eq!(v["summary"]["unchanged"], 28);
}

/// 400 roles with big policies: far more than a GitHub comment holds.
fn oversized(roles: usize) -> Plan {
    let actions: Vec<String> = (0..120)
        .map(|i| format!("ec2:SyntheticAction{i:03}"))
        .collect();
    let mut d = Desired::empty();
    for i in 0..roles {
        let name = format!("big-{i:03}");
        let role = id(ResourceKind::IamRole, &name);
        let policy = id(ResourceKind::IamRolePolicy, &name);
        let document = canonicalize(&json!({
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
        }));
        d.resources.insert(
            role.clone(),
            Resource {
                id: role.clone(),
                spec: Spec::IamRole(RoleSpec {
                    name: name.clone(),
                    arn: UNKNOWN.into(),
                    description: format!("synthetic role {i}"),
                    trust_policy: canonicalize(&json!({
                        "Version": "2012-10-17",
                        "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
                                       "Principal": {"Federated": "arn:aws:iam::123456789012:oidc-provider/x"}}],
                    })),
                    permissions_boundary: None,
                    tags: Tags::new(),
                }),
                depends_on: vec![],
            },
        );
        d.resources.insert(
            policy.clone(),
            Resource {
                id: policy,
                spec: Spec::IamRolePolicy(RolePolicySpec {
                    role: name.clone(),
                    name,
                    document,
                }),
                depends_on: vec![role],
            },
        );
    }
    plan::compute(&d, &Observed::default())
}

#[test]
fn oversized_plan_is_capped_with_whole_blocks_and_a_note() {
    let plan = oversized(400);
    let md = markdown(&plan, &meta());
    assert!(md.chars().count() < 65_000, "{}", md.chars().count());
    assert!(md.len() < 65_000, "{}", md.len());
    assert_balanced(&md);
    // Every change is in the table; only details blocks and the permission lines of
    // some role policies were left out, whole, and the note counts both.
    assert_eq!(md.matches("| + | `iam_role").count(), 800);
    let shown = md.matches("<details><summary>+ ").count();
    assert!(shown > 0 && shown < 800, "{shown}");
    let policies = md.matches("\n`iam_role_policy.big-").count();
    assert!(policies > 0 && policies < 400, "{policies}");
    assert_eq!(
        md.matches("\n+ ec2:SyntheticAction000 on *\n").count(),
        policies
    );
    let note = format!(
        "… {} more changes and the permission changes of {} more role policies {NOTE_TAIL}",
        800 - shown,
        400 - policies
    );
    assert!(md.trim_end().ends_with(&note), "{}", &md[md.len() - 400..]);
    // The order diagram stays, grouped: two boxes and one arrow for 800 changes.
    assert!(md.contains("  n0[\"+ 400 × iam_role\"]:::create\n  n1[\"+ 400 × iam_role_policy\"]:::create\n  n0 --> n1\n"), "{md}");

    let v: Value = serde_json::from_str(&json_text(&plan, &meta())).unwrap();
    assert_eq!(v["format_version"], "1.2");
    assert_eq!(v["changes"].as_array().unwrap().len(), 800);
    assert_eq!(
        change(&v, "iam_role.big-000")["after_unknown"],
        json!(["arn"])
    );
    assert_json_covers_markdown(&md, &v);
}

#[test]
fn a_table_too_big_for_a_comment_is_cut_with_the_same_note() {
    let plan = oversized(1500);
    let md = markdown(&plan, &meta());
    assert!(md.chars().count() < 65_000, "{}", md.chars().count());
    assert_balanced(&md);
    assert!(!md.contains("<details><summary>+ "));
    assert!(!md.contains("#### Permission changes"));
    let rows = md.matches("| + | `iam_role").count();
    assert!(rows > 0 && rows < 3000, "{rows}");
    let note = format!(
        "… {} more changes and the permission changes of 1500 role policies {NOTE_TAIL}",
        3000 - rows
    );
    assert!(md.trim_end().ends_with(&note), "{}", &md[md.len() - 400..]);
    // The diagram is in the head: a cut table keeps it.
    assert!(md.contains("n0[\"+ 1500 × iam_role\"]:::create"), "{md}");
}

/// The part of `text` from the line starting with `start` to the line before the one
/// starting with `end` (or the end).
fn section(text: &str, start: &str, end: &str) -> String {
    let from = text
        .find(&format!("\n{start}"))
        .map(|i| i + 1)
        .unwrap_or_else(|| panic!("no {start:?} in:\n{text}"));
    let rest = &text[from..];
    let to = rest.find(&format!("\n{end}")).map_or(rest.len(), |i| i + 1);
    rest[..to].to_string()
}

/// An upgrade of examples/cluster: the EBS driver gains `ec2:CopySnapshot`, the ingress
/// operator loses `route53:ListHostedZones` and `tag:GetResources`, machine-api's KMS
/// grants move to another condition, and the IAM read-only request is gone.
fn upgraded() -> Desired {
    derive_edited(
        &online(),
        |dir| {
            add_ebs_action(dir);
            replace_in(
                dir,
                "00-ingress-credentials-request.yaml",
                "      - route53:ListHostedZones\n",
                "",
            );
            replace_in(
                dir,
                "00-ingress-credentials-request.yaml",
                "      - tag:GetResources\n",
                "",
            );
            replace_in(
                dir,
                "0000_30_machine-api-operator_00_credentials-request.yaml",
                "        \"Bool\":\n          \"kms:GrantIsForAWSResource\": true\n",
                "        \"StringEquals\":\n          \"kms:ViaService\": [\"ec2.us-east-2.amazonaws.com\", \"autoscaling.us-east-2.amazonaws.com\"]\n",
            );
            remove_iam_ro(dir);
        },
        |_| {},
    )
}

#[test]
fn permission_changes_of_an_upgrade_in_text_and_markdown() {
    let plan = plan::compute(&upgraded(), &applied(&baseline()));
    let txt = text(&plan);
    let md = markdown(&plan, &meta());
    // Before the detailed diff, in both.
    assert!(txt.find("Permission changes (").unwrap() < txt.find("stsform will perform").unwrap());
    let first_diff = md
        .match_indices("<details><summary>")
        .map(|(i, _)| i)
        .find(|i| !md[*i..].starts_with("<details><summary>Order"))
        .unwrap();
    assert!(
        md.find("#### Permission changes").unwrap() < first_diff,
        "{md}"
    );
    assert!(
        md.contains("0 to add, 3 to change, 3 to destroy · 4 permissions added, 8 removed\n"),
        "{md}"
    );
    let text_section = section(&txt, "Permission changes (", "stsform will perform");
    let md_section = section(&md, "#### Permission changes", "<details><summary>");
    with_path_filters(|| {
        insta::assert_snapshot!("permission_changes_text", text_section);
        insta::assert_snapshot!("permission_changes_md", md_section);
    });
    // The JSON holds the same lines as data.
    let v: Value = serde_json::from_str(&json_text(&plan, &meta())).unwrap();
    assert_eq!(v["summary"]["permissions_added"], 4);
    assert_eq!(v["summary"]["permissions_removed"], 8);
    let ingress = v["permission_changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["role"] == INGRESS)
        .unwrap();
    let revoked: Vec<&str> = ingress["revoked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["action"].as_str().unwrap())
        .collect();
    assert_eq!(revoked, ["route53:ListHostedZones", "tag:GetResources"]);
    assert_eq!(ingress["granted"], json!([]));
}

#[test]
fn the_order_of_a_small_plan_is_one_box_per_change() {
    let plan = plan::compute(&upgraded(), &applied(&baseline()));
    let md = markdown(&plan, &meta());
    let diagram = section(
        &md,
        "<details><summary>Order of the changes",
        "| | resource",
    );
    insta::assert_snapshot!("mermaid_small_md", diagram);
}

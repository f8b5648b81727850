//! `import` of a cluster laid out as `ccoctl aws create-all` lays it out (made here with
//! the SDK, as ccoctl's Go code makes it), then plan and destroy from the imported state.

use super::*;

/// The Go-marshalled permissions policy ccoctl sends: compact, keys in struct order.
fn go_policy(request: &stsform::credentials_request::CredentialsRequest) -> String {
    let statements: Vec<serde_json::Value> = request
        .statements
        .iter()
        .map(|s| {
            let mut m = serde_json::Map::new();
            m.insert("Effect".into(), serde_json::json!(s.effect));
            m.insert("Action".into(), serde_json::json!(s.action));
            m.insert("Resource".into(), serde_json::json!(s.resource));
            if let Some(c) = s.policy_condition.as_ref().filter(|c| !c.is_empty()) {
                m.insert("Condition".into(), serde_json::Value::Object(c.clone()));
            }
            serde_json::Value::Object(m)
        })
        .collect();
    serde_json::to_string(&serde_json::json!({"Version": "2012-10-17", "Statement": statements}))
        .unwrap()
}

/// ccoctl's trust policy text, odd spacing included (ccoctl-aws.md §3.3).
fn ccoctl_trust(provider_arn: &str, issuer_host: &str, subjects: &[String]) -> String {
    let mut list = format!("[ \"{}\" ", subjects[0]);
    for s in &subjects[1..] {
        list.push_str(&format!(" , \"{s}\""));
    }
    list.push_str(" ]");
    let condition = format!(" {{ \"StringEquals\": {{ \"{issuer_host}:sub\": {list} }} }}");
    format!(
        "{{ \"Version\": \"2012-10-17\", \"Statement\": [ {{ \"Effect\": \"Allow\", \"Principal\": {{ \"Federated\": \"{provider_arn}\" }}, \"Action\": \"sts:AssumeRoleWithWebIdentity\", \"Condition\": {condition} }} ] }}"
    )
}

/// Lays out cluster `name` in moto exactly as `ccoctl aws create-all` does (§2.2, §2.3),
/// and its output dir as ccoctl writes it.
async fn ccoctl_create_all(url: &str, w: &Work, name: &str) {
    use aws_sdk_iam::types::Tag as IamTag;
    use aws_sdk_s3::types::{PublicAccessBlockConfiguration, Tag, Tagging};
    let s3 = s3(url);
    let iam = iam(url);
    let bucket = format!("{name}-oidc");
    let owner = format!("openshift.io/cloud-credential-operator/{name}");
    let host = format!("{bucket}.s3.{REGION}.amazonaws.com");
    let issuer = format!("https://{host}");

    create_bucket(&s3, &bucket).await;
    s3.put_bucket_tagging()
        .bucket(&bucket)
        .tagging(
            Tagging::builder()
                .tag_set(Tag::builder().key(&owner).value("owned").build().unwrap())
                .tag_set(Tag::builder().key("Name").value(name).build().unwrap())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    s3.put_public_access_block()
        .bucket(&bucket)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .block_public_policy(false)
                .ignore_public_acls(true)
                .restrict_public_buckets(false)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let policy = format!(
        "{{\n\t\t\"Version\": \"2012-10-17\",\n\t\t\"Statement\": [\n\t\t\t{{\n\t\t\t\t\"Sid\": \"AllowReadPublicAccess\",\n\t\t\t\t\"Principal\": \"*\",\n\t\t\t\t\"Effect\": \"Allow\",\n\t\t\t\t\"Action\": [\n\t\t\t\t\t\"s3:GetObject\"\n\t\t\t\t],\n\t\t\t\t\"Resource\": [\n\t\t\t\t\t\"arn:aws:s3:::{bucket}/*\"\n\t\t\t\t]\n\t\t\t}}\n\t\t]\n}}"
    );
    s3.put_bucket_policy()
        .bucket(&bucket)
        .policy(policy)
        .send()
        .await
        .unwrap();
    // Both objects: no ContentType, ccoctl's Tagging string.
    let jwks = crate::derive::fixed_key().jwks;
    for (key, body) in [
        (
            ".well-known/openid-configuration",
            stsform::desired::discovery_document(&issuer),
        ),
        ("keys.json", jwks),
    ] {
        s3.put_object()
            .bucket(&bucket)
            .key(key)
            .body(aws_sdk_s3::primitives::ByteStream::from(body.into_bytes()))
            .tagging(format!("{owner}=owned&Name={name}"))
            .send()
            .await
            .unwrap();
    }
    // The provider is created untagged, then tagged.
    let created = iam
        .create_open_id_connect_provider()
        .url(&issuer)
        .client_id_list("openshift")
        .client_id_list("sts.amazonaws.com")
        .thumbprint_list("A9D53002E97E00E043244F3D170D6F4C414104FD")
        .send()
        .await
        .unwrap();
    let provider_arn = created.open_id_connect_provider_arn().unwrap().to_string();
    iam.tag_open_id_connect_provider()
        .open_id_connect_provider_arn(&provider_arn)
        .tags(
            IamTag::builder()
                .key(&owner)
                .value("owned")
                .build()
                .unwrap(),
        )
        .tags(IamTag::builder().key("Name").value(name).build().unwrap())
        .send()
        .await
        .unwrap();

    // Roles: truncated names, tags at create, no boundary; then the inline policy.
    let requests = crate::derive::requests(&w.path().join("creds"));
    for request in &requests {
        let role = stsform::desired::role_name(name, request);
        let subjects = stsform::desired::subjects(request);
        iam.create_role()
            .role_name(&role)
            .description(format!(
                "OpenShift role for {}/{}",
                request.secret_ref.namespace, request.secret_ref.name
            ))
            .assume_role_policy_document(ccoctl_trust(&provider_arn, &host, &subjects))
            .tags(
                IamTag::builder()
                    .key(&owner)
                    .value("owned")
                    .build()
                    .unwrap(),
            )
            .tags(IamTag::builder().key("Name").value(name).build().unwrap())
            .send()
            .await
            .unwrap();
        iam.put_role_policy()
            .role_name(&role)
            .policy_name(&role)
            .policy_document(go_policy(request))
            .send()
            .await
            .unwrap();
    }

    // The output dir: the key pair (already there), the installer's key copy and the
    // manifests, with ccoctl's content (which is derive's, byte for byte) and modes.
    let settings = crate::derive::settings(name, REGION, &w.path().join("creds"));
    let desired = stsform::desired::derive(
        &requests,
        &settings,
        &stsform::desired::Facts {
            account_id: Some(crate::harness::ACCOUNT_ID.into()),
            signing_key: Some(crate::derive::fixed_key()),
            ..Default::default()
        },
    )
    .unwrap();
    let install = w.path().join("install");
    for r in desired.resources.values() {
        let stsform::resource::Spec::File(f) = &r.spec else {
            continue;
        };
        let rel = Path::new(&f.path).strip_prefix("install").unwrap();
        let path = install.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        match &f.content {
            stsform::resource::FileContent::Text(t) => std::fs::write(&path, t).unwrap(),
            stsform::resource::FileContent::PrivateKeyCopy { .. } => {
                std::fs::copy(install.join("serviceaccount-signer.private"), &path).unwrap();
            }
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

/// `import` of a ccoctl-made cluster: the plan then shows only real differences.
#[test]
fn import_adopts_a_cluster_made_by_ccoctl() {
    let url = crate::support::endpoint();
    let rt = runtime();
    let w = Work::new();
    let name = crate::moto_account::unique_name();
    rt.block_on(ccoctl_create_all(&url, &w, &name));

    let o = w.cluster("import", &name, &[]);
    let text = ok(&o);
    assert!(
        text.contains(
            "Imported 28 resources, 0 not found (the next apply creates them), 0 not owned"
        ),
        "{text}"
    );
    // A second import into the now non-empty state is refused.
    let err = failed(&w.cluster("import", &name, &[]));
    assert!(err.contains("import only fills an empty state"), "{err}");

    // Only the objects differ: ccoctl uploads them without a Content-Type.
    let o = w.cluster("plan", &name, &[]);
    let plan = ok(&o);
    assert!(
        plan.contains("Plan: 0 to add, 2 to change, 0 to destroy."),
        "{plan}"
    );
    assert!(
        plan.contains(&format!(
            "# s3_object.{name}-oidc/keys.json will be updated in-place"
        )) && plan.contains(&format!(
            "# s3_object.{name}-oidc/.well-known/openid-configuration will be updated in-place"
        )) && plan
            .contains("~ content_type = \"application/octet-stream\" -> \"application/json\""),
        "{plan}"
    );
    assert!(!plan.contains("iam_role"), "{plan}");
    // A permissions boundary ccoctl was not given is a real difference, on every role.
    let o = w.cluster(
        "plan",
        &name,
        &[
            "--permissions-boundary-arn",
            "arn:aws:iam::123456789012:policy/boundary",
        ],
    );
    let bounded = ok(&o);
    assert!(
        bounded.contains("Plan: 0 to add, 9 to change, 0 to destroy."),
        "{bounded}"
    );
    assert!(!bounded.contains("iam_role_policy"), "{bounded}");

    let o = w.cluster("apply", &name, &["--auto-approve"]);
    assert!(
        ok(&o).contains("Apply complete! Resources: 0 added, 2 changed, 0 destroyed."),
        "{}",
        out(&o)
    );
    let o = w.cluster("plan", &name, &[]);
    assert!(ok(&o).contains("No changes."), "{}", out(&o));

    let o = w.cluster("destroy", &name, &["--auto-approve"]);
    assert!(
        ok(&o).contains("Destroy complete! Resources: 28 destroyed."),
        "{}",
        out(&o)
    );
    let account = rt.block_on(crate::moto_account::MotoAccount::connect());
    assert_eq!(
        rt.block_on(account.inventory(&name)),
        Default::default(),
        "nothing of the cluster is left"
    );
}

/// Everything in AWS that carries the cluster's ownership tag key: roles named
/// `<name>-…` (what a scan can find without reading every role), every OIDC provider,
/// and the bucket `<name>-oidc`.
async fn tagged_for(url: &str, name: &str) -> Vec<String> {
    let iam = iam(url);
    let s3 = s3(url);
    let key = format!("openshift.io/cloud-credential-operator/{name}");
    let mut out = Vec::new();
    let mut pages = iam.list_roles().into_paginator().send();
    let mut roles = Vec::new();
    while let Some(page) = pages.next().await {
        for r in page.unwrap().roles() {
            if r.role_name().starts_with(&format!("{name}-")) {
                roles.push(r.role_name().to_string());
            }
        }
    }
    for role in roles {
        let Ok(got) = iam.get_role().role_name(&role).send().await else {
            continue; // deleted meanwhile
        };
        if got
            .role()
            .is_some_and(|r| r.tags().iter().any(|t| t.key() == key))
        {
            out.push(format!("role:{role}"));
        }
    }
    let providers = iam.list_open_id_connect_providers().send().await.unwrap();
    for p in providers.open_id_connect_provider_list() {
        let arn = p.arn().unwrap();
        let Ok(got) = iam
            .get_open_id_connect_provider()
            .open_id_connect_provider_arn(arn)
            .send()
            .await
        else {
            continue;
        };
        if got.tags().iter().any(|t| t.key() == key) {
            out.push(format!("provider:{arn}"));
        }
    }
    if s3
        .head_bucket()
        .bucket(format!("{name}-oidc"))
        .send()
        .await
        .is_ok()
    {
        out.push(format!("bucket:{name}-oidc"));
    }
    out
}

/// A cluster laid out by ccoctl, plus a tagged role whose request is gone, and a role
/// someone gave a managed and an inline policy: import adopts all of it, the destroy plan
/// names the policies it removes, and destroy leaves nothing tagged for the cluster
/// (`ccoctl aws delete` would have left the role with the managed policy behind).
#[test]
fn import_then_destroy_leaves_nothing_tagged_for_the_cluster() {
    use aws_sdk_iam::types::Tag as IamTag;
    let url = crate::support::endpoint();
    let rt = runtime();
    let w = Work::new();
    let name = crate::moto_account::unique_name();
    rt.block_on(ccoctl_create_all(&url, &w, &name));
    let iam = iam(&url);
    let owner = format!("openshift.io/cloud-credential-operator/{name}");
    // ccoctl made this role for a request no longer in the directory.
    let orphan = format!("{name}-openshift-old-operator-old-credentials");
    // Someone else's role with the cluster's prefix but no tag: never touched.
    let foreign = format!("{name}-not-the-clusters");
    let ingress = format!("{name}-openshift-ingress-operator-cloud-credentials");
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    let document = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*"}]}"#;
    let managed = rt.block_on(async {
        iam.create_role()
            .role_name(&orphan)
            .assume_role_policy_document(trust)
            .tags(
                IamTag::builder()
                    .key(&owner)
                    .value("owned")
                    .build()
                    .unwrap(),
            )
            .tags(IamTag::builder().key("Name").value(&name).build().unwrap())
            .send()
            .await
            .unwrap();
        iam.put_role_policy()
            .role_name(&orphan)
            .policy_name(&orphan)
            .policy_document(document)
            .send()
            .await
            .unwrap();
        iam.create_role()
            .role_name(&foreign)
            .assume_role_policy_document(trust)
            .send()
            .await
            .unwrap();
        let policy = iam
            .create_policy()
            .policy_name(format!("{name}-extra"))
            .policy_document(document)
            .send()
            .await
            .unwrap();
        let arn = policy.policy().unwrap().arn().unwrap().to_string();
        iam.attach_role_policy()
            .role_name(&ingress)
            .policy_arn(&arn)
            .send()
            .await
            .unwrap();
        iam.put_role_policy()
            .role_name(&ingress)
            .policy_name("added-by-hand")
            .policy_document(document)
            .send()
            .await
            .unwrap();
        arn
    });
    let before = rt.block_on(tagged_for(&url, &name));
    assert_eq!(before.len(), 10, "{before:?}"); // 8 roles, the provider, the bucket

    // Plan before import: what the requests derive is found and would be adopted, not
    // created; the untracked resources are listed.
    let o = w.cluster("plan", &name, &[]);
    let plan = ok(&o);
    assert!(
        plan.contains(&format!(
            "# s3_bucket.{name}-oidc exists, tagged for {name}: will be adopted\n"
        )) && plan.contains(&format!(
            "# iam_role.{ingress} exists, tagged for {name}: will be adopted\n"
        )) && plan.contains("Plan: 18 to adopt, 10 to add, 2 to change, 0 to destroy."),
        "{plan}"
    );
    assert!(
        plan.contains(&format!("Tagged for {name}, not managed")),
        "{plan}"
    );
    assert!(plan.contains(&format!("  # iam_role.{orphan}\n")), "{plan}");

    let o = w.cluster("import", &name, &[]);
    let text = ok(&o);
    assert!(
        text.contains(&format!(
            "  imported   iam_role.{orphan} (tagged for {name}, derived from no current request)"
        )),
        "{text}"
    );
    assert!(
        text.contains(
            "Imported 30 resources, 0 not found (the next apply creates them), 0 not owned"
        ) && text.contains("note: 2 of them no current request derives"),
        "{text}"
    );

    // The destroy plan names the policies added outside stsform that go with the role.
    let o = w.cluster("plan", &name, &["--destroy"]);
    let plan = ok(&o);
    assert!(
        plan.contains("Plan: 0 to add, 0 to change, 30 to destroy."),
        "{plan}"
    );
    assert!(
        plan.contains(&format!(
            "iam_role.{ingress}: has policies stsform did not make; before the role is deleted, inline `added-by-hand` deleted; managed `{managed}` detached"
        )),
        "{plan}"
    );
    let o = w.cluster("destroy", &name, &["--auto-approve"]);
    assert!(
        ok(&o).contains("Destroy complete! Resources: 30 destroyed."),
        "{}",
        out(&o)
    );
    assert_eq!(
        rt.block_on(tagged_for(&url, &name)),
        Vec::<String>::new(),
        "something tagged for the cluster is left"
    );
    // Only what was not the cluster's is left: the untagged role, the managed policy.
    rt.block_on(async {
        iam.get_role().role_name(&foreign).send().await.unwrap();
        iam.get_policy().policy_arn(&managed).send().await.unwrap();
    });
}

//! The real AWS provider against the moto emulator on loopback (`scripts/moto.sh`).
//!
//! Each test makes its own cluster name (random suffix), so tests run in parallel on one
//! server without resets. Specs come from `desired::derive`, as in a real apply; the
//! contract checked throughout is `read(create(r)) == r.spec`. Without
//! `STSFORM_TEST_ENDPOINT` the tests skip (and fail under `CI=true`).

use std::path::PathBuf;

use stsform::credentials_request::{CredentialsRequest, SecretRef, Source, StatementEntry};
use stsform::desired::{self, Facts, SigningKey};
use stsform::iam_policy;
use stsform::keypair::PublicKey;
use stsform::provider::aws::{ApiCalls, AwsProvider};
use stsform::provider::{Provider, ProviderError};
use stsform::resource::{Resource, ResourceKind, Spec};
use stsform::settings::{Region, Settings};

use crate::support::{assert_loopback, endpoint};

const REGION: &str = "us-east-2";

/// Everything one test needs: the provider, raw SDK clients for arranging and
/// inspecting, and the resources derived for a fresh cluster name.
struct Ctx {
    provider: AwsProvider,
    s3: aws_sdk_s3::Client,
    iam: aws_sdk_iam::Client,
    name: String,
    account: String,
    desired: desired::Desired,
}

impl Ctx {
    async fn new() -> Ctx {
        let url = endpoint();
        let provider = AwsProvider::connect(REGION, None).await.unwrap();
        assert_loopback(
            provider
                .endpoint_url()
                .expect("endpoint override in effect"),
        );
        // Raw clients get the endpoint and test credentials explicitly.
        let (s3, iam) = crate::support::sdk_clients(&url);
        let account = provider.account_id().await.unwrap();
        let name = format!("it{}", &uuid::Uuid::new_v4().simple().to_string()[..10]);
        let desired = derive(&name, &account, None);
        Ctx {
            provider,
            s3,
            iam,
            name,
            account,
            desired,
        }
    }

    fn get(&self, kind: ResourceKind, suffix: &str) -> Resource {
        self.desired
            .resources
            .values()
            .find(|r| r.id.kind == kind && r.id.name.ends_with(suffix))
            .unwrap_or_else(|| panic!("no {kind} ending in {suffix}"))
            .clone()
    }

    fn bucket(&self) -> String {
        format!("{}-oidc", self.name)
    }

    async fn read(&self, r: &Resource) -> Option<Spec> {
        self.provider.read(&r.id, &r.spec).await.unwrap()
    }

    /// Asserts the round-trip contract: what was applied reads back equal.
    async fn assert_reads_back(&self, r: &Resource) {
        assert_eq!(self.read(r).await, Some(r.spec.clone()), "{}", r.id);
    }
}

fn request(ns: &str, secret: &str, sas: &[&str]) -> CredentialsRequest {
    CredentialsRequest {
        source: Source {
            file: "test.yaml".into(),
            document: 1,
        },
        name: format!("{ns}-{secret}"),
        secret_ref: SecretRef {
            namespace: ns.into(),
            name: secret.into(),
        },
        service_account_names: sas.iter().map(|s| s.to_string()).collect(),
        statements: vec![StatementEntry {
            effect: "Allow".into(),
            action: vec!["s3:ListAllMyBuckets".into(), "s3:GetObject".into()],
            resource: "*".into(),
            policy_condition: None,
        }],
        feature_gate: None,
    }
}

fn derive(name: &str, account: &str, boundary: Option<String>) -> desired::Desired {
    let pem = std::fs::read_to_string(
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keys/fixed.public.pem"),
    )
    .unwrap();
    let key = PublicKey::from_pem(&pem, "fixed.public.pem").unwrap();
    let settings = Settings {
        name: name.into(),
        region: Region::parse(REGION).unwrap(),
        credentials_requests_dir: "requests".into(),
        output_dir: std::env::temp_dir().join(name),
        base: ".".into(),
        recorded_output_dir: std::env::temp_dir().join(name),
        state: std::env::temp_dir().join(name).join("state.toml"),
        permissions_boundary_arn: boundary,
        enable_tech_preview: false,
        public_key_files: Vec::new(),
        identity_provider_arn: None,
        request_set: None,
        tags: [("team".to_string(), "storage".to_string())].into(),
        thumbprint: None,
        create_private_s3_bucket: false,
        review: Default::default(),
    };
    let facts = Facts {
        account_id: Some(account.into()),
        signing_key: Some(SigningKey::key_pair(&key)),
        ..Facts::default()
    };
    desired::derive(
        &[request(
            "openshift-image-registry",
            "installer-cloud-credentials",
            &["registry"],
        )],
        &settings,
        &facts,
    )
    .unwrap()
}

#[tokio::test]
async fn bucket_lifecycle_update_and_delete_with_stray_objects() {
    let ctx = Ctx::new().await;
    let bucket = ctx.get(ResourceKind::S3Bucket, "-oidc");
    assert_eq!(ctx.read(&bucket).await, None, "not created yet");

    ctx.provider.create(&bucket).await.unwrap();
    ctx.assert_reads_back(&bucket).await;

    // A policy removed behind our back reads as a difference, not as "no policy wanted".
    ctx.s3
        .delete_bucket_policy()
        .bucket(ctx.bucket())
        .send()
        .await
        .unwrap();
    let Some(Spec::S3Bucket(live)) = ctx.read(&bucket).await else {
        panic!("bucket vanished")
    };
    assert!(live.policy.as_ref().is_some_and(serde_json::Value::is_null));
    assert_ne!(Spec::S3Bucket(live.clone()), bucket.spec);

    // Update every updatable part at once, from the drifted live state.
    let Spec::S3Bucket(mut new) = bucket.spec.clone() else {
        unreachable!()
    };
    new.tags.insert("extra".into(), "yes".into());
    new.tags.remove("team");
    new.public_access_block.block_public_policy = true;
    new.public_access_block.restrict_public_buckets = true;
    new.policy = Some(iam_policy::canonicalize(&serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{"Sid": "Read", "Effect": "Allow", "Principal": "*",
            "Action": "s3:GetObject", "Resource": format!("arn:aws:s3:::{}/keys.json", ctx.bucket())}]
    })));
    let updated = Resource {
        spec: Spec::S3Bucket(new),
        ..bucket.clone()
    };
    let before = ctx.provider.api_calls();
    ctx.provider
        .update(&updated, &Spec::S3Bucket(live))
        .await
        .unwrap();
    assert_eq!(ctx.provider.api_calls().since(before).writes, 3);
    ctx.assert_reads_back(&updated).await;

    // Someone else's object in our bucket does not stop destroy.
    ctx.s3
        .put_object()
        .bucket(ctx.bucket())
        .key("stray/notes.txt")
        .body(b"hello".to_vec().into())
        .send()
        .await
        .unwrap();
    let object = ctx.get(ResourceKind::S3Object, "keys.json");
    ctx.provider.create(&object).await.unwrap();
    ctx.provider
        .delete(&bucket.id, &updated.spec)
        .await
        .unwrap();
    assert_eq!(ctx.read(&bucket).await, None);
    assert_eq!(ctx.read(&object).await, None);
    let head = ctx.s3.head_bucket().bucket(ctx.bucket()).send().await;
    assert!(head.is_err(), "bucket still exists");
    // Deleting what is gone succeeds.
    ctx.provider
        .delete(&bucket.id, &updated.spec)
        .await
        .unwrap();
}

#[tokio::test]
async fn bucket_without_our_tag_is_neither_adopted_nor_deleted() {
    let ctx = Ctx::new().await;
    let bucket = ctx.get(ResourceKind::S3Bucket, "-oidc");
    ctx.s3
        .create_bucket()
        .bucket(ctx.bucket())
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(REGION.into())
                .build(),
        )
        .send()
        .await
        .unwrap();
    let err = ctx.provider.create(&bucket).await.unwrap_err();
    match &err {
        ProviderError::NotOwned { message, .. } => {
            assert!(message.contains(&ctx.name), "{message}");
            assert!(message.contains("not in the state"), "{message}");
        }
        other => panic!("expected NotOwned, got {other:?}"),
    }
    // The refused create changed nothing.
    let tags = ctx
        .s3
        .get_bucket_tagging()
        .bucket(ctx.bucket())
        .send()
        .await;
    assert!(tags.is_err(), "create must not tag a foreign bucket");

    let err = ctx
        .provider
        .delete(&bucket.id, &bucket.spec)
        .await
        .unwrap_err();
    assert!(matches!(err, ProviderError::NotOwned { .. }), "{err:?}");
    ctx.s3
        .head_bucket()
        .bucket(ctx.bucket())
        .send()
        .await
        .unwrap();

    // The same bucket carrying our ownership tag is adopted (an interrupted apply).
    let Spec::S3Bucket(spec) = &bucket.spec else {
        unreachable!()
    };
    let owner_key = format!("openshift.io/cloud-credential-operator/{}", ctx.name);
    ctx.s3
        .put_bucket_tagging()
        .bucket(ctx.bucket())
        .tagging(
            aws_sdk_s3::types::Tagging::builder()
                .tag_set(
                    aws_sdk_s3::types::Tag::builder()
                        .key(&owner_key)
                        .value(&spec.tags[&owner_key])
                        .build()
                        .unwrap(),
                )
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    ctx.provider.create(&bucket).await.unwrap();
    ctx.assert_reads_back(&bucket).await;
    ctx.provider.delete(&bucket.id, &bucket.spec).await.unwrap();
    assert_eq!(ctx.read(&bucket).await, None);
}

#[tokio::test]
async fn objects_round_trip_byte_exact() {
    let ctx = Ctx::new().await;
    let bucket = ctx.get(ResourceKind::S3Bucket, "-oidc");
    ctx.provider.create(&bucket).await.unwrap();
    let discovery = ctx.get(ResourceKind::S3Object, desired::DISCOVERY_KEY);
    let jwks = ctx.get(ResourceKind::S3Object, desired::JWKS_KEY);
    assert_eq!(ctx.read(&discovery).await, None);

    for object in [&discovery, &jwks] {
        ctx.provider.create(object).await.unwrap();
        ctx.assert_reads_back(object).await;
    }
    // The discovery document reached S3 under its key (moto routes only *unsigned*
    // `.well-known/openid-configuration` GETs to Cognito).
    let raw = ctx
        .s3
        .get_object()
        .bucket(ctx.bucket())
        .key(desired::DISCOVERY_KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(raw.content_type(), Some("application/json"));
    let body = raw.body.collect().await.unwrap().into_bytes();
    let Spec::S3Object(spec) = &discovery.spec else {
        unreachable!()
    };
    assert_eq!(body.as_ref(), spec.content.as_bytes());
    assert!(spec.content.contains('\t'), "ccoctl's tabs survive");

    let Spec::S3Object(mut new) = jwks.spec.clone() else {
        unreachable!()
    };
    new.content = r#"{"keys":[]}"#.into();
    new.tags.insert("rotated".into(), "a b=c/d+e@f".into());
    let updated = Resource {
        spec: Spec::S3Object(new),
        ..jwks.clone()
    };
    ctx.provider.update(&updated, &jwks.spec).await.unwrap();
    ctx.assert_reads_back(&updated).await;

    ctx.provider.delete(&jwks.id, &updated.spec).await.unwrap();
    assert_eq!(ctx.read(&jwks).await, None);
    ctx.provider.delete(&jwks.id, &updated.spec).await.unwrap();
    ctx.provider.delete(&bucket.id, &bucket.spec).await.unwrap();
    assert_eq!(ctx.read(&discovery).await, None, "gone with its bucket");
}

#[tokio::test]
async fn oidc_provider_lifecycle() {
    let ctx = Ctx::new().await;
    let provider = ctx.get(ResourceKind::IamOidcProvider, "amazonaws.com");
    let Spec::IamOidcProvider(spec) = &provider.spec else {
        unreachable!()
    };
    assert!(spec.thumbprints.is_empty());
    assert!(spec.url.starts_with("https://"));
    assert!(
        spec.arn
            .contains(&format!("::{}:oidc-provider/", ctx.account))
    );
    assert_eq!(ctx.read(&provider).await, None);

    let created = ctx.provider.create(&provider).await.unwrap();
    assert_eq!(created, provider.spec);
    ctx.assert_reads_back(&provider).await;
    // Creating it again adopts it: it carries our ownership tag.
    let adopted = ctx.provider.create(&provider).await.unwrap();
    assert_eq!(adopted, provider.spec);

    let mut new = spec.clone();
    new.thumbprints = vec![
        "A".repeat(40),
        "9E99A48A9960B14926BB7F3B02E22DA2B0AB7280".into(),
    ];
    new.tags.remove("team");
    new.tags.insert("cost-center".into(), "42".into());
    let updated = Resource {
        spec: Spec::IamOidcProvider(new.clone()),
        ..provider.clone()
    };
    ctx.provider.update(&updated, &provider.spec).await.unwrap();
    let Some(Spec::IamOidcProvider(live)) = ctx.read(&provider).await else {
        panic!("provider vanished")
    };
    // Thumbprints read back sorted; the spec is compared as a set.
    new.thumbprints.sort();
    assert_eq!(live, new);

    ctx.provider
        .delete(&provider.id, &updated.spec)
        .await
        .unwrap();
    assert_eq!(ctx.read(&provider).await, None);
    ctx.provider
        .delete(&provider.id, &updated.spec)
        .await
        .unwrap();
}

#[tokio::test]
async fn role_and_policy_lifecycle() {
    let ctx = Ctx::new().await;
    let oidc = ctx.get(ResourceKind::IamOidcProvider, "amazonaws.com");
    let role = ctx.get(ResourceKind::IamRole, "");
    let policy = ctx.get(ResourceKind::IamRolePolicy, "");
    let Spec::IamRole(spec) = &role.spec else {
        unreachable!()
    };
    assert!(spec.trust_policy.to_string().contains(":oidc-provider/"));
    assert_eq!(ctx.read(&role).await, None);
    assert_eq!(ctx.read(&policy).await, None);

    ctx.provider.create(&oidc).await.unwrap();
    ctx.provider.create(&role).await.unwrap();
    ctx.assert_reads_back(&role).await;

    // Creating it again adopts it: it carries our ownership tag (an apply killed between
    // CreateRole and the state save, or a CreateRole whose answer was lost and retried).
    ctx.provider.create(&role).await.unwrap();
    ctx.assert_reads_back(&role).await;
    // A role of that name without our tag is refused and left alone.
    let foreign = format!("{}-foreign", ctx.name);
    ctx.iam
        .create_role()
        .role_name(&foreign)
        .assume_role_policy_document(spec.trust_policy.to_string())
        .send()
        .await
        .unwrap();
    let mut theirs = spec.clone();
    theirs.name = foreign.clone();
    let theirs = Resource {
        spec: Spec::IamRole(theirs),
        ..role.clone()
    };
    match ctx.provider.create(&theirs).await.unwrap_err() {
        ProviderError::NotOwned { message, .. } => {
            assert!(
                message.contains("the role exists but carries no ownership tag"),
                "{message}"
            );
        }
        other => panic!("expected NotOwned, got {other:?}"),
    }
    let live = ctx.iam.get_role().role_name(&foreign).send().await.unwrap();
    assert!(live.role().unwrap().tags().is_empty());
    ctx.iam
        .delete_role()
        .role_name(&foreign)
        .send()
        .await
        .unwrap();

    ctx.provider.create(&policy).await.unwrap();
    ctx.assert_reads_back(&policy).await;
    // IAM hands the document back URL-encoded; the provider decoded it above.
    let raw = ctx
        .iam
        .get_role_policy()
        .role_name(&spec.name)
        .policy_name(&spec.name)
        .send()
        .await
        .unwrap();
    assert!(
        raw.policy_document().starts_with("%7B"),
        "{}",
        raw.policy_document()
    );

    // A managed policy to serve as permissions boundary.
    let boundary = ctx
        .iam
        .create_policy()
        .policy_name(format!("{}-boundary", ctx.name))
        .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:*","Resource":"*"}]}"#)
        .send()
        .await
        .unwrap();
    let boundary_arn = boundary.policy().unwrap().arn().unwrap().to_string();

    let mut new = spec.clone();
    new.description = "changed by the test".into();
    new.trust_policy["Statement"][0]["Condition"]["StringEquals"]
        .as_object_mut()
        .unwrap()
        .values_mut()
        .for_each(|v| {
            v.as_array_mut()
                .unwrap()
                .push("system:serviceaccount:x:y".into())
        });
    new.trust_policy = iam_policy::canonicalize(&new.trust_policy);
    new.permissions_boundary = Some(boundary_arn.clone());
    new.tags.insert("team".into(), "network".into());
    new.tags.insert("extra".into(), "1".into());
    let updated = Resource {
        spec: Spec::IamRole(new.clone()),
        ..role.clone()
    };
    let before = ctx.provider.api_calls();
    ctx.provider.update(&updated, &role.spec).await.unwrap();
    // trust, description, boundary, tags: one call each.
    assert_eq!(ctx.provider.api_calls().since(before).writes, 4);
    ctx.assert_reads_back(&updated).await;

    // Removing the boundary again.
    let mut unbounded = new.clone();
    unbounded.permissions_boundary = None;
    unbounded.tags.remove("extra");
    let unbounded = Resource {
        spec: Spec::IamRole(unbounded),
        ..role.clone()
    };
    ctx.provider
        .update(&unbounded, &updated.spec)
        .await
        .unwrap();
    ctx.assert_reads_back(&unbounded).await;

    // A managed policy and an inline policy someone else put on the role: delete empties
    // the role (detaches the one, deletes the other) instead of failing on DeleteConflict.
    ctx.iam
        .attach_role_policy()
        .role_name(&spec.name)
        .policy_arn(&boundary_arn)
        .send()
        .await
        .unwrap();
    ctx.iam
        .put_role_policy()
        .role_name(&spec.name)
        .policy_name("added-by-hand")
        .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*"}]}"#)
        .send()
        .await
        .unwrap();
    let listed = |listing| {
        let provider = &ctx.provider;
        async move { provider.list(&listing).await.unwrap() }
    };
    assert_eq!(
        listed(stsform::provider::Listing::AttachedPolicies {
            role: spec.name.clone()
        })
        .await,
        std::slice::from_ref(&boundary_arn)
    );
    let mut inline = vec!["added-by-hand".to_string(), spec.name.clone()];
    inline.sort();
    assert_eq!(
        listed(stsform::provider::Listing::InlinePolicies {
            role: spec.name.clone()
        })
        .await,
        inline
    );

    // Delete takes every policy along.
    ctx.provider
        .delete(&role.id, &unbounded.spec)
        .await
        .unwrap();
    assert_eq!(ctx.read(&role).await, None);
    assert_eq!(ctx.read(&policy).await, None);
    // The managed policy itself is only detached: it still exists.
    ctx.iam
        .get_policy()
        .policy_arn(&boundary_arn)
        .send()
        .await
        .unwrap();
    ctx.provider
        .delete(&role.id, &unbounded.spec)
        .await
        .unwrap();
    ctx.provider.delete(&policy.id, &policy.spec).await.unwrap();

    ctx.provider.delete(&oidc.id, &oidc.spec).await.unwrap();
    ctx.iam
        .delete_policy()
        .policy_arn(&boundary_arn)
        .send()
        .await
        .unwrap();
}

#[tokio::test]
async fn api_calls_are_counted_and_reads_never_write() {
    let ctx = Ctx::new().await;
    // `Ctx::new` made one read: GetCallerIdentity.
    assert_eq!(
        ctx.provider.api_calls(),
        ApiCalls {
            reads: 1,
            writes: 0
        }
    );
    let remote: Vec<Resource> = ctx
        .desired
        .resources
        .values()
        .filter(|r| r.id.kind.is_remote())
        .cloned()
        .collect();
    for r in &remote {
        assert_eq!(ctx.read(r).await, None, "{}", r.id);
    }
    let calls = ctx.provider.api_calls();
    assert_eq!(calls.writes, 0);
    // A resource's reads run at once, so a missing one answers each of them: the bucket
    // its four (location, tags, public-access block, policy), an object its two (body,
    // tags), the others one Get.
    let reads_of = |r: &Resource| match r.id.kind {
        ResourceKind::S3Bucket => 4,
        ResourceKind::S3Object => 2,
        _ => 1,
    };
    assert_eq!(
        calls.reads,
        1 + remote.iter().map(reads_of).sum::<usize>(),
        "every read of a missing resource is made once"
    );

    let role = ctx.get(ResourceKind::IamRole, "");
    ctx.provider.create(&role).await.unwrap();
    let after_create = ctx.provider.api_calls().since(calls);
    assert_eq!(
        after_create,
        ApiCalls {
            reads: 0,
            writes: 1
        }
    );

    // Refreshing an up-to-date resource: reads only.
    let before = ctx.provider.api_calls();
    ctx.assert_reads_back(&role).await;
    assert_eq!(
        ctx.provider.api_calls().since(before),
        ApiCalls {
            reads: 1,
            writes: 0
        }
    );
    // Deleting what this run read reads nothing more: DeleteRole, and that is all (the
    // role has no policy yet).
    let before = ctx.provider.api_calls();
    ctx.provider.delete(&role.id, &role.spec).await.unwrap();
    assert_eq!(
        ctx.provider.api_calls().since(before),
        ApiCalls {
            reads: 0,
            writes: 1
        }
    );
}

/// Deleting a role removes the policies the run listed, then the role: no read. Only when
/// IAM answers `DeleteConflict` (a policy was put on the role after the listing) does it
/// list again, remove what it finds, and delete the role.
#[tokio::test]
async fn a_role_delete_lists_again_only_when_iam_answers_delete_conflict() {
    let ctx = Ctx::new().await;
    let oidc = ctx.get(ResourceKind::IamOidcProvider, "amazonaws.com");
    let role = ctx.get(ResourceKind::IamRole, "");
    let policy = ctx.get(ResourceKind::IamRolePolicy, "");
    let Spec::IamRole(spec) = &role.spec else {
        unreachable!()
    };
    let name = spec.name.clone();
    ctx.provider.create(&oidc).await.unwrap();
    ctx.provider.create(&role).await.unwrap();
    ctx.provider.create(&policy).await.unwrap();
    let listed = |listing| {
        let provider = &ctx.provider;
        async move { provider.list(&listing).await.unwrap() }
    };
    let inline = || stsform::provider::Listing::InlinePolicies { role: name.clone() };
    let attached = || stsform::provider::Listing::AttachedPolicies { role: name.clone() };

    // As a destroy does: the refresh reads the role, discovery lists its policies, and
    // the role's own policy is deleted by its own change.
    let Some(live) = ctx.read(&role).await else {
        panic!("the role is there")
    };
    assert_eq!(listed(inline()).await, std::slice::from_ref(&name));
    assert!(listed(attached()).await.is_empty());
    ctx.provider.delete(&policy.id, &policy.spec).await.unwrap();

    // Then, outside stsform, a managed policy is attached and an inline one put.
    let managed = ctx
        .iam
        .create_policy()
        .policy_name(format!("{}-late", ctx.name))
        .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*"}]}"#)
        .send()
        .await
        .unwrap();
    let managed = managed.policy().unwrap().arn().unwrap().to_string();
    ctx.iam
        .attach_role_policy()
        .role_name(&name)
        .policy_arn(&managed)
        .send()
        .await
        .unwrap();
    ctx.iam
        .put_role_policy()
        .role_name(&name)
        .policy_name("put-late")
        .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*"}]}"#)
        .send()
        .await
        .unwrap();

    let before = ctx.provider.api_calls();
    ctx.provider.delete(&role.id, &live).await.unwrap();
    // DeleteRole (refused), both listings, DetachRolePolicy, DeleteRolePolicy, DeleteRole.
    assert_eq!(
        ctx.provider.api_calls().since(before),
        ApiCalls {
            reads: 2,
            writes: 4
        }
    );
    assert!(ctx.iam.get_role().role_name(&name).send().await.is_err());
    // The managed policy is only detached: it still exists.
    ctx.iam
        .get_policy()
        .policy_arn(&managed)
        .send()
        .await
        .unwrap();
    ctx.iam
        .delete_policy()
        .policy_arn(&managed)
        .send()
        .await
        .unwrap();

    // Nothing put on it since the listing: DeleteRole, and nothing else.
    ctx.provider.create(&role).await.unwrap();
    ctx.provider.create(&policy).await.unwrap();
    let Some(live) = ctx.read(&role).await else {
        panic!("the role is there")
    };
    assert_eq!(listed(inline()).await, std::slice::from_ref(&name));
    assert!(listed(attached()).await.is_empty());
    ctx.provider.delete(&policy.id, &policy.spec).await.unwrap();
    let before = ctx.provider.api_calls();
    ctx.provider.delete(&role.id, &live).await.unwrap();
    assert_eq!(
        ctx.provider.api_calls().since(before),
        ApiCalls {
            reads: 0,
            writes: 1
        }
    );
    assert!(ctx.iam.get_role().role_name(&name).send().await.is_err());
    ctx.provider.delete(&oidc.id, &oidc.spec).await.unwrap();
}

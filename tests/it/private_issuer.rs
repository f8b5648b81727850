//! A private issuer (`--create-private-s3-bucket`): a bucket nobody outside the account
//! can read, served by a CloudFront distribution through an Origin Access Control.
//!
//! Against the fake and moto: apply (the bucket refuses public access, its policy admits
//! only the distribution, the provider and trust policies name the CloudFront domain, the
//! OAC link is in what the provider sent) → no changes → drift on the distribution
//! repaired → destroy leaves nothing; a public cluster switched to private, and back, is
//! refused without `--allow-issuer-change`; another cluster's distribution and OAC are
//! never deleted; import of such a cluster; verify. Against the fake: a destroy
//! interrupted while the distribution is being disabled resumes. The binary against
//! moto: a saved plan, `state list`/`show`/`rm` (the distribution adopted again), the
//! Markdown plan, destroy. Offline, with the binary: the plan shows what waits for the
//! distribution as known after apply.

use std::collections::BTreeSet;
use std::process::Output;
use std::sync::atomic::{AtomicBool, Ordering};

use stsform::desired::{AUTHENTICATION_MANIFEST, DISCOVERY_KEY, JWKS_KEY};
use stsform::execute::{Event, Observer};
use stsform::plan::{Action, Reason};
use stsform::progress::Recorder;
use stsform::resource::{Late, ResourceId, ResourceKind};
use stsform::safety::Refusal;
use stsform::verify::Status;
use stsform::workflow::Mode;

use crate::fake_account::FakeAccount;
use crate::harness::{Account, Env, expected_cluster_inventory, scenario};

/// What a private examples/cluster holds in AWS once applied: the public layout's, the
/// provider named by the distribution's domain, and the distribution and its OAC.
fn expected_private_inventory(name: &str, domain: &str) -> BTreeSet<String> {
    let mut out = expected_cluster_inventory(name);
    assert!(out.remove(&format!("provider:{name}-oidc.s3.us-east-2.amazonaws.com")));
    out.insert(format!("provider:{domain}"));
    out.insert(format!("distribution:{name}-oidc"));
    out.insert(format!("oac:{name}-oidc"));
    out
}

fn private_env<A: Account>(account: A, name: &str) -> Env<A> {
    let mut env = Env::new(account, name, "cluster");
    env.extra.create_private_s3_bucket = true;
    env
}

fn ownership_key(name: &str) -> String {
    format!("openshift.io/cloud-credential-operator/{name}")
}

/// The trust policy's federated principal and its one condition key.
fn trust_of(text: &str) -> (String, Vec<String>) {
    let doc = stsform::iam_policy::parse_aws_document(text).unwrap();
    let statement = &doc["Statement"][0];
    let federated = statement["Principal"]["Federated"][0]
        .as_str()
        .unwrap()
        .to_string();
    let keys = statement["Condition"]["StringEquals"]
        .as_object()
        .unwrap()
        .keys()
        .cloned()
        .collect();
    (federated, keys)
}

scenario!(private_apply_serves_the_issuer_through_cloudfront_and_converges);
async fn private_apply_serves_the_issuer_through_cloudfront_and_converges<A: Account>(
    account: A,
    name: String,
) {
    let env = private_env(account.clone(), &name);
    let bucket = format!("{name}-oidc");

    // Before CloudFront has made the distribution its domain is not known: everything
    // that names the issuer waits for it, in the plan and in the graph.
    let planned = env.plan().await;
    let late_provider = ResourceId::new(
        ResourceKind::IamOidcProvider,
        Late::DistributionDomain.token(),
    );
    let provider_change = planned
        .plan
        .changes
        .iter()
        .find(|c| c.id == late_provider)
        .expect("the provider is named by the distribution's domain");
    assert_eq!(
        provider_change.depends_on,
        [ResourceId::new(
            ResourceKind::CloudFrontDistribution,
            &bucket
        )]
    );
    let discovery = planned
        .plan
        .changes
        .iter()
        .find(|c| c.id.name == format!("{bucket}/{DISCOVERY_KEY}"))
        .unwrap();
    let Some(stsform::resource::Spec::S3Object(doc)) = &discovery.after else {
        panic!()
    };
    assert!(
        doc.content
            .contains("\"issuer\": \"https://(known after apply: distribution domain)\""),
        "{}",
        doc.content
    );
    assert!(planned.plan.unresolvable().is_empty());
    // The public layout's 28, plus the OAC, the distribution and the bucket policy.
    assert_eq!(planned.plan.summary.add, 31);

    account.record_requests(true).await;
    let (_, outcome) = env.apply().await;
    account.record_requests(false).await;
    assert!(outcome.is_complete(), "{outcome:#?}");
    assert_eq!(outcome.succeeded.len(), 31);

    // CloudFront: an enabled, HTTPS-only distribution in front of the bucket's regional
    // endpoint, tagged for the cluster, and an OAC marked for it.
    let view = account.cloudfront_of(&name).await;
    let d = view.distribution.expect("a distribution fronts the bucket");
    let (oac_id, oac_description) = view.oac.expect("an origin access control");
    assert_eq!(oac_description, ownership_key(&name));
    assert!(d.enabled);
    assert_eq!(d.viewer_protocol_policy, "https-only");
    assert_eq!(
        d.origin_domain,
        format!("{bucket}.s3.us-east-2.amazonaws.com")
    );
    assert_eq!(
        d.tags.get(&ownership_key(&name)).map(String::as_str),
        Some("owned")
    );
    assert_eq!(d.tags.get("Name"), Some(&name));
    assert!(d.domain.ends_with(".cloudfront.net"), "{}", d.domain);
    // The origin reads the bucket through the OAC: in what the provider sent (moto does
    // not keep the link), and where the service keeps it, in what it returns.
    assert_eq!(
        account.sent_oac_link(&bucket).await.as_deref(),
        Some(oac_id.as_str())
    );
    if let Some(link) = &d.origin_oac {
        assert_eq!(link, &oac_id);
    }

    // The bucket refuses public access: every switch on, and a policy whose one
    // statement lets CloudFront read the two documents for this distribution only.
    let (block, policy) = account.bucket_access(&bucket).await;
    assert_eq!(block, [true; 4]);
    let policy = policy.expect("a bucket policy");
    assert!(!policy.to_string().contains("\"*\""), "{policy}");
    let canonical = stsform::iam_policy::parse_aws_document(&policy.to_string()).unwrap();
    assert_eq!(
        canonical,
        stsform::private_issuer::bucket_policy("aws", &bucket, &[DISCOVERY_KEY, JWKS_KEY], &d.arn)
    );
    assert_eq!(
        canonical["Statement"][0]["Principal"],
        serde_json::json!({"Service": ["cloudfront.amazonaws.com"]})
    );

    // AWS holds exactly the cluster's resources; the issuer is the CloudFront domain
    // everywhere it is named.
    assert_eq!(
        account.inventory(&name).await,
        expected_private_inventory(&name, &d.domain)
    );
    let issuer = format!("https://{}", d.domain);
    let served = account.object_text(&bucket, DISCOVERY_KEY).await.unwrap();
    assert!(
        served.contains(&format!("\"issuer\": \"{issuer}\""))
            && served.contains(&format!("\"jwks_uri\": \"{issuer}/keys.json\"")),
        "{served}"
    );
    let provider_tags = account.tags_of(&format!("provider:{}", d.domain)).await;
    assert!(provider_tags.contains_key(&ownership_key(&name)));
    let role = format!("{name}-openshift-ingress-operator-cloud-credentials");
    let trust = account.role_documents(&role).await.unwrap().trust;
    let (federated, keys) = trust_of(&trust);
    assert_eq!(
        federated,
        format!("arn:aws:iam::123456789012:oidc-provider/{}", d.domain)
    );
    assert_eq!(keys, [format!("{}:sub", d.domain)]);
    let manifest =
        std::fs::read_to_string(env.path("install").join(AUTHENTICATION_MANIFEST)).unwrap();
    assert!(
        manifest.ends_with(&format!("serviceAccountIssuer: {issuer}")),
        "{manifest}"
    );
    let state = env.state();
    assert!(
        state
            .resources
            .keys()
            .any(|id| id.to_string() == format!("iam_oidc_provider.{}", d.domain)),
        "the state records the provider under its real name"
    );
    assert!(
        !state.to_toml().contains("known after apply"),
        "no late token is left in the state"
    );

    // Nothing to do on a second plan.
    let again = env.plan().await;
    assert!(!again.plan.has_changes(), "{:#?}", again.plan.changes);
    assert!(again.plan.drift.is_empty(), "{:#?}", again.plan.drift);

    // Someone disables the distribution, opens it to plain HTTP, points it elsewhere
    // without the OAC, and makes the OAC sign nothing: shown as drift, repaired by apply,
    // and then nothing to do.
    account.drift_distribution(&name, true).await;
    let drifted = env.plan().await;
    let distribution = ResourceId::new(ResourceKind::CloudFrontDistribution, &bucket);
    let oac = ResourceId::new(ResourceKind::CloudFrontOriginAccessControl, &bucket);
    let drift = drifted
        .plan
        .drift
        .iter()
        .find(|d| d.id == distribution)
        .expect("the distribution drifted");
    let names: BTreeSet<&str> = drift.attributes.iter().map(|a| a.name.as_str()).collect();
    assert!(
        ["enabled", "origin_domain", "viewer_protocol_policy"]
            .iter()
            .all(|n| names.contains(n)),
        "{names:?}"
    );
    // Where the service reports the origin's OAC (AWS, the fake), its loss is drift too.
    if d.origin_oac.is_some() {
        assert!(names.contains("origin_access_control_id"), "{names:?}");
    }
    let oac_drift = drifted
        .plan
        .drift
        .iter()
        .find(|d| d.id == oac)
        .expect("the OAC drifted");
    assert_eq!(oac_drift.attributes[0].name, "signing_behavior");
    let repair: Vec<(Action, Reason, String)> = drifted
        .plan
        .changes
        .iter()
        .map(|c| (c.action, c.reason, c.id.to_string()))
        .collect();
    assert_eq!(
        repair,
        [
            (Action::Update, Reason::RepairsDrift, oac.to_string()),
            (
                Action::Update,
                Reason::RepairsDrift,
                distribution.to_string()
            )
        ]
    );
    // Repairing the distribution changes no issuer.
    assert!(drifted.plan.issuer_changes.is_empty());
    account.record_requests(true).await;
    let (_, outcome) = env.apply().await;
    account.record_requests(false).await;
    assert!(outcome.is_complete(), "{outcome:#?}");
    // The repair put the origin back on the bucket through the OAC (moto: in the
    // UpdateDistribution request, after the drift's own update had dropped it).
    assert_eq!(
        account.sent_oac_link(&bucket).await.as_deref(),
        Some(oac_id.as_str())
    );
    let repaired_view = account.cloudfront_of(&name).await;
    assert_eq!(repaired_view.oac.as_ref().map(|o| &o.0), Some(&oac_id));
    let repaired = repaired_view.distribution.unwrap();
    assert!(repaired.enabled);
    assert_eq!(repaired.viewer_protocol_policy, "https-only");
    assert_eq!(repaired.origin_domain, d.origin_domain);
    assert_eq!(repaired.domain, d.domain);
    if let Some(link) = &repaired.origin_oac {
        assert_eq!(link, &oac_id);
    }
    assert!(!env.plan().await.plan.has_changes());

    // Destroy: nothing of the cluster is left, the distribution, its OAC and the bucket
    // included.
    let (planned, outcome, _) = env.run(Mode::Destroy).await;
    assert_eq!(planned.plan.summary.destroy, 31);
    assert!(outcome.is_complete(), "{outcome:#?}");
    assert_eq!(account.inventory(&name).await, BTreeSet::new());
    let view = account.cloudfront_of(&name).await;
    assert!(
        view.distribution.is_none() && view.oac.is_none(),
        "{view:?}"
    );
}

scenario!(switching_between_public_and_private_issuer_is_refused_unless_allowed);
async fn switching_between_public_and_private_issuer_is_refused_unless_allowed<A: Account>(
    account: A,
    name: String,
) {
    let mut env = Env::new(account.clone(), &name, "cluster");
    let (_, outcome) = env.apply().await;
    assert!(outcome.is_complete(), "{outcome:#?}");
    let s3_issuer = format!("https://{name}-oidc.s3.us-east-2.amazonaws.com");

    env.extra.create_private_s3_bucket = true;
    let writes = account.writes();
    let Err(refusal) = env.try_run(Mode::Apply).await else {
        panic!("a new issuer must be refused without --allow-issuer-change")
    };
    let text = refusal.to_string();
    let Refusal::IssuerChanges(changes) = &refusal else {
        panic!("{refusal}")
    };
    let said: Vec<String> = changes.iter().map(ToString::to_string).collect();
    assert!(
        said.contains(&format!(
            "s3_object.{name}-oidc/.well-known/openid-configuration changes the issuer from \
             {s3_issuer} to https://(known after apply: distribution domain)"
        )),
        "{said:#?}"
    );
    assert!(
        said.contains(&format!(
            "iam_oidc_provider.{name}-oidc.s3.us-east-2.amazonaws.com will be destroyed"
        )),
        "{said:#?}"
    );
    assert!(text.contains("--allow-issuer-change"), "{text}");
    assert_eq!(account.writes(), writes, "a refused plan changes nothing");

    env.allow.issuer_change = true;
    let (_, outcome, _) = env.run(Mode::Apply).await;
    assert!(outcome.is_complete(), "{outcome:#?}");
    let d = account.cloudfront_of(&name).await.distribution.unwrap();
    assert_eq!(
        account.inventory(&name).await,
        expected_private_inventory(&name, &d.domain)
    );
    // The anonymous-read policy is gone: only the distribution reads the bucket now.
    let (block, policy) = account.bucket_access(&format!("{name}-oidc")).await;
    assert_eq!(block, [true; 4]);
    let policy = policy.unwrap().to_string();
    assert!(
        policy.contains("cloudfront.amazonaws.com") && !policy.contains("\"*\""),
        "{policy}"
    );
    let manifest =
        std::fs::read_to_string(env.path("install").join(AUTHENTICATION_MANIFEST)).unwrap();
    assert!(
        manifest.ends_with(&format!("serviceAccountIssuer: https://{}", d.domain)),
        "{manifest}"
    );
    assert!(!env.plan().await.plan.has_changes());

    // And back: a private issuer made public again is the same break, refused alike.
    env.extra.create_private_s3_bucket = false;
    env.allow.issuer_change = false;
    let writes = account.writes();
    let Err(refusal) = env.try_run(Mode::Apply).await else {
        panic!("going back to a public issuer must be refused without --allow-issuer-change")
    };
    let Refusal::IssuerChanges(changes) = &refusal else {
        panic!("{refusal}")
    };
    let said: Vec<String> = changes.iter().map(ToString::to_string).collect();
    for expected in [
        format!(
            "s3_object.{name}-oidc/.well-known/openid-configuration changes the issuer from \
             https://{} to {s3_issuer}",
            d.domain
        ),
        format!("iam_oidc_provider.{} will be destroyed", d.domain),
        format!("cloudfront_distribution.{name}-oidc will be destroyed"),
        format!("cloudfront_origin_access_control.{name}-oidc will be destroyed"),
    ] {
        assert!(said.contains(&expected), "{expected}\n{said:#?}");
    }
    assert_eq!(account.writes(), writes, "a refused plan changes nothing");

    env.allow.issuer_change = true;
    let (_, outcome, _) = env.run(Mode::Apply).await;
    assert!(outcome.is_complete(), "{outcome:#?}");
    assert_eq!(
        account.inventory(&name).await,
        expected_cluster_inventory(&name)
    );
    let view = account.cloudfront_of(&name).await;
    assert!(
        view.distribution.is_none() && view.oac.is_none(),
        "{view:?}"
    );
    // The bucket serves the documents anonymously again (ccoctl's public layout): the
    // CloudFront-only policy gave way to the anonymous-read one, not to none at all.
    let (block, policy) = account.bucket_access(&format!("{name}-oidc")).await;
    assert_eq!(block, [true, true, false, false]);
    let policy = policy
        .expect("a public issuer's bucket has a policy")
        .to_string();
    assert!(
        policy.contains("\"*\"") && !policy.contains("cloudfront.amazonaws.com"),
        "{policy}"
    );
    let manifest =
        std::fs::read_to_string(env.path("install").join(AUTHENTICATION_MANIFEST)).unwrap();
    assert!(
        manifest.ends_with(&format!("serviceAccountIssuer: {s3_issuer}")),
        "{manifest}"
    );
    assert!(!env.plan().await.plan.has_changes());

    let (_, outcome, _) = env.run(Mode::Destroy).await;
    assert!(outcome.is_complete(), "{outcome:#?}");
    assert_eq!(account.inventory(&name).await, BTreeSet::new());
}

scenario!(another_clusters_distribution_and_oac_are_never_deleted);
/// Destroy deletes a distribution only if it carries the cluster's ownership tag, and an
/// OAC only if its description is the cluster's mark, whatever the state says: a state
/// naming another cluster's (edited, or copied from it) must not take its issuer down.
async fn another_clusters_distribution_and_oac_are_never_deleted<A: Account>(
    account: A,
    name: String,
) {
    use stsform::provider::{Provider, ProviderError};
    use stsform::resource::{Resource, Spec};
    let env = private_env(account.clone(), &name);
    let planned = env.plan().await;
    let provider = account.provider(None).await;
    let other = format!("{name}x");
    let create_of = |kind: ResourceKind| {
        let c = planned
            .plan
            .changes
            .iter()
            .find(|c| c.id.kind == kind)
            .unwrap();
        Resource {
            id: c.id.clone(),
            spec: c.after.clone().unwrap(),
            depends_on: vec![],
        }
    };

    // The other cluster's OAC and distribution, named and fronting like this cluster's.
    let mut oac = create_of(ResourceKind::CloudFrontOriginAccessControl);
    let Spec::CloudFrontOriginAccessControl(o) = &mut oac.spec else {
        unreachable!()
    };
    o.description = ownership_key(&other);
    let Spec::CloudFrontOriginAccessControl(theirs_oac) = provider.create(&oac).await.unwrap()
    else {
        unreachable!()
    };
    let mut distribution = create_of(ResourceKind::CloudFrontDistribution);
    let Spec::CloudFrontDistribution(d) = &mut distribution.spec else {
        unreachable!()
    };
    d.tags = stsform::ownership::tags(&other);
    d.comment = ownership_key(&other);
    d.origin_access_control_id = theirs_oac.id.clone();
    let Spec::CloudFrontDistribution(theirs) = provider.create(&distribution).await.unwrap() else {
        unreachable!()
    };

    // A state of this cluster that names them: its marks, their ids.
    let refused = |r: Result<(), ProviderError>| match r {
        Err(e @ ProviderError::NotOwned { .. }) => e.to_string(),
        other => panic!("expected a refusal, got {other:?}"),
    };
    let mut ours_d = theirs.clone();
    ours_d.tags = stsform::ownership::tags(&name);
    ours_d.comment = ownership_key(&name);
    let said = refused(
        provider
            .delete(&distribution.id, &Spec::CloudFrontDistribution(ours_d))
            .await,
    );
    assert!(
        said.contains(&format!(
            "carries no ownership tag for {name}; refusing to delete it"
        )),
        "{said}"
    );
    let mut ours_o = theirs_oac.clone();
    ours_o.description = ownership_key(&name);
    let said = refused(
        provider
            .delete(&oac.id, &Spec::CloudFrontOriginAccessControl(ours_o))
            .await,
    );
    assert!(said.contains("refusing to delete it"), "{said}");

    // Both are still there, still enabled and theirs.
    let view = account.cloudfront_of(&name).await;
    let live = view
        .distribution
        .expect("their distribution is still there");
    assert_eq!(live.id, theirs.id);
    assert!(live.enabled, "not even disabled");
    assert_eq!(
        live.tags.get(&ownership_key(&other)).map(String::as_str),
        Some("owned")
    );
    assert_eq!(
        view.oac,
        Some((theirs_oac.id.clone(), ownership_key(&other)))
    );

    // Their owner deletes them (the state that is theirs).
    provider
        .delete(&distribution.id, &Spec::CloudFrontDistribution(theirs))
        .await
        .unwrap();
    provider
        .delete(&oac.id, &Spec::CloudFrontOriginAccessControl(theirs_oac))
        .await
        .unwrap();
    let view = account.cloudfront_of(&name).await;
    assert!(
        view.distribution.is_none() && view.oac.is_none(),
        "{view:?}"
    );
}

scenario!(a_private_cluster_whose_state_is_lost_is_destroyed_whole);
/// `destroy --include-unmanaged` with the state gone (destroy takes no
/// `--create-private-s3-bucket`): the cluster's bucket blocks all public access, so the
/// scan looks for the OAC and the distribution too, and nothing is left behind (before,
/// the bucket went and the distribution stayed, pointing at nothing).
async fn a_private_cluster_whose_state_is_lost_is_destroyed_whole<A: Account>(
    account: A,
    name: String,
) {
    let mut env = private_env(account.clone(), &name);
    let (_, outcome) = env.apply().await;
    assert!(outcome.is_complete(), "{outcome:#?}");
    std::fs::remove_file(env.settings().state).unwrap();
    env.extra.create_private_s3_bucket = false;

    let planned = env.try_plan_with(Mode::Destroy, true).await.unwrap();
    let deleted: BTreeSet<String> = planned
        .plan
        .changes
        .iter()
        .filter(|c| c.action == Action::Delete)
        .map(|c| c.id.to_string())
        .collect();
    let bucket = format!("{name}-oidc");
    for address in [
        format!("cloudfront_distribution.{bucket}"),
        format!("cloudfront_origin_access_control.{bucket}"),
        format!("s3_bucket_policy.{bucket}"),
        format!("s3_bucket.{bucket}"),
    ] {
        assert!(deleted.contains(&address), "{address}: {deleted:#?}");
    }
    let (_, outcome, _) = env.run_with(Mode::Destroy, true).await;
    assert!(outcome.is_complete(), "{outcome:#?}");
    assert_eq!(account.inventory(&name).await, BTreeSet::new());
    let view = account.cloudfront_of(&name).await;
    assert!(
        view.distribution.is_none() && view.oac.is_none(),
        "{view:?}"
    );
}

scenario!(a_private_cluster_made_by_stsform_is_imported_whole);
async fn a_private_cluster_made_by_stsform_is_imported_whole<A: Account>(account: A, name: String) {
    let mut env = private_env(account.clone(), &name);
    let (_, outcome) = env.apply().await;
    assert!(outcome.is_complete(), "{outcome:#?}");
    let before = env.state();
    std::fs::remove_file(env.settings().state).unwrap();

    // Without the flag: the bucket blocking all public access is enough to look for the
    // CloudFront part.
    // CloudFront part; what the flag would derive differently (the provider of the
    // bucket's URL) is reported as not found.
    env.extra.create_private_s3_bucket = false;
    let report = env.import().await;
    env.extra.create_private_s3_bucket = true;
    let skipped: Vec<String> = report
        .skipped
        .iter()
        .map(|(id, _)| id.to_string())
        .collect();
    assert_eq!(
        skipped,
        [format!(
            "iam_oidc_provider.{name}-oidc.s3.us-east-2.amazonaws.com"
        )]
    );
    // Recorded whole: what the public layout derives as imported, the rest (the CloudFront
    // part and the provider of its domain) as found tagged for the cluster.
    let imported: BTreeSet<ResourceId> = report
        .imported
        .iter()
        .chain(&report.untracked)
        .cloned()
        .collect();
    let recorded: BTreeSet<ResourceId> = before.resources.keys().cloned().collect();
    assert_eq!(imported, recorded);
    let domain = account
        .cloudfront_of(&name)
        .await
        .distribution
        .unwrap()
        .domain;
    let bucket = format!("{name}-oidc");
    let untracked: BTreeSet<ResourceId> = report.untracked.iter().cloned().collect();
    assert_eq!(
        untracked,
        BTreeSet::from([
            ResourceId::new(ResourceKind::IamOidcProvider, &domain),
            ResourceId::new(ResourceKind::CloudFrontDistribution, &bucket),
            ResourceId::new(ResourceKind::CloudFrontOriginAccessControl, &bucket),
            ResourceId::new(ResourceKind::S3BucketPolicy, &bucket),
        ])
    );
    // With the flag, the next plan records two things the import without it could not
    // know, and changes nothing in AWS: the bucket's policy is the `s3_bucket_policy`'s,
    // not the bucket's (recorded as a public issuer's bucket); and, where the service does
    // not report which OAC the origin uses (moto; AWS and the fake do), the OAC link.
    let d = account.cloudfront_of(&name).await.distribution.unwrap();
    let plan = env.plan().await.plan;
    let changed: Vec<(String, Vec<String>)> = plan
        .changes
        .iter()
        .map(|c| {
            let names = c.attributes.iter().map(|a| a.name.clone()).collect();
            (c.id.to_string(), names)
        })
        .collect();
    let mut expected = vec![(format!("s3_bucket.{bucket}"), vec!["policy".to_string()])];
    if d.origin_oac.is_none() {
        expected.push((
            format!("cloudfront_distribution.{bucket}"),
            vec!["origin_access_control_id".to_string()],
        ));
    }
    assert_eq!(changed, expected);
    assert!(plan.issuer_changes.is_empty(), "{:#?}", plan.issuer_changes);
    let (_, outcome) = env.apply().await;
    assert!(outcome.is_complete(), "{outcome:#?}");
    assert!(!env.plan().await.plan.has_changes());

    let (_, outcome, _) = env.run(Mode::Destroy).await;
    assert!(outcome.is_complete(), "{outcome:#?}");
    assert_eq!(account.inventory(&name).await, BTreeSet::new());
}

scenario!(verify_reads_a_private_issuer_and_says_what_it_could_not_check);
async fn verify_reads_a_private_issuer_and_says_what_it_could_not_check<A: Account>(
    account: A,
    name: String,
) where
    A::P: stsform::provider::Sts,
{
    let env = private_env(account.clone(), &name);
    let (_, outcome) = env.apply().await;
    assert!(outcome.is_complete(), "{outcome:#?}");
    let domain = account
        .cloudfront_of(&name)
        .await
        .distribution
        .unwrap()
        .domain;

    let report = crate::verify::verify(&env).await;
    assert!(report.passed(), "{report:#?}");
    assert_eq!(report.issuer, format!("https://{domain}"));
    let ids: Vec<&str> = report.checks.iter().map(|c| c.id).collect();
    assert_eq!(
        ids,
        [
            "distribution",
            "issuer_url",
            "discovery_document",
            "jwks",
            "token",
            "oidc_provider"
        ]
    );
    let check = |id: &str| report.checks.iter().find(|c| c.id == id).unwrap();
    assert_eq!(check("distribution").status, Status::Pass);
    assert!(
        check("distribution").detail.contains(&domain),
        "{:?}",
        check("distribution")
    );
    // Against the emulator the distribution has no endpoint: said, not hidden.
    let url = check("issuer_url");
    assert_eq!(url.status, Status::Skip);
    assert!(
        url.detail.starts_with("not checked")
            && url.detail.contains(&format!("https://{domain}"))
            && url.detail.contains(&format!("s3://{name}-oidc")),
        "{}",
        url.detail
    );
    let mut out = Vec::new();
    stsform::verify::render::write(&report, Default::default(), &mut out).unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(text.contains("– issuer URL"), "{text}");

    // A disabled distribution fails its check.
    account.drift_distribution(&name, false).await;
    let broken = crate::verify::verify(&env).await;
    assert!(!broken.passed());
    let failed = broken
        .checks
        .iter()
        .find(|c| c.id == "distribution")
        .unwrap();
    assert_eq!(failed.status, Status::Fail);
    assert!(
        failed.detail.contains("disabled") && failed.detail.contains("not https-only"),
        "{}",
        failed.detail
    );
    let (_, outcome, _) = env.run(Mode::Destroy).await;
    assert!(outcome.is_complete(), "{outcome:#?}");
}

/// Sets the stop flag (what Ctrl-C sets) once the distribution's delete says it waits
/// for CloudFront, and records every event.
struct StopWhenWaiting<'a> {
    stop: &'a AtomicBool,
    recorder: Recorder,
}

impl Observer for StopWhenWaiting<'_> {
    fn event(&self, event: &Event) {
        if let Event::Note { id, message } = event
            && id.kind == ResourceKind::CloudFrontDistribution
            && message.starts_with("disabled; waiting")
        {
            self.stop.store(true, Ordering::SeqCst);
        }
        self.recorder.event(event);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destroy_interrupted_while_the_distribution_is_disabled_resumes() {
    let account = FakeAccount::new();
    let env = private_env(account.clone(), "fk");
    let (_, outcome) = env.apply().await;
    assert!(outcome.is_complete(), "{outcome:#?}");
    let distribution = ResourceId::new(ResourceKind::CloudFrontDistribution, "fk-oidc");
    let oac = ResourceId::new(ResourceKind::CloudFrontOriginAccessControl, "fk-oidc");
    let bucket = ResourceId::new(ResourceKind::S3Bucket, "fk-oidc");

    // CloudFront takes its time deploying the disabling; Ctrl-C while destroy waits.
    account.0.set_deploy_polls(1_000_000);
    let stop = AtomicBool::new(false);
    let observer = StopWhenWaiting {
        stop: &stop,
        recorder: Recorder::default(),
    };
    let (_, outcome) = env.run_stoppable(Mode::Destroy, &observer, &stop).await;
    let failed: Vec<&ResourceId> = outcome.failed.iter().map(|f| &f.id).collect();
    assert_eq!(failed, [&distribution], "{outcome:#?}");
    assert!(
        outcome.failed[0]
            .error
            .contains("interrupted while CloudFront deploys")
            && outcome.failed[0]
                .error
                .contains("run destroy again to continue"),
        "{}",
        outcome.failed[0].error
    );
    // What needs the distribution gone first was not touched.
    let skipped: BTreeSet<&ResourceId> = outcome.skipped.iter().map(|(id, _)| id).collect();
    assert!(
        skipped.contains(&oac) && skipped.contains(&bucket),
        "{skipped:?}"
    );
    let events = observer.recorder.events();
    let notes: Vec<&str> = events
        .iter()
        .filter_map(|e| match e {
            Event::Note { message, .. } => Some(message.as_str()),
            _ => None,
        })
        .collect();
    assert!(
        notes.iter().any(|n| n.starts_with("disabling it")),
        "{notes:?}"
    );
    // The state still holds what is left, and CloudFront has the distribution disabled.
    let state = env.state();
    for id in [&distribution, &oac, &bucket] {
        assert!(state.resources.contains_key(id), "{id} left the state");
    }
    let view = account.cloudfront_of("fk").await;
    assert!(!view.distribution.unwrap().enabled);

    // CloudFront finishes; destroy again picks up where it stopped: no second disable.
    account.0.finish_deploying();
    let recorder = Recorder::default();
    let (planned, outcome) = env.run_observed(Mode::Destroy, &recorder).await;
    assert!(planned.plan.changes.iter().any(|c| c.id == distribution));
    assert!(outcome.is_complete(), "{outcome:#?}");
    let notes: Vec<String> = recorder
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Note { message, .. } => Some(message),
            _ => None,
        })
        .collect();
    assert!(
        !notes.iter().any(|n| n.starts_with("disabling it")),
        "{notes:?}"
    );
    assert!(
        account.0.snapshot().is_empty(),
        "{:#?}",
        account.0.snapshot()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destroy_that_outwaits_its_budget_says_so_and_resumes() {
    let account = FakeAccount::new();
    let env = private_env(account.clone(), "fk");
    let (_, outcome) = env.apply().await;
    assert!(outcome.is_complete(), "{outcome:#?}");
    account.0.set_deploy_polls(1_000_000);
    account
        .0
        .set_pace(stsform::provider::distribution_delete::Pace {
            budget: std::time::Duration::from_millis(50),
            interval: std::time::Duration::from_millis(5),
        });
    let (_, outcome, _) = env.run(Mode::Destroy).await;
    assert_eq!(outcome.failed.len(), 1, "{outcome:#?}");
    assert!(
        outcome.failed[0]
            .error
            .contains("disabled, but CloudFront is still deploying that (InProgress)"),
        "{}",
        outcome.failed[0].error
    );
    account.0.finish_deploying();
    let (_, outcome, _) = env.run(Mode::Destroy).await;
    assert!(outcome.is_complete(), "{outcome:#?}");
    assert!(account.0.snapshot().is_empty());
}

fn run_offline(args: &[&str]) -> (tempfile::TempDir, Output) {
    let dir = crate::support::scratch("cluster", true);
    let o = crate::support::stsform(dir.path(), &crate::support::endpoint_or_closed_port())
        .env("AWS_MAX_ATTEMPTS", "1")
        .args(args)
        .output()
        .unwrap();
    (dir, o)
}

/// The shared offline plan, of a private issuer.
fn offline() -> Vec<&'static str> {
    [
        crate::support::OFFLINE_PLAN,
        &["--create-private-s3-bucket"],
    ]
    .concat()
}

#[test]
fn the_plan_shows_what_waits_for_the_distribution_as_known_after_apply() {
    let (_dir, o) = run_offline(&offline());
    let out = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    for line in [
        "cloudfront_distribution.prod-east-oidc will be created",
        "cloudfront_origin_access_control.prod-east-oidc will be created",
        "s3_bucket_policy.prod-east-oidc will be created",
        "iam_oidc_provider.(known after apply: distribution domain) will be created",
        "+ url         = \"https://(known after apply: distribution domain)\"",
        "\"(known after apply: distribution domain):sub\": [",
        "domain_name              = (known after apply: distribution domain)",
        "serviceAccountIssuer: https://(known after apply: distribution domain)",
        "Plan: 31 to add, 0 to change, 0 to destroy.",
        "Values shown as (known after apply: …) are what CloudFront assigns",
    ] {
        assert!(out.contains(line), "missing `{line}` in:\n{out}");
    }

    let mut json_args = offline();
    json_args.extend(["--format", "json"]);
    let (_dir, o) = run_offline(&json_args);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let plan: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let change = plan["changes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["address"] == "cloudfront_distribution.prod-east-oidc")
        .unwrap();
    let unknown: BTreeSet<&str> = change["after_unknown"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(
        ["id", "domain_name", "origin_access_control_id", "arn"]
            .iter()
            .all(|a| unknown.contains(a)),
        "{unknown:?}"
    );

    let (_dir, o) = run_offline(&[
        "graph",
        "--name",
        "prod-east",
        "--region",
        "us-east-2",
        "--credentials-requests-dir",
        "creds",
        "--create-private-s3-bucket",
    ]);
    let dot = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    for edge in [
        "\"cloudfront_origin_access_control.prod-east-oidc\" -> \"cloudfront_distribution.prod-east-oidc\"",
        "\"cloudfront_distribution.prod-east-oidc\" -> \"s3_bucket_policy.prod-east-oidc\"",
        "\"cloudfront_distribution.prod-east-oidc\" -> \"iam_oidc_provider.(known after apply: distribution domain)\"",
        "\"cloudfront_distribution.prod-east-oidc\" -> \"s3_object.prod-east-oidc/.well-known/openid-configuration\"",
    ] {
        assert!(dot.contains(edge), "missing {edge} in:\n{dot}");
    }
}

#[test]
fn partitions_without_cloudfront_and_day2_runs_are_refused_before_any_call() {
    for (region, why) in [
        ("us-gov-west-1", "GovCloud (US), which has no CloudFront"),
        ("cn-north-1", "ICP-recorded alternate domain name"),
    ] {
        let mut args = offline();
        args[4] = region;
        let (_dir, o) = run_offline(&args);
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(
            err.contains("--create-private-s3-bucket") && err.contains(why),
            "{err}"
        );
    }
    let mut args = offline();
    args.extend([
        "--identity-provider-arn",
        "arn:aws:iam::123456789012:oidc-provider/d1.cloudfront.net",
    ]);
    let (_dir, o) = run_offline(&args);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains("manages roles only"), "{err}");
}

/// Distributions in the emulator whose origin is `bucket` (every page).
async fn distributions_fronting(cloudfront: &aws_sdk_cloudfront::Client, bucket: &str) -> usize {
    let origin = format!("{bucket}.s3.");
    let mut count = 0;
    let mut marker: Option<String> = None;
    loop {
        let out = cloudfront
            .list_distributions()
            .set_marker(marker.clone())
            .send()
            .await
            .unwrap();
        let Some(list) = out.distribution_list() else {
            return count;
        };
        count += list
            .items()
            .iter()
            .filter(|s| {
                s.origins().is_some_and(|o| {
                    o.items()
                        .iter()
                        .any(|o| o.domain_name().starts_with(&origin))
                })
            })
            .count();
        match list.next_marker() {
            Some(next) if list.is_truncated() => marker = Some(next.to_string()),
            _ => return count,
        }
    }
}

/// The binary against moto: a private cluster applied from a saved plan, in `state list`
/// and `state show`, a distribution forgotten by `state rm` found again and adopted (not
/// made twice), the Markdown plan, and destroy.
#[test]
fn the_binary_saves_lists_shows_adopts_and_destroys_a_private_cluster() {
    use crate::binary::{Cluster, text};
    let (rt, moto, account) = crate::binary::moto_setup();
    let c = Cluster::new(&crate::moto_account::unique_name());
    let name = c.name.clone();
    let bucket = format!("{name}-oidc");
    let with_flag = |verb: &str| {
        let mut a = c.args(verb);
        a.push("--create-private-s3-bucket".into());
        a
    };
    let state = |args: &[&str]| {
        let mut a: Vec<String> = ["state"]
            .iter()
            .chain(args)
            .map(|s| s.to_string())
            .collect();
        a.extend(["--name".into(), name.clone()]);
        c.run(&moto, &a)
    };

    // A saved plan carries the flag and the values only CloudFront can tell: `apply
    // FILE` needs no other flag and fills them in.
    let mut plan = with_flag("plan");
    plan.extend(["--out".into(), "private.plan".into()]);
    let o = c.run(&moto, &plan);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let o = c.run(&moto, &["show".into(), "private.plan".into()]);
    let shown = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        shown
            .contains("iam_oidc_provider.(known after apply: distribution domain) will be created"),
        "{}",
        text(&o)
    );
    let o = c.run(&moto, &["apply".into(), "private.plan".into()]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(
        String::from_utf8_lossy(&o.stdout).contains("Apply complete! Resources: 31 added"),
        "{}",
        text(&o)
    );
    let view = rt.block_on(account.cloudfront_of(&name));
    let d = view.distribution.expect("a distribution");
    let (oac_id, _) = view.oac.expect("an OAC");

    let o = state(&["list"]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let listed = String::from_utf8_lossy(&o.stdout).to_string();
    for address in [
        format!("cloudfront_distribution.{bucket}"),
        format!("cloudfront_origin_access_control.{bucket}"),
        format!("s3_bucket_policy.{bucket}"),
        format!("iam_oidc_provider.{}", d.domain),
    ] {
        assert!(listed.lines().any(|l| l == address), "{address}:\n{listed}");
    }
    let o = state(&["show", &format!("cloudfront_distribution.{bucket}")]);
    let shown = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    for line in [
        format!("id = \"{}\"", d.id),
        format!("domain_name = \"{}\"", d.domain),
        format!("origin_access_control_id = \"{oac_id}\""),
        "viewer_protocol_policy = \"https-only\"".to_string(),
    ] {
        assert!(shown.lines().any(|l| l == line), "{line}:\n{shown}");
    }
    let o = state(&["show", &format!("s3_bucket_policy.{bucket}")]);
    let shown = String::from_utf8_lossy(&o.stdout).to_string();
    assert!(
        shown.contains(&format!("\"{}\"", d.arn)) && shown.contains("cloudfront.amazonaws.com"),
        "{shown}"
    );

    // Forgotten, then found again by its origin and ownership tag: adopted, not made twice.
    let o = state(&["rm", &format!("cloudfront_distribution.{bucket}")]);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let mut plan = with_flag("plan");
    plan.extend([
        "--format".into(),
        "markdown".into(),
        "--detailed-exitcode".into(),
    ]);
    let o = c.run(&moto, &plan);
    let md = String::from_utf8_lossy(&o.stdout).to_string();
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(
        md.contains(&format!(
            "| ~ | `cloudfront_distribution.{bucket}` | exists, tagged for `{name}`: adopted |"
        )),
        "{md}"
    );
    assert!(
        md.contains("1 to adopt, 0 to add, 0 to change, 0 to destroy"),
        "{md}"
    );
    let o = c.run(&moto, &with_flag("apply"));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let cloudfront = crate::support::cloudfront_client(&moto);
    assert_eq!(rt.block_on(distributions_fronting(&cloudfront, &bucket)), 1);
    let recorded =
        c.state().resources.into_iter().find_map(|(id, r)| {
            (id.kind == ResourceKind::CloudFrontDistribution).then_some(r.spec)
        });
    let Some(stsform::resource::Spec::CloudFrontDistribution(recorded)) = recorded else {
        panic!("the distribution is in the state again")
    };
    assert_eq!(
        (recorded.id.as_str(), recorded.domain_name.as_str()),
        (d.id.as_str(), d.domain.as_str())
    );
    let mut plan = with_flag("plan");
    plan.push("--detailed-exitcode".into());
    let o = c.run(&moto, &plan);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    // Destroy leaves no distribution, OAC or bucket; the run names each as it goes.
    let o = c.run(&moto, &c.args("destroy"));
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    for address in [
        format!("cloudfront_distribution.{bucket}"),
        format!("cloudfront_origin_access_control.{bucket}"),
        format!("s3_bucket.{bucket}"),
    ] {
        assert!(
            out.lines()
                .any(|l| l.contains("done") && l.contains(&address)),
            "{address}:\n{out}"
        );
    }
    assert_eq!(rt.block_on(distributions_fronting(&cloudfront, &bucket)), 0);
    let view = rt.block_on(account.cloudfront_of(&name));
    assert!(
        view.distribution.is_none() && view.oac.is_none(),
        "{view:?}"
    );
    assert_eq!(rt.block_on(account.inventory(&name)), BTreeSet::new());
}

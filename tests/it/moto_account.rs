//! AWS through the moto emulator, for scenarios: the test's own SDK clients list and
//! change AWS directly, never through stsform.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use stsform::keypair::PrivateKey;
use stsform::provider::aws::AwsProvider;

use crate::harness::{Account, CloudFrontView, DistributionView, RoleDocuments};
use stsform::resource::Tags;

const REGION: &str = "us-east-2";

#[derive(Clone)]
pub struct MotoAccount {
    s3: aws_sdk_s3::Client,
    iam: aws_sdk_iam::Client,
    pub cloudfront: aws_sdk_cloudfront::Client,
    providers: Arc<Mutex<Vec<Arc<AwsProvider>>>>,
}

/// A cluster name no other test uses (bucket names are global in S3 and in moto).
pub fn unique_name() -> String {
    format!("sc{}", &uuid::Uuid::new_v4().simple().to_string()[..10])
}

impl MotoAccount {
    /// `None` (skip) without an emulator outside CI; panics under CI.
    pub async fn connect() -> MotoAccount {
        let url = crate::support::endpoint();
        let (s3, iam) = crate::support::sdk_clients(&url);
        MotoAccount {
            s3,
            iam,
            cloudfront: crate::support::cloudfront_client(&url),
            providers: Arc::default(),
        }
    }

    async fn role_names(&self, prefix: &str) -> Vec<String> {
        let mut names = Vec::new();
        let mut pages = self.iam.list_roles().into_paginator().send();
        while let Some(page) = pages.next().await {
            for r in page.unwrap().roles() {
                if r.role_name().starts_with(prefix) {
                    names.push(r.role_name().to_string());
                }
            }
        }
        names
    }
}

impl MotoAccount {}

impl Account for MotoAccount {
    type P = AwsProvider;

    async fn provider(&self, key: Option<PrivateKey>) -> Arc<AwsProvider> {
        let provider = Arc::new(AwsProvider::connect(REGION, key).await.unwrap());
        crate::support::assert_loopback(provider.endpoint_url().expect("emulator endpoint"));
        self.providers.lock().unwrap().push(Arc::clone(&provider));
        provider
    }

    async fn inventory(&self, name: &str) -> BTreeSet<String> {
        let prefix = format!("{name}-");
        let mut out = BTreeSet::new();
        for b in self.s3.list_buckets().send().await.unwrap().buckets() {
            let bucket = b.name().unwrap_or_default();
            if !bucket.starts_with(&prefix) {
                continue;
            }
            out.insert(format!("bucket:{bucket}"));
            let objects = self
                .s3
                .list_objects_v2()
                .bucket(bucket)
                .send()
                .await
                .unwrap();
            for o in objects.contents() {
                out.insert(format!("object:{bucket}/{}", o.key().unwrap_or_default()));
            }
        }
        // ListRoles pages by position, and other tests delete roles while we page, so a
        // listing can skip a role. The cluster's own role names are also asked for
        // directly; the listing adds whatever else carries the prefix.
        let mut roles: BTreeSet<String> = self.role_names(&prefix).await.into_iter().collect();
        for expected in crate::harness::expected_cluster_inventory(name) {
            if let Some(role) = expected.strip_prefix("role:")
                && self.iam.get_role().role_name(role).send().await.is_ok()
            {
                roles.insert(role.to_string());
            }
        }
        for role in roles {
            let policies = self
                .iam
                .list_role_policies()
                .role_name(&role)
                .send()
                .await
                .unwrap();
            for p in policies.policy_names() {
                out.insert(format!("role_policy:{role}/{p}"));
            }
            out.insert(format!("role:{role}"));
        }
        let providers = self
            .iam
            .list_open_id_connect_providers()
            .send()
            .await
            .unwrap();
        let key = stsform::ownership::tag_key(name);
        for p in providers.open_id_connect_provider_list() {
            let arn = p.arn().unwrap_or_default();
            let host = arn.split_once(":oidc-provider/").map_or("", |(_, h)| h);
            // A private issuer's provider is named by its distribution's domain: it is the
            // cluster's by its tag.
            let ours = host.starts_with(&prefix)
                || (host.ends_with(".cloudfront.net")
                    && self
                        .iam
                        .get_open_id_connect_provider()
                        .open_id_connect_provider_arn(arn)
                        .send()
                        .await
                        .is_ok_and(|p| p.tags().iter().any(|t| t.key() == key)));
            if ours {
                out.insert(format!("provider:{host}"));
            }
        }
        // A private issuer's distribution (by its origin, the cluster's bucket) and OAC.
        let origin = format!("{name}-oidc.s3.");
        let mut marker = None;
        loop {
            let page = self
                .cloudfront
                .list_distributions()
                .set_marker(marker)
                .send()
                .await
                .unwrap();
            let Some(list) = page.distribution_list() else {
                break;
            };
            for d in list.items() {
                let fronts_bucket = d.origins().is_some_and(|o| {
                    o.items()
                        .iter()
                        .any(|o| o.domain_name().starts_with(&origin))
                });
                if fronts_bucket {
                    out.insert(format!("distribution:{name}-oidc"));
                }
            }
            marker = list
                .next_marker()
                .filter(|_| list.is_truncated())
                .map(str::to_string);
            if marker.is_none() {
                break;
            }
        }
        let oacs = self
            .cloudfront
            .list_origin_access_controls()
            .send()
            .await
            .unwrap();
        for o in oacs
            .origin_access_control_list()
            .map(|l| l.items())
            .unwrap_or_default()
        {
            if o.name() == format!("{name}-oidc") {
                out.insert(format!("oac:{}", o.name()));
            }
        }
        out
    }

    fn writes(&self) -> usize {
        self.providers
            .lock()
            .unwrap()
            .iter()
            .map(|p| p.api_calls().writes)
            .sum()
    }

    async fn put_role_policy(&self, role: &str, document: &str) {
        self.iam
            .put_role_policy()
            .role_name(role)
            .policy_name(role)
            .policy_document(document)
            .send()
            .await
            .unwrap();
    }

    async fn delete_role(&self, role: &str) {
        let policies = self
            .iam
            .list_role_policies()
            .role_name(role)
            .send()
            .await
            .unwrap();
        for p in policies.policy_names() {
            self.iam
                .delete_role_policy()
                .role_name(role)
                .policy_name(p)
                .send()
                .await
                .unwrap();
        }
        self.iam.delete_role().role_name(role).send().await.unwrap();
    }

    async fn put_bucket_policy(&self, bucket: &str, document: &str) {
        self.s3
            .put_bucket_policy()
            .bucket(bucket)
            .policy(document)
            .send()
            .await
            .unwrap();
    }

    async fn untag_role(&self, role: &str, key: &str) {
        self.iam
            .untag_role()
            .role_name(role)
            .tag_keys(key)
            .send()
            .await
            .unwrap();
    }

    async fn create_foreign_role(&self, role: &str) {
        let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        self.iam
            .create_role()
            .role_name(role)
            .assume_role_policy_document(trust)
            .send()
            .await
            .unwrap();
    }

    async fn fail_next_role_create(&self, role: &str) {
        // A role of that name that is not ours: CreateRole fails with EntityAlreadyExists.
        self.create_foreign_role(role).await;
    }

    async fn heal(&self, role: &str) {
        self.iam.delete_role().role_name(role).send().await.unwrap();
    }

    async fn create_foreign_object(&self, bucket: &str, key: &str) {
        use aws_sdk_s3::types::{BucketLocationConstraint, CreateBucketConfiguration};
        self.s3
            .create_bucket()
            .bucket(bucket)
            .create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(REGION))
                    .build(),
            )
            .send()
            .await
            .unwrap();
        self.s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(aws_sdk_s3::primitives::ByteStream::from_static(b"foreign"))
            .send()
            .await
            .unwrap();
    }

    async fn create_tagged_role(&self, role: &str, cluster: &str) {
        use aws_sdk_iam::types::Tag;
        let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ec2.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
        self.iam
            .create_role()
            .role_name(role)
            .assume_role_policy_document(trust)
            .tags(
                Tag::builder()
                    .key(format!("openshift.io/cloud-credential-operator/{cluster}"))
                    .value("owned")
                    .build()
                    .unwrap(),
            )
            .tags(Tag::builder().key("Name").value(cluster).build().unwrap())
            .send()
            .await
            .unwrap();
        self.iam
            .put_role_policy()
            .role_name(role)
            .policy_name(role)
            .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*"}]}"#)
            .send()
            .await
            .unwrap();
    }

    async fn create_tagged_bucket(&self, bucket: &str, tags: &Tags) {
        use aws_sdk_s3::types::{
            BucketLocationConstraint, CreateBucketConfiguration, Tag, Tagging,
        };
        self.s3
            .create_bucket()
            .bucket(bucket)
            .create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(REGION))
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let tags = tags
            .iter()
            .map(|(k, v)| Tag::builder().key(k).value(v).build().unwrap())
            .collect();
        self.s3
            .put_bucket_tagging()
            .bucket(bucket)
            .tagging(Tagging::builder().set_tag_set(Some(tags)).build().unwrap())
            .send()
            .await
            .unwrap();
    }

    async fn attach_managed_policy(&self, role: &str) -> String {
        let policy = self
            .iam
            .create_policy()
            .policy_name(format!("{role}-extra"))
            .policy_document(r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"s3:ListBucket","Resource":"*"}]}"#)
            .send()
            .await
            .unwrap();
        let arn = policy.policy().unwrap().arn().unwrap().to_string();
        self.iam
            .attach_role_policy()
            .role_name(role)
            .policy_arn(&arn)
            .send()
            .await
            .unwrap();
        arn
    }

    async fn role_documents(&self, role: &str) -> Option<RoleDocuments> {
        let got = self.iam.get_role().role_name(role).send().await.ok()?;
        let r = got.role()?;
        let mut inline = std::collections::BTreeMap::new();
        let names = self
            .iam
            .list_role_policies()
            .role_name(role)
            .send()
            .await
            .unwrap();
        for name in names.policy_names() {
            let p = self
                .iam
                .get_role_policy()
                .role_name(role)
                .policy_name(name)
                .send()
                .await
                .unwrap();
            inline.insert(name.clone(), p.policy_document().to_string());
        }
        Some(RoleDocuments {
            trust: r
                .assume_role_policy_document()
                .unwrap_or_default()
                .to_string(),
            description: r.description().unwrap_or_default().to_string(),
            inline,
        })
    }

    async fn tags_of(&self, what: &str) -> Tags {
        let (kind, name) = what.split_once(':').unwrap();
        let pairs: Vec<(String, String)> = match kind {
            "bucket" => self
                .s3
                .get_bucket_tagging()
                .bucket(name)
                .send()
                .await
                .unwrap()
                .tag_set()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect(),
            "object" => {
                let (bucket, key) = name.split_once('/').unwrap();
                self.s3
                    .get_object_tagging()
                    .bucket(bucket)
                    .key(key)
                    .send()
                    .await
                    .unwrap()
                    .tag_set()
                    .iter()
                    .map(|t| (t.key().to_string(), t.value().to_string()))
                    .collect()
            }
            "provider" => {
                let arn = format!("arn:aws:iam::123456789012:oidc-provider/{name}");
                self.iam
                    .get_open_id_connect_provider()
                    .open_id_connect_provider_arn(arn)
                    .send()
                    .await
                    .unwrap()
                    .tags()
                    .iter()
                    .map(|t| (t.key().to_string(), t.value().to_string()))
                    .collect()
            }
            "role" => self
                .iam
                .list_role_tags()
                .role_name(name)
                .send()
                .await
                .unwrap()
                .tags()
                .iter()
                .map(|t| (t.key().to_string(), t.value().to_string()))
                .collect(),
            other => panic!("no tags for {other}"),
        };
        pairs.into_iter().collect()
    }

    async fn cloudfront_of(&self, name: &str) -> CloudFrontView {
        let bucket = format!("{name}-oidc");
        let origin = format!("{bucket}.s3.");
        let mut view = CloudFrontView::default();
        let list = self.cloudfront.list_distributions().send().await.unwrap();
        let items = list
            .distribution_list()
            .map(|l| l.items().to_vec())
            .unwrap_or_default();
        for summary in items {
            let fronts_bucket = summary.origins().is_some_and(|o| {
                o.items()
                    .iter()
                    .any(|o| o.domain_name().starts_with(&origin))
            });
            if !fronts_bucket {
                continue;
            }
            let d = self
                .cloudfront
                .get_distribution()
                .id(summary.id())
                .send()
                .await
                .unwrap()
                .distribution
                .unwrap();
            let config = d.distribution_config().unwrap();
            let behavior = config.default_cache_behavior().unwrap();
            let o = config
                .origins()
                .unwrap()
                .items()
                .iter()
                .find(|o| o.id() == behavior.target_origin_id())
                .unwrap();
            let tags = self
                .cloudfront
                .list_tags_for_resource()
                .resource(d.arn())
                .send()
                .await
                .unwrap();
            view.distribution = Some(DistributionView {
                id: d.id().to_string(),
                arn: d.arn().to_string(),
                domain: d.domain_name().to_string(),
                enabled: config.enabled(),
                viewer_protocol_policy: behavior.viewer_protocol_policy().as_str().to_string(),
                origin_domain: o.domain_name().to_string(),
                origin_oac: o.origin_access_control_id().map(str::to_string),
                tags: tags
                    .tags()
                    .map(|t| t.items())
                    .unwrap_or_default()
                    .iter()
                    .map(|t| {
                        (
                            t.key().to_string(),
                            t.value().unwrap_or_default().to_string(),
                        )
                    })
                    .collect(),
            });
        }
        let oacs = self
            .cloudfront
            .list_origin_access_controls()
            .send()
            .await
            .unwrap();
        for o in oacs
            .origin_access_control_list()
            .map(|l| l.items())
            .unwrap_or_default()
        {
            if o.name() == bucket {
                view.oac = Some((o.id().to_string(), o.description().to_string()));
            }
        }
        view
    }

    async fn drift_distribution(&self, name: &str, move_origin: bool) {
        let id = self.cloudfront_of(name).await.distribution.unwrap().id;
        let out = self
            .cloudfront
            .get_distribution_config()
            .id(&id)
            .send()
            .await
            .unwrap();
        let etag = out.e_tag().unwrap().to_string();
        let mut config = out.distribution_config.unwrap();
        config.enabled = false;
        let behavior = config.default_cache_behavior.as_mut().unwrap();
        behavior.viewer_protocol_policy = aws_sdk_cloudfront::types::ViewerProtocolPolicy::AllowAll;
        let target = behavior.target_origin_id.clone();
        for o in &mut config.origins.as_mut().unwrap().items {
            if o.id == target && move_origin {
                o.domain_name = "someone-else.s3.us-east-2.amazonaws.com".into();
            }
        }
        self.cloudfront
            .update_distribution()
            .id(&id)
            .if_match(etag)
            .distribution_config(config)
            .send()
            .await
            .unwrap();
        if move_origin {
            use aws_sdk_cloudfront::types::{
                OriginAccessControlConfig, OriginAccessControlOriginTypes,
                OriginAccessControlSigningBehaviors, OriginAccessControlSigningProtocols,
            };
            let (oac, description) = self.cloudfront_of(name).await.oac.unwrap();
            let etag = self
                .cloudfront
                .get_origin_access_control()
                .id(&oac)
                .send()
                .await
                .unwrap()
                .e_tag()
                .unwrap()
                .to_string();
            let config = OriginAccessControlConfig::builder()
                .name(format!("{name}-oidc"))
                .description(description)
                .origin_access_control_origin_type(OriginAccessControlOriginTypes::S3)
                .signing_behavior(OriginAccessControlSigningBehaviors::Never)
                .signing_protocol(OriginAccessControlSigningProtocols::Sigv4)
                .build()
                .unwrap();
            self.cloudfront
                .update_origin_access_control()
                .id(&oac)
                .if_match(etag)
                .origin_access_control_config(config)
                .send()
                .await
                .unwrap();
        }
    }

    async fn bucket_access(&self, bucket: &str) -> ([bool; 4], Option<serde_json::Value>) {
        let block = self
            .s3
            .get_public_access_block()
            .bucket(bucket)
            .send()
            .await
            .unwrap();
        let c = block.public_access_block_configuration().unwrap();
        let flags = [
            c.block_public_acls().unwrap_or(false),
            c.ignore_public_acls().unwrap_or(false),
            c.block_public_policy().unwrap_or(false),
            c.restrict_public_buckets().unwrap_or(false),
        ];
        let policy = self
            .s3
            .get_bucket_policy()
            .bucket(bucket)
            .send()
            .await
            .ok()
            .and_then(|p| p.policy().map(|t| serde_json::from_str(t).unwrap()));
        (flags, policy)
    }

    async fn object_text(&self, bucket: &str, key: &str) -> Option<String> {
        let out = self
            .s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .ok()?;
        let bytes = out.body.collect().await.unwrap().into_bytes();
        Some(String::from_utf8(bytes.to_vec()).unwrap())
    }

    async fn record_requests(&self, on: bool) {
        // Starting afresh: what an earlier recording holds must not answer for this one.
        // (The recorder is server-wide; only one test uses it.)
        let calls: &[&str] = if on { &["reset", "start"] } else { &["stop"] };
        for what in calls {
            let url = format!(
                "{}/moto-api/recorder/{what}-recording",
                crate::support::endpoint()
            );
            reqwest::Client::new()
                .post(url)
                .send()
                .await
                .unwrap()
                .error_for_status()
                .unwrap();
        }
    }

    /// From moto's request recorder: JSON lines with method, URL and the body in base64.
    /// The last `CreateDistributionWithTags` (POST `…/distribution?WithTags`) or
    /// `UpdateDistribution` (PUT `…/distribution/<id>/config`) whose origin is the bucket.
    async fn sent_oac_link(&self, bucket: &str) -> Option<String> {
        use base64::Engine as _;
        let url = format!(
            "{}/moto-api/recorder/download-recording",
            crate::support::endpoint()
        );
        let recording = reqwest::get(url).await.unwrap().text().await.unwrap();
        let origin = format!("<DomainName>{bucket}.s3.");
        recording
            .lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|r| {
                let url = r["url"].as_str().unwrap_or_default();
                (r["method"] == "POST" && url.ends_with("/2020-05-31/distribution?WithTags"))
                    || (r["method"] == "PUT"
                        && url.contains("/2020-05-31/distribution/")
                        && url.ends_with("/config"))
            })
            .filter_map(|r| {
                let body = r["body"].as_str()?;
                let body = if r["body_encoded"] == true {
                    let bytes = base64::engine::general_purpose::STANDARD
                        .decode(body)
                        .ok()?;
                    String::from_utf8(bytes).ok()?
                } else {
                    body.to_string()
                };
                body.contains(&origin).then_some(body)
            })
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .find_map(|body| {
                let start = body.find("<OriginAccessControlId>")? + "<OriginAccessControlId>".len();
                let end = start + body[start..].find("</OriginAccessControlId>")?;
                Some(body[start..end].to_string())
            })
    }
}

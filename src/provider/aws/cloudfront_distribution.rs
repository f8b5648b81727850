//! `cloudfront_distribution`: a private issuer's distribution, serving the bucket through
//! its Origin Access Control under the distribution's own domain.
//!
//! Made with its tags in one call (CreateDistributionWithTags), so it is never untagged.
//! Updates are read-modify-write (GetDistributionConfig, change only what the spec holds,
//! UpdateDistribution with the ETag): what else is configured (a WAF, logging) stays.
//! Delete is `distribution_delete`'s disable → wait → delete, and only for a distribution
//! carrying the cluster's ownership tag. Before its id is known (a late token) it is
//! found by its origin and tag.
//!
//! The emulator does not store an origin's `OriginAccessControlId` (AWS returns the
//! element always, empty when there is none): a read whose answer lacks the element keeps
//! the recorded value rather than report drift nothing can repair.

use std::sync::Mutex;

use aws_sdk_cloudfront::types::{
    AllowedMethods, CachedMethods, DefaultCacheBehavior, Distribution, DistributionConfig,
    DistributionConfigWithTags, Method, Origin, Origins, S3OriginConfig, Tag, TagKeys,
    ViewerCertificate, ViewerProtocolPolicy,
};

use super::{
    AwsProvider, api_error, build_error, is, refuse_delete, tags as tag_sets, unless_gone,
};
use crate::ownership::is_owned;
use crate::provider::distribution_delete::{self, Calls, Pace, Seen};
use crate::provider::{Listing, ProviderError, ProviderResult};
use crate::resource::{DistributionSpec, ResourceId, Tags, contains_unknown};

/// CloudFront's answer for a distribution that does not exist.
const NO_SUCH_DISTRIBUTION: &[&str] = &["NoSuchDistribution"];
/// The id of the one origin stsform gives a distribution it makes.
const ORIGIN_ID: &str = "oidc-bucket";

fn to_cloudfront(id: &ResourceId, tags: &Tags) -> ProviderResult<aws_sdk_cloudfront::types::Tags> {
    let items = tags
        .iter()
        .map(|(k, v)| Tag::builder().key(k).value(v).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| build_error(id, e))?;
    Ok(aws_sdk_cloudfront::types::Tags::builder()
        .set_items(Some(items))
        .build())
}

/// The S3 origin config an origin with an OAC needs: an *empty* origin access identity
/// (without it CloudFront answers `InvalidOrigin`).
fn s3_origin(existing: Option<&S3OriginConfig>) -> S3OriginConfig {
    S3OriginConfig::builder()
        .origin_access_identity("")
        .set_origin_read_timeout(existing.and_then(|c| c.origin_read_timeout()))
        .build()
}

fn origin(id: &ResourceId, spec: &DistributionSpec) -> ProviderResult<Origin> {
    Origin::builder()
        .id(ORIGIN_ID)
        .domain_name(&spec.origin_domain)
        .s3_origin_config(s3_origin(None))
        .origin_access_control_id(&spec.origin_access_control_id)
        .build()
        .map_err(|e| build_error(id, e))
}

fn default_cache_behavior(
    id: &ResourceId,
    spec: &DistributionSpec,
) -> ProviderResult<DefaultCacheBehavior> {
    let cached = CachedMethods::builder()
        .quantity(2)
        .items(Method::Get)
        .items(Method::Head)
        .build()
        .map_err(|e| build_error(id, e))?;
    let allowed = AllowedMethods::builder()
        .quantity(2)
        .items(Method::Get)
        .items(Method::Head)
        .cached_methods(cached)
        .build()
        .map_err(|e| build_error(id, e))?;
    DefaultCacheBehavior::builder()
        .target_origin_id(ORIGIN_ID)
        .viewer_protocol_policy(ViewerProtocolPolicy::from(
            spec.viewer_protocol_policy.as_str(),
        ))
        .cache_policy_id(&spec.cache_policy_id)
        .allowed_methods(allowed)
        .compress(true)
        .build()
        .map_err(|e| build_error(id, e))
}

/// What of `config` stsform manages, set to `spec`: the comment, enabled, and the
/// default cache behaviour's viewer protocol, cache policy and origin (domain, OAC).
fn apply_spec(
    id: &ResourceId,
    config: &mut DistributionConfig,
    spec: &DistributionSpec,
) -> ProviderResult<()> {
    config.comment = spec.comment.clone();
    config.enabled = spec.enabled;
    let behavior = match config.default_cache_behavior.as_mut() {
        Some(b) => b,
        None => config
            .default_cache_behavior
            .insert(default_cache_behavior(id, spec)?),
    };
    behavior.viewer_protocol_policy =
        ViewerProtocolPolicy::from(spec.viewer_protocol_policy.as_str());
    behavior.cache_policy_id = Some(spec.cache_policy_id.clone());
    // A cache policy excludes the legacy cache settings (AWS refuses both); the emulator
    // fills them in on its own, so they are cleared here.
    #[allow(deprecated)]
    {
        behavior.forwarded_values = None;
        behavior.min_ttl = None;
        behavior.default_ttl = None;
        behavior.max_ttl = None;
    }
    let target = behavior.target_origin_id.clone();
    let Some(origins) = config.origins.as_mut() else {
        config.origins = Some(
            Origins::builder()
                .quantity(1)
                .items(origin(id, spec)?)
                .build()
                .map_err(|e| build_error(id, e))?,
        );
        if let Some(b) = config.default_cache_behavior.as_mut() {
            b.target_origin_id = ORIGIN_ID.to_string();
        }
        return Ok(());
    };
    match origins.items.iter_mut().find(|o| o.id == target) {
        Some(o) => {
            o.domain_name = spec.origin_domain.clone();
            o.origin_access_control_id = Some(spec.origin_access_control_id.clone());
            o.s3_origin_config = Some(s3_origin(o.s3_origin_config.as_ref()));
            o.custom_origin_config = None;
            o.vpc_origin_config = None;
        }
        None => {
            origins.items.push(origin(id, spec)?);
            if let Some(b) = config.default_cache_behavior.as_mut() {
                b.target_origin_id = ORIGIN_ID.to_string();
            }
        }
    }
    origins.quantity = origins.items.len() as i32;
    Ok(())
}

/// The spec of a distribution as CloudFront has it; `recorded` fills in what the answer
/// does not say (an emulator's missing `OriginAccessControlId`).
fn spec_of(d: &Distribution, tags: Tags, recorded: &DistributionSpec) -> DistributionSpec {
    let config = d.distribution_config();
    let behavior = config.and_then(|c| c.default_cache_behavior());
    let origin = config.and_then(|c| c.origins()).and_then(|o| {
        o.items()
            .iter()
            .find(|o| behavior.is_some_and(|b| b.target_origin_id() == o.id()))
    });
    let oac = match origin.map(|o| o.origin_access_control_id()) {
        Some(Some(oac)) => oac.to_string(),
        Some(None) => recorded.origin_access_control_id.clone(),
        None => String::new(),
    };
    DistributionSpec {
        id: d.id().to_string(),
        arn: d.arn().to_string(),
        domain_name: d.domain_name().to_string(),
        comment: config.map(|c| c.comment().to_string()).unwrap_or_default(),
        origin_domain: origin
            .map(|o| o.domain_name().to_string())
            .unwrap_or_default(),
        origin_access_control_id: oac,
        enabled: config.is_some_and(|c| c.enabled()),
        viewer_protocol_policy: behavior
            .map(|b| b.viewer_protocol_policy().as_str().to_string())
            .unwrap_or_default(),
        cache_policy_id: behavior
            .and_then(|b| b.cache_policy_id())
            .unwrap_or_default()
            .to_string(),
        tags,
    }
}

impl AwsProvider {
    /// The distribution's id: recorded, or (before it was known) the one whose origin is
    /// the spec's bucket and which carries the spec's ownership tag (else the first whose
    /// origin is the bucket: the caller then decides about ownership).
    async fn distribution_id(
        &self,
        id: &ResourceId,
        spec: &DistributionSpec,
    ) -> ProviderResult<Option<String>> {
        if !contains_unknown(&spec.id) && !spec.id.is_empty() {
            return Ok(Some(spec.id.clone()));
        }
        let listing = Listing::Distributions {
            origin_domain: spec.origin_domain.clone(),
        };
        let ids = self.list_names(&listing).await?;
        let mut first = None;
        for candidate in ids {
            let Some((d, _)) = self.get_distribution(id, &candidate).await? else {
                continue;
            };
            let tags = self.distribution_tags(id, d.arn()).await?;
            if is_owned(&spec.tags, &tags) {
                return Ok(Some(candidate));
            }
            first.get_or_insert(candidate);
        }
        Ok(first)
    }

    async fn get_distribution(
        &self,
        id: &ResourceId,
        distribution: &str,
    ) -> ProviderResult<Option<(Distribution, String)>> {
        let read = self
            .cloudfront_call(
                "GetDistribution",
                self.cloudfront.get_distribution().id(distribution).send(),
            )
            .await;
        Ok(
            unless_gone(id, "GetDistribution", read, NO_SUCH_DISTRIBUTION)?.and_then(|out| {
                let etag = out.e_tag().unwrap_or_default().to_string();
                out.distribution.map(|d| (d, etag))
            }),
        )
    }

    async fn distribution_tags(&self, id: &ResourceId, arn: &str) -> ProviderResult<Tags> {
        let out = self
            .cloudfront_call(
                "ListTagsForResource",
                self.cloudfront
                    .list_tags_for_resource()
                    .resource(arn)
                    .send(),
            )
            .await
            .map_err(|e| api_error(id, "ListTagsForResource", &e))?;
        Ok(out
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
            .collect())
    }

    pub(super) async fn read_distribution(
        &self,
        id: &ResourceId,
        recorded: &DistributionSpec,
    ) -> ProviderResult<Option<DistributionSpec>> {
        let Some(distribution) = self.distribution_id(id, recorded).await? else {
            return Ok(None);
        };
        let Some((d, _)) = self.get_distribution(id, &distribution).await? else {
            return Ok(None);
        };
        let tags = self.distribution_tags(id, d.arn()).await?;
        Ok(Some(spec_of(&d, tags, recorded)))
    }

    pub(super) async fn create_distribution(
        &self,
        id: &ResourceId,
        spec: &DistributionSpec,
    ) -> ProviderResult<DistributionSpec> {
        // A caller reference of its own for every create: one reused (a distribution of
        // the same cluster made and deleted before) is refused. An SDK retry of this call
        // sends the same one, and gets DistributionAlreadyExists: handled below.
        let config = DistributionConfig::builder()
            .caller_reference(format!("stsform-{}", uuid::Uuid::new_v4()))
            .comment(&spec.comment)
            .enabled(spec.enabled)
            .origins(
                Origins::builder()
                    .quantity(1)
                    .items(origin(id, spec)?)
                    .build()
                    .map_err(|e| build_error(id, e))?,
            )
            .default_cache_behavior(default_cache_behavior(id, spec)?)
            .viewer_certificate(
                ViewerCertificate::builder()
                    .cloud_front_default_certificate(true)
                    .build(),
            )
            .build()
            .map_err(|e| build_error(id, e))?;
        let with_tags = DistributionConfigWithTags::builder()
            .distribution_config(config)
            .tags(to_cloudfront(id, &spec.tags)?)
            .build();
        let created = self
            .cloudfront_call(
                "CreateDistributionWithTags",
                self.cloudfront
                    .create_distribution_with_tags()
                    .distribution_config_with_tags(with_tags)
                    .send(),
            )
            .await;
        match created {
            Ok(out) => {
                let Some(d) = out.distribution() else {
                    return Err(ProviderError::Api {
                        id: id.clone(),
                        operation: "CreateDistributionWithTags".into(),
                        message: "the answer names no distribution".into(),
                    });
                };
                Ok(DistributionSpec {
                    id: d.id().to_string(),
                    arn: d.arn().to_string(),
                    domain_name: d.domain_name().to_string(),
                    ..spec.clone()
                })
            }
            // Our own create, retried after its answer was lost: find it by its tag.
            Err(e) if is(&e, &["DistributionAlreadyExists"]) => {
                let Some(live) = self.read_distribution(id, spec).await? else {
                    return Err(api_error(id, "CreateDistributionWithTags", &e));
                };
                if !is_owned(&spec.tags, &live.tags) {
                    return Err(api_error(id, "CreateDistributionWithTags", &e));
                }
                self.update_distribution(id, spec, &live).await
            }
            Err(e) => Err(api_error(id, "CreateDistributionWithTags", &e)),
        }
    }

    pub(super) async fn update_distribution(
        &self,
        id: &ResourceId,
        spec: &DistributionSpec,
        before: &DistributionSpec,
    ) -> ProviderResult<DistributionSpec> {
        let Some(distribution) = self.distribution_id(id, before).await? else {
            return Err(gone(id));
        };
        let read = self
            .cloudfront_call(
                "GetDistributionConfig",
                self.cloudfront
                    .get_distribution_config()
                    .id(&distribution)
                    .send(),
            )
            .await;
        let Some(out) = unless_gone(id, "GetDistributionConfig", read, NO_SUCH_DISTRIBUTION)?
        else {
            return Err(gone(id));
        };
        let etag = out.e_tag().unwrap_or_default().to_string();
        let Some(mut config) = out.distribution_config else {
            return Err(gone(id));
        };
        apply_spec(id, &mut config, spec)?;
        let updated = self
            .cloudfront_call(
                "UpdateDistribution",
                self.cloudfront
                    .update_distribution()
                    .id(&distribution)
                    .if_match(etag)
                    .distribution_config(config)
                    .send(),
            )
            .await
            .map_err(|e| api_error(id, "UpdateDistribution", &e))?;
        let (arn, domain) = updated
            .distribution()
            .map(|d| (d.arn().to_string(), d.domain_name().to_string()))
            .unwrap_or_else(|| (before.arn.clone(), before.domain_name.clone()));
        let (set, remove) = tag_sets::changes(&before.tags, &spec.tags);
        if !set.is_empty() {
            self.cloudfront_call(
                "TagResource",
                self.cloudfront
                    .tag_resource()
                    .resource(&arn)
                    .tags(to_cloudfront(id, &set)?)
                    .send(),
            )
            .await
            .map_err(|e| api_error(id, "TagResource", &e))?;
        }
        if !remove.is_empty() {
            self.cloudfront_call(
                "UntagResource",
                self.cloudfront
                    .untag_resource()
                    .resource(&arn)
                    .tag_keys(TagKeys::builder().set_items(Some(remove)).build())
                    .send(),
            )
            .await
            .map_err(|e| api_error(id, "UntagResource", &e))?;
        }
        Ok(DistributionSpec {
            id: distribution,
            arn,
            domain_name: domain,
            ..spec.clone()
        })
    }

    pub(super) async fn delete_distribution(
        &self,
        id: &ResourceId,
        before: &DistributionSpec,
    ) -> ProviderResult<()> {
        let Some(distribution) = self.distribution_id(id, before).await? else {
            return Ok(());
        };
        let Some((d, _)) = self.get_distribution(id, &distribution).await? else {
            return Ok(());
        };
        // Another cluster's issuer may be behind it: only delete what is tagged ours.
        let tags = self.distribution_tags(id, d.arn()).await?;
        if !is_owned(&before.tags, &tags) {
            return Err(refuse_delete(id, "distribution", &before.tags));
        }
        let pace = Pace::from_env().map_err(|message| ProviderError::Invalid {
            id: id.clone(),
            message,
        })?;
        let calls = AwsDistribution {
            provider: self,
            id,
            distribution,
            etag: Mutex::default(),
        };
        distribution_delete::disable_wait_delete(id, &calls, pace).await
    }
}

fn gone(id: &ResourceId) -> ProviderError {
    ProviderError::Api {
        id: id.clone(),
        operation: "GetDistributionConfig".into(),
        message: "NoSuchDistribution: it is gone".into(),
    }
}

/// `distribution_delete`'s calls against CloudFront; the ETag of the last answer is what
/// the next change must send.
struct AwsDistribution<'a> {
    provider: &'a AwsProvider,
    id: &'a ResourceId,
    distribution: String,
    etag: Mutex<String>,
}

impl Calls for AwsDistribution<'_> {
    async fn look(&self) -> ProviderResult<Option<Seen>> {
        let Some((d, etag)) = self
            .provider
            .get_distribution(self.id, &self.distribution)
            .await?
        else {
            return Ok(None);
        };
        *self.etag.lock().expect("etag lock") = etag;
        Ok(Some(Seen {
            enabled: d.distribution_config().is_some_and(|c| c.enabled()),
            status: d.status().to_string(),
        }))
    }

    async fn disable(&self) -> ProviderResult<()> {
        let read = self
            .provider
            .cloudfront_call(
                "GetDistributionConfig",
                self.provider
                    .cloudfront
                    .get_distribution_config()
                    .id(&self.distribution)
                    .send(),
            )
            .await;
        let Some(out) = unless_gone(self.id, "GetDistributionConfig", read, NO_SUCH_DISTRIBUTION)?
        else {
            return Ok(());
        };
        let etag = out.e_tag().unwrap_or_default().to_string();
        let Some(mut config) = out.distribution_config else {
            return Ok(());
        };
        config.enabled = false;
        let updated = self
            .provider
            .cloudfront_call(
                "UpdateDistribution",
                self.provider
                    .cloudfront
                    .update_distribution()
                    .id(&self.distribution)
                    .if_match(etag)
                    .distribution_config(config)
                    .send(),
            )
            .await
            .map_err(|e| api_error(self.id, "UpdateDistribution", &e))?;
        *self.etag.lock().expect("etag lock") = updated.e_tag().unwrap_or_default().to_string();
        Ok(())
    }

    async fn delete(&self) -> ProviderResult<()> {
        let etag = self.etag.lock().expect("etag lock").clone();
        let deleted = self
            .provider
            .cloudfront_call(
                "DeleteDistribution",
                self.provider
                    .cloudfront
                    .delete_distribution()
                    .id(&self.distribution)
                    .if_match(etag)
                    .send(),
            )
            .await;
        unless_gone(self.id, "DeleteDistribution", deleted, NO_SUCH_DISTRIBUTION).map(|_| ())
    }
}

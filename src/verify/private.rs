//! A private issuer's part of `verify`: the CloudFront distribution in front of the
//! bucket (found by its origin and the cluster's ownership tag, as discovery finds it),
//! checked as STS relies on it: enabled, HTTPS only, and reading the cluster's bucket
//! through the cluster's Origin Access Control. Reads through the provider only.

use crate::private_issuer;
use crate::provider::Provider;
use crate::resource::{
    DistributionSpec, Late, OriginAccessControlSpec, ResourceId, ResourceKind, Spec,
};
use crate::settings::Settings;

/// Stands for "the answer did not say" in the distribution read (see [`distribution`]).
const NOT_REPORTED: &str = "(not reported)";

/// The cluster's distribution, or why there is none.
pub async fn distribution<P: Provider>(
    provider: &P,
    settings: &Settings,
) -> Result<DistributionSpec, String> {
    let bucket = settings.bucket_name();
    let origin = private_issuer::origin_domain(&bucket, &settings.region);
    let wanted = DistributionSpec {
        id: Late::DistributionId.token().to_string(),
        arn: String::new(),
        domain_name: Late::DistributionDomain.token().to_string(),
        comment: String::new(),
        origin_domain: origin.clone(),
        // What the read answers when CloudFront's answer does not say which OAC the
        // origin uses (the emulator keeps no such link): the recorded value, this one.
        origin_access_control_id: NOT_REPORTED.to_string(),
        enabled: true,
        viewer_protocol_policy: String::new(),
        cache_policy_id: String::new(),
        tags: settings.ownership_tags(),
    };
    let id = ResourceId::new(ResourceKind::CloudFrontDistribution, &bucket);
    match provider
        .read(&id, &Spec::CloudFrontDistribution(wanted))
        .await
    {
        Ok(Some(Spec::CloudFrontDistribution(d)))
            if crate::ownership::carries(&d.tags, &settings.ownership_tag_key()) =>
        {
            Ok(d)
        }
        Ok(Some(Spec::CloudFrontDistribution(d))) => Err(format!(
            "distribution {} serves {origin} but carries no `{}` tag: not the cluster's",
            d.id,
            settings.ownership_tag_key()
        )),
        Ok(_) => Err(format!(
            "no CloudFront distribution serves {origin} (run `stsform apply \
             --create-private-s3-bucket` first)"
        )),
        Err(e) => Err(e.to_string()),
    }
}

/// What is wrong with `d` for serving the issuer, or what it does right.
pub async fn check_distribution<P: Provider>(
    provider: &P,
    settings: &Settings,
    d: &DistributionSpec,
) -> Result<String, String> {
    let bucket = settings.bucket_name();
    let origin = private_issuer::origin_domain(&bucket, &settings.region);
    let mut wrong = Vec::new();
    if d.origin_domain != origin {
        wrong.push(format!(
            "its origin is {}, not the cluster's bucket {origin}",
            d.origin_domain
        ));
    }
    if !d.enabled {
        wrong.push("it is disabled".to_string());
    }
    if d.viewer_protocol_policy != private_issuer::VIEWER_PROTOCOL_POLICY {
        wrong.push(format!(
            "its viewer protocol policy is {}, not https-only",
            d.viewer_protocol_policy
        ));
    }
    let oac = OriginAccessControlSpec {
        name: bucket.clone(),
        description: settings.ownership_tag_key(),
        origin_type: String::new(),
        signing_behavior: String::new(),
        signing_protocol: String::new(),
        id: Late::OacId.token().to_string(),
    };
    let oac_id = ResourceId::new(ResourceKind::CloudFrontOriginAccessControl, &bucket);
    let mut unchecked = None;
    match provider
        .read(&oac_id, &Spec::CloudFrontOriginAccessControl(oac))
        .await
    {
        Ok(Some(Spec::CloudFrontOriginAccessControl(o))) if o.id == d.origin_access_control_id => {}
        Ok(Some(Spec::CloudFrontOriginAccessControl(o)))
            if d.origin_access_control_id == NOT_REPORTED =>
        {
            unchecked = Some(format!(
                "; which origin access control its origin signs with is not reported by this \
                 endpoint (the emulator keeps no such link), so the link to {} was not checked",
                o.id
            ));
        }
        Ok(Some(Spec::CloudFrontOriginAccessControl(o))) => wrong.push(format!(
            "its origin signs with origin access control `{}`, not the cluster's {} ({})",
            d.origin_access_control_id, o.id, o.name
        )),
        Ok(_) => wrong.push(format!("the origin access control {bucket} does not exist")),
        Err(e) => wrong.push(e.to_string()),
    }
    if wrong.is_empty() {
        Ok(match unchecked {
            Some(unchecked) => format!(
                "{} ({}) serves {}, HTTPS only{unchecked}",
                d.id, d.domain_name, d.origin_domain
            ),
            None => format!(
                "{} ({}) serves {} through origin access control {}, HTTPS only",
                d.id, d.domain_name, d.origin_domain, d.origin_access_control_id
            ),
        })
    } else {
        Err(format!("{}: {}", d.id, wrong.join("; ")))
    }
}

//! `cloudfront_origin_access_control`: a private issuer's Origin Access Control.
//!
//! Named `<name>-oidc` (names are unique in an account); OACs take no tags, so the
//! description is the ownership marker (`ownership::marked`). CloudFront assigns the id;
//! a spec made before that holds a late token, and the OAC is then found by name.
//! Updates and deletes send the ETag of a fresh read (`IfMatch`). The read uses
//! GetOriginAccessControl (the emulator has no GetOriginAccessControlConfig).

use aws_sdk_cloudfront::types::{
    OriginAccessControlConfig, OriginAccessControlOriginTypes, OriginAccessControlSigningBehaviors,
    OriginAccessControlSigningProtocols,
};

use super::{AwsProvider, api_error, build_error, unless_gone};
use crate::ownership;
use crate::provider::{Listing, ProviderError, ProviderResult};
use crate::resource::{OriginAccessControlSpec, ResourceId, contains_unknown};

/// CloudFront's answer for an OAC that does not exist.
const NO_SUCH_OAC: &[&str] = &["NoSuchOriginAccessControl"];

/// An OAC as CloudFront has it, with the ETag an update or delete must send.
struct Live {
    spec: OriginAccessControlSpec,
    etag: String,
}

fn config(
    id: &ResourceId,
    spec: &OriginAccessControlSpec,
) -> ProviderResult<OriginAccessControlConfig> {
    OriginAccessControlConfig::builder()
        .name(&spec.name)
        .description(&spec.description)
        .origin_access_control_origin_type(OriginAccessControlOriginTypes::from(
            spec.origin_type.as_str(),
        ))
        .signing_behavior(OriginAccessControlSigningBehaviors::from(
            spec.signing_behavior.as_str(),
        ))
        .signing_protocol(OriginAccessControlSigningProtocols::from(
            spec.signing_protocol.as_str(),
        ))
        .build()
        .map_err(|e| build_error(id, e))
}

fn not_marked(id: &ResourceId, spec: &OriginAccessControlSpec, doing: &str) -> ProviderError {
    ProviderError::NotOwned {
        id: id.clone(),
        message: format!(
            "the origin access control `{}` exists but its description is not `{}` (the mark \
             stsform and ccoctl give what they own), and it is not in the state; {doing}",
            spec.name, spec.description
        ),
    }
}

impl AwsProvider {
    /// The OAC's id: recorded, or (before it was known) found by name.
    async fn oac_id(
        &self,
        id: &ResourceId,
        spec: &OriginAccessControlSpec,
    ) -> ProviderResult<Option<String>> {
        if !contains_unknown(&spec.id) && !spec.id.is_empty() {
            return Ok(Some(spec.id.clone()));
        }
        let listing = Listing::OriginAccessControls {
            name: spec.name.clone(),
        };
        let ids = self.list_names(&listing).await.map_err(|e| match e {
            ProviderError::Api {
                operation, message, ..
            } => ProviderError::Api {
                id: id.clone(),
                operation,
                message,
            },
            other => other,
        })?;
        Ok(ids.into_iter().next())
    }

    async fn live_oac(
        &self,
        id: &ResourceId,
        recorded: &OriginAccessControlSpec,
    ) -> ProviderResult<Option<Live>> {
        let Some(oac_id) = self.oac_id(id, recorded).await? else {
            return Ok(None);
        };
        let read = self
            .cloudfront_call(
                "GetOriginAccessControl",
                self.cloudfront
                    .get_origin_access_control()
                    .id(&oac_id)
                    .send(),
            )
            .await;
        let Some(out) = unless_gone(id, "GetOriginAccessControl", read, NO_SUCH_OAC)? else {
            return Ok(None);
        };
        let Some(config) = out
            .origin_access_control()
            .and_then(|o| o.origin_access_control_config())
        else {
            return Err(ProviderError::Api {
                id: id.clone(),
                operation: "GetOriginAccessControl".into(),
                message: "the answer holds no configuration".into(),
            });
        };
        Ok(Some(Live {
            spec: OriginAccessControlSpec {
                name: config.name().to_string(),
                description: config.description().unwrap_or_default().to_string(),
                origin_type: config
                    .origin_access_control_origin_type()
                    .as_str()
                    .to_string(),
                signing_behavior: config.signing_behavior().as_str().to_string(),
                signing_protocol: config.signing_protocol().as_str().to_string(),
                id: oac_id,
            },
            etag: out.e_tag().unwrap_or_default().to_string(),
        }))
    }

    pub(super) async fn read_oac(
        &self,
        id: &ResourceId,
        recorded: &OriginAccessControlSpec,
    ) -> ProviderResult<Option<OriginAccessControlSpec>> {
        Ok(self.live_oac(id, recorded).await?.map(|l| l.spec))
    }

    pub(super) async fn create_oac(
        &self,
        id: &ResourceId,
        spec: &OriginAccessControlSpec,
    ) -> ProviderResult<OriginAccessControlSpec> {
        let created = self
            .cloudfront_call(
                "CreateOriginAccessControl",
                self.cloudfront
                    .create_origin_access_control()
                    .origin_access_control_config(config(id, spec)?)
                    .send(),
            )
            .await;
        match created {
            Ok(out) => {
                let oac_id = out
                    .origin_access_control()
                    .map(|o| o.id().to_string())
                    .unwrap_or_default();
                Ok(OriginAccessControlSpec {
                    id: oac_id,
                    ..spec.clone()
                })
            }
            // Made by an interrupted apply (or by an SDK retry of this call whose first
            // answer was lost): adopt it if it carries the cluster's mark.
            Err(e) if super::is(&e, &["OriginAccessControlAlreadyExists"]) => {
                let Some(live) = self.live_oac(id, spec).await? else {
                    return Err(api_error(id, "CreateOriginAccessControl", &e));
                };
                if !ownership::marked(&live.spec.description, &spec.description) {
                    return Err(not_marked(id, spec, "choose another --name"));
                }
                self.update_oac(id, spec, &live.spec).await
            }
            Err(e) => Err(api_error(id, "CreateOriginAccessControl", &e)),
        }
    }

    pub(super) async fn update_oac(
        &self,
        id: &ResourceId,
        spec: &OriginAccessControlSpec,
        before: &OriginAccessControlSpec,
    ) -> ProviderResult<OriginAccessControlSpec> {
        let Some(live) = self.live_oac(id, before).await? else {
            return Err(ProviderError::Api {
                id: id.clone(),
                operation: "GetOriginAccessControl".into(),
                message: "NoSuchOriginAccessControl: it is gone".into(),
            });
        };
        let wanted = OriginAccessControlSpec {
            id: live.spec.id.clone(),
            ..spec.clone()
        };
        if wanted != live.spec {
            self.cloudfront_call(
                "UpdateOriginAccessControl",
                self.cloudfront
                    .update_origin_access_control()
                    .id(&live.spec.id)
                    .if_match(&live.etag)
                    .origin_access_control_config(config(id, spec)?)
                    .send(),
            )
            .await
            .map_err(|e| api_error(id, "UpdateOriginAccessControl", &e))?;
        }
        Ok(wanted)
    }

    pub(super) async fn delete_oac(
        &self,
        id: &ResourceId,
        before: &OriginAccessControlSpec,
    ) -> ProviderResult<()> {
        let Some(live) = self.live_oac(id, before).await? else {
            return Ok(());
        };
        // Another cluster's distribution may sign with it: only delete what is marked ours.
        if !ownership::marked(&live.spec.description, &before.description) {
            return Err(not_marked(id, before, "refusing to delete it"));
        }
        let deleted = self
            .cloudfront_call(
                "DeleteOriginAccessControl",
                self.cloudfront
                    .delete_origin_access_control()
                    .id(&live.spec.id)
                    .if_match(&live.etag)
                    .send(),
            )
            .await;
        match deleted {
            Err(e) if super::is(&e, &["OriginAccessControlInUse"]) => Err(ProviderError::Api {
                id: id.clone(),
                operation: "DeleteOriginAccessControl".into(),
                message: format!(
                    "{}; a distribution still signs with it (stsform deletes its own \
                     distribution first: one made outside stsform must go first)",
                    crate::sdk::describe(&e)
                ),
            }),
            other => unless_gone(id, "DeleteOriginAccessControl", other, NO_SUCH_OAC).map(|_| ()),
        }
    }
}

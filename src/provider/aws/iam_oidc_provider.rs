//! `iam_oidc_provider`: the IAM OpenID Connect identity provider for the issuer URL.
//!
//! IAM stores the URL without its scheme and names the provider by ARN; read adds
//! `https://` back and sorts the lists so a fresh create reads back equal to its spec.

use super::{
    AwsProvider, NO_SUCH_ENTITY, api_error, is, is_owned, not_owned, refuse_delete, tags,
    unless_gone,
};
use crate::provider::{ProviderError, ProviderResult};
use crate::resource::{OidcProviderSpec, ResourceId, UNKNOWN};

fn sorted(items: &[String]) -> Vec<String> {
    let mut items = items.to_vec();
    items.sort();
    items.dedup();
    items
}

impl AwsProvider {
    /// The provider's ARN: recorded, or (in a spec not yet resolved) built from the
    /// account and the URL the way IAM builds it.
    async fn oidc_arn(&self, spec: &OidcProviderSpec) -> ProviderResult<String> {
        if spec.arn != UNKNOWN && !spec.arn.is_empty() {
            return Ok(spec.arn.clone());
        }
        let account = crate::provider::Provider::account_id(self).await?;
        let host = spec.url.trim_start_matches("https://");
        Ok(format!(
            "arn:{}:iam::{account}:oidc-provider/{host}",
            self.partition
        ))
    }

    pub(super) async fn read_oidc_provider(
        &self,
        id: &ResourceId,
        recorded: &OidcProviderSpec,
    ) -> ProviderResult<Option<OidcProviderSpec>> {
        let arn = self.oidc_arn(recorded).await?;
        let read = self
            .call(
                "GetOpenIDConnectProvider",
                self.iam
                    .get_open_id_connect_provider()
                    .open_id_connect_provider_arn(&arn)
                    .send(),
            )
            .await;
        let Some(out) = unless_gone(id, "GetOpenIDConnectProvider", read, NO_SUCH_ENTITY)? else {
            return Ok(None);
        };
        // IAM returns `host/path` without the scheme; IAM only accepts https issuers.
        let url = match out.url() {
            Some(u) if u.contains("://") => u.to_string(),
            Some(u) => format!("https://{u}"),
            None => String::new(),
        };
        Ok(Some(OidcProviderSpec {
            url,
            arn,
            client_ids: sorted(out.client_id_list()),
            thumbprints: sorted(out.thumbprint_list()),
            // GetOpenIDConnectProvider returns the tags (AWS and moto alike), so no
            // ListOpenIDConnectProviderTags call is needed.
            tags: tags::from_iam(out.tags()),
        }))
    }

    pub(super) async fn create_oidc_provider(
        &self,
        id: &ResourceId,
        spec: &OidcProviderSpec,
    ) -> ProviderResult<OidcProviderSpec> {
        let mut request = self
            .iam
            .create_open_id_connect_provider()
            .url(&spec.url)
            .set_client_id_list(Some(spec.client_ids.clone()))
            .set_tags(Some(tags::to_iam(id, &spec.tags)?));
        // Thumbprints are optional since 2024: without them IAM checks the issuer's
        // certificate against its CA library (which covers S3).
        if !spec.thumbprints.is_empty() {
            request = request.set_thumbprint_list(Some(spec.thumbprints.clone()));
        }
        let out = match self
            .call("CreateOpenIDConnectProvider", request.send())
            .await
        {
            Ok(out) => out,
            // Ours from an interrupted apply (or a retried call whose answer was lost):
            // adopt it if it carries our ownership tag, as roles and the bucket do.
            Err(e) if is(&e, &["EntityAlreadyExists"]) => {
                let Some(live) = self.read_oidc_provider(id, spec).await? else {
                    return Err(api_error(id, "CreateOpenIDConnectProvider", &e));
                };
                if !is_owned(&spec.tags, &live.tags) {
                    return Err(not_owned(id, "OIDC provider", &spec.tags));
                }
                return self.update_oidc_provider(id, spec, &live).await;
            }
            Err(e) => return Err(api_error(id, "CreateOpenIDConnectProvider", &e)),
        };
        let arn = out.open_id_connect_provider_arn().unwrap_or_default();
        // Roles' trust policies were planned with the ARN derive computed; if IAM named
        // the provider differently they would trust nothing.
        if spec.arn != UNKNOWN && arn != spec.arn {
            return Err(ProviderError::Api {
                id: id.clone(),
                operation: "CreateOpenIDConnectProvider".into(),
                message: format!("IAM named the provider `{arn}`, expected `{}`", spec.arn),
            });
        }
        let mut live = spec.clone();
        live.arn = arn.to_string();
        Ok(live)
    }

    pub(super) async fn update_oidc_provider(
        &self,
        id: &ResourceId,
        spec: &OidcProviderSpec,
        before: &OidcProviderSpec,
    ) -> ProviderResult<OidcProviderSpec> {
        let arn = self.oidc_arn(before).await?;
        if sorted(&spec.thumbprints) != sorted(&before.thumbprints) {
            self.call(
                "UpdateOpenIDConnectProviderThumbprint",
                self.iam
                    .update_open_id_connect_provider_thumbprint()
                    .open_id_connect_provider_arn(&arn)
                    .set_thumbprint_list(Some(spec.thumbprints.clone()))
                    .send(),
            )
            .await
            .map_err(|e| api_error(id, "UpdateOpenIDConnectProviderThumbprint", &e))?;
        }
        // Client ids are a set: add the new ones first so the provider never has none.
        for client_id in spec
            .client_ids
            .iter()
            .filter(|c| !before.client_ids.contains(c))
        {
            self.call(
                "AddClientIDToOpenIDConnectProvider",
                self.iam
                    .add_client_id_to_open_id_connect_provider()
                    .open_id_connect_provider_arn(&arn)
                    .client_id(client_id)
                    .send(),
            )
            .await
            .map_err(|e| api_error(id, "AddClientIDToOpenIDConnectProvider", &e))?;
        }
        for client_id in before
            .client_ids
            .iter()
            .filter(|c| !spec.client_ids.contains(c))
        {
            self.call(
                "RemoveClientIDFromOpenIDConnectProvider",
                self.iam
                    .remove_client_id_from_open_id_connect_provider()
                    .open_id_connect_provider_arn(&arn)
                    .client_id(client_id)
                    .send(),
            )
            .await
            .map_err(|e| api_error(id, "RemoveClientIDFromOpenIDConnectProvider", &e))?;
        }
        let (set, remove) = tags::changes(&before.tags, &spec.tags);
        if !set.is_empty() {
            self.call(
                "TagOpenIDConnectProvider",
                self.iam
                    .tag_open_id_connect_provider()
                    .open_id_connect_provider_arn(&arn)
                    .set_tags(Some(tags::to_iam(id, &set)?))
                    .send(),
            )
            .await
            .map_err(|e| api_error(id, "TagOpenIDConnectProvider", &e))?;
        }
        if !remove.is_empty() {
            self.call(
                "UntagOpenIDConnectProvider",
                self.iam
                    .untag_open_id_connect_provider()
                    .open_id_connect_provider_arn(&arn)
                    .set_tag_keys(Some(remove))
                    .send(),
            )
            .await
            .map_err(|e| api_error(id, "UntagOpenIDConnectProvider", &e))?;
        }
        let mut live = spec.clone();
        live.arn = arn;
        Ok(live)
    }

    pub(super) async fn delete_oidc_provider(
        &self,
        id: &ResourceId,
        before: &OidcProviderSpec,
    ) -> ProviderResult<()> {
        let Some(live) = self.read_oidc_provider(id, before).await? else {
            return Ok(());
        };
        // Another cluster's roles may trust this provider: only delete what is ours.
        if !is_owned(&before.tags, &live.tags) {
            return Err(refuse_delete(id, "OIDC provider", &before.tags));
        }
        let deleted = self
            .call(
                "DeleteOpenIDConnectProvider",
                self.iam
                    .delete_open_id_connect_provider()
                    .open_id_connect_provider_arn(&live.arn)
                    .send(),
            )
            .await;
        unless_gone(id, "DeleteOpenIDConnectProvider", deleted, NO_SUCH_ENTITY)?;
        Ok(())
    }
}

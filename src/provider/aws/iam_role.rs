//! `iam_role`: one role per CredentialsRequest, trusted through the OIDC provider.
//!
//! Create and trust-policy updates retry while IAM does not yet know a provider created
//! seconds earlier. Create adopts a role of the same name that carries our ownership tag
//! (an interrupted apply's) and refuses any other. Delete empties the role first, as IAM
//! requires: it detaches every managed policy and deletes every inline policy (ccoctl
//! deletes only the inline ones, so a role someone attached a policy to outlived it); the
//! plan lists what was added outside stsform before this happens. It reads nothing the
//! run already read: ownership is judged on the tags the run's refresh read, and the
//! policies removed are those the run listed; only when IAM answers `DeleteConflict`
//! (something was put on the role since, or nothing was listed) are they listed again.

use std::collections::BTreeSet;

use aws_sdk_iam::error::ProvideErrorMetadata;

use super::listing::RolePolicies;
use super::{
    AwsProvider, NEW_PARENT, NO_SUCH_ENTITY, PROPAGATION, api_error, is, not_owned, refuse_delete,
    retry_while, tags, unless_gone,
};
use crate::iam_policy;
use crate::ownership::is_owned;
use crate::provider::{Listing, ProviderError, ProviderResult};
use crate::resource::{ResourceId, RoleSpec};

/// Errors IAM returns while a just-created principal (the OIDC provider) propagates.
fn is_propagating<E: ProvideErrorMetadata>(e: &aws_sdk_iam::error::SdkError<E>) -> bool {
    is(e, &["ConcurrentModification"])
        || (is(e, &["MalformedPolicyDocument"])
            && e.message().is_some_and(|m| m.contains("Invalid principal")))
}

impl AwsProvider {
    pub(super) async fn read_role(
        &self,
        id: &ResourceId,
        recorded: &RoleSpec,
    ) -> ProviderResult<Option<RoleSpec>> {
        let read = self
            .iam_call(
                "GetRole",
                self.iam.get_role().role_name(&recorded.name).send(),
            )
            .await;
        let Some(out) = unless_gone(id, "GetRole", read, NO_SUCH_ENTITY)? else {
            return Ok(None);
        };
        let Some(role) = out.role() else {
            return Ok(None);
        };
        // IAM returns the trust policy URL-encoded; parse_aws_document decodes it.
        let trust_policy = match role.assume_role_policy_document() {
            Some(text) => iam_policy::parse_aws_document(text).map_err(|e| ProviderError::Api {
                id: id.clone(),
                operation: "GetRole".into(),
                message: format!("the trust policy is not valid JSON: {e}"),
            })?,
            None => serde_json::Value::Null,
        };
        // GetRole carries the role's tags (moto too), so ListRoleTags is not needed.
        let tags = tags::from_iam(role.tags());
        Ok(Some(RoleSpec {
            name: role.role_name().to_string(),
            arn: role.arn().to_string(),
            description: role.description().unwrap_or_default().to_string(),
            trust_policy,
            permissions_boundary: role
                .permissions_boundary()
                .and_then(|b| b.permissions_boundary_arn())
                .map(str::to_string),
            tags,
        }))
    }

    pub(super) async fn create_role(
        &self,
        id: &ResourceId,
        spec: &RoleSpec,
    ) -> ProviderResult<RoleSpec> {
        let trust = spec.trust_policy.to_string();
        let tags = tags::to_iam(id, &spec.tags)?;
        let created = retry_while(PROPAGATION, is_propagating, || async {
            self.iam_call(
                "CreateRole",
                self.iam
                    .create_role()
                    .role_name(&spec.name)
                    .assume_role_policy_document(&trust)
                    .description(&spec.description)
                    .set_permissions_boundary(spec.permissions_boundary.clone())
                    .set_tags(Some(tags.clone()))
                    .send(),
            )
            .await
        })
        .await;
        let out = match created {
            Ok(out) => out,
            Err(e) if is(&e, &["EntityAlreadyExists"]) => {
                return self.adopt_role(id, spec, &e).await;
            }
            Err(e) => return Err(api_error(id, "CreateRole", &e)),
        };
        let mut live = spec.clone();
        if let Some(role) = out.role() {
            live.arn = role.arn().to_string();
        }
        Ok(live)
    }

    /// CreateRole found the name taken. A role carrying our ownership tag is ours: made
    /// by an apply that was killed before the state recorded it, or by this very call
    /// when its answer was lost and the SDK retried. Adopt it and bring it to `spec`
    /// (the bucket does the same). Any other role is refused, untouched.
    async fn adopt_role(
        &self,
        id: &ResourceId,
        spec: &RoleSpec,
        conflict: &aws_sdk_iam::error::SdkError<
            impl ProvideErrorMetadata + std::error::Error + 'static,
        >,
    ) -> ProviderResult<RoleSpec> {
        let Some(live) = self.read_role(id, spec).await? else {
            // Gone again between the two calls: report the original conflict.
            return Err(api_error(id, "CreateRole", conflict));
        };
        if !is_owned(&spec.tags, &live.tags) {
            return Err(not_owned(id, "role", &spec.tags));
        }
        self.update_role(id, spec, &live).await
    }

    pub(super) async fn update_role(
        &self,
        id: &ResourceId,
        spec: &RoleSpec,
        before: &RoleSpec,
    ) -> ProviderResult<RoleSpec> {
        let name = spec.name.as_str();
        if spec.trust_policy != before.trust_policy {
            let trust = spec.trust_policy.to_string();
            retry_while(PROPAGATION, is_propagating, || async {
                self.iam_call(
                    "UpdateAssumeRolePolicy",
                    self.iam
                        .update_assume_role_policy()
                        .role_name(name)
                        .policy_document(&trust)
                        .send(),
                )
                .await
            })
            .await
            .map_err(|e| api_error(id, "UpdateAssumeRolePolicy", &e))?;
        }
        if spec.description != before.description {
            self.iam_call(
                "UpdateRole",
                self.iam
                    .update_role()
                    .role_name(name)
                    .description(&spec.description)
                    .send(),
            )
            .await
            .map_err(|e| api_error(id, "UpdateRole", &e))?;
        }
        if spec.permissions_boundary != before.permissions_boundary {
            match &spec.permissions_boundary {
                Some(arn) => self
                    .iam_call(
                        "PutRolePermissionsBoundary",
                        self.iam
                            .put_role_permissions_boundary()
                            .role_name(name)
                            .permissions_boundary(arn)
                            .send(),
                    )
                    .await
                    .map(|_| ())
                    .map_err(|e| api_error(id, "PutRolePermissionsBoundary", &e))?,
                None => self
                    .iam_call(
                        "DeleteRolePermissionsBoundary",
                        self.iam
                            .delete_role_permissions_boundary()
                            .role_name(name)
                            .send(),
                    )
                    .await
                    .map(|_| ())
                    .map_err(|e| api_error(id, "DeleteRolePermissionsBoundary", &e))?,
            }
        }
        let (set, remove) = tags::changes(&before.tags, &spec.tags);
        if !set.is_empty() {
            self.iam_call(
                "TagRole",
                self.iam
                    .tag_role()
                    .role_name(name)
                    .set_tags(Some(tags::to_iam(id, &set)?))
                    .send(),
            )
            .await
            .map_err(|e| api_error(id, "TagRole", &e))?;
        }
        if !remove.is_empty() {
            self.iam_call(
                "UntagRole",
                self.iam
                    .untag_role()
                    .role_name(name)
                    .set_tag_keys(Some(remove))
                    .send(),
            )
            .await
            .map_err(|e| api_error(id, "UntagRole", &e))?;
        }
        let mut live = spec.clone();
        live.arn = before.arn.clone();
        Ok(live)
    }

    pub(super) async fn delete_role(
        &self,
        id: &ResourceId,
        before: &RoleSpec,
    ) -> ProviderResult<()> {
        let name = before.name.as_str();
        // Ownership on the tags as this run read them (the refresh); a role this run did
        // not read (a saved plan's) is read now.
        let live_tags = match self.seen(id) {
            Some(tags) => tags,
            None => match Box::pin(self.read_role(id, before)).await? {
                Some(live) => live.tags,
                None => return Ok(()),
            },
        };
        if !is_owned(&before.tags, &live_tags) {
            return Err(refuse_delete(id, "role", &before.tags));
        }
        // IAM refuses to delete a role that still has policies (DeleteConflict). Those the
        // run listed go first (the plan named those added outside stsform). Each step is
        // boxed: the SDK calls' state machines side by side overflow a thread's stack.
        Box::pin(self.empty_role(id, name, self.known_policies(name))).await?;
        let deleted = match Box::pin(self.delete_role_call(name)).await {
            Err(e) if is(&e, &["DeleteConflict"]) => {
                // Put on the role since the listing, or never listed: list, empty, retry.
                let now = RolePolicies {
                    inline: Some(Box::pin(self.listed(name, true)).await?),
                    managed: Some(Box::pin(self.listed(name, false)).await?),
                };
                Box::pin(self.empty_role(id, name, now)).await?;
                // DeleteConflict right after removing the policies is IAM catching up.
                Box::pin(retry_while(
                    NEW_PARENT,
                    |e| is(e, &["DeleteConflict"]),
                    || self.delete_role_call(name),
                ))
                .await
            }
            other => other,
        };
        unless_gone(id, "DeleteRole", deleted, NO_SUCH_ENTITY)?;
        self.forget_role(name);
        Ok(())
    }

    async fn delete_role_call(
        &self,
        name: &str,
    ) -> Result<
        aws_sdk_iam::operation::delete_role::DeleteRoleOutput,
        aws_sdk_iam::error::SdkError<aws_sdk_iam::operation::delete_role::DeleteRoleError>,
    > {
        self.iam_call("DeleteRole", self.iam.delete_role().role_name(name).send())
            .await
    }

    /// `role`'s inline policy names (`inline`) or attached policy ARNs, listed now.
    async fn listed(&self, role: &str, inline: bool) -> ProviderResult<BTreeSet<String>> {
        let listing = if inline {
            Listing::InlinePolicies {
                role: role.to_string(),
            }
        } else {
            Listing::AttachedPolicies {
                role: role.to_string(),
            }
        };
        Ok(self.list_names(&listing).await?.into_iter().collect())
    }

    /// Detaches the managed policies and deletes the inline ones in `policies` (those
    /// already gone included).
    async fn empty_role(
        &self,
        id: &ResourceId,
        name: &str,
        policies: RolePolicies,
    ) -> ProviderResult<()> {
        for arn in policies.managed.unwrap_or_default() {
            let detached = self
                .iam_call(
                    "DetachRolePolicy",
                    self.iam
                        .detach_role_policy()
                        .role_name(name)
                        .policy_arn(&arn)
                        .send(),
                )
                .await;
            unless_gone(id, "DetachRolePolicy", detached, NO_SUCH_ENTITY)?;
            self.remember(name, |p| {
                if let Some(managed) = &mut p.managed {
                    managed.remove(&arn);
                }
            });
        }
        for policy in policies.inline.unwrap_or_default() {
            let deleted = self
                .iam_call(
                    "DeleteRolePolicy",
                    self.iam
                        .delete_role_policy()
                        .role_name(name)
                        .policy_name(&policy)
                        .send(),
                )
                .await;
            unless_gone(id, "DeleteRolePolicy", deleted, NO_SUCH_ENTITY)?;
            self.remember(name, |p| {
                if let Some(inline) = &mut p.inline {
                    inline.remove(&policy);
                }
            });
        }
        Ok(())
    }
}

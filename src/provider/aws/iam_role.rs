//! `iam_role`: one role per CredentialsRequest, trusted through the OIDC provider.
//!
//! Create and trust-policy updates retry while IAM does not yet know a provider created
//! seconds earlier. Create adopts a role of the same name that carries our ownership tag
//! (an interrupted apply's) and refuses any other. Delete empties the role first, as IAM
//! requires: it detaches every managed policy and deletes every inline policy (ccoctl
//! deletes only the inline ones, so a role someone attached a policy to outlived it); the
//! plan lists what was added outside stsform before this happens.

use aws_sdk_iam::error::ProvideErrorMetadata;

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
            .call(
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
            self.call(
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
                self.call(
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
            self.call(
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
                    .call(
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
                    .call(
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
            self.call(
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
            self.call(
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
        let Some(live) = self.read_role(id, before).await? else {
            return Ok(());
        };
        if !is_owned(&before.tags, &live.tags) {
            return Err(refuse_delete(id, "role", &before.tags));
        }
        // IAM refuses to delete a role that still has policies (DeleteConflict). Managed
        // policies attached outside stsform are detached (the plan named them), and every
        // inline policy is deleted: ccoctl's (named like the role) and any added since.
        let managed = self
            .list_names(&Listing::AttachedPolicies {
                role: name.to_string(),
            })
            .await?;
        for arn in &managed {
            let detached = self
                .call(
                    "DetachRolePolicy",
                    self.iam
                        .detach_role_policy()
                        .role_name(name)
                        .policy_arn(arn)
                        .send(),
                )
                .await;
            unless_gone(id, "DetachRolePolicy", detached, NO_SUCH_ENTITY)?;
        }
        let inline = self
            .list_names(&Listing::InlinePolicies {
                role: name.to_string(),
            })
            .await?;
        for policy in &inline {
            let deleted = self
                .call(
                    "DeleteRolePolicy",
                    self.iam
                        .delete_role_policy()
                        .role_name(name)
                        .policy_name(policy)
                        .send(),
                )
                .await;
            unless_gone(id, "DeleteRolePolicy", deleted, NO_SUCH_ENTITY)?;
        }
        // DeleteConflict right after removing the policies is IAM catching up.
        let deleted = retry_while(
            NEW_PARENT,
            |e| is(e, &["DeleteConflict"]),
            || async {
                self.call("DeleteRole", self.iam.delete_role().role_name(name).send())
                    .await
            },
        )
        .await;
        unless_gone(id, "DeleteRole", deleted, NO_SUCH_ENTITY)?;
        Ok(())
    }
}

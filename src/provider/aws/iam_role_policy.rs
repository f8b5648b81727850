//! `iam_role_policy`: the inline permissions policy of a role (named like the role).
//!
//! Put is create and update alike; it retries briefly while a just-created role is not
//! yet visible. Read decodes IAM's URL-encoded document into canonical form.

use super::{AwsProvider, NEW_PARENT, NO_SUCH_ENTITY, api_error, is, retry_while, unless_gone};
use crate::iam_policy;
use crate::provider::{ProviderError, ProviderResult};
use crate::resource::{ResourceId, RolePolicySpec};

impl AwsProvider {
    pub(super) async fn read_role_policy(
        &self,
        id: &ResourceId,
        recorded: &RolePolicySpec,
    ) -> ProviderResult<Option<RolePolicySpec>> {
        let read = self
            .call(
                "GetRolePolicy",
                self.iam
                    .get_role_policy()
                    .role_name(&recorded.role)
                    .policy_name(&recorded.name)
                    .send(),
            )
            .await;
        let Some(out) = unless_gone(id, "GetRolePolicy", read, NO_SUCH_ENTITY)? else {
            return Ok(None);
        };
        let document = iam_policy::parse_aws_document(out.policy_document()).map_err(|e| {
            ProviderError::Api {
                id: id.clone(),
                operation: "GetRolePolicy".into(),
                message: format!("the policy document is not valid JSON: {e}"),
            }
        })?;
        Ok(Some(RolePolicySpec {
            role: out.role_name().to_string(),
            name: out.policy_name().to_string(),
            document,
        }))
    }

    pub(super) async fn put_role_policy(
        &self,
        id: &ResourceId,
        spec: &RolePolicySpec,
    ) -> ProviderResult<RolePolicySpec> {
        let document = spec.document.to_string();
        retry_while(
            NEW_PARENT,
            |e| is(e, NO_SUCH_ENTITY),
            || async {
                self.call(
                    "PutRolePolicy",
                    self.iam
                        .put_role_policy()
                        .role_name(&spec.role)
                        .policy_name(&spec.name)
                        .policy_document(&document)
                        .send(),
                )
                .await
            },
        )
        .await
        .map_err(|e| api_error(id, "PutRolePolicy", &e))?;
        Ok(spec.clone())
    }

    pub(super) async fn delete_role_policy(
        &self,
        id: &ResourceId,
        before: &RolePolicySpec,
    ) -> ProviderResult<()> {
        let deleted = self
            .call(
                "DeleteRolePolicy",
                self.iam
                    .delete_role_policy()
                    .role_name(&before.role)
                    .policy_name(&before.name)
                    .send(),
            )
            .await;
        // The policy or its whole role may be gone already.
        unless_gone(id, "DeleteRolePolicy", deleted, NO_SUCH_ENTITY)?;
        Ok(())
    }
}

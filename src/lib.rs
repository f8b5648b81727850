//! stsform: a Terraform-style planner for the AWS resources behind OpenShift STS credentials.
//!
//! One direction of data flow, I/O only at the edges:
//!
//! ```text
//! requests dir ─ credentials_request::load (dir → documents → validate) ─▶ [CredentialsRequest]
//! flags + stsform.toml ─ settings::resolve ─▶ Settings
//! [CredentialsRequest] ─ review::requests (pure: IAM's limits and rules) ─▶ input errors | warnings
//!                     desired::derive (pure; a private issuer's CloudFront part from private_issuer) ─▶ Desired
//! state (file or S3) ─ state::StateStore ─▶ State ─ refresh (Provider::read, concurrent) ─▶ Observed
//!                       discover (Provider::list + read: the cluster's tagged resources not in the state) ─▶ Observed
//!                       (the account lookup, the account summary, refresh and discover share one pool of reads and run at once)
//! GetAccountSummary ─ review::plan_findings (quotas, acknowledgements) ─▶ Plan.findings
//! plan::compute(&Desired, &Observed)  (pure, deterministic; permission changes too) ─▶ Plan ─ render::{text,markdown,json} ─▶ stdout
//! saved plan ─ show ─▶ render (the same output, no planning)
//! graph::build(&Plan) (petgraph) ─▶ execute::apply (tokio, bounded; follows each change's StateRule;
//!                                    fills in what CloudFront assigns as it learns it) ─▶ State saved per change (beside the work)
//! destroy = plan::compute(&Desired::empty(), &Observed): one code path
//! import = derive + discover ─ import::record ─▶ State
//! verify: issuer documents + a token per held key + provider + trust policies + STS ─▶ Report
//! rotate-key: state + keys.json as served ─ rotation::status (pure) ─▶ Status ─ render::rotation
//! ```
//!
//! The keys `keys.json` serves are a setting (`jwks` lays out the document and diffs two
//! by kid; `rotation` is the phase model of a signing-key rotation).
//!
//! `workflow` runs those stages (generic over the provider, so the CLI and the scenario
//! tests run the same code); `commands` only wires them to flags, prompts and output.
//!
//! Safety rails on that path: `scope::claim` refuses a run whose settings do not match
//! what the loaded state manages (before any AWS call); `safety::check` refuses a plan
//! that breaks the running cluster's issuer or deletes every role unless the run allows
//! it; `interrupt` turns SIGINT/SIGTERM into a clean stop that releases the lock;
//! `output` keeps a closed stdout from ending the run.
//!
//! Rules written once: whether a resource is the cluster's (`ownership`), how a file is
//! replaced (`atomic_write`), how every AWS client is configured (`sdk`), what a local
//! file's recorded path is relative to (`paths`: the settings base, not the working
//! directory), how many calls run at once and how that adapts to throttling (`pacing`).
//!
//! `provider` is the only door to AWS resources and local files (`provider::aws`, and
//! `provider::fake` for tests, behind the `test-support` feature); `state::s3` reads and
//! writes a remote state's objects; both build their clients from `sdk`. A change that
//! waits (a distribution being disabled) reports progress and hears a stop through
//! `activity`. `commands` wires the stages.
#![warn(missing_docs)]

pub mod activity;
pub mod atomic_write;
pub mod cli;
pub mod commands;
pub mod credentials_request;
pub mod desired;
pub mod discover;
pub mod error;
pub mod execute;
pub mod graph;
pub mod iam_policy;
pub mod import;
pub mod interrupt;
pub mod jwks;
pub mod keypair;
pub mod output;
pub mod ownership;
pub mod pacing;
pub mod paths;
pub mod plan;
pub mod private_issuer;
pub mod progress;
pub mod provider;
pub mod refresh;
pub mod render;
pub mod resource;
pub mod review;
pub mod rotation;
pub mod safety;
pub mod saved_plan;
pub mod scope;
pub(crate) mod sdk;
pub mod settings;
pub mod state;
pub mod thumbprint;
pub mod verify;
pub mod workflow;

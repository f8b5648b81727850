//! stsform: a Terraform-style planner for the AWS resources behind OpenShift STS credentials.
//!
//! One direction of data flow, I/O only at the edges:
//!
//! ```text
//! requests dir ─ credentials_request::load ─▶ [CredentialsRequest]
//! flags + stsform.toml ─ settings::resolve ─▶ Settings
//!                     desired::derive (pure) ─▶ Desired
//! state (file or S3) ─ state_store::StateStore ─▶ State ─ refresh (Provider::read, concurrent) ─▶ Observed
//!                       discover (Provider::list + read: the cluster's tagged resources not in the state) ─▶ Observed
//! plan::compute(&Desired, &Observed)  (pure, deterministic) ─▶ Plan ─ render::{text,markdown,json} ─▶ stdout
//! graph::build(&Plan) (petgraph) ─▶ execute::apply (tokio, bounded) ─▶ State saved per change
//! destroy = plan::compute(&Desired::empty(), &Observed): one code path
//! verify: issuer documents + minted token + provider + trust policies + STS ─▶ Report
//! ```
//!
//! Safety rails on that path: `scope::claim` refuses a run whose settings do not match
//! what the loaded state manages (before any AWS call); `safety::check` refuses a plan
//! that breaks the running cluster's issuer or deletes every role unless the run allows
//! it; `interrupt` turns SIGINT/SIGTERM into a clean stop that releases the lock;
//! `output` keeps a closed stdout from ending the run.
//!
//! `provider` is the only door to AWS and local files; `commands` wires the stages.
#![warn(missing_docs)]

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
pub mod keypair;
pub mod output;
pub mod plan;
pub mod private_issuer;
pub mod progress;
pub mod provider;
pub mod refresh;
pub mod render;
pub mod resource;
pub mod safety;
pub mod saved_plan;
pub mod scope;
pub mod settings;
pub mod state;
pub mod state_store;
pub mod thumbprint;
pub mod verify;
pub mod workflow;

//! stsform: a Terraform-style planner for the AWS resources behind OpenShift STS credentials.
#![warn(missing_docs)]

pub mod cli;
pub mod commands;
pub mod credentials_request;
pub mod desired;
pub mod error;
pub mod graph;
pub mod iam_policy;
pub mod keypair;
pub mod plan;
pub mod provider;
pub mod render;
pub mod resource;
pub mod settings;
pub mod state;

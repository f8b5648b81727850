//! stsform: a Terraform-style planner for the AWS resources behind OpenShift STS credentials.
#![warn(missing_docs)]

pub mod error;
pub mod resource;

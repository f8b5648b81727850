mod aws;
mod bad_input;
mod binary;
mod cli;
mod crash;
mod derive;
mod execute;
mod fake_account;
mod faults;
mod harness;
mod keypair;
mod moto_account;
#[path = "../../examples/support/proxy.rs"]
mod proxy;
mod render;
mod scenarios;
mod teams;
mod verify;

mod aws;
mod cli;
mod derive;
mod fake_account;
mod harness;
mod keypair;
mod moto_account;
mod scenarios;

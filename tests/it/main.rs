mod cli;
mod derive;
mod keypair;

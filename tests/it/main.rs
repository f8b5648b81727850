mod keypair;

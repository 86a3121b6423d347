"""What a trained model shows, numpy out: latent tools (`explore`: encode, decode, grids, paths,
pictures), the evaluation (`evaluate`: bounds and likelihoods), the latent geometry (`geometry`),
the CVAE blog's claims as numbers (`claims`) and how the space formed while it trained (`formation`)."""

"""Training: one place sets a run up and the loop runs it (`loop`), torchrun's group (`distributed`),
the device and the CPU's threads (`runtime`), resume checkpoints (`resume`), where a run ends
(`runs`: evaluate, encode, save) and the page's background trainings (`jobs`)."""

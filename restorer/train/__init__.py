"""Training of the generator: data (:mod:`.data`), losses (:mod:`.losses`), loop with EMA,
checkpoints and exact resume (:mod:`.loop`)."""

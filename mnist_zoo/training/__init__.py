"""Training: config-driven runner on `model.fit`, compiling a config into a model, losses, optimizers, schedules,
callbacks, plots."""

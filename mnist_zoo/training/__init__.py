"""Training: config-driven runner on `model.fit`, losses, optimizers, schedules, callbacks, plots."""

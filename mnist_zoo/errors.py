"""Exception types for problems a user can fix; the CLI prints them as one line."""


class ZooError(ValueError):
    """Base class: bad input, bad config or unknown name."""


class DataError(ZooError):
    """A data file is missing, corrupt or not MNIST-shaped; the message names the file."""


class ConfigError(ZooError):
    """An unknown model, option or config key, or a value of the wrong type or range."""


class WorkerError(ZooError):
    """A multi-worker job lost one of its workers; rerunning every worker resumes it."""

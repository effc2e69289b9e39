"""optledger: the single source of truth for "may we contact this address, on this channel,
about this topic?"."""

__version__ = "0.1.0"

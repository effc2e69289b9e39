"""Outbound adapters: one module per outside thing optledger relies on.

Each implements a port of `optledger.domain.ports` (`clock`: `Clock`; `keyring`:
`LinkKeyring`; `spool`: `Spools`). Importing this package does nothing; `bootstrap`
imports what it wires.
"""

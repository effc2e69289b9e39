"""Background work that happens after a transaction commits.

Services write an outbox row in the same transaction as each consent change; workers
carry those rows out: confirmation notices to people, signed webhooks to the tenant's
systems, events relayed to a broker, and scheduled jobs such as completing unsubscribe
requests whose grace period has ended. Like the HTTP doors, workers receive a ready
`optledger.services.Services` and never import storage or outbound adapters directly.
"""

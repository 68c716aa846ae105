//! PostgreSQL setup of origin and edges: schema, publication, subscriptions.

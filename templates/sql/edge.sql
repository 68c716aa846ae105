-- Run on each edge database after schema.sql; {subscription} and {conninfo}
-- are filled in by meshctl (the subscription name is per edge, the conninfo
-- points at origin-db over the origin network).
CREATE SUBSCRIPTION {subscription} CONNECTION '{conninfo}' PUBLICATION songs_pub;

-- Songs and their HLS segments. The same schema is created on origin-db and
-- on both edge databases; origin publishes both tables and each edge
-- subscribes (logical replication), so edges hold exactly what origin holds.
--
-- Segment ids are content-addressed (<song>-<seq:05>-<sha256>.ts); the
-- playlist is stored like a segment under <song>.m3u8 and names the segments
-- by their ids.

CREATE TABLE IF NOT EXISTS songs (
    song          TEXT PRIMARY KEY,
    playlist_id   TEXT NOT NULL,
    segment_count INTEGER NOT NULL,
    duration_ms   BIGINT NOT NULL,
    total_bytes   BIGINT NOT NULL,
    published_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS segments (
    id      TEXT PRIMARY KEY,
    song    TEXT NOT NULL,
    -- position in the playlist; -1 for the playlist itself
    seq     INTEGER NOT NULL,
    sha256  TEXT NOT NULL,
    data    BYTEA NOT NULL
);

CREATE INDEX IF NOT EXISTS segments_song ON segments (song);

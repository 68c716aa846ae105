-- Run once on origin-db after schema.sql.
DO $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = 'songs_pub') THEN
        CREATE PUBLICATION songs_pub FOR TABLE songs, segments;
    END IF;
END $$;

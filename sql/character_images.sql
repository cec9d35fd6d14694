-- coverctl: the table `coverctl push` writes to, on Supabase or plain PostgreSQL (13 or newer).
-- Safe to run again: every statement is CREATE ... IF NOT EXISTS or replaces what it adds.
-- Supabase: paste into the SQL editor. PostgreSQL: psql "$DSN" -f sql/character_images.sql,
-- or `coverctl push --create-table`.

CREATE TABLE IF NOT EXISTS character_images (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    character_name TEXT NOT NULL,
    movie_title TEXT NOT NULL,
    image_url TEXT NOT NULL,
    source TEXT NOT NULL,
    external_character_id TEXT,
    quality_score INTEGER NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- The sources a row may come from ('pinned': a curator's choice, `coverctl pin`). Dropped and
-- added again so a table created before a source was added accepts it too.
ALTER TABLE character_images DROP CONSTRAINT IF EXISTS character_images_source_check;
ALTER TABLE character_images ADD CONSTRAINT character_images_source_check CHECK (
    source IN (
        'pinned', 'character_specific', 'ai_generated', 'tvdb', 'tmdb', 'hardcover', 'web_search'
    )
);

-- One row per (character, title, source): the key of every upsert (ON CONFLICT / on_conflict=).
CREATE UNIQUE INDEX IF NOT EXISTS character_images_character_movie_source_key
    ON character_images (character_name, movie_title, source);

CREATE INDEX IF NOT EXISTS idx_character_images_lookup
    ON character_images (character_name, movie_title);

CREATE INDEX IF NOT EXISTS idx_character_images_quality_score
    ON character_images (quality_score DESC);

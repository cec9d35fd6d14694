-- coverctl: the table `coverctl push` writes to, on Supabase or plain PostgreSQL (13 or newer).
-- Safe to run again: every statement is CREATE ... IF NOT EXISTS.
-- Supabase: paste into the SQL editor. PostgreSQL: psql "$DSN" -f sql/character_images.sql,
-- or `coverctl push --create-table`.

CREATE TABLE IF NOT EXISTS character_images (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    character_name TEXT NOT NULL,
    movie_title TEXT NOT NULL,
    image_url TEXT NOT NULL,
    source TEXT NOT NULL CHECK (
        source IN (
            'character_specific', 'ai_generated', 'tvdb', 'tmdb', 'hardcover', 'web_search'
        )
    ),
    external_character_id TEXT,
    quality_score INTEGER NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- One row per (character, title, source): the key of every upsert (ON CONFLICT / on_conflict=).
CREATE UNIQUE INDEX IF NOT EXISTS character_images_character_movie_source_key
    ON character_images (character_name, movie_title, source);

CREATE INDEX IF NOT EXISTS idx_character_images_lookup
    ON character_images (character_name, movie_title);

CREATE INDEX IF NOT EXISTS idx_character_images_quality_score
    ON character_images (quality_score DESC);

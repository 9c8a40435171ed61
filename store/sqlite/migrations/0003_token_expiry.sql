-- API tokens may expire (store.Token.Expires). 0 means never, as for
-- last_used: existing tokens keep working as before. ADD COLUMN with a
-- constant default rewrites no rows.
ALTER TABLE tokens ADD COLUMN expires INTEGER NOT NULL DEFAULT 0; -- unix nanoseconds; 0: never

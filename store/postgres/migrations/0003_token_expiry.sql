-- API tokens may expire (store.Token.Expires). NULL means never, as for
-- last_used: existing tokens keep working as before. A nullable column
-- without a default rewrites no rows.
ALTER TABLE tokens ADD COLUMN expires timestamptz; -- NULL: never

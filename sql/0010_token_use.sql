-- When each report token was last used (costream token list), set by the
-- report server after a request authenticates.
ALTER TABLE api_tokens ADD COLUMN last_used_at timestamptz;

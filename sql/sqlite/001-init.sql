-- chat-persist schema 1 (SQLite): conversations and their messages.
-- The same tables as sql/mysql/001-init.sql.  Times are TEXT in UTC,
-- "YYYY-MM-DD HH:MM:SS.ffffff", which sorts as time does.

CREATE TABLE IF NOT EXISTS conversations (
  id           INTEGER NOT NULL PRIMARY KEY,  -- the records' conversation_id
  workspace_id INTEGER NOT NULL,
  store_id     INTEGER NULL,
  session_id   TEXT NULL,
  created_at   TEXT NOT NULL,
  updated_at   TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS conversations_workspace
  ON conversations (workspace_id);

CREATE TABLE IF NOT EXISTS messages (
  id              INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
  conversation_id INTEGER NOT NULL,
  workspace_id    INTEGER NOT NULL,
  role            TEXT NOT NULL CHECK (role IN ('USER', 'LLM', 'HUMAN-AGENT')),
  content         TEXT NOT NULL,
  created_at      TEXT NOT NULL,
  message_id      TEXT NULL,
  citations       TEXT NULL CHECK (citations IS NULL OR json_valid(citations)),
  persist_key     BLOB NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS messages_persist_key ON messages (persist_key);
-- a conversation read in order
CREATE INDEX IF NOT EXISTS messages_conversation
  ON messages (conversation_id, created_at, id);

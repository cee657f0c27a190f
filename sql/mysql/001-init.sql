-- chat-persist schema 1 (MySQL, MariaDB): conversations and their messages.
-- Applied by "chat-persist --migrate"; recorded in chatpipe_schema_version.
-- Names as in chatpipe(7); add columns and indexes freely, keep these.

-- One row per conversation.  created_at and updated_at are the times of its
-- earliest and latest stored pair (message times, UTC), whatever the order
-- in which the pairs arrived.
CREATE TABLE IF NOT EXISTS conversations (
  id           BIGINT UNSIGNED NOT NULL,  -- the records' conversation_id
  workspace_id BIGINT UNSIGNED NOT NULL,
  store_id     BIGINT NULL,
  session_id   VARCHAR(255) NULL,
  created_at   DATETIME(6) NOT NULL,
  updated_at   DATETIME(6) NOT NULL,
  PRIMARY KEY (id),
  -- not (workspace_id, updated_at): every stored pair moves updated_at,
  -- and such an index would be rewritten each time
  KEY conversations_workspace (workspace_id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

-- One row per message.  id numbers rows in the order they were stored;
-- message_id is the record's own id when it had one; persist_key (SHA-256,
-- see chat-persist(1)) makes a redelivered or replayed message a no-op.
CREATE TABLE IF NOT EXISTS messages (
  id              BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
  conversation_id BIGINT UNSIGNED NOT NULL,
  workspace_id    BIGINT UNSIGNED NOT NULL,
  role            ENUM('USER', 'LLM', 'HUMAN-AGENT') NOT NULL,
  content         MEDIUMTEXT NOT NULL,
  created_at      DATETIME(6) NOT NULL,
  message_id      VARCHAR(255) NULL,
  citations       JSON NULL,
  persist_key     BINARY(32) NOT NULL,
  PRIMARY KEY (id),
  UNIQUE KEY messages_persist_key (persist_key),
  -- a conversation read in order
  KEY messages_conversation (conversation_id, created_at, id)
) ENGINE = InnoDB DEFAULT CHARSET = utf8mb4 COLLATE = utf8mb4_bin;

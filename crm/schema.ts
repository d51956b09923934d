/**
 * The reference CRM schema: what a venture firm's relationship database looks
 * like. Tests, the demo and the benchmarks use it; a real CRM adapts the source
 * map instead (docs/source-map.md). Column names follow common CRM practice.
 */
export const REFERENCE_SCHEMA_SQL = `
CREATE TABLE IF NOT EXISTS organizations (
  id          INTEGER PRIMARY KEY,
  name        TEXT NOT NULL,
  domain      TEXT,
  website     TEXT,
  kind        TEXT CHECK (kind IN ('portfolio','prospect','lp','co-investor','vendor','other')),
  sector      TEXT,
  location    TEXT,
  description TEXT,
  archived    INTEGER NOT NULL DEFAULT 0,
  created_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
  updated_at  TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
);
CREATE TABLE IF NOT EXISTS people (
  id              INTEGER PRIMARY KEY,
  full_name       TEXT NOT NULL,
  email           TEXT,
  email_secondary TEXT,
  phone           TEXT,
  title           TEXT,
  organization_id INTEGER REFERENCES organizations(id) ON DELETE SET NULL,
  linkedin        TEXT,
  notes           TEXT,
  archived        INTEGER NOT NULL DEFAULT 0,
  created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
  updated_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
);
CREATE INDEX IF NOT EXISTS people_organization ON people(organization_id);
CREATE TABLE IF NOT EXISTS deals (
  id              INTEGER PRIMARY KEY,
  organization_id INTEGER REFERENCES organizations(id) ON DELETE CASCADE,
  name            TEXT,
  stage           TEXT CHECK (stage IN ('sourced','diligence','term_sheet','closed','passed')),
  amount_usd      INTEGER,
  round           TEXT,
  owner           TEXT,
  memo            TEXT,
  created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
  updated_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
);
CREATE INDEX IF NOT EXISTS deals_organization ON deals(organization_id);
CREATE TABLE IF NOT EXISTS interactions (
  id              INTEGER PRIMARY KEY,
  kind            TEXT CHECK (kind IN ('meeting','call','email','intro','event')),
  occurred_at     TEXT,
  subject         TEXT,
  body            TEXT,
  organization_id INTEGER REFERENCES organizations(id) ON DELETE SET NULL,
  owner           TEXT,
  created_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
  updated_at      TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
);
CREATE INDEX IF NOT EXISTS interactions_organization ON interactions(organization_id);
CREATE INDEX IF NOT EXISTS interactions_occurred ON interactions(occurred_at);
CREATE TABLE IF NOT EXISTS interaction_people (
  interaction_id INTEGER NOT NULL REFERENCES interactions(id) ON DELETE CASCADE,
  person_id      INTEGER NOT NULL REFERENCES people(id) ON DELETE CASCADE,
  role           TEXT,
  PRIMARY KEY (interaction_id, person_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS interaction_people_person ON interaction_people(person_id);
CREATE TABLE IF NOT EXISTS notes (
  id            INTEGER PRIMARY KEY,
  subject_table TEXT NOT NULL,
  subject_id    INTEGER NOT NULL,
  author        TEXT,
  body          TEXT,
  created_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
  updated_at    TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now'))
);
CREATE INDEX IF NOT EXISTS notes_subject ON notes(subject_table, subject_id);
`;

/** Tables of the reference schema, in dependency order. */
export const REFERENCE_TABLES = [
  'organizations',
  'people',
  'deals',
  'interactions',
  'interaction_people',
  'notes',
] as const;

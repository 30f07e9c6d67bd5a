-- 000001_create_users: the accounts that sessions belong to.
CREATE EXTENSION IF NOT EXISTS "uuid-ossp";

CREATE TABLE users (
  id UUID PRIMARY KEY DEFAULT uuid_generate_v4(),
  email TEXT NOT NULL,
  password_hash TEXT NOT NULL,
  display_name TEXT,
  is_active BOOLEAN NOT NULL DEFAULT TRUE,
  password_changed_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  created_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  updated_at TIMESTAMPTZ NOT NULL DEFAULT NOW(),
  CONSTRAINT users_email_not_blank CHECK (length(btrim(email)) > 0)
);

-- Emails are unique regardless of case; lookups use lower(email) and hit this index.
CREATE UNIQUE INDEX users_email_lower_key ON users (lower(email));

CREATE FUNCTION users_set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  NEW.updated_at := NOW();
  RETURN NEW;
END
$$;

CREATE TRIGGER users_updated_at BEFORE UPDATE ON users
FOR EACH ROW EXECUTE FUNCTION users_set_updated_at();

COMMENT ON TABLE users IS 'Accounts. Each row is visible only to its own user (RLS, migration 000003).';
COMMENT ON COLUMN users.email IS 'Sign-in email, stored trimmed; unique case-insensitively.';
COMMENT ON COLUMN users.password_hash IS 'bcrypt hash of the password (never plaintext).';
COMMENT ON COLUMN users.display_name IS 'Optional name shown to the user.';
COMMENT ON COLUMN users.is_active IS 'FALSE blocks sign-in and refresh.';
COMMENT ON COLUMN users.password_changed_at IS 'When the password was last set.';

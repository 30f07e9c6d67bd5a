DROP TABLE users;
DROP FUNCTION users_set_updated_at();
DROP EXTENSION IF EXISTS "uuid-ossp";

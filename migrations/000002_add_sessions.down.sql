-- Undoes the seed migration: the table takes its indexes, constraints, policy and comments with it.
DROP TABLE sessions;

-- +goose Up
-- Fields of dbt Cloud's project object that clients (its Terraform provider) set and read back:
-- stored as given, as JSON, and returned; latchkey gives them no meaning.
ALTER TABLE projects ADD COLUMN refs TEXT NOT NULL DEFAULT '{}';

-- +goose Down
ALTER TABLE projects DROP COLUMN refs;

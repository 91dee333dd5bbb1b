-- +goose Up
-- Fields of dbt Cloud's objects that its clients (the Terraform provider) set and read back,
-- stored as JSON and returned as given; latchkey gives them no meaning.
ALTER TABLE projects ADD COLUMN refs TEXT NOT NULL DEFAULT '{}';
ALTER TABLE groups ADD COLUMN sso_mapping_groups TEXT NOT NULL DEFAULT '[]';

-- +goose Down
ALTER TABLE groups DROP COLUMN sso_mapping_groups;
ALTER TABLE projects DROP COLUMN refs;

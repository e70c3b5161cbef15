-- A function can turn its build cache off in slipway.yml (`cache: false`).
alter table functions add column cache boolean not null default true;

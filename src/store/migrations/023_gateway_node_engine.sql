-- Which runtime engine each gateway node runs its runtimes on (Docker's daemon ID), so that
-- nodes sharing one engine (several gateways on one host) do not stop each other's runtimes.
alter table gateway_nodes add column engine text;

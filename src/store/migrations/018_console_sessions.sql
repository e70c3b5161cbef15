-- The console's sign-in with GitHub, kept server-side: a browser holds only a random id in
-- an HttpOnly cookie, and these tables hold its sha256. console_sign_ins is one OAuth web
-- flow under way (its state and PKCE verifier, ten minutes at most); console_sessions is a
-- signed-in GitHub user. No GitHub token is stored: the user's token is used once, to ask
-- GitHub who signed in, and what they may see is asked of GitHub with the app's own token.
create table console_sign_ins (
  state_hash    text primary key,
  code_verifier text not null,
  return_to     text not null,
  expires_at    timestamptz not null
);

create table console_sessions (
  id_hash        text primary key,
  github_user_id bigint not null,
  login          text not null,
  csrf_token     text not null,
  created_at     timestamptz not null default now(),
  expires_at     timestamptz not null
);
create index console_sessions_expires_at on console_sessions (expires_at);

-- What a signed-in user does in the console is audited as done `via: console`.
alter table audit_log drop constraint audit_log_via_check;
alter table audit_log add constraint audit_log_via_check check (via in ('push', 'comment', 'button', 'cli', 'api', 'system', 'console'));

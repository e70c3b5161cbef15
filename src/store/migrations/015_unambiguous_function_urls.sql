-- Function URLs become <function>~<repo>~<owner> (see src/gateway/route-key.ts): "~" is in
-- no GitHub name, slipway.yml id or alias, so no two functions or aliases share a key. The
-- old key (<function>--<repo>--<owner>, punctuation made "-") is still redirected by the
-- gateway where it is unambiguous. A function whose new key another function of the same
-- names (an older repository record) would also get keeps its old slug: the older one wins.
with renamed as (
  select f.id,
         f.name || '~' || lower(r.name) || '~' || lower(r.owner) as slug,
         row_number() over (partition by f.name, lower(r.name), lower(r.owner) order by f.created_at, f.id) as rank
    from functions f join repositories r on r.id = f.repository_id
   where lower(r.name) ~ '^[a-z0-9._-]+$' and lower(r.owner) ~ '^[a-z0-9._-]+$'
)
update functions f set slug = renamed.slug
  from renamed
 where renamed.id = f.id and renamed.rank = 1;

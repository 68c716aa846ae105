//! The Lua scripts that make each tracker call one Redis round trip.
//!
//! Keys (all under `mesh:`):
//!
//! ```text
//! mesh:seen            ZSET  peer → last announce/heartbeat, ms since the epoch
//! mesh:peer:<peer>     HASH  region, rtt, addr, edge ('' = none), neighbors (JSON), nseg
//! mesh:segs:<peer>     SET   the segments the peer holds
//! mesh:holders:<seg>   SET   the peers holding the segment
//! mesh:edges           SET   peers that read an edge database
//! ```
//!
//! Liveness is `score(mesh:seen, peer) >= now - ttl`, decided by every read;
//! the reaper only cleans up.

/// ARGV: peer, now_ms, region, rtt, addr, edge, neighbors_json, inventory_hash, segments...
/// Replaces everything known about the peer. Returns the segment count.
pub const ANNOUNCE: &str = r#"
local p = ARGV[1]
local pk = 'mesh:peer:' .. p
local sk = 'mesh:segs:' .. p
local want = {}
for i = 9, #ARGV do want[ARGV[i]] = true end
for _, s in ipairs(redis.call('SMEMBERS', sk)) do
  if not want[s] then
    redis.call('SREM', sk, s)
    redis.call('SREM', 'mesh:holders:' .. s, p)
  end
end
for s, _ in pairs(want) do
  if redis.call('SADD', sk, s) == 1 then
    redis.call('SADD', 'mesh:holders:' .. s, p)
  end
end
local n = redis.call('SCARD', sk)
redis.call('HSET', pk, 'region', ARGV[3], 'rtt', ARGV[4], 'addr', ARGV[5],
  'edge', ARGV[6], 'neighbors', ARGV[7], 'nseg', n, 'invh', ARGV[8])
if ARGV[6] ~= '' then
  redis.call('SADD', 'mesh:edges', p)
else
  redis.call('SREM', 'mesh:edges', p)
end
redis.call('ZADD', 'mesh:seen', ARGV[2], p)
return n
"#;

/// ARGV: peer, now_ms, cutoff_ms, has_neighbors ('0'/'1'), neighbors_json,
/// segments_mode, inventory_hash, segments...
///
/// `segments_mode` is '0' (no inventory sent), '1' (the inventory follows)
/// or '2' (unchanged: the tracker last wrote an inventory with this hash;
/// nothing follows). Heartbeats carry the full inventory every time, so '2'
/// keeps the common case as cheap as a bare heartbeat.
///
/// Returns `{'gone'}` when the peer is unknown or expired, `{'resend'}` when
/// mode '2' does not match what Redis holds (nothing was changed), `{'ok'}`
/// when refreshed, `{'changed', region, rtt, addr, edge, neighbors}` when its
/// neighbor list changed (topology must hear of it).
pub const HEARTBEAT: &str = r#"
local p = ARGV[1]
local pk = 'mesh:peer:' .. p
local sk = 'mesh:segs:' .. p
local sc = redis.call('ZSCORE', 'mesh:seen', p)
if (not sc) or tonumber(sc) < tonumber(ARGV[3]) or redis.call('EXISTS', pk) == 0 then
  return {'gone'}
end
if ARGV[6] == '2' and redis.call('HGET', pk, 'invh') ~= ARGV[7] then
  return {'resend'}
end
redis.call('ZADD', 'mesh:seen', ARGV[2], p)
local changed = false
if ARGV[4] == '1' then
  if redis.call('HGET', pk, 'neighbors') ~= ARGV[5] then
    redis.call('HSET', pk, 'neighbors', ARGV[5])
    changed = true
  end
end
if ARGV[6] == '1' then
  local want = {}
  for i = 8, #ARGV do want[ARGV[i]] = true end
  for _, s in ipairs(redis.call('SMEMBERS', sk)) do
    if not want[s] then
      redis.call('SREM', sk, s)
      redis.call('SREM', 'mesh:holders:' .. s, p)
    end
  end
  for s, _ in pairs(want) do
    if redis.call('SADD', sk, s) == 1 then
      redis.call('SADD', 'mesh:holders:' .. s, p)
    end
  end
  redis.call('HSET', pk, 'nseg', redis.call('SCARD', sk), 'invh', ARGV[7])
end
if changed then
  local h = redis.call('HMGET', pk, 'region', 'rtt', 'addr', 'edge', 'neighbors')
  return {'changed', h[1] or '', h[2] or '0', h[3] or '', h[4] or '', h[5] or '[]'}
end
return {'ok'}
"#;

/// ARGV: segment, cutoff_ms. Returns flat rows of
/// `kind ('h' holder / 'e' edge), peer, region, rtt, addr, edge` for live peers.
pub const LOOKUP: &str = r#"
local cutoff = tonumber(ARGV[2])
local out = {}
local function emit(kind, p)
  local sc = redis.call('ZSCORE', 'mesh:seen', p)
  if sc and tonumber(sc) >= cutoff then
    local h = redis.call('HMGET', 'mesh:peer:' .. p, 'region', 'rtt', 'addr', 'edge')
    if h[1] then
      out[#out + 1] = kind
      out[#out + 1] = p
      out[#out + 1] = h[1]
      out[#out + 1] = h[2] or '0'
      out[#out + 1] = h[3] or ''
      out[#out + 1] = h[4] or ''
    end
  end
end
for _, p in ipairs(redis.call('SMEMBERS', 'mesh:holders:' .. ARGV[1])) do emit('h', p) end
for _, p in ipairs(redis.call('SMEMBERS', 'mesh:edges')) do emit('e', p) end
return out
"#;

/// ARGV: cutoff_ms. Returns flat rows of
/// `peer, last_seen_ms, region, rtt, addr, edge, neighbors_json, nseg` for live peers.
pub const PEERS: &str = r#"
local out = {}
local live = redis.call('ZRANGEBYSCORE', 'mesh:seen', ARGV[1], '+inf', 'WITHSCORES')
for i = 1, #live, 2 do
  local p = live[i]
  local h = redis.call('HMGET', 'mesh:peer:' .. p, 'region', 'rtt', 'addr', 'edge', 'neighbors', 'nseg')
  if h[1] then
    out[#out + 1] = p
    out[#out + 1] = live[i + 1]
    out[#out + 1] = h[1]
    out[#out + 1] = h[2] or '0'
    out[#out + 1] = h[3] or ''
    out[#out + 1] = h[4] or ''
    out[#out + 1] = h[5] or '[]'
    out[#out + 1] = h[6] or '0'
  end
end
return out
"#;

/// ARGV: cutoff_ms, batch. Deletes up to `batch` expired peers and every key
/// of theirs; returns their ids. Re-checked inside the script, so a peer that
/// heartbeats between the read and the delete survives.
pub const REAP: &str = r#"
local gone = redis.call('ZRANGEBYSCORE', 'mesh:seen', '-inf', '(' .. ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, p in ipairs(gone) do
  local sk = 'mesh:segs:' .. p
  for _, s in ipairs(redis.call('SMEMBERS', sk)) do
    redis.call('SREM', 'mesh:holders:' .. s, p)
  end
  redis.call('DEL', sk, 'mesh:peer:' .. p)
  redis.call('SREM', 'mesh:edges', p)
  redis.call('ZREM', 'mesh:seen', p)
end
return gone
"#;

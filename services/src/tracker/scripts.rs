//! The Lua scripts that make each tracker call one Redis round trip.
//!
//! Keys (all under `mesh:`):
//!
//! ```text
//! mesh:seen            ZSET  peer → last announce/heartbeat, ms since the epoch
//! mesh:info            HASH  peer → "region␟rtt␟addr␟edge" (edge '' = none; ␟ is \x1f)
//! mesh:nbrs            HASH  peer → neighbor list (JSON)
//! mesh:nseg            HASH  peer → how many segments it holds
//! mesh:invh            HASH  peer → hash of its inventory as last written
//! mesh:segs:<peer>     SET   the segments the peer holds
//! mesh:holders:<seg>   SET   the peers holding the segment
//! mesh:edges           SET   peers that read an edge database
//! ```
//!
//! Per-peer fields live in a few shared hashes, so a lookup reads every
//! candidate with one `ZMSCORE` and one `HMGET`. Liveness is
//! `score(mesh:seen, peer) >= now - ttl`, decided by every read; the reaper
//! only cleans up.

/// Replaces a peer's inventory with ARGV[first..]; shared by announce and heartbeat.
const SET_INVENTORY: &str = r#"
local function set_inventory(p, first)
  local sk = 'mesh:segs:' .. p
  local want = {}
  for i = first, #ARGV do want[ARGV[i]] = true end
  for _, s in ipairs(redis.call('SMEMBERS', sk)) do
    if want[s] then
      want[s] = nil
    else
      redis.call('SREM', sk, s)
      redis.call('SREM', 'mesh:holders:' .. s, p)
    end
  end
  for s, _ in pairs(want) do
    redis.call('SADD', sk, s)
    redis.call('SADD', 'mesh:holders:' .. s, p)
  end
  local n = redis.call('SCARD', sk)
  redis.call('HSET', 'mesh:nseg', p, n)
  return n
end
"#;

/// ARGV: peer, now_ms, info, edge, neighbors_json, inventory_hash, segments...
/// Replaces everything known about the peer. Returns the segment count.
pub fn announce() -> String {
    format!(
        "{SET_INVENTORY}{}",
        r#"
local p = ARGV[1]
local n = set_inventory(p, 7)
redis.call('HSET', 'mesh:info', p, ARGV[3])
redis.call('HSET', 'mesh:nbrs', p, ARGV[5])
redis.call('HSET', 'mesh:invh', p, ARGV[6])
if ARGV[4] ~= '' then
  redis.call('SADD', 'mesh:edges', p)
else
  redis.call('SREM', 'mesh:edges', p)
end
redis.call('ZADD', 'mesh:seen', ARGV[2], p)
return n
"#
    )
}

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
/// when refreshed, `{'changed', info}` when its neighbor list changed
/// (topology must hear of it).
pub fn heartbeat() -> String {
    format!(
        "{SET_INVENTORY}{}",
        r#"
local p = ARGV[1]
local sc = redis.call('ZSCORE', 'mesh:seen', p)
if (not sc) or tonumber(sc) < tonumber(ARGV[3]) or redis.call('HEXISTS', 'mesh:info', p) == 0 then
  return {'gone'}
end
if ARGV[6] == '2' and redis.call('HGET', 'mesh:invh', p) ~= ARGV[7] then
  return {'resend'}
end
redis.call('ZADD', 'mesh:seen', ARGV[2], p)
local changed = false
if ARGV[4] == '1' and redis.call('HGET', 'mesh:nbrs', p) ~= ARGV[5] then
  redis.call('HSET', 'mesh:nbrs', p, ARGV[5])
  changed = true
end
if ARGV[6] == '1' then
  set_inventory(p, 8)
  redis.call('HSET', 'mesh:invh', p, ARGV[7])
end
if changed then
  return {'changed', redis.call('HGET', 'mesh:info', p)}
end
return {'ok'}
"#
    )
}

/// ARGV: segment, cutoff_ms, caller (a peer id, or '' when unknown),
/// late_ms. Returns '1' when the caller is '' or a live peer, '0' when it
/// is not (it should announce again), then flat rows of `kind, peer, info`
/// for live peers. `kind` is 'h' (holder) or 'e' (edge peer), upper case
/// ('H', 'E') for a peer last seen before `late_ms` (it missed its
/// heartbeats: the tracker demotes it).
pub const LOOKUP: &str = r#"
local cutoff = tonumber(ARGV[2])
local late = tonumber(ARGV[4])
local out = {'1'}
if ARGV[3] ~= '' then
  local sc = redis.call('ZSCORE', 'mesh:seen', ARGV[3])
  if (not sc) or tonumber(sc) < cutoff or redis.call('HEXISTS', 'mesh:info', ARGV[3]) == 0 then
    out[1] = '0'
  end
end
local function emit(kind, members)
  local lkind = string.upper(kind)
  -- unpack() has a stack limit: read in slices.
  for first = 1, #members, 1000 do
    local slice = {}
    for i = first, math.min(first + 999, #members) do slice[#slice + 1] = members[i] end
    local scores = redis.call('ZMSCORE', 'mesh:seen', unpack(slice))
    local infos = redis.call('HMGET', 'mesh:info', unpack(slice))
    for i, p in ipairs(slice) do
      if scores[i] and infos[i] then
        local sc = tonumber(scores[i])
        if sc >= cutoff then
          if sc < late then out[#out + 1] = lkind else out[#out + 1] = kind end
          out[#out + 1] = p
          out[#out + 1] = infos[i]
        end
      end
    end
  end
end
emit('h', redis.call('SMEMBERS', 'mesh:holders:' .. ARGV[1]))
emit('e', redis.call('SMEMBERS', 'mesh:edges'))
return out
"#;

/// ARGV: cutoff_ms, reporter, suspect. Returns `{reporter_live, suspect_live}`
/// as 1 or 0 (live: seen within the TTL and announced).
pub const SUSPECT: &str = r#"
local cutoff = tonumber(ARGV[1])
local out = {}
for i = 2, 3 do
  local sc = redis.call('ZSCORE', 'mesh:seen', ARGV[i])
  if sc and tonumber(sc) >= cutoff and redis.call('HEXISTS', 'mesh:info', ARGV[i]) == 1 then
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
return out
"#;

/// ARGV: cutoff_ms, late_ms, limit. Returns up to `limit` live peers last
/// seen before `late_ms` (they missed their heartbeats), oldest first.
pub const LATE: &str = r#"
if tonumber(ARGV[2]) <= tonumber(ARGV[1]) then return {} end
return redis.call('ZRANGEBYSCORE', 'mesh:seen', ARGV[1], '(' .. ARGV[2], 'LIMIT', 0, tonumber(ARGV[3]))
"#;

/// ARGV: cutoff_ms. Returns flat rows of
/// `peer, last_seen_ms, info, neighbors_json, nseg` for live peers.
pub const PEERS: &str = r#"
local live = redis.call('ZRANGEBYSCORE', 'mesh:seen', ARGV[1], '+inf', 'WITHSCORES')
local out = {}
for first = 1, #live, 2000 do
  local ids, seen = {}, {}
  for i = first, math.min(first + 1999, #live), 2 do
    ids[#ids + 1] = live[i]
    seen[#seen + 1] = live[i + 1]
  end
  local infos = redis.call('HMGET', 'mesh:info', unpack(ids))
  local nbrs = redis.call('HMGET', 'mesh:nbrs', unpack(ids))
  local nseg = redis.call('HMGET', 'mesh:nseg', unpack(ids))
  for i, p in ipairs(ids) do
    if infos[i] then
      out[#out + 1] = p
      out[#out + 1] = seen[i]
      out[#out + 1] = infos[i]
      out[#out + 1] = nbrs[i] or '[]'
      out[#out + 1] = nseg[i] or '0'
    end
  end
end
return out
"#;

/// ARGV: cutoff_ms, batch, segment_budget. Deletes up to `batch` expired
/// peers and every key of theirs, stopping after the peer whose segments
/// take the count past `segment_budget`; returns their ids (empty: none
/// left). Chosen inside the script, so a peer that heartbeats between the
/// reaper's clock read and the delete survives.
pub const REAP: &str = r#"
local expired = redis.call('ZRANGEBYSCORE', 'mesh:seen', '-inf', '(' .. ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local budget = tonumber(ARGV[3])
local work = 0
local gone = {}
for _, p in ipairs(expired) do
  if work >= budget then break end
  gone[#gone + 1] = p
  work = work + 1 + redis.call('SCARD', 'mesh:segs:' .. p)
  local sk = 'mesh:segs:' .. p
  for _, s in ipairs(redis.call('SMEMBERS', sk)) do
    redis.call('SREM', 'mesh:holders:' .. s, p)
  end
  redis.call('DEL', sk)
  for _, h in ipairs({'mesh:info', 'mesh:nbrs', 'mesh:nseg', 'mesh:invh'}) do
    redis.call('HDEL', h, p)
  end
  redis.call('SREM', 'mesh:edges', p)
  redis.call('ZREM', 'mesh:seen', p)
end
return gone
"#;

/// Packs a peer's lookup fields into one `mesh:info` value.
pub fn pack_info(region: &str, rtt_ms: u32, addr: &str, edge: Option<&str>) -> String {
    format!("{region}\x1f{rtt_ms}\x1f{addr}\x1f{}", edge.unwrap_or(""))
}

/// The fields of a `mesh:info` value: region, rtt, addr, edge.
pub fn unpack_info(info: &str) -> (String, u32, String, Option<String>) {
    let mut it = info.split('\x1f');
    let region = it.next().unwrap_or("").to_string();
    let rtt = it.next().and_then(|r| r.parse().ok()).unwrap_or(0);
    let addr = it.next().unwrap_or("").to_string();
    let edge = it.next().filter(|e| !e.is_empty()).map(str::to_string);
    (region, rtt, addr, edge)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_roundtrip() {
        let packed = pack_info("eu", 12, "peer-1:8080", Some("edge-db-a"));
        assert_eq!(
            unpack_info(&packed),
            (
                "eu".into(),
                12,
                "peer-1:8080".into(),
                Some("edge-db-a".into())
            )
        );
        assert_eq!(unpack_info(&pack_info("us", 0, "[::1]:80", None)).3, None);
    }
}

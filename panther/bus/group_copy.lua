-- One worker's copy of a group message, on a Redis Cluster (both keys are declared and share the
-- worker's hash tag, so they live in one slot).
-- KEYS[1] = stream:{<worker>}, KEYS[2] = alive:{<worker>}
-- ARGV[1] = the entry's data, ARGV[2] = the worker's join epoch for the group ('j'),
-- ARGV[3] = max stream length, ARGV[4] = stream TTL (ms)
-- A worker counts as gone only once its stream has expired too: a failover longer than
-- BUS_LIVENESS_TTL lets a live worker's alive key expire (its heartbeat could not reach the
-- dying master), while the stream its heartbeat keeps for 60 s is still there. A gone worker's
-- stream is not given a new TTL here, so it does expire.
-- Returns 1 if the entry was added, 0 if the worker is gone (the caller drops it from the group).
local alive = redis.call('EXISTS', KEYS[2]) == 1
if not alive and redis.call('EXISTS', KEYS[1]) == 0 then
  return 0
end
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[3], '*', 'd', ARGV[1], 'j', ARGV[2])
if alive then
  redis.call('PEXPIRE', KEYS[1], ARGV[4])
end
return 1

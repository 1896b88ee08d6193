-- Adopt a session whose home worker died (panther.session_mirror, SessionMirror.claim).
-- KEYS[1]: the session's state hash, KEYS[2]: its kept messages (one hash tag: one slot).
-- ARGV[1]: the home the adopter found dead, ARGV[2]: the adopter.
-- Only one adopter wins: the home changes only if it is still the dead one.
-- Returns {state fields and values, kept messages}, or false.
if redis.call('HGET', KEYS[1], 'home') ~= ARGV[1] then
  return false
end
redis.call('HSET', KEYS[1], 'home', ARGV[2])
return {redis.call('HGETALL', KEYS[1]), redis.call('LRANGE', KEYS[2], 0, -1)}

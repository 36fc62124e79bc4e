-- Single events from outside, for Debian's `wrk` (not installed by ./scripts/test: no test
-- uses it). Each request posts one varied ~1 KB event, the shape of `stele bench ingest`'s
-- corpus; the key is read from $KEY (a key with events:write). Turn the per-key rate limit
-- off on the server measured (`[rate_limits] key_requests_per_second = 0`), then:
--   KEY=stl_key_… wrk -t2 -c64 -d8s --latency -s scripts/load/single-events.lua http://127.0.0.1:8080
local actions = {"user.login","user.logout","document.update","deployment.restored","key.created","member.invited"}
local chars = "abcdefghijklmnopqrstuvwxyz"
local function word(n) local t = {} for i=1,n do local k = math.random(1,26) t[i] = chars:sub(k,k) end return table.concat(t) end
request = function()
  local a = math.random(0,999); local tg = math.random(0,4999); local act = actions[math.random(1,#actions)]
  local attrs = {}
  for k=1,math.random(6,13) do attrs[#attrs+1] = string.format('"attr_%d":"%s"', k, word(math.random(8,31))) end
  local body = string.format('{"action":"%s","status":"success","message":"%s by user%d on target %d: %s","actor":{"type":"user","id":"u_%d","name":"User %d","email":"user%d@example.com","ip":"10.%d.%d.%d","user_agent":"Mozilla/5.0 (X11; Linux x86_64)"},"origin":"api","targets":[{"type":"User","id":"t_%d","name":"Target %d","email":"t%d@example.com"}],"context":{"product_id":"prod_%d","environment_id":"env_%d","region":"eu-west-1"},"request":{"id":"req_%s","method":"POST","path":"/api/v1/users/t_%d","status_code":200,"body":{"userName":"t%d","attributes":{%s}}},"correlation_id":"corr-%s"}',
    act, act, a, tg, word(24), a, a, a, a%256, tg%256, math.random(0,255), tg, tg, tg, a%7, tg%3, word(12), tg, tg, table.concat(attrs, ","), word(12))
  return wrk.format("POST", "/v1/events", {["Content-Type"]="application/json", ["Authorization"]="Bearer " .. os.getenv("KEY")}, body)
end

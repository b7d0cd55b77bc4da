-- PATCH /ngsi-ld/v1/entities/{id}/attrs on a random one of the first N entities
-- (N = first script argument, default 10000) with a small JSON body.
package.path = debug.getinfo(1, "S").source:match("@?(.*/)") .. "?.lua;" .. package.path
local common = require("common")

local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

local n = 10000
local states = { "on", "off", "low" }

function init(args)
  n = tonumber(args[1] or "10000")
  math.randomseed(os.time() * 1000 + (tid or 0))
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Link"] = common.link
end

function request()
  local id = math.random(0, n - 1)
  local body = string.format(
    '{"powerState":{"type":"Property","value":"%s"},'
      .. '"illuminanceLevel":{"type":"Property","value":%.3f}}',
    states[math.random(1, 3)], math.random())
  local path = string.format("/ngsi-ld/v1/entities/urn:ngsi-ld:Streetlight:%07d/attrs", id)
  return wrk.format("PATCH", path, nil, body)
end

done = common.done

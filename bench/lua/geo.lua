-- GET /ngsi-ld/v1/entities?type=Streetlight&georel=near;maxDistance==500&geometry=Point
--   &coordinates=[lon,lat]&limit=100, a random point inside the city per request.
package.path = debug.getinfo(1, "S").source:match("@?(.*/)") .. "?.lua;" .. package.path
local common = require("common")

local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end

function init(args)
  math.randomseed(os.time() * 1000 + (tid or 0))
  wrk.headers["Link"] = common.link
end

function request()
  local lon = common.lon0 + (math.random() * 2 - 1) * common.dlon
  local lat = common.lat0 + (math.random() * 2 - 1) * common.dlat
  local path = string.format(
    "/ngsi-ld/v1/entities?type=Streetlight&georel=near;maxDistance==500"
      .. "&geometry=Point&coordinates=%%5B%.6f,%.6f%%5D&limit=100", lon, lat)
  return wrk.format("GET", path)
end

done = common.done

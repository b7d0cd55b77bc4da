-- GET /ngsi-ld/v1/entities?type=Streetlight&q=powerState=="on";illuminanceLevel>0.5&limit=100
package.path = debug.getinfo(1, "S").source:match("@?(.*/)") .. "?.lua;" .. package.path
local common = require("common")

function init(args)
  wrk.headers["Link"] = common.link
end

wrk.method = "GET"
wrk.path = "/ngsi-ld/v1/entities?type=Streetlight"
  .. "&q=powerState==%22on%22;illuminanceLevel%3E0.5&limit=100"

done = common.done

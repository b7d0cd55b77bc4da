-- GET /health: the trivial-endpoint baseline for the same load generator and concurrency.
package.path = debug.getinfo(1, "S").source:match("@?(.*/)") .. "?.lua;" .. package.path
local common = require("common")

wrk.method = "GET"
wrk.path = "/health"

done = common.done

-- GET the URL given to wrk as is (the path and query come from bench/history.py)
package.path = debug.getinfo(1, "S").source:match("@?(.*/)") .. "?.lua;" .. package.path
local common = require("common")

done = common.done

-- wrk script for scripts/load.sh: GET /users/<random 1..USERS><suffix>.
-- The suffix (wrk's first script argument) is "" for the cached route and
-- "/uncached" for the uncached one.
local suffix = ""
local users = 1000

function init(args)
  suffix = args[1] or ""
  users = tonumber(args[2] or "1000")
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
end

function request()
  return wrk.format("GET", "/users/" .. math.random(1, users) .. suffix)
end

-- Distinct junk session cookies of 8 KB, as anyone can send them, at about JUNK_RATE requests a
-- second over all connections (wrk's delay() paces each connection); each thread stops after its
-- share of JUNK_TOTAL.
local rate = tonumber(os.getenv("JUNK_RATE") or "3000")
local connections = tonumber(os.getenv("JUNK_CONNECTIONS") or "8")
local per_thread = tonumber(os.getenv("JUNK_PER_THREAD") or "45000")
local filler = string.rep("j", 8192)
local counter = 0
local sent = 0
local id = 0

function setup(thread)
  id = id + 1
  thread:set("id", id)
end

function delay()
  return connections * 1000 / rate
end

function request()
  sent = sent + 1
  return wrk.format("GET", "/api/auth/session", { ["Cookie"] = "authjs.session-token=" .. id .. "-" .. sent .. "-" .. filler })
end

function response()
  counter = counter + 1
  if counter >= per_thread then
    wrk.thread:stop()
  end
end

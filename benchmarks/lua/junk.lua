-- Distinct junk session cookies of 8 KB, as anyone can send them: each thread stops after its share.
local per_thread = tonumber(os.getenv("JUNK_PER_THREAD") or "45000")
local filler = string.rep("j", 8192)
local counter = 0
local sent = 0
local id = 0

function setup(thread)
  id = id + 1
  thread:set("id", id)
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

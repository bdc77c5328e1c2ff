-- POST /auth/login with a wrong password, as fast as the connections allow:
-- every request costs one Argon2id verification (unknown e-mails are checked
-- against a dummy hash, so they cost the same). Besides report.lua's RESULT
-- line, prints `STATUS name=… s401=… s503=… other=…` (401 = checked and
-- refused, 503 = refused as busy before hashing).
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")
local report = done

local headers = { ["Content-Type"] = "application/json", ["Accept"] = "application/json" }
local body = '{"email":"nobody@bench.example.com","password":"wrong password"}'
local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

s401, s503, other = 0, 0, 0

function request()
   return wrk.format("POST", "/auth/login", headers, body)
end

function response(status, headers, body)
   if status == 401 then s401 = s401 + 1
   elseif status == 503 then s503 = s503 + 1
   else other = other + 1 end
end

function done(summary, latency, requests)
   report(summary, latency, requests)
   local a, b, c = 0, 0, 0
   for _, t in ipairs(threads) do
      a = a + t:get("s401"); b = b + t:get("s503"); c = c + t:get("other")
   end
   io.write(string.format("STATUS name=%s s401=%d s503=%d other=%d\n", os.getenv("BENCH_NAME") or "?", a, b, c))
end

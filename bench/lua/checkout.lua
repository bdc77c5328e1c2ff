-- POST /orders with explicit items, for bench/orders.sh.
-- BENCH_TOKENS: a file with one customer access token per line; requests go
-- round-robin over them (each wrk thread starts elsewhere), so with at least
-- as many customers as connections no two requests in flight share a
-- customer. BENCH_PRODUCTS_FILE: available product ids, one per line; each
-- order has 1–3 lines (1, 2, 3, 1, …) of distinct products, quantity 1–3.
-- Every request has a fresh Idempotency-Key: BENCH_RUN-<thread>-<counter>.
dofile(os.getenv("BENCH_LUA_DIR") .. "/report.lua")

local function read_lines(path)
   local t = {}
   for line in io.lines(path) do
      if line ~= "" then t[#t + 1] = line end
   end
   assert(#t > 0, path .. " is empty")
   return t
end

local tokens = read_lines(assert(os.getenv("BENCH_TOKENS"), "BENCH_TOKENS is not set"))
local products = read_lines(assert(os.getenv("BENCH_PRODUCTS_FILE"), "BENCH_PRODUCTS_FILE is not set"))
local run = os.getenv("BENCH_RUN") or "run"
assert(#products >= 22, "need at least 22 products (lines step by 7)")

local next_thread = 0
function setup(thread)
   thread:set("tid", next_thread)
   next_thread = next_thread + 1
end

local counter = 0
function request()
   counter = counter + 1
   local t = tid or 0
   local token = tokens[(t * 997 + counter) % #tokens + 1]
   local base = (counter * 31 + t * 7919) % #products
   local lines = {}
   for i = 1, 1 + counter % 3 do
      lines[i] = string.format('{"product_id":"%s","quantity":%d}',
         products[(base + (i - 1) * 7) % #products + 1], 1 + (counter + i) % 3)
   end
   local headers = {
      ["Authorization"] = "Bearer " .. token,
      ["Content-Type"] = "application/json",
      ["Accept"] = "application/json",
      ["Idempotency-Key"] = string.format("%s-%d-%d", run, t, counter),
   }
   return wrk.format("POST", "/orders", headers, '{"items":[' .. table.concat(lines, ",") .. ']}')
end

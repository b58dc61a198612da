-- wrk script for scripts/bench-store.sh: POST /v1/events with a fresh event id each time,
-- customers spread over the run, events alternating page_view / beacon_enter, each carrying
-- the customer's profile (stored on the first event, unchanged after). Every 200 is a durable
-- write. Arguments (after `--`): tag, customers, token.
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  tag = args[1] or "run"
  customers = tonumber(args[2] or "2000")
  token = args[3]
  n = 0
  wrk.method = "POST"
  wrk.path = "/v1/events"
  wrk.headers["Content-Type"] = "application/json"
  if token and token ~= "" then
    wrk.headers["Authorization"] = "Bearer " .. token
  end
end

function request()
  n = n + 1
  local c = (tid * 7919 + n) % customers
  local id = string.format("load-%s-%d-%d", tag, tid, n)
  local time = 1795000000000 + n * 1000
  local event
  if n % 2 == 0 then
    event = string.format('{"type":"page_view","id":"%s","time":%d,"sku":"SW-%d","category":"knitwear","price":79}', id, time, n % 7)
  else
    event = string.format('{"type":"beacon_enter","id":"%s","time":%d,"store":"paris-01","zone":"entrance"}', id, time)
  end
  local customer = string.format("cust-%s-%d", tag, c)
  local body = string.format('{"customer":"%s","profile":{"id":"%s","tier":"gold","lifetime_value":50,"labels":[],"consents":["marketing","location"],"first_name":"Ana"},"event":%s}', customer, customer, event)
  return wrk.format(nil, nil, nil, body)
end

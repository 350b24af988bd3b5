-- wrk -s: every request carries a different forged token, as an attacker
-- minting forgeries would send. $WXAUTH_FORGED is a forged token (genuine
-- kid, payload changed); six characters near the end of its signature are
-- replaced by a request counter, so no two requests repeat a token and none
-- can be answered from a cache of refused tokens. bench/run.sh appends this
-- file to bench/report.lua.
local token = assert(os.getenv("WXAUTH_FORGED"), "WXAUTH_FORGED is not set")
local head, tail = token:sub(1, #token - 8), token:sub(#token - 1)
local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
local n = 0

request = function()
  n = n + 1
  local x, s = n, {}
  for i = 1, 6 do
    local d = x % 64
    s[i] = alphabet:sub(d + 1, d + 1)
    x = math.floor(x / 64)
  end
  return wrk.format(nil, nil, { ["Authorization"] = "Bearer " .. head .. table.concat(s) .. tail })
end

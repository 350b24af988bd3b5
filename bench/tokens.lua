-- wrk -s: many users. $WXAUTH_TOKENS names a token file (bench/loadgen
-- tokens -o), one token a line; each request carries the next one as
-- `Authorization: Bearer`, round-robin, so every token is sent once per pass
-- over the file and no two requests in a row share a token. The rotation
-- starts at a random token, so that a run does not begin with the tokens the
-- previous one (the warm-up) sent last. Run it with -t1: each wrk thread has
-- its own rotation. bench/run.sh appends this file to bench/report.lua.
local path = assert(os.getenv("WXAUTH_TOKENS"), "WXAUTH_TOKENS is not set")
local headers = {}
for line in io.lines(path) do
  if #line > 0 then
    headers[#headers + 1] = "Bearer " .. line
  end
end
assert(#headers > 0, path .. " holds no token")
math.randomseed(os.time())
local n = math.random(#headers) - 1

request = function()
  n = n % #headers + 1
  return wrk.format(nil, nil, { ["Authorization"] = headers[n] })
end

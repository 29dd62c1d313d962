-- wrk script for bench_ocsp.sh: POSTs DER OCSP requests read from the
-- files given after "--" (first argument: the path to POST to), in turn.
-- Each request is formatted once, in init, so that the load generator
-- spends its core on sending and timing, not on building strings.
local reqs, n = {}, 0

function init(args)
	local path = args[1]
	for i = 2, #args do
		local f = assert(io.open(args[i], "rb"))
		reqs[#reqs + 1] = wrk.format("POST", path,
		    { ["Content-Type"] = "application/ocsp-request" },
		    f:read("*a"))
		f:close()
	end
end

function request()
	n = n + 1
	return reqs[(n % #reqs) + 1]
end

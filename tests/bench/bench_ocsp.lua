-- wrk script for bench_ocsp.sh: POSTs DER OCSP requests read from the
-- files given after "--" (first argument: the path to POST to), in turn.
local reqs, path, n = {}, "/", 0

function init(args)
	path = args[1]
	for i = 2, #args do
		local f = assert(io.open(args[i], "rb"))
		reqs[#reqs + 1] = f:read("*a")
		f:close()
	end
end

function request()
	n = n + 1
	return wrk.format("POST", path,
	    { ["Content-Type"] = "application/ocsp-request" },
	    reqs[(n % #reqs) + 1])
end

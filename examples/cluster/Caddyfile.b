# Instance b of two wxauth instances behind one load balancer (Caddyfile.lb).
# Caddyfile.a and Caddyfile.b differ only in the name and the address: both
# keep sessions, logouts, the signing key and WeChat's access_token in the
# same Redis, so a token from one works on the other and a logout on one is
# refused by both. run.sh starts the whole cluster.
{
	admin off
	auto_https off
	persist_config off
	# Loopback only: run.sh runs the whole cluster on this machine. Across
	# machines, bind each instance to its private address instead.
	default_bind 127.0.0.1
	servers {
		# The load balancer is the client here: trust its X-Forwarded-For,
		# so login_rate_limit counts real client IPs.
		trusted_proxies static private_ranges
		# And take the client IP from the right of X-Forwarded-For, skipping
		# trusted proxies. Without this Caddy takes the leftmost entry, which
		# the client writes itself: it could dodge login_rate_limit with a
		# new made-up IP per login, or use up a victim's IP's logins.
		trusted_proxies_strict
	}
}

http://{$INSTANCE_B_ADDR:127.0.0.1:8082} {
	wxauth {
		app_id {$WX_APPID:wx0123456789abcdef}
		app_secret {env.WX_SECRET}
		api_base {$WX_API_BASE:http://127.0.0.1:9090}
		# {env.…} is read when the config loads, so a password in the URL
		# never shows in `caddy adapt` output or the admin API.
		store redis {env.REDIS_URL}
		key_prefix {$WXAUTH_KEY_PREFIX:wxauth:}
		login_rate_limit 20 1m
	}
	# Stands in for your backend (reverse_proxy …): it says which instance
	# answered and who Caddy says the user is.
	header Content-Type application/json
	respond `{"instance":"b","openid":"{wx.openid}","path":"{http.request.uri.path}"}`
}

package session

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Defaults applied when a Redis URL leaves a setting unset. They keep an
// unreachable Redis from holding requests: go-redis would otherwise wait 5 s
// per dial attempt and try five dials per command before failing.
const (
	DefaultRedisDialTimeout  = 2 * time.Second
	DefaultRedisReadTimeout  = time.Second
	DefaultRedisWriteTimeout = time.Second
	DefaultRedisPoolTimeout  = 2 * time.Second
	// DefaultRedisDialerRetries is 1: commands are already retried
	// (max_retries, go-redis default 3), and dial retries inside each of those
	// would multiply the wait for a host that does not answer.
	DefaultRedisDialerRetries = 1
)

// NewRedisClient connects to the Redis a URL names, one of:
//
//	redis://[[user]:password@]host[:port][/db][?option=value&...]
//	rediss://…                                       (same, over TLS)
//	unix://[[user]:password@]/path/to/redis.sock[?db=N&...]
//	redis-sentinel://[[user]:password@]host[:port][,host[:port]...]/master[/db][?...]
//	rediss-sentinel://…                              (TLS to Sentinels and servers)
//	redis-cluster://[[user]:password@]host[:port][,host[:port]...][?...]
//	rediss-cluster://…                               (TLS to every node)
//
// Ports default to 6379, and to 26379 for Sentinels; db defaults to 0. For
// Sentinel the path names the master (required), the user and password are
// those of the Redis servers, and the Sentinels' own credentials, if they
// have any, go in the options sentinel_username and sentinel_password. A
// Cluster has no databases, so its URL has no path; one host is enough, as
// the others are discovered.
//
// Options are go-redis's URL options, snake_case field names
// (dial_timeout=3s, read_timeout=500ms, pool_size=20, max_retries=2,
// client_name=…, protocol=3, skip_verify=true with TLS, …); a bare number of
// seconds works for durations, and 0 or less disables a timeout. Unknown
// options are errors. Unless set, timeouts default to
// DefaultRedisDialTimeout and friends, so an unreachable Redis fails fast.
//
// Examples:
//
//	redis://127.0.0.1:6379/0
//	rediss://:s3cret@redis.example.com:6380/2?dial_timeout=5s
//	unix:///run/redis/redis.sock?db=1
//	redis-sentinel://:s3cret@10.0.0.1,10.0.0.2:26380/mymaster/0
//	redis-cluster://10.0.0.1:7000,10.0.0.2:7000?read_timeout=2s
//
// Characters such as @ : / ? # in a password must be percent-encoded. Error
// messages never contain the password. The client connects lazily, so a
// Redis that is down is reported by the first command, not here. The caller
// closes the client.
func NewRedisClient(raw string) (redis.UniversalClient, error) {
	c, err := parseRedisURL(raw)
	if err != nil {
		return nil, err
	}
	return c.newClient(), nil
}

// redisConfig is a parsed Redis URL: exactly one of its fields is set, to
// the options of the go-redis client that URL form calls for.
type redisConfig struct {
	simple   *redis.Options
	failover *redis.FailoverOptions
	cluster  *redis.ClusterOptions
}

// newClient picks the client as redis.NewUniversalClient would for the same
// options: a Sentinel URL that routes reads to replicas gets a cluster-like
// client over the master and its replicas.
func (c redisConfig) newClient() redis.UniversalClient {
	switch {
	case c.cluster != nil:
		return redis.NewClusterClient(c.cluster)
	case c.failover != nil && (c.failover.RouteByLatency || c.failover.RouteRandomly):
		return redis.NewFailoverClusterClient(c.failover)
	case c.failover != nil:
		return redis.NewFailoverClient(c.failover)
	default:
		return redis.NewClient(c.simple)
	}
}

// parseRedisURL parses raw as NewRedisClient documents, without connecting.
func parseRedisURL(raw string) (redisConfig, error) {
	c, err := parseByScheme(raw)
	if err != nil {
		// Not %w: the wrapped error's text could carry the password to a log
		// through errors.Unwrap; a scrubbed copy is all callers need.
		return redisConfig{}, fmt.Errorf("session: redis URL: %s", redact(err.Error(), raw))
	}
	return c, nil
}

func parseByScheme(raw string) (redisConfig, error) {
	scheme, _, ok := strings.Cut(raw, "://")
	if !ok {
		return redisConfig{}, errors.New("missing scheme: want redis://, rediss://, unix://, redis-sentinel://, rediss-sentinel://, redis-cluster:// or rediss-cluster://")
	}
	switch strings.ToLower(scheme) {
	case "redis", "rediss", "unix":
		return parseSingle(raw)
	case "redis-sentinel", "rediss-sentinel":
		return parseSentinel(raw, scheme)
	case "redis-cluster", "rediss-cluster":
		return parseCluster(raw, scheme)
	default:
		return redisConfig{}, fmt.Errorf("unknown scheme %q: want redis, rediss, unix, redis-sentinel, rediss-sentinel, redis-cluster or rediss-cluster", scheme)
	}
}

// parseSingle hands the URL to go-redis, adding the dialer options go-redis
// parses for Sentinel and Cluster URLs but not for plain ones, so every form
// takes the same options.
func parseSingle(raw string) (redisConfig, error) {
	u, err := parseStdURL(raw)
	if err != nil {
		return redisConfig{}, err
	}
	q := u.Query()
	dial, err := popDialerOptions(q)
	if err != nil {
		return redisConfig{}, err
	}
	u.RawQuery = q.Encode()
	o, err := redis.ParseURL(u.String())
	if err != nil {
		return redisConfig{}, err
	}
	o.DialerRetries, o.DialerRetryTimeout = dial.retries, dial.retryTimeout
	defaultTimeouts(&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.PoolTimeout, &o.DialerRetries)
	return redisConfig{simple: o}, nil
}

func parseSentinel(raw, scheme string) (redisConfig, error) {
	hosts, u, err := splitHosts(raw, scheme, "26379")
	if err != nil {
		return redisConfig{}, err
	}
	path := strings.Split(strings.Trim(u.Path, "/"), "/")
	if path[0] == "" {
		return redisConfig{}, errors.New("sentinel URL needs the master name as its path, e.g. redis-sentinel://host:26379/mymaster")
	}
	if len(path) > 2 {
		return redisConfig{}, errors.New("sentinel URL path is /master or /master/db")
	}
	q := u.Query()
	if err := rejectOptions(q, "username", "password", "master_name", "addr"); err != nil {
		return redisConfig{}, err
	}
	tlsConf, err := popTLS(q, scheme)
	if err != nil {
		return redisConfig{}, err
	}
	sentinelUser, sentinelPass := q.Get("sentinel_username"), q.Get("sentinel_password")
	q.Del("sentinel_username")
	q.Del("sentinel_password")
	if q.Has("use_disconnected_replicas") {
		return redisConfig{}, errors.New("option use_disconnected_replicas is not supported")
	}
	q.Set("master_name", path[0])
	for _, h := range hosts[1:] {
		q.Add("addr", h)
	}
	g := url.URL{Scheme: "redis", Host: hosts[0], RawQuery: q.Encode()}
	if len(path) == 2 {
		g.Path = "/" + path[1]
	}
	o, err := redis.ParseFailoverURL(g.String())
	if err != nil {
		return redisConfig{}, err
	}
	o.Username, o.Password = userPassword(u)
	o.SentinelUsername, o.SentinelPassword = sentinelUser, sentinelPass
	o.TLSConfig = tlsConf
	defaultTimeouts(&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.PoolTimeout, &o.DialerRetries)
	return redisConfig{failover: o}, nil
}

// parseCluster always yields a cluster client: one seed host is a cluster
// too (a configuration endpoint).
func parseCluster(raw, scheme string) (redisConfig, error) {
	hosts, u, err := splitHosts(raw, scheme, "6379")
	if err != nil {
		return redisConfig{}, err
	}
	if strings.Trim(u.Path, "/") != "" {
		return redisConfig{}, errors.New("cluster URL has no path: a Redis Cluster has only database 0")
	}
	q := u.Query()
	if err := rejectOptions(q, "username", "password", "addr", "db"); err != nil {
		return redisConfig{}, err
	}
	tlsConf, err := popTLS(q, scheme)
	if err != nil {
		return redisConfig{}, err
	}
	for _, h := range hosts[1:] {
		q.Add("addr", h)
	}
	g := url.URL{Scheme: "redis", Host: hosts[0], RawQuery: q.Encode()}
	o, err := redis.ParseClusterURL(g.String())
	if err != nil {
		return redisConfig{}, err
	}
	o.Username, o.Password = userPassword(u)
	o.TLSConfig = tlsConf
	defaultTimeouts(&o.DialTimeout, &o.ReadTimeout, &o.WriteTimeout, &o.PoolTimeout, &o.DialerRetries)
	return redisConfig{cluster: o}, nil
}

// splitHosts separates the comma-separated host list of a Sentinel or Cluster
// URL (which net/url cannot parse) from the rest, which it returns parsed
// with a placeholder host.
func splitHosts(raw, scheme, defaultPort string) ([]string, *url.URL, error) {
	rest := raw[len(scheme)+len("://"):]
	end := strings.IndexAny(rest, "/?#")
	if end < 0 {
		end = len(rest)
	}
	authority, tail := rest[:end], rest[end:]
	userinfo, hostList := "", authority
	if i := strings.LastIndex(authority, "@"); i >= 0 {
		userinfo, hostList = authority[:i+1], authority[i+1:]
	}
	if hostList == "" {
		return nil, nil, errors.New("no host: list one or more host:port, comma-separated")
	}
	var hosts []string
	for h := range strings.SplitSeq(hostList, ",") {
		hp, err := hostPort(h, defaultPort)
		if err != nil {
			return nil, nil, err
		}
		hosts = append(hosts, hp)
	}
	u, err := parseStdURL(scheme + "://" + userinfo + "placeholder" + tail)
	if err != nil {
		return nil, nil, err
	}
	if u.Fragment != "" {
		return nil, nil, errors.New("unexpected #fragment")
	}
	return hosts, u, nil
}

// hostPort validates one host[:port] of a host list and adds the default port.
func hostPort(h, defaultPort string) (string, error) {
	if h == "" {
		return "", errors.New("empty host in host list")
	}
	host, port := h, defaultPort
	if strings.HasPrefix(h, "[") && strings.HasSuffix(h, "]") { // IPv6 literal, no port
		host = h[1 : len(h)-1]
	} else if strings.Contains(h, ":") {
		var err error
		if host, port, err = net.SplitHostPort(h); err != nil {
			return "", fmt.Errorf("bad host %q: want host or host:port, IPv6 in brackets", h)
		}
	}
	if host == "" || strings.ContainsAny(host, " \t%") {
		return "", fmt.Errorf("bad host %q", h)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return "", fmt.Errorf("bad port in %q", h)
	}
	return net.JoinHostPort(host, port), nil
}

// parseStdURL is url.Parse without its habit of quoting the whole URL,
// password included, in the error.
func parseStdURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("malformed URL (percent-encode @ : / ? # in a password): %v", err)
	}
	return u, nil
}

func userPassword(u *url.URL) (user, password string) {
	if u.User == nil {
		return "", ""
	}
	password, _ = u.User.Password()
	return u.User.Username(), password
}

func rejectOptions(q url.Values, names ...string) error {
	for _, name := range names {
		if q.Has(name) {
			return fmt.Errorf("option %s is not accepted here: credentials belong in user:password@, hosts and the Sentinel master in the host list and path", name)
		}
	}
	return nil
}

// popTLS builds the TLS config for a multi-host scheme. ServerName stays
// empty so that each node's certificate is checked against that node's own
// host name (go-redis would pin every node to the first host's name).
func popTLS(q url.Values, scheme string) (*tls.Config, error) {
	skip := q.Get("skip_verify")
	had := q.Has("skip_verify")
	q.Del("skip_verify")
	if !strings.HasPrefix(strings.ToLower(scheme), "rediss") {
		if had {
			return nil, fmt.Errorf("option skip_verify needs TLS (the rediss- form of %s)", scheme)
		}
		return nil, nil
	}
	conf := &tls.Config{MinVersion: tls.VersionTLS12}
	switch skip {
	case "", "false", "0":
	case "true", "1":
		conf.InsecureSkipVerify = true
	default:
		return nil, fmt.Errorf("option skip_verify: want true or false, got %q", skip)
	}
	return conf, nil
}

// dialerOptions are the options a plain redis:// URL gets on top of
// go-redis's ParseURL.
type dialerOptions struct {
	retries      int
	retryTimeout time.Duration
}

func popDialerOptions(q url.Values) (dialerOptions, error) {
	var d dialerOptions
	if s := q.Get("dialer_retries"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			return d, fmt.Errorf("option dialer_retries: want a number, got %q", s)
		}
		d.retries = n
	}
	if s := q.Get("dialer_retry_timeout"); s != "" {
		dur, err := parseDuration(s)
		if err != nil {
			return d, fmt.Errorf("option dialer_retry_timeout: %w", err)
		}
		d.retryTimeout = dur
	}
	q.Del("dialer_retries")
	q.Del("dialer_retry_timeout")
	return d, nil
}

// parseDuration reads a duration as go-redis's URL options do: a bare number
// is seconds, and 0 or less means "none" (-1).
func parseDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if n, aerr := strconv.Atoi(s); aerr == nil {
		d, err = time.Duration(n)*time.Second, nil
	}
	if err != nil {
		return 0, fmt.Errorf("want a duration such as 500ms or 2s, got %q", s)
	}
	if d <= 0 {
		return -1, nil
	}
	return d, nil
}

// defaultTimeouts fills in what the URL left unset (zero); a URL's explicit
// 0 has already become -1, "no timeout", and is kept. It takes the fields
// every kind of go-redis options has, so one function serves all three.
func defaultTimeouts(dial, read, write, pool *time.Duration, dialerRetries *int) {
	if *dial == 0 {
		*dial = DefaultRedisDialTimeout
	}
	if *read == 0 {
		*read = DefaultRedisReadTimeout
	}
	if *write == 0 {
		*write = DefaultRedisWriteTimeout
	}
	if *pool == 0 {
		*pool = DefaultRedisPoolTimeout
	}
	if *dialerRetries == 0 {
		*dialerRetries = DefaultRedisDialerRetries
	}
}

// redact removes the URL's password (raw and percent-decoded) and any
// sentinel_password value from msg. It works on the raw text because it must
// also cover URLs that net/url could not parse.
func redact(msg, raw string) string {
	var secrets []string
	add := func(s string) {
		if s == "" {
			return
		}
		secrets = append(secrets, s)
		if d, err := url.PathUnescape(s); err == nil && d != s {
			secrets = append(secrets, d)
		}
		if d, err := url.QueryUnescape(s); err == nil && d != s {
			secrets = append(secrets, d)
		}
	}
	if _, rest, ok := strings.Cut(raw, "://"); ok {
		if i := strings.LastIndex(rest, "@"); i >= 0 {
			if _, pass, ok := strings.Cut(rest[:i], ":"); ok {
				add(pass)
			}
		}
	}
	for _, key := range []string{"sentinel_password=", "password="} {
		for s := raw; ; {
			i := strings.Index(s, key)
			if i < 0 {
				break
			}
			s = s[i+len(key):]
			v, _, _ := strings.Cut(s, "&")
			v, _, _ = strings.Cut(v, "#")
			add(v)
		}
	}
	for _, s := range secrets {
		msg = strings.ReplaceAll(msg, s, "xxxxx")
	}
	return msg
}

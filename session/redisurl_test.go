package session

import (
	"crypto/tls"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestNewRedisClientAcceptsEveryDocumentedForm(t *testing.T) {
	type want struct {
		addrs          []string
		client         string // the type of client NewRedisClient builds
		db             int
		user, password string
		sentinelUser   string
		sentinelPass   string
		master         string
		tls            bool
		skipVerify     bool
		serverName     string
		dialTimeout    time.Duration
		readTimeout    time.Duration
	}
	const (
		single   = "*redis.Client"
		cluster  = "*redis.ClusterClient"
		failover = "*redis.Client" // a Sentinel-backed *redis.Client
	)
	for _, tc := range []struct {
		url  string
		want want
	}{
		{"redis://127.0.0.1:6379/0", want{addrs: []string{"127.0.0.1:6379"}, client: single}},
		{"redis://localhost", want{addrs: []string{"localhost:6379"}, client: single}},
		{"REDIS://localhost/1", want{addrs: []string{"localhost:6379"}, client: single, db: 1}},
		{"redis://user:p%40ss@host:6380/3", want{addrs: []string{"host:6380"}, client: single, db: 3, user: "user", password: "p@ss"}},
		{"rediss://:pw@redis.example.com:6380/2?dial_timeout=5s", want{addrs: []string{"redis.example.com:6380"}, client: single, db: 2, password: "pw", tls: true, serverName: "redis.example.com", dialTimeout: 5 * time.Second}},
		{"rediss://h?skip_verify=true", want{addrs: []string{"h:6379"}, client: single, tls: true, skipVerify: true, serverName: "h"}},
		{"redis://h/0?read_timeout=0", want{addrs: []string{"h:6379"}, client: single, readTimeout: -1}},
		{"redis://h/0?read_timeout=3", want{addrs: []string{"h:6379"}, client: single, readTimeout: 3 * time.Second}},
		{"unix:///run/redis/redis.sock?db=1", want{addrs: []string{"/run/redis/redis.sock"}, client: single, db: 1}},
		{"redis-sentinel://:pw@10.0.0.1,10.0.0.2:26380/mymaster/4", want{addrs: []string{"10.0.0.1:26379", "10.0.0.2:26380"}, client: failover, db: 4, password: "pw", master: "mymaster"}},
		{"redis-sentinel://s1/mymaster?sentinel_username=su&sentinel_password=spw", want{addrs: []string{"s1:26379"}, client: failover, master: "mymaster", sentinelUser: "su", sentinelPass: "spw"}},
		{"rediss-sentinel://s1:26379,s2:26379/m?skip_verify=1", want{addrs: []string{"s1:26379", "s2:26379"}, client: failover, master: "m", tls: true, skipVerify: true}},
		{"redis-sentinel://s1/m?route_randomly=true", want{addrs: []string{"s1:26379"}, client: cluster, master: "m"}},
		{"redis-cluster://10.0.0.1:7000,10.0.0.2:7001?read_timeout=2s", want{addrs: []string{"10.0.0.1:7000", "10.0.0.2:7001"}, client: cluster, readTimeout: 2 * time.Second}},
		{"redis-cluster://u:pw@[::1]:7000", want{addrs: []string{"[::1]:7000"}, client: cluster, user: "u", password: "pw"}},
		{"rediss-cluster://node1,[::1]", want{addrs: []string{"node1:6379", "[::1]:6379"}, client: cluster, tls: true}},
	} {
		t.Run(tc.url, func(t *testing.T) {
			c := mustParse(t, tc.url)
			w := tc.want
			if w.dialTimeout == 0 {
				w.dialTimeout = DefaultRedisDialTimeout
			}
			if w.readTimeout == 0 {
				w.readTimeout = DefaultRedisReadTimeout
			}
			o := commonOptions(c)
			got := want{
				addrs: o.addrs, db: o.db, user: o.user, password: o.password,
				sentinelUser: o.sentinelUser, sentinelPass: o.sentinelPass, master: o.master, tls: o.tls != nil,
				dialTimeout: o.dial, readTimeout: o.read,
			}
			if o.tls != nil {
				got.skipVerify, got.serverName = o.tls.InsecureSkipVerify, o.tls.ServerName
			}
			client := c.newClient()
			got.client = fmt.Sprintf("%T", client)
			_ = client.Close()
			if !reflect.DeepEqual(got, w) {
				t.Errorf("parseRedisURL(%q)\n got %+v\nwant %+v", tc.url, got, w)
			}
		})
	}
}

func TestNewRedisClientAppliesBoundedTimeoutsUnlessTheURLSetsThem(t *testing.T) {
	for _, tc := range []struct {
		url                     string
		dial, read, write, pool time.Duration
		dialerRetries           int
	}{
		{"redis://h", 2 * time.Second, time.Second, time.Second, 2 * time.Second, 1},
		{"redis-cluster://h1,h2", 2 * time.Second, time.Second, time.Second, 2 * time.Second, 1},
		{"redis-sentinel://h/m", 2 * time.Second, time.Second, time.Second, 2 * time.Second, 1},
		{"redis://h?dial_timeout=5s&read_timeout=100ms&write_timeout=-1&pool_timeout=3&dialer_retries=4",
			5 * time.Second, 100 * time.Millisecond, -1, 3 * time.Second, 4},
		{"redis-cluster://h?dial_timeout=5s&dialer_retries=2", 5 * time.Second, time.Second, time.Second, 2 * time.Second, 2},
	} {
		t.Run(tc.url, func(t *testing.T) {
			o := commonOptions(mustParse(t, tc.url))
			got := []any{o.dial, o.read, o.write, o.pool, o.dialerRetries}
			want := []any{tc.dial, tc.read, tc.write, tc.pool, tc.dialerRetries}
			if !slices.Equal(got, want) {
				t.Errorf("dial, read, write, pool timeouts and dialer retries = %v, want %v", got, want)
			}
		})
	}
}

func TestNewRedisClientRejectsBadURLsWithoutShowingThePassword(t *testing.T) {
	const secret = "hunter2-secret"
	for _, tc := range []struct {
		url  string
		want string // in the error message
	}{
		{"", "missing scheme"},
		{"127.0.0.1:6379", "missing scheme"},
		{"http://:" + secret + "@h", `unknown scheme "http"`},
		{"redis://:" + secret + "@h:notaport", "malformed URL"},
		{"redis://:hunter2 secret@h", "malformed URL"},
		{"redis://:hunter2%zz-secret@h", "malformed URL"},
		{"redis://:" + secret + "@h/abc", "invalid database number"},
		{"redis://:" + secret + "@h/0?bogus=1", "unexpected option: bogus"},
		{"redis://:" + secret + "@h/0?dial_timeout=soon", "dial_timeout"},
		{"redis://:" + secret + "@h/0?dialer_retries=many", "dialer_retries"},
		{"redis://h/0?password=" + secret, "unexpected option: password"},
		{"redis-sentinel://:" + secret + "@h1,h2", "master name"},
		{"redis-sentinel://:" + secret + "@h1/m/0/extra", "/master or /master/db"},
		{"redis-sentinel://h1/m?sentinel_password=" + secret + "&bogus=1", "unexpected option: bogus"},
		{"redis-sentinel://h1/m?password=" + secret, "option password is not accepted"},
		{"redis-sentinel://h1/m?master_name=other", "option master_name is not accepted"},
		{"redis-sentinel://h1/m?skip_verify=true", "needs TLS"},
		{"redis-cluster://:" + secret + "@h1,h2/0", "cluster URL has no path"},
		{"redis-cluster://:" + secret + "@h1,,h2", "empty host"},
		{"redis-cluster://:" + secret + "@h1:99999", "bad port"},
		{"redis-cluster://:" + secret + "@", "no host"},
		{"redis-cluster://:" + secret + "@h1?addr=h2:7000", "option addr is not accepted"},
		{"rediss-cluster://:" + secret + "@h1?skip_verify=maybe", "skip_verify"},
		{"redis-cluster://:" + secret + "@h1#frag", "fragment"},
	} {
		t.Run(tc.url, func(t *testing.T) {
			client, err := NewRedisClient(tc.url)
			if err == nil {
				_ = client.Close()
				t.Fatalf("NewRedisClient succeeded, want an error containing %q", tc.want)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not say %q", msg, tc.want)
			}
			if strings.Contains(msg, "hunter2") {
				t.Errorf("error %q shows the password", msg)
			}
			if !strings.HasPrefix(msg, "session: redis URL: ") {
				t.Errorf("error %q does not say what failed", msg)
			}
		})
	}
}

// TestNewRedisClientHandsEveryOptionToTheClient checks that the options
// given to the client are go-redis's own parse of the URL, with nothing
// lost.
func TestNewRedisClientHandsEveryOptionToTheClient(t *testing.T) {
	common := "protocol=3&client_name=wx&max_retries=4&min_retry_backoff=9ms&max_retry_backoff=99ms" +
		"&dial_timeout=3s&read_timeout=4s&write_timeout=5s&pool_fifo=true&pool_size=7&pool_timeout=6s" +
		"&min_idle_conns=1&max_idle_conns=2&max_active_conns=8&max_concurrent_dials=3" +
		"&pipeline_pool_size=2&pipeline_read_buffer_size=4096&pipeline_write_buffer_size=8192" +
		"&conn_max_idle_time=1m&conn_max_lifetime=1h&conn_max_lifetime_jitter=1m"
	multi := "&dialer_retries=3&dialer_retry_timeout=50ms&route_by_latency=true&route_by_latency_tolerance=2ms"

	t.Run("one server", func(t *testing.T) {
		raw := "rediss://u:pw@h:6380/3?skip_verify=true&" + common
		want, err := redis.ParseURL(raw)
		if err != nil {
			t.Fatal(err)
		}
		got := mustParse(t, raw).simple
		got.DialerRetries = 0 // our default; go-redis's plain URLs cannot set it
		compareFields(t, want, got)
	})
	t.Run("cluster", func(t *testing.T) {
		opts := common + multi + "&max_redirects=5&read_only=true&route_randomly=true&failing_timeout_seconds=7"
		want, err := redis.ParseClusterURL("redis://u:pw@h1:7000?addr=h2:7001&" + opts)
		if err != nil {
			t.Fatal(err)
		}
		raw := "redis-cluster://u:pw@h1:7000,h2:7001?" + opts
		compareFields(t, want, mustParse(t, raw).cluster)
	})
	t.Run("sentinel", func(t *testing.T) {
		opts := common + multi + "&replica_only=true&route_randomly=true&identitySuffix=x&disableIdentity=true"
		want, err := redis.ParseFailoverURL("redis://h1:26379/2?master_name=m&addr=h2:26380&username=u&password=pw&" + opts)
		if err != nil {
			t.Fatal(err)
		}
		raw := "redis-sentinel://u:pw@h1,h2:26380/m/2?" + opts
		compareFields(t, want, mustParse(t, raw).failover)
	})
}

func mustParse(t *testing.T, raw string) redisConfig {
	t.Helper()
	c, err := parseRedisURL(raw)
	if err != nil {
		t.Fatalf("parseRedisURL: %v", err)
	}
	return c
}

// options are the settings every kind of parsed URL has, wherever
// go-redis keeps them.
type options struct {
	addrs                      []string
	db                         int
	user, password             string
	sentinelUser, sentinelPass string
	master                     string
	tls                        *tls.Config
	dial, read, write, pool    time.Duration
	dialerRetries              int
}

func commonOptions(c redisConfig) options {
	switch {
	case c.cluster != nil:
		o := c.cluster
		return options{
			addrs: o.Addrs, user: o.Username, password: o.Password, tls: o.TLSConfig,
			dial: o.DialTimeout, read: o.ReadTimeout, write: o.WriteTimeout, pool: o.PoolTimeout, dialerRetries: o.DialerRetries,
		}
	case c.failover != nil:
		o := c.failover
		return options{
			addrs: o.SentinelAddrs, db: o.DB, user: o.Username, password: o.Password,
			sentinelUser: o.SentinelUsername, sentinelPass: o.SentinelPassword, master: o.MasterName, tls: o.TLSConfig,
			dial: o.DialTimeout, read: o.ReadTimeout, write: o.WriteTimeout, pool: o.PoolTimeout, dialerRetries: o.DialerRetries,
		}
	default:
		o := c.simple
		return options{
			addrs: []string{o.Addr}, db: o.DB, user: o.Username, password: o.Password, tls: o.TLSConfig,
			dial: o.DialTimeout, read: o.ReadTimeout, write: o.WriteTimeout, pool: o.PoolTimeout, dialerRetries: o.DialerRetries,
		}
	}
}

// compareFields reports each exported field that differs between two
// structs of the same type, so a failure names what was lost.
func compareFields[T any](t *testing.T, want, got *T) {
	t.Helper()
	w, g := reflect.ValueOf(want).Elem(), reflect.ValueOf(got).Elem()
	checked := 0
	for i := range w.NumField() {
		f := w.Type().Field(i)
		if !f.IsExported() {
			continue
		}
		checked++
		if !reflect.DeepEqual(w.Field(i).Interface(), g.Field(i).Interface()) {
			t.Errorf("%s: got %v, want %v", f.Name, g.Field(i).Interface(), w.Field(i).Interface())
		}
	}
	if checked == 0 {
		t.Fatal("no exported fields compared")
	}
}

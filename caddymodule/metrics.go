package caddymodule

import (
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are process-wide, like Caddy's own: a config reload registers the
// same collectors with the new registry, and counts carry on.
var metrics = struct {
	once          sync.Once
	logins        *prometheus.CounterVec
	phones        *prometheus.CounterVec
	requests      *prometheus.CounterVec
	wechatCalls   *prometheus.CounterVec
	wechatLatency *prometheus.HistogramVec
	tokenFetches  *prometheus.CounterVec
	apiCalls      *prometheus.CounterVec
	eventsUp      *prometheus.GaugeVec
	apiLatency    *prometheus.HistogramVec
	// requests' children, resolved once: the hot path only increments.
	// Verified requests count under their account (account.verified).
	public, rejected prometheus.Counter
}{}

func initMetrics(registry *prometheus.Registry) error {
	const ns, sub = "caddy", "wxauth"
	metrics.once.Do(func() {
		metrics.logins = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "logins_total",
			Help: "Logins by account and outcome: ok, or the error code answered.",
		}, []string{"app_id", "outcome"})
		metrics.phones = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "phone_bindings_total",
			Help: "Phone bindings by account, method (code, encrypted_data, none) and outcome: ok, or the error code answered.",
		}, []string{"app_id", "method", "outcome"})
		metrics.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "requests_total",
			Help: "Requests other than wxauth's endpoints: verified (handed on with identity, by account), public (handed on without), rejected (refused).",
		}, []string{"app_id", "result"})
		metrics.wechatCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "wechat_requests_total",
			Help: "Round trips to WeChat by account, endpoint and outcome: ok, WeChat's errcode, transport or bad_answer.",
		}, []string{"app_id", "endpoint", "outcome"})
		metrics.wechatLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: sub, Name: "wechat_request_duration_seconds",
			Help:    "Latency of round trips to WeChat by account and endpoint.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12), // 5ms … 10s
		}, []string{"app_id", "endpoint"})
		metrics.tokenFetches = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "access_token_fetches_total",
			Help: "access_token requests sent to WeChat by this instance, by account.",
		}, []string{"app_id"})
		metrics.apiCalls = prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns, Subsystem: sub, Name: "api_requests_total",
			Help: "Calls through wxapi by account, path (the allow entry matched, or other) and outcome: ok, WeChat's errcode, token (answered from the shared token), refused, unreachable.",
		}, []string{"app_id", "path", "outcome"})
		metrics.apiLatency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: ns, Subsystem: sub, Name: "api_request_duration_seconds",
			Help:    "Duration of calls through wxapi by account and path.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 12),
		}, []string{"app_id", "path"})
		metrics.eventsUp = prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: ns, Subsystem: sub, Name: "events_subscribed",
			Help: "1 while this instance receives the change events of other instances sharing the Redis store (by account), 0 while it falls back to cache_ttl re-reads.",
		}, []string{"app_id"})
		metrics.public = metrics.requests.WithLabelValues("", "public")
		metrics.rejected = metrics.requests.WithLabelValues("", "rejected")
	})
	for _, c := range []prometheus.Collector{metrics.logins, metrics.phones, metrics.requests,
		metrics.wechatCalls, metrics.wechatLatency, metrics.tokenFetches, metrics.apiCalls, metrics.apiLatency, metrics.eventsUp} {
		if err := registry.Register(c); err != nil && !errors.As(err, new(prometheus.AlreadyRegisteredError)) {
			return err
		}
	}
	return nil
}

// observeWeChat is the Observe hook of appID's wechat.Client.
func observeWeChat(appID string) func(endpoint, outcome string, took time.Duration) {
	return func(endpoint, outcome string, took time.Duration) {
		metrics.wechatCalls.WithLabelValues(appID, endpoint, outcome).Inc()
		metrics.wechatLatency.WithLabelValues(appID, endpoint).Observe(took.Seconds())
		if strings.HasPrefix(endpoint, "cgi-bin/") {
			metrics.tokenFetches.WithLabelValues(appID).Inc()
		}
	}
}

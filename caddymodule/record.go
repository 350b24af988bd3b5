package caddymodule

import (
	"crypto/sha256"
	"encoding/hex"
	"time"

	"go.uber.org/zap"
)

// record logs one line per call of an endpoint (login, phone, profile,
// logout, oauth, oauth_callback) and counts it. Nothing secret is logged; the openid only when the operator opted in
// with log_openids, else a short hash that still tells users apart.
func (h *Handler) record(ev event, outcome string, took time.Duration) {
	switch ev.name {
	case "login", "oauth_callback":
		metrics.logins.WithLabelValues(ev.appID, outcome).Inc()
	case "phone":
		method := ev.method
		if method == "" {
			method = "none" // refused before the body said which
		}
		metrics.phones.WithLabelValues(ev.appID, method, outcome).Inc()
	}
	fields := []zap.Field{zap.String("outcome", outcome), zap.Duration("duration", took)}
	if ev.appID != "" {
		fields = append(fields, zap.String("app_id", ev.appID))
	}
	if ev.method != "" {
		fields = append(fields, zap.String("method", ev.method))
	}
	if ev.openid != "" {
		fields = append(fields, h.userField(ev.appID, ev.openid))
	}
	h.logger.Info(ev.name, fields...)
}

// userField names a user in logs: the openid with log_openids, else the
// first 16 hex digits of SHA-256(app_id + openid).
func (h *Handler) userField(appID, openid string) zap.Field {
	if h.LogOpenIDs {
		return zap.String("openid", openid)
	}
	sum := sha256.Sum256([]byte(appID + "\x00" + openid))
	return zap.String("user", hex.EncodeToString(sum[:8]))
}

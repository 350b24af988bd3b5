package session

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"time"

	"github.com/redis/go-redis/v9"
)

// How a subscription checks its connection and comes back. Silence for
// subscribePingIdle sends a PING; no reply of any kind within
// subscribePongWait after it means the connection is lost. So a connection
// that died without a reset (a host that vanished, a dropped NAT mapping or
// firewall state) is noticed within about three seconds, rather than when
// TCP gives up retransmitting, many minutes later. go-redis's own
// PubSub.Channel pings too, but reconnects only when the PING cannot be
// written, which such a connection still allows.
const (
	subscribePingIdle = time.Second
	subscribePongWait = 2 * time.Second
	subscribeRetryMin = 100 * time.Millisecond
	subscribeRetryMax = 2 * time.Second
)

var _ Broadcaster = (*Redis)(nil)

// Publish sends msg to the subscribers of channel on every instance
// (PUBLISH; on a Cluster it reaches the subscribers of every node). The
// channel is namespaced by the store's prefix, as keys are, so deployments
// sharing a Redis do not hear each other.
func (r *Redis) Publish(ctx context.Context, channel string, msg []byte) error {
	if err := r.client.Publish(ctx, r.prefix+channel, msg).Err(); err != nil {
		return fmt.Errorf("session: redis publish: %w", err)
	}
	return nil
}

// Subscribe listens on channel (under the store's prefix, as Publish sends)
// on a connection of its own, outside the client's pool, as Broadcaster
// documents. Each attempt opens a fresh connection, so on a Cluster or
// behind Sentinel it goes wherever the client now routes the channel.
func (r *Redis) Subscribe(ctx context.Context, channel string, onMessage func(msg []byte), onState func(up bool)) (wait func()) {
	if onState == nil {
		onState = func(bool) {}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.subscribe(ctx, r.prefix+channel, onMessage, onState)
	}()
	return func() { <-done }
}

// subscribe runs subscriptions one after another until ctx is done,
// reporting each loss once and waiting longer after every failed attempt.
func (r *Redis) subscribe(ctx context.Context, channel string, onMessage func([]byte), onState func(bool)) {
	retry := subscribeRetryMin
	for {
		up := r.subscribeOnce(ctx, channel, onMessage, onState)
		if ctx.Err() != nil {
			return
		}
		if up {
			onState(false)
			retry = subscribeRetryMin
		}
		// Jitter, so that the instances of a deployment do not all come
		// back to a restarted Redis in the same millisecond.
		t := time.NewTimer(retry/2 + rand.N(retry/2))
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		retry = min(2*retry, subscribeRetryMax)
	}
}

// subscribeOnce subscribes on a new connection and delivers what arrives
// until the connection fails or ctx is done. It reports whether the
// subscription was established (and onState(true) called).
func (r *Redis) subscribeOnce(ctx context.Context, channel string, onMessage func([]byte), onState func(bool)) (up bool) {
	ps := r.client.Subscribe(ctx) // no channel yet: nothing is sent
	defer ps.Close()
	// A receive waits for the connection, not for ctx; closing the
	// PubSub (safe from another goroutine) is what interrupts it.
	stop := context.AfterFunc(ctx, func() { _ = ps.Close() })
	defer stop()
	if err := ps.Subscribe(ctx, channel); err != nil {
		return false
	}
	pinged := false
	for {
		wait := subscribePingIdle
		if pinged {
			wait = subscribePongWait
		}
		m, err := ps.ReceiveTimeout(ctx, wait)
		if ctx.Err() != nil {
			return up
		}
		if err != nil {
			// A timeout leaves the connection usable (go-redis keeps it);
			// any other error, a failed PING or a PING unanswered means
			// it is lost. go-redis may have reconnected this PubSub on
			// its own by now, but the next attempt starts afresh anyway.
			if pinged || !isTimeout(err) {
				return up
			}
			if ps.Ping(ctx) != nil {
				return up
			}
			pinged = true
			continue
		}
		pinged = false // anything received shows the connection alive
		switch m := m.(type) {
		case *redis.Subscription:
			if m.Kind == "subscribe" && !up {
				up = true
				onState(true)
			}
		case *redis.Message:
			onMessage([]byte(m.Payload))
		case *redis.Pong:
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

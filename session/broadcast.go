package session

import "context"

// Broadcaster carries small messages to every instance sharing a store: the
// change events that tell other instances to drop what they cached of a key
// one instance changed.
//
// *Redis implements it. *Memory does not, and need not: it serves a single
// process, which sees its own changes at once. Find out with a type
// assertion on the store itself, store.(session.Broadcaster); a wrapper that
// embeds a Store (or faultstore.Store) hides it.
//
// Delivery is at most once. A message published while a subscription is
// not established is lost, and a subscriber learns only that it may have
// missed some: every onState(true), the first one included, means "assume
// you missed changes until now" (drop caches fed by this channel).
type Broadcaster interface {
	// Publish sends msg on channel to every subscriber (of every instance).
	// Having no subscriber is not an error.
	Publish(ctx context.Context, channel string, msg []byte) error
	// Subscribe delivers channel's messages to onMessage, in order, until ctx
	// is done, and reports the subscription's state to onState: true once it
	// is established — again after every reconnect — and false once when it
	// is lost (then it retries with backoff, bounded, e.g. 100ms…2s). It
	// returns at once; delivery runs on its own goroutine, which ends when
	// ctx is done (Subscribe's returned func waits for that).
	//
	// Both callbacks run on that goroutine, one at a time, so they need no
	// lock between them; they should return quickly, as nothing is received
	// while they run. onMessage owns msg. onState may be nil. Once ctx is
	// done no further callback starts — no onState(false) either — and none
	// runs after wait has returned.
	Subscribe(ctx context.Context, channel string, onMessage func(msg []byte), onState func(up bool)) (wait func())
}

package token

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"golang.org/x/sync/singleflight"
)

// A store that loses its data (a Redis restarted without persistence) must
// not split the instances' keys for the rest of the epoch. Each Keyring checks
// every checkEvery, in the background and when it signs, that the store still
// names the key it signs with: one GET. When the store names none, the
// Keyring puts its key back (SetNX), so that the others and newcomers sign
// with it too; when the store names another key (an instance that knew
// nothing created one first), the Keyring adopts that one. Either way it then
// publishes every key it holds for the window, so that tokens issued before
// stay verifiable by every instance.

// claimCheck reports whether a check is due, and if so counts it as done
// now, so that one caller in checkEvery starts it.
func (k *Keyring) claimCheck() bool {
	now := k.now()
	k.mu.Lock()
	defer k.mu.Unlock()
	if now.Sub(k.lastCheck) < checkEvery {
		return false
	}
	k.lastCheck = now
	return true
}

// noteCheck records that the store has just been asked which key signs.
func (k *Keyring) noteCheck() {
	now := k.now()
	k.mu.Lock()
	k.lastCheck = now
	k.mu.Unlock()
}

// startCheck starts a check, detached from ctx, unless one is running, and
// returns the channel its result arrives on.
func (k *Keyring) startCheck(ctx context.Context) <-chan singleflight.Result {
	return k.loads.DoChan("check", func() (any, error) {
		ctx, cancel := detached(ctx)
		defer cancel()
		return nil, k.check(ctx)
	})
}

// check compares the newest key this instance signs with against the one the
// store names for its epoch, and repairs the store or adopts the store's key.
// An instance that has not signed in the window has nothing to check.
func (k *Keyring) check(ctx context.Context) error {
	k.noteCheck()
	e, mine := k.latestSigner()
	if mine == nil {
		return nil
	}
	stored, err := k.readSigner(ctx, e)
	if errors.Is(err, ErrUnknownKey) {
		won, serr := k.storeSigner(ctx, e, mine)
		if serr != nil {
			return serr
		}
		if won {
			return k.publishHeld(ctx)
		}
		stored, err = k.readSigner(ctx, e) // another instance stored one meanwhile
		if errors.Is(err, ErrUnknownKey) {
			return fmt.Errorf("signing key for epoch %d vanished after another instance stored it", e)
		}
	}
	if err != nil {
		return err
	}
	if stored.kid == mine.kid {
		if k.publishPending() {
			return k.publishHeld(ctx) // the last attempt failed part-way
		}
		return nil
	}
	k.setSigner(e, stored)
	return k.publishHeld(ctx)
}

// latestSigner returns the newest epoch of the window this instance signs in,
// and its key there; nil when there is none.
func (k *Keyring) latestSigner() (int64, *signingKey) {
	lo, hi := k.window(k.now())
	k.mu.Lock()
	defer k.mu.Unlock()
	var (
		latest int64
		key    *signingKey
	)
	for e, ek := range k.epochs {
		if ek.signer != nil && e >= lo && e <= hi && (key == nil || e > latest) {
			latest, key = e, ek.signer
		}
	}
	return latest, key
}

// publishHeld adds each key this instance holds for the window to its
// epoch's list, unless the list has it: at most one List per epoch of the
// window and one Push per key. Keys learnt from other instances are
// published too, so that an instance that restarted meanwhile does not take
// its tokens' key with it. When some of it fails, the next check tries again.
func (k *Keyring) publishHeld(ctx context.Context) error {
	type epochHeld struct {
		e    int64
		keys []*signingKey
	}
	lo, hi := k.window(k.now())
	var todo []epochHeld
	k.mu.Lock()
	for e, ek := range k.epochs {
		if e >= lo && e <= hi && len(ek.keys) > 0 {
			todo = append(todo, epochHeld{e, slices.Clone(ek.keys)})
		}
	}
	k.mu.Unlock()

	var errs []error
	for _, t := range todo {
		now := k.now()
		listed, err := k.readList(ctx, t.e)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		k.learn(t.e, listed, now)
		for _, key := range t.keys {
			if slices.ContainsFunc(listed, func(l *signingKey) bool { return l.kid == key.kid }) {
				continue
			}
			if err := k.push(ctx, t.e, key); err != nil {
				errs = append(errs, err)
			}
		}
	}
	k.mu.Lock()
	k.unpublished = len(errs) > 0
	k.mu.Unlock()
	return errors.Join(errs...)
}

func (k *Keyring) publishPending() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.unpublished
}

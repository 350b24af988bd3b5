// Package fakeclock is a clock that tests move by hand. Its Now fits the
// Now fields of this repository's configs, and it is safe for concurrent use.
package fakeclock

import (
	"sync"
	"time"
)

// Clock stands still until Advance or Set moves it.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// New returns a clock that stands at t.
func New(t time.Time) *Clock { return &Clock{now: t} }

func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Set moves the clock to t, backwards too.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

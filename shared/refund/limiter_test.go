package refund

import (
	"testing"
	"time"
)

// Calls to WeChat's refund API are spaced under its 150/s limit whatever
// the configuration asks for.
func TestRateStaysUnderWeChatsLimit(t *testing.T) {
	for _, tc := range []struct {
		asked int
		every time.Duration
	}{
		{0, 10 * time.Millisecond},    // default: 100/s
		{50, 20 * time.Millisecond},   // as asked
		{150, time.Second / 150},      // WeChat's limit
		{1000, 10 * time.Millisecond}, // above it: the default
	} {
		s := New(nil, nil, Config{RatePerSecond: tc.asked})
		if s.rate.every != tc.every {
			t.Errorf("RatePerSecond %d: a call every %v, want %v", tc.asked, s.rate.every, tc.every)
		}
	}
}

// The limiter hands out turns one interval apart, across goroutines.
func TestLimiterSpacesTurns(t *testing.T) {
	l := limiter{every: time.Hour}
	start := time.Now()
	l.next = start.Add(-time.Second) // the first turn is now
	if err := l.wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := l.next.Sub(start); got < time.Hour || got > time.Hour+time.Second {
		t.Fatalf("next turn in %v, want an hour", got)
	}
}

package testkit

import (
	"testing"
	"time"
)

// ForEachChannel runs test once per channel in Channels, as parallel
// subtests named after the channel; each builds its own stack.
func ForEachChannel(t *testing.T, test func(t *testing.T, ch string)) {
	t.Helper()
	for _, ch := range Channels {
		t.Run(ch, func(t *testing.T) {
			t.Parallel()
			test(t, ch)
		})
	}
}

// Eventually calls check until it returns nil, and fails the test with
// check's last error if that has not happened within Patience: for what
// happens in the background (WeChat's own timers, a batch running, a
// notification after a reply). check may call t's Fatal to stop early on
// a state that can never get better.
func Eventually(t testing.TB, check func() error) {
	t.Helper()
	deadline := time.Now().Add(Patience)
	wait := 10 * time.Millisecond
	for {
		err := check()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still so after %s: %v", Patience, err)
		}
		time.Sleep(wait)
		wait = min(2*wait, 200*time.Millisecond)
	}
}

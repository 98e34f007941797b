package testkit

import (
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/outbox"
)

// Receiver plays the merchant's back end: it verifies every business
// notification's signature, as a merchant must, and counts deliveries per
// event, so a test can tell "delivered once, signed" from "delivered".
type Receiver struct {
	URL string

	mu    sync.Mutex
	acked map[string]int
	tries map[string]int
	bad   int
	down  atomic.Bool
}

func newReceiver(t testing.TB, now func() time.Time) *Receiver {
	r := &Receiver{acked: map[string]int{}, tries: map[string]int{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		id := req.Header.Get("X-Cloudpay-Event-Id")
		r.mu.Lock()
		defer r.mu.Unlock()
		// The sender signs with the stack's clock, which tests move.
		if err := outbox.Verify(NotifySecret, req.Header.Get(outbox.SignatureHeader), body, now(), 5*time.Minute); err != nil {
			r.bad++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		r.tries[id]++
		if r.down.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		r.acked[id]++
		w.WriteHeader(http.StatusNoContent)
	}))
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	return r
}

// SetDown makes the receiver answer 503 to every correctly signed
// delivery (true) or acknowledge them again (false).
func (r *Receiver) SetDown(down bool) { r.down.Store(down) }

// Counts returns, per event id, the deliveries acknowledged and those
// tried (correctly signed, acknowledged or not), and how many deliveries
// had a bad signature.
func (r *Receiver) Counts() (acked, tries map[string]int, bad int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return maps.Clone(r.acked), maps.Clone(r.tries), r.bad
}

package checkout_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/checkout"
)

// parseLink splits a Link into the order number and the query's exp and sig.
func parseLink(t *testing.T, link string) (no, exp, sig string) {
	t.Helper()
	u, err := url.Parse(link)
	if err != nil {
		t.Fatalf("link %q: %v", link, err)
	}
	no, ok := strings.CutPrefix(u.Path, "/checkout/")
	if !ok || strings.Contains(no, "/") {
		t.Fatalf("link %q is not /checkout/{no}", link)
	}
	q := u.Query()
	if len(q) != 2 {
		t.Fatalf("link %q: query %v, want exp and sig only", link, q)
	}
	return no, q.Get("exp"), q.Get("sig")
}

func TestLinkVerifies(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_767_225_600, 0) // 2026-01-01T00:00:00Z
	s := checkout.NewSigner("test-checkout-key", "")
	for _, no := range []string{"ORDER0001", "CP20260101080000abcDEF123456", "a|b*c-d_e"} {
		link := s.Link(no, now.Add(time.Hour))
		gotNo, exp, sig := parseLink(t, link)
		if gotNo != no {
			t.Errorf("link %q names %q, want %q", link, gotNo, no)
		}
		if exp != "1767229200" {
			t.Errorf("link %q: exp %q, want the expiry in Unix seconds", link, exp)
		}
		if err := s.Verify(no, exp, sig, now); err != nil {
			t.Errorf("Verify(%q) = %v, want nil", link, err)
		}
	}
}

func TestVerifyRefuses(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_767_225_600, 0)
	s := checkout.NewSigner("test-checkout-key", "")
	no, exp, sig := parseLink(t, s.Link("ORDER0001", now.Add(time.Hour)))
	_, otherExp, otherSig := parseLink(t, s.Link("ORDER0002", now.Add(time.Hour)))
	_, laterExp, _ := parseLink(t, s.Link("ORDER0001", now.Add(2*time.Hour)))
	flipped := []byte(sig)
	flipped[3] ^= 'A' ^ 'B'
	if flipped[3] == sig[3] {
		flipped[3] = 'Q'
	}
	for _, tc := range []struct {
		name, no, exp, sig string
		now                time.Time
		want               error
	}{
		{"another order's number", "ORDER0002", exp, sig, now, checkout.ErrBadLink},
		{"another order's signature", no, exp, otherSig, now, checkout.ErrBadLink},
		{"a later expiry", no, laterExp, sig, now, checkout.ErrBadLink},
		{"an expiry with a leading zero", no, "0" + exp, sig, now, checkout.ErrBadLink},
		{"an expiry with a sign", no, "+" + exp, sig, now, checkout.ErrBadLink},
		{"a changed signature", no, exp, string(flipped), now, checkout.ErrBadLink},
		{"a truncated signature", no, exp, sig[:len(sig)-2], now, checkout.ErrBadLink},
		{"no signature", no, exp, "", now, checkout.ErrBadLink},
		{"no expiry", no, "", sig, now, checkout.ErrBadLink},
		{"a signature in another alphabet", no, exp, strings.NewReplacer("-", "+", "_", "/").Replace(sig) + "=", now, checkout.ErrBadLink},
		{"another order's link whole", no, otherExp, otherSig, now, checkout.ErrBadLink},
		{"at its expiry", no, exp, sig, now.Add(time.Hour), checkout.ErrExpiredLink},
		{"after its expiry", no, exp, sig, now.Add(time.Hour + time.Second), checkout.ErrExpiredLink},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if err := s.Verify(tc.no, tc.exp, tc.sig, tc.now); !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
	// A second before its expiry the same link is good: the cases above
	// fail for what they change, not for the clock.
	if err := s.Verify(no, exp, sig, now.Add(time.Hour-time.Second)); err != nil {
		t.Fatalf("Verify a second before expiry = %v, want nil", err)
	}
}

func TestSignerKeys(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_767_225_600, 0)
	exp := now.Add(time.Hour)
	accepts := func(verifier, signer *checkout.Signer) bool {
		no, e, sig := parseLink(t, signer.Link("ORDER0001", exp))
		return verifier.Verify(no, e, sig, now) == nil
	}
	for _, tc := range []struct {
		name     string
		a, b     *checkout.Signer
		accepted bool
	}{
		// Instances that share the admin token agree without another secret.
		{"the same fallback", checkout.NewSigner("", "admin-token"), checkout.NewSigner("", "admin-token"), true},
		{"another fallback", checkout.NewSigner("", "admin-token"), checkout.NewSigner("", "other-token"), false},
		{"the same key", checkout.NewSigner("k1", "x"), checkout.NewSigner("k1", "y"), true},
		{"another key", checkout.NewSigner("k1", "x"), checkout.NewSigner("k2", "x"), false},
		// The derived key is not the token itself: knowing how links are
		// signed with a key does not make the token a key.
		{"the token as the key", checkout.NewSigner("", "admin-token"), checkout.NewSigner("admin-token", ""), false},
		// With neither, each signer has its own random key.
		{"random keys", checkout.NewSigner("", ""), checkout.NewSigner("", ""), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := accepts(tc.a, tc.b); got != tc.accepted {
				t.Fatalf("accepts the other's link: %v, want %v", got, tc.accepted)
			}
			if !accepts(tc.a, tc.a) {
				t.Fatal("refuses its own link")
			}
		})
	}
}

func TestLinkTTL(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		minutes int
		want    time.Duration
	}{{0, 2 * time.Hour}, {-5, 2 * time.Hour}, {45, 45 * time.Minute}} {
		if got := (checkout.Config{LinkMinutes: tc.minutes}).LinkTTL(); got != tc.want {
			t.Errorf("LinkTTL with %d minutes = %s, want %s", tc.minutes, got, tc.want)
		}
	}
}

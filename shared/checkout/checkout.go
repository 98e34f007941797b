// Package checkout is the hosted checkout page of create-payment: a page a
// merchant's web shop links to, showing an order's amount, its WeChat Native
// QR code (or, where Alipay is configured, Alipay's, as the payer picks), a
// countdown and the live status. The page is reached only
// through a signed, expiring link (Signer), so order numbers cannot be
// enumerated; its HTML, script and style are embedded (no build step, no
// CDN) and run under a strict CSP.
package checkout

import "time"

// Config is how checkout links are signed.
type Config struct {
	// Key signs the links. Empty: derived from the admin token (see
	// NewSigner), so every instance that shares the token agrees.
	Key string `env:"CHECKOUT_KEY" json:"-"`
	// LinkMinutes is how long a link stays valid.
	LinkMinutes int `env:"CHECKOUT_LINK_MINUTES, default=120"`
}

// DefaultLinkMinutes is a link's life when the configuration says nothing
// (a Config built in code): longer than a default order's 30 minutes, so
// the page still shows the outcome after the order ends.
const DefaultLinkMinutes = 120

// LinkTTL is how long a link made now stays valid.
func (c Config) LinkTTL() time.Duration {
	if c.LinkMinutes <= 0 {
		return DefaultLinkMinutes * time.Minute
	}
	return time.Duration(c.LinkMinutes) * time.Minute
}

package checkout

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/url"
	"strconv"
	"time"
)

// Why a link is refused. The page answers both with the same 404, which
// says nothing about the order; the difference is for the log.
var (
	ErrBadLink     = errors.New("checkout link: bad signature")
	ErrExpiredLink = errors.New("checkout link: expired")
)

// Signer makes and checks checkout links: an HMAC-SHA256 over the order
// number and the link's expiry.
type Signer struct {
	key []byte
}

// NewSigner signs with key. Without one the key is derived from fallback
// (the first admin token) as HMAC-SHA256 keyed by "cloudpay-checkout", so
// every instance that shares the token accepts the others' links without
// another secret to deploy, and a link never reveals the token. With
// neither, the key is random: links work on this instance only.
func NewSigner(key, fallback string) *Signer {
	switch {
	case key != "":
		return &Signer{key: []byte(key)}
	case fallback != "":
		mac := hmac.New(sha256.New, []byte("cloudpay-checkout"))
		mac.Write([]byte(fallback))
		return &Signer{key: mac.Sum(nil)}
	}
	k := make([]byte, 32)
	_, _ = rand.Read(k) // crypto/rand.Read never fails (Go ≥ 1.24)
	return &Signer{key: k}
}

// Link is the path and query of the checkout page of an order, valid until
// exp (to the second): /checkout/{out_trade_no}?exp=<unix>&sig=<base64url>.
// The caller puts create-payment's public base URL in front.
func (s *Signer) Link(outTradeNo string, exp time.Time) string {
	e := strconv.FormatInt(exp.Unix(), 10)
	return "/checkout/" + url.PathEscape(outTradeNo) + "?" + Query(e, s.sign(outTradeNo, e))
}

// Query is a link's query string, for the page to call its status route
// with the same proof.
func Query(exp, sig string) string {
	return url.Values{"exp": {exp}, "sig": {sig}}.Encode()
}

// Verify checks a link's exp and sig (as the query carried them) for
// outTradeNo at now.
func (s *Signer) Verify(outTradeNo, exp, sig string, now time.Time) error {
	got, err := base64.RawURLEncoding.Strict().DecodeString(sig) // one spelling per signature
	if err != nil || !validUnix(exp) {
		return ErrBadLink
	}
	if !hmac.Equal(got, s.mac(outTradeNo, exp)) {
		return ErrBadLink
	}
	e, _ := strconv.ParseInt(exp, 10, 64)
	if now.Unix() >= e {
		return ErrExpiredLink
	}
	return nil
}

func (s *Signer) sign(outTradeNo, exp string) string {
	return base64.RawURLEncoding.EncodeToString(s.mac(outTradeNo, exp))
}

// mac binds the purpose, the order and the expiry; the separators keep
// one pair from reading as another.
func (s *Signer) mac(outTradeNo, exp string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("checkout\x00" + outTradeNo + "\x00" + exp))
	return m.Sum(nil)
}

// validUnix accepts the exp a Link writes: decimal digits, no sign, no
// leading zero, so one expiry has one spelling.
func validUnix(s string) bool {
	if s == "" || len(s) > 12 || s[0] == '0' {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

package alipay

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// DefaultGatewayURL is Alipay's production gateway (open platform API).
const DefaultGatewayURL = "https://openapi.alipay.com/gateway.do"

// Config is the Alipay channel's settings: an application (AppID) of the
// merchant (SellerID) on Alipay's open platform, its RSA2 private key, and
// how Alipay's signatures are verified — Alipay's public key (public-key
// mode) or the three certificates of the certificate mode. Both modes sign
// RSA2, SHA256WithRSA (https://opendocs.alipay.com/common/02kf5q).
//
// Nothing is required while AppID is empty: Alipay is then off. Keys and
// certificates are PEM text, or bare base64 as Alipay's key tool exports
// them; a console that takes one-line values may turn newlines into `\n`.
//
// Config never shows its private key: fmt, slog and encoding/json all see
// it redacted.
type Config struct {
	AppID      string        `env:"ALIPAY_APP_ID"`                   // empty: Alipay is off
	PrivateKey string        `env:"ALIPAY_APP_PRIVATE_KEY" json:"-"` // PKCS#1 or PKCS#8, RSA 2048
	PublicKey  string        `env:"ALIPAY_PUBLIC_KEY"`               // public-key mode: Alipay's public key
	AppCert    string        `env:"ALIPAY_APP_CERT"`                 // certificate mode: appCertPublicKey_<appid>.crt
	RootCert   string        `env:"ALIPAY_ROOT_CERT"`                // certificate mode: alipayRootCert.crt
	AlipayCert string        `env:"ALIPAY_PUBLIC_CERT"`              // certificate mode: alipayCertPublicKey_RSA2.crt
	SellerID   string        `env:"ALIPAY_SELLER_ID"`                // the merchant's PID, 2088…
	NotifyURL  string        `env:"ALIPAY_NOTIFY_URL"`               // payment-callback's /callbacks/alipay
	GatewayURL string        `env:"ALIPAY_GATEWAY_URL, default=https://openapi.alipay.com/gateway.do"`
	Timeout    time.Duration `env:"ALIPAY_TIMEOUT, default=10s"`
}

// Enabled reports whether Alipay is configured at all. An AppID of spaces
// counts as set, so that New names it instead of Alipay silently staying off.
func (c Config) Enabled() bool { return c.AppID != "" }

const redacted = "[REDACTED]"

func redact(s string) string {
	if s == "" {
		return ""
	}
	return redacted
}

// present says whether a non-secret but bulky value (a PEM) is set.
func present(s string) string {
	if s == "" {
		return ""
	}
	return "[set]"
}

// LogValue is what slog logs for a Config.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("app_id", c.AppID),
		slog.String("app_private_key", redact(c.PrivateKey)),
		slog.String("public_key", present(c.PublicKey)),
		slog.String("app_cert", present(c.AppCert)),
		slog.String("root_cert", present(c.RootCert)),
		slog.String("public_cert", present(c.AlipayCert)),
		slog.String("seller_id", c.SellerID),
		slog.String("notify_url", c.NotifyURL),
		slog.String("gateway_url", c.GatewayURL),
		slog.Duration("timeout", c.Timeout),
	)
}

// String renders the Config with its private key redacted.
func (c Config) String() string {
	return fmt.Sprintf("alipay.Config{AppID:%s PrivateKey:%s PublicKey:%s AppCert:%s RootCert:%s AlipayCert:%s "+
		"SellerID:%s NotifyURL:%s GatewayURL:%s Timeout:%s}",
		c.AppID, redact(c.PrivateKey), present(c.PublicKey), present(c.AppCert), present(c.RootCert), present(c.AlipayCert),
		c.SellerID, c.NotifyURL, c.GatewayURL, c.Timeout)
}

// Format makes every fmt verb (%v, %+v, %#v, %s, %x, …) print String:
// without it, %#v or %x would print the fields, the private key included.
func (c Config) Format(f fmt.State, _ rune) { _, _ = fmt.Fprint(f, c.String()) }

// Validate says what is wrong with the settings, by setting name and never
// by value. A disabled Config (no AppID) is valid.
func (c Config) Validate() error {
	if !c.Enabled() {
		return nil
	}
	_, err := c.check()
	return err
}

// settings is what New needs from a Config, checked and parsed. The PEM
// texts are re-encoded from the parsed keys, so the SDK reads clean input.
type settings struct {
	private *rsa.PrivateKey
	// Public-key mode.
	publicPEM string
	// Certificate mode.
	appCertPEM, rootCertPEM, alipayCertPEM string
	gateway                                string
	timeout                                time.Duration
}

var (
	// app_id is String(32), a number in practice (2021…).
	appIDPattern = regexp.MustCompile(`^[0-9]{1,32}$`)
	// A PID is 2088 and 12 more digits (卖家支付宝用户号, 以2088开头的纯16位数字:
	// https://opendocs.alipay.com/open/203/105286).
	sellerIDPattern = regexp.MustCompile(`^2088[0-9]{12}$`)
)

// minKeyBits is RSA2's key size: Alipay's key tool makes 2048-bit keys for
// RSA2 (https://opendocs.alipay.com/common/02kipk).
const minKeyBits = 2048

// check validates every setting and loads the keys. The error lists every
// problem by setting name and never echoes a value: parse errors from
// crypto/x509 are replaced, as they could quote key material.
func (c Config) check() (settings, error) {
	var s settings
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	if !appIDPattern.MatchString(c.AppID) {
		bad("ALIPAY_APP_ID must be the application's id, up to 32 digits")
	}
	switch {
	case strings.TrimSpace(c.SellerID) == "":
		bad("ALIPAY_SELLER_ID is required: notifications are checked against it")
	case !sellerIDPattern.MatchString(c.SellerID):
		bad("ALIPAY_SELLER_ID must be the merchant's PID, 16 digits starting 2088")
	}

	var err error
	if strings.TrimSpace(c.PrivateKey) == "" {
		bad("ALIPAY_APP_PRIVATE_KEY is required")
	} else if s.private, err = parsePrivateKey(c.PrivateKey); err != nil {
		bad("ALIPAY_APP_PRIVATE_KEY: %v", err)
	}

	certs := []struct{ name, value string }{
		{"ALIPAY_APP_CERT", c.AppCert}, {"ALIPAY_ROOT_CERT", c.RootCert}, {"ALIPAY_PUBLIC_CERT", c.AlipayCert},
	}
	var missing []string
	for _, cert := range certs {
		if strings.TrimSpace(cert.value) == "" {
			missing = append(missing, cert.name)
		}
	}
	certMode := len(missing) < len(certs)
	switch {
	case strings.TrimSpace(c.PublicKey) != "" && certMode:
		bad("set either ALIPAY_PUBLIC_KEY (public-key mode) or ALIPAY_APP_CERT, ALIPAY_ROOT_CERT and ALIPAY_PUBLIC_CERT (certificate mode), not both")
	case certMode && len(missing) > 0:
		bad("certificate mode needs %s too", strings.Join(missing, " and "))
	case certMode:
		s.appCertPEM, s.rootCertPEM, s.alipayCertPEM, problems = c.checkCerts(s.private, problems)
	case strings.TrimSpace(c.PublicKey) == "":
		bad("ALIPAY_PUBLIC_KEY is required (or ALIPAY_APP_CERT, ALIPAY_ROOT_CERT and ALIPAY_PUBLIC_CERT for the certificate mode)")
	default:
		if pub, err := parsePublicKey(c.PublicKey); err != nil {
			bad("ALIPAY_PUBLIC_KEY: %v", err)
		} else {
			s.publicPEM = pkixPEM(pub)
		}
	}

	s.gateway = strings.TrimSpace(c.GatewayURL)
	if s.gateway == "" {
		s.gateway = DefaultGatewayURL
	}
	production := s.gateway == DefaultGatewayURL
	if u, err := url.Parse(s.gateway); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		u.RawQuery != "" || u.Fragment != "" {
		bad("ALIPAY_GATEWAY_URL must be an http(s) URL without query")
	}
	// notify_url: Alipay posts the outcome there; a fixed, absolute URL
	// without parameters (不能加?id=123这类自定义参数:
	// https://opendocs.alipay.com/open/203/105286).
	if u, err := url.Parse(c.NotifyURL); strings.TrimSpace(c.NotifyURL) == "" {
		bad("ALIPAY_NOTIFY_URL is required: Alipay reports payments there")
	} else if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("ALIPAY_NOTIFY_URL must be an absolute http(s) URL")
	} else if u.RawQuery != "" || u.Fragment != "" {
		bad("ALIPAY_NOTIFY_URL must not carry a query")
	} else if production && u.Scheme != "https" {
		bad("ALIPAY_NOTIFY_URL must be https with the production gateway")
	}
	switch {
	case c.Timeout < 0:
		bad("ALIPAY_TIMEOUT must not be negative")
	case c.Timeout == 0:
		s.timeout = defaultTimeout
	default:
		s.timeout = c.Timeout
	}
	if len(problems) > 0 {
		return settings{}, errors.New("alipay configuration: " + strings.Join(problems, "; "))
	}
	return s, nil
}

// defaultTimeout bounds a call when ALIPAY_TIMEOUT is zero.
const defaultTimeout = 10 * time.Second

// checkCerts reads the certificate mode's three certificates, as the SDK
// uses them (LoadAppCertPublicKey, LoadAliPayRootCert,
// LoadAlipayCertPublicKey in alipay.go): the application's, whose key
// must be the private key's; Alipay's root chain, of which the SDK uses the
// RSA certificates; and Alipay's, whose RSA key verifies answers and
// notifications.
func (c Config) checkCerts(private *rsa.PrivateKey, problems []string) (appPEM, rootPEM, alipayPEM string, _ []string) {
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if certs, err := parseCerts(c.AppCert); err != nil {
		bad("ALIPAY_APP_CERT: %v", err)
	} else if pub, ok := certs[0].PublicKey.(*rsa.PublicKey); !ok {
		bad("ALIPAY_APP_CERT: not an RSA certificate")
	} else if private != nil && !pub.Equal(&private.PublicKey) {
		bad("ALIPAY_APP_CERT does not certify the key in ALIPAY_APP_PRIVATE_KEY")
	} else {
		appPEM = certPEM(certs[:1])
	}
	if certs, err := parseCerts(c.RootCert); err != nil {
		bad("ALIPAY_ROOT_CERT: %v", err)
	} else {
		// The SDK names the chain by its RSA certificates only
		// (alipay_root_cert_sn); without one Alipay refuses every call.
		var rsaCerts []*x509.Certificate
		for _, cert := range certs {
			if cert.SignatureAlgorithm == x509.SHA256WithRSA || cert.SignatureAlgorithm == x509.SHA1WithRSA {
				rsaCerts = append(rsaCerts, cert)
			}
		}
		if len(rsaCerts) == 0 {
			bad("ALIPAY_ROOT_CERT holds no RSA-signed certificate")
		} else {
			rootPEM = certPEM(rsaCerts)
		}
	}
	if certs, err := parseCerts(c.AlipayCert); err != nil {
		bad("ALIPAY_PUBLIC_CERT: %v", err)
	} else if _, ok := certs[0].PublicKey.(*rsa.PublicKey); !ok {
		bad("ALIPAY_PUBLIC_CERT: not an RSA certificate")
	} else {
		alipayPEM = certPEM(certs[:1])
	}
	return appPEM, rootPEM, alipayPEM, problems
}

// unescape undoes the `\n` a one-line console makes of a PEM's newlines.
func unescape(text string) string {
	text = strings.TrimSpace(text)
	if !strings.Contains(text, "\n") && strings.Contains(text, `\n`) {
		text = strings.ReplaceAll(text, `\n`, "\n")
	}
	return text
}

// der returns the DER bytes of a key given as PEM or as bare base64 (the
// form Alipay's key tool and console show), and the PEM block type ("" for
// base64).
func der(text string) ([]byte, string, error) {
	text = unescape(text)
	if strings.HasPrefix(text, "-----") {
		block, _ := pem.Decode([]byte(text))
		if block == nil {
			return nil, "", errors.New("not a PEM block")
		}
		return block.Bytes, block.Type, nil
	}
	raw, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(text), ""))
	if err != nil || len(raw) == 0 {
		return nil, "", errors.New("neither PEM nor base64")
	}
	return raw, "", nil
}

// parsePrivateKey reads the application's RSA key, PKCS#8 or PKCS#1.
// Parse errors are not wrapped: they could quote key material.
func parsePrivateKey(text string) (*rsa.PrivateKey, error) {
	raw, typ, err := der(text)
	if err != nil {
		return nil, err
	}
	var key *rsa.PrivateKey
	switch typ {
	case "", "PRIVATE KEY", "RSA PRIVATE KEY":
		if k, err := x509.ParsePKCS1PrivateKey(raw); err == nil {
			key = k
		} else if k, err := x509.ParsePKCS8PrivateKey(raw); err == nil {
			rsaKey, ok := k.(*rsa.PrivateKey)
			if !ok {
				return nil, errors.New("not an RSA private key")
			}
			key = rsaKey
		} else {
			return nil, errors.New("not a PKCS#1 or PKCS#8 RSA private key")
		}
	default:
		return nil, fmt.Errorf("PEM block is %q, want PRIVATE KEY", typ)
	}
	if key.N.BitLen() < minKeyBits {
		return nil, fmt.Errorf("RSA2 needs a key of at least %d bits", minKeyBits)
	}
	return key, nil
}

// parsePublicKey reads Alipay's public key (PKIX, as the console shows it;
// PKCS#1 accepted).
func parsePublicKey(text string) (*rsa.PublicKey, error) {
	raw, typ, err := der(text)
	if err != nil {
		return nil, err
	}
	switch typ {
	case "", "PUBLIC KEY", "RSA PUBLIC KEY":
	default:
		return nil, fmt.Errorf("PEM block is %q, want PUBLIC KEY", typ)
	}
	if k, err := x509.ParsePKIXPublicKey(raw); err == nil {
		rsaKey, ok := k.(*rsa.PublicKey)
		if !ok {
			return nil, errors.New("not an RSA public key")
		}
		return rsaKey, nil
	}
	if k, err := x509.ParsePKCS1PublicKey(raw); err == nil {
		return k, nil
	}
	return nil, errors.New("not a PKIX or PKCS#1 RSA public key")
}

// parseCerts reads every CERTIFICATE block of a PEM text. Certificates Go
// cannot parse (Alipay's root file carries SM2 ones) are skipped; at least
// one must parse.
func parseCerts(text string) ([]*x509.Certificate, error) {
	rest := []byte(unescape(text))
	var certs []*x509.Certificate
	blocks := 0
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != "CERTIFICATE" {
			continue
		}
		blocks++
		if cert, err := x509.ParseCertificate(block.Bytes); err == nil {
			certs = append(certs, cert)
		}
	}
	switch {
	case blocks == 0:
		return nil, errors.New("no PEM CERTIFICATE block")
	case len(certs) == 0:
		return nil, errors.New("no certificate that can be read")
	}
	return certs, nil
}

func pkixPEM(key *rsa.PublicKey) string {
	raw, err := x509.MarshalPKIXPublicKey(key)
	if err != nil { // an *rsa.PublicKey always marshals
		panic(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: raw}))
}

func certPEM(certs []*x509.Certificate) string {
	var buf bytes.Buffer
	for _, cert := range certs {
		_ = pem.Encode(&buf, &pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw})
	}
	return buf.String()
}

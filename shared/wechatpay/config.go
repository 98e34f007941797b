package wechatpay

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"strings"
	"time"
)

// DefaultAPIURL is WeChat Pay's API host, where the SDK sends every call.
const DefaultAPIURL = "https://api.mch.weixin.qq.com"

// Config is the channel's settings, loaded only when PAY_CHANNEL=v3. The
// keys come either inline (PEM text, as a secret manager injects them) or
// from files; exactly one of each pair must be set.
//
// Config never shows its secrets: fmt, slog and encoding/json all see the
// private key and the APIv3 key redacted.
type Config struct {
	MchID          string        `env:"WECHATPAY_MCH_ID, required"`
	AppID          string        `env:"WECHATPAY_APPID, required"` // the mini-program's AppID
	MchSerial      string        `env:"WECHATPAY_MCH_SERIAL, required"`
	PrivateKey     string        `env:"WECHATPAY_PRIVATE_KEY" json:"-"` // PEM text
	PrivateKeyFile string        `env:"WECHATPAY_PRIVATE_KEY_FILE"`
	APIv3Key       string        `env:"WECHATPAY_APIV3_KEY, required" json:"-"` // 32 bytes
	PublicKey      string        `env:"WECHATPAY_PUBLIC_KEY"`                   // WeChat Pay public key, PEM text
	PublicKeyFile  string        `env:"WECHATPAY_PUBLIC_KEY_FILE"`
	PublicKeyID    string        `env:"WECHATPAY_PUBLIC_KEY_ID, required"` // PUB_KEY_ID_…
	NotifyURL      string        `env:"WECHATPAY_NOTIFY_URL, required"`    // payment-callback's /callbacks/v3
	APIURL         string        `env:"WECHATPAY_API_URL, default=https://api.mch.weixin.qq.com"`
	Timeout        time.Duration `env:"WECHAT_TIMEOUT, default=5s"`
}

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
		slog.String("mch_id", c.MchID),
		slog.String("appid", c.AppID),
		slog.String("mch_serial", c.MchSerial),
		slog.String("private_key", redact(c.PrivateKey)),
		slog.String("private_key_file", c.PrivateKeyFile),
		slog.String("apiv3_key", redact(c.APIv3Key)),
		slog.String("public_key", present(c.PublicKey)),
		slog.String("public_key_file", c.PublicKeyFile),
		slog.String("public_key_id", c.PublicKeyID),
		slog.String("notify_url", c.NotifyURL),
		slog.String("api_url", c.APIURL),
		slog.Duration("timeout", c.Timeout),
	)
}

// String renders the Config with its secrets redacted.
func (c Config) String() string {
	return fmt.Sprintf("wechatpay.Config{MchID:%s AppID:%s MchSerial:%s PrivateKey:%s PrivateKeyFile:%s APIv3Key:%s "+
		"PublicKey:%s PublicKeyFile:%s PublicKeyID:%s NotifyURL:%s APIURL:%s Timeout:%s}",
		c.MchID, c.AppID, c.MchSerial, redact(c.PrivateKey), c.PrivateKeyFile, redact(c.APIv3Key),
		present(c.PublicKey), c.PublicKeyFile, c.PublicKeyID, c.NotifyURL, c.APIURL, c.Timeout)
}

// Format makes every fmt verb (%v, %+v, %#v, %s, %d, …) print String:
// without it, %#v or %d would print the fields, secrets included.
func (c Config) Format(f fmt.State, _ rune) { _, _ = fmt.Fprint(f, c.String()) }

// keys is what New needs from a Config, checked and parsed.
type keys struct {
	private *rsa.PrivateKey
	public  *rsa.PublicKey
	apiURL  *url.URL // nil for DefaultAPIURL
}

// check validates every setting and loads the keys. The error lists every
// problem by setting name and never echoes a value.
func (c Config) check() (keys, error) {
	var k keys
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	for _, s := range []struct{ name, value string }{
		{"WECHATPAY_MCH_ID", c.MchID}, {"WECHATPAY_APPID", c.AppID}, {"WECHATPAY_MCH_SERIAL", c.MchSerial},
		{"WECHATPAY_APIV3_KEY", c.APIv3Key}, {"WECHATPAY_PUBLIC_KEY_ID", c.PublicKeyID}, {"WECHATPAY_NOTIFY_URL", c.NotifyURL},
	} {
		if strings.TrimSpace(s.value) == "" {
			bad("%s is required", s.name)
		}
	}
	if c.APIv3Key != "" && len(c.APIv3Key) != 32 {
		bad("WECHATPAY_APIV3_KEY must be exactly 32 bytes")
	}
	if c.PublicKeyID != "" && !strings.HasPrefix(c.PublicKeyID, "PUB_KEY_ID_") {
		bad("WECHATPAY_PUBLIC_KEY_ID must start with PUB_KEY_ID_")
	}

	if pemText, err := oneOf("WECHATPAY_PRIVATE_KEY", c.PrivateKey, "WECHATPAY_PRIVATE_KEY_FILE", c.PrivateKeyFile); err != nil {
		bad("%v", err)
	} else if k.private, err = parsePrivateKey(pemText); err != nil {
		bad("%s: %v", setName("WECHATPAY_PRIVATE_KEY", c.PrivateKeyFile), err)
	}
	if pemText, err := oneOf("WECHATPAY_PUBLIC_KEY", c.PublicKey, "WECHATPAY_PUBLIC_KEY_FILE", c.PublicKeyFile); err != nil {
		bad("%v", err)
	} else if k.public, err = parsePublicKey(pemText); err != nil {
		bad("%s: %v", setName("WECHATPAY_PUBLIC_KEY", c.PublicKeyFile), err)
	}

	apiURL := c.APIURL
	if apiURL == "" {
		apiURL = DefaultAPIURL
	}
	production := strings.TrimRight(apiURL, "/") == DefaultAPIURL
	if !production {
		u, err := url.Parse(apiURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
			bad("WECHATPAY_API_URL must be an http(s) URL without query")
		} else {
			k.apiURL = u
		}
	}
	if c.NotifyURL != "" {
		u, err := url.Parse(c.NotifyURL)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			bad("WECHATPAY_NOTIFY_URL must be an absolute http(s) URL")
		case u.RawQuery != "" || u.Fragment != "":
			bad("WECHATPAY_NOTIFY_URL must not carry a query: WeChat Pay refuses it")
		case production && u.Scheme != "https":
			bad("WECHATPAY_NOTIFY_URL must be https: WeChat Pay only notifies https URLs")
		}
	}
	if c.Timeout < 0 {
		bad("WECHAT_TIMEOUT must not be negative")
	}
	if len(problems) > 0 {
		return keys{}, errors.New("wechatpay configuration: " + strings.Join(problems, "; "))
	}
	return k, nil
}

// setName names the setting a key came from.
func setName(inline, file string) string {
	if file != "" {
		return inline + "_FILE"
	}
	return inline
}

// oneOf returns the PEM text of a key given inline or as a file, exactly one.
func oneOf(inlineName, inline, fileName, file string) (string, error) {
	switch {
	case inline != "" && file != "":
		return "", fmt.Errorf("set only one of %s and %s", inlineName, fileName)
	case inline == "" && file == "":
		return "", fmt.Errorf("%s or %s is required", inlineName, fileName)
	case inline != "":
		return inline, nil
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		// The path is left out with the rest of the value; the reason stays.
		reason := "cannot be read"
		var pe *fs.PathError
		if errors.As(err, &pe) {
			reason = "cannot be read: " + pe.Err.Error()
		}
		return "", fmt.Errorf("%s: the file %s", fileName, reason)
	}
	return string(raw), nil
}

// pemBlock decodes the first PEM block. Consoles that take one-line values
// often turn a PEM's newlines into the two characters `\n`; those are undone.
func pemBlock(text string) (*pem.Block, error) {
	if !strings.Contains(text, "\n") && strings.Contains(text, `\n`) {
		text = strings.ReplaceAll(text, `\n`, "\n")
	}
	block, _ := pem.Decode([]byte(strings.TrimSpace(text)))
	if block == nil {
		return nil, errors.New("not a PEM block")
	}
	return block, nil
}

// parsePrivateKey reads the merchant's RSA key, PKCS#8 (apiclient_key.pem)
// or PKCS#1. Parse errors are not wrapped: they could quote key material.
func parsePrivateKey(text string) (*rsa.PrivateKey, error) {
	block, err := pemBlock(text)
	if err != nil {
		return nil, err
	}
	switch block.Type {
	case "PRIVATE KEY":
		key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, errors.New("not a valid PKCS#8 private key")
		}
		rsaKey, ok := key.(*rsa.PrivateKey)
		if !ok {
			return nil, errors.New("not an RSA private key")
		}
		return rsaKey, nil
	case "RSA PRIVATE KEY":
		key, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, errors.New("not a valid PKCS#1 RSA private key")
		}
		return key, nil
	}
	return nil, fmt.Errorf("PEM block is %q, want PRIVATE KEY", block.Type)
}

// parsePublicKey reads the WeChat Pay public key (pub_key.pem, PKIX).
func parsePublicKey(text string) (*rsa.PublicKey, error) {
	block, err := pemBlock(text)
	if err != nil {
		return nil, err
	}
	switch block.Type {
	case "PUBLIC KEY":
		key, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, errors.New("not a valid PKIX public key")
		}
		rsaKey, ok := key.(*rsa.PublicKey)
		if !ok {
			return nil, errors.New("not an RSA public key")
		}
		return rsaKey, nil
	case "RSA PUBLIC KEY":
		key, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return nil, errors.New("not a valid PKCS#1 RSA public key")
		}
		return key, nil
	}
	return nil, fmt.Errorf("PEM block is %q, want PUBLIC KEY", block.Type)
}

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
	"unicode"
	"unicode/utf8"
)

// DefaultAPIURL is WeChat Pay's API host, where the SDK sends every call.
const DefaultAPIURL = "https://api.mch.weixin.qq.com"

// Config is the channel's settings. The keys come either inline (PEM text,
// as a secret manager injects them) or from files; exactly one of each pair
// must be set.
//
// Nothing is required at load time: a function loads these settings
// whichever channel it uses, and they matter only where API v3 is used
// (PAY_CHANNEL=v3, or transfers); New checks them and names what is missing.
//
// Config never shows its secrets: fmt, slog and encoding/json all see the
// private key and the APIv3 key redacted.
type Config struct {
	MchID          string `env:"WECHATPAY_MCH_ID"`
	AppID          string `env:"WECHATPAY_APPID"` // the mini-program's AppID
	MchSerial      string `env:"WECHATPAY_MCH_SERIAL"`
	PrivateKey     string `env:"WECHATPAY_PRIVATE_KEY" json:"-"` // PEM text
	PrivateKeyFile string `env:"WECHATPAY_PRIVATE_KEY_FILE"`
	APIv3Key       string `env:"WECHATPAY_APIV3_KEY" json:"-"` // 32 bytes
	PublicKey      string `env:"WECHATPAY_PUBLIC_KEY"`         // WeChat Pay public key, PEM text
	PublicKeyFile  string `env:"WECHATPAY_PUBLIC_KEY_FILE"`
	PublicKeyID    string `env:"WECHATPAY_PUBLIC_KEY_ID"` // PUB_KEY_ID_…
	// PlatformCerts turns on the platform-certificate mode of merchants
	// registered before WeChat Pay's public keys: "download" fetches the
	// certificates from /v3/certificates (decrypted with the APIv3 key,
	// refreshed every 24 hours by the SDK). With the public key set too,
	// both are accepted: the switch-over (README, "WeChat Pay's keys").
	PlatformCerts string        `env:"WECHATPAY_PLATFORM_CERTS"`
	NotifyURL     string        `env:"WECHATPAY_NOTIFY_URL"` // payment-callback's /callbacks/v3
	APIURL        string        `env:"WECHATPAY_API_URL, default=https://api.mch.weixin.qq.com"`
	Timeout       time.Duration `env:"WECHAT_TIMEOUT, default=5s"`

	// Transfer bills (商家转账). The scene is the one applied for in the
	// merchant platform; WeChat Pay requires its report infos (scene 1000:
	// 活动名称 and 奖励说明), given as info_type=info_content pairs separated
	// by semicolons, each part at most 32 characters. The perception is
	// what the user sees the money as (scene 1000: 现金奖励 or 活动奖励);
	// empty leaves WeChat's default.
	TransferSceneID     string `env:"WECHATPAY_TRANSFER_SCENE_ID, default=1000"`
	TransferReportInfos string `env:"WECHATPAY_TRANSFER_REPORT_INFOS"` // 活动名称=回收奖励;奖励说明=回收收益提现
	TransferPerception  string `env:"WECHATPAY_TRANSFER_PERCEPTION"`
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
		slog.String("platform_certs", c.PlatformCerts),
		slog.String("notify_url", c.NotifyURL),
		slog.String("api_url", c.APIURL),
		slog.Duration("timeout", c.Timeout),
		slog.String("transfer_scene_id", c.TransferSceneID),
		slog.String("transfer_report_infos", c.TransferReportInfos),
		slog.String("transfer_perception", c.TransferPerception),
	)
}

// String renders the Config with its secrets redacted.
func (c Config) String() string {
	return fmt.Sprintf("wechatpay.Config{MchID:%s AppID:%s MchSerial:%s PrivateKey:%s PrivateKeyFile:%s APIv3Key:%s "+
		"PublicKey:%s PublicKeyFile:%s PublicKeyID:%s PlatformCerts:%s NotifyURL:%s APIURL:%s Timeout:%s "+
		"TransferSceneID:%s TransferReportInfos:%s TransferPerception:%s}",
		c.MchID, c.AppID, c.MchSerial, redact(c.PrivateKey), c.PrivateKeyFile, redact(c.APIv3Key),
		present(c.PublicKey), c.PublicKeyFile, c.PublicKeyID, c.PlatformCerts, c.NotifyURL, c.APIURL, c.Timeout,
		c.TransferSceneID, c.TransferReportInfos, c.TransferPerception)
}

// Format makes every fmt verb (%v, %+v, %#v, %s, %d, …) print String:
// without it, %#v or %d would print the fields, secrets included.
func (c Config) Format(f fmt.State, _ rune) { _, _ = fmt.Fprint(f, c.String()) }

// keys is what New needs from a Config, checked and parsed.
type keys struct {
	private *rsa.PrivateKey
	public  *rsa.PublicKey // nil in the platform-certificate mode alone
	certs   bool           // download platform certificates
	apiURL  *url.URL       // nil for DefaultAPIURL
	// Transfer bills' settings, parsed.
	transferSceneID string
	reportInfos     []reportInfo
}

// check validates every setting and loads the keys. The error lists every
// problem by setting name and never echoes a value.
func (c Config) check() (keys, error) {
	var k keys
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	for _, s := range []struct{ name, value string }{
		{"WECHATPAY_MCH_ID", c.MchID}, {"WECHATPAY_APPID", c.AppID}, {"WECHATPAY_MCH_SERIAL", c.MchSerial},
		{"WECHATPAY_APIV3_KEY", c.APIv3Key}, {"WECHATPAY_NOTIFY_URL", c.NotifyURL},
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
	// How WeChat Pay's signatures are verified: its public key, its
	// platform certificates, or both during the switch-over.
	switch c.PlatformCerts {
	case "":
	case "download":
		k.certs = true
	default:
		bad("WECHATPAY_PLATFORM_CERTS must be empty or download")
	}
	publicKeySet := c.PublicKey != "" || c.PublicKeyFile != "" || c.PublicKeyID != ""
	if publicKeySet || !k.certs {
		if strings.TrimSpace(c.PublicKeyID) == "" {
			bad("WECHATPAY_PUBLIC_KEY_ID is required (or WECHATPAY_PLATFORM_CERTS=download for the platform-certificate mode)")
		}
		if pemText, err := oneOf("WECHATPAY_PUBLIC_KEY", c.PublicKey, "WECHATPAY_PUBLIC_KEY_FILE", c.PublicKeyFile); err != nil {
			bad("%v", err)
		} else if k.public, err = parsePublicKey(pemText); err != nil {
			bad("%s: %v", setName("WECHATPAY_PUBLIC_KEY", c.PublicKeyFile), err)
		}
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
	k.transferSceneID = strings.TrimSpace(c.TransferSceneID)
	if k.transferSceneID == "" {
		k.transferSceneID = defaultTransferScene
	}
	if n := utf8.RuneCountInString(k.transferSceneID); n > 36 || strings.ContainsFunc(k.transferSceneID, unicode.IsSpace) {
		bad("WECHATPAY_TRANSFER_SCENE_ID must be at most 36 characters without spaces")
	}
	var err error
	if k.reportInfos, err = parseReportInfos(c.TransferReportInfos); err != nil {
		bad("WECHATPAY_TRANSFER_REPORT_INFOS: %v", err)
	}
	if len(problems) > 0 {
		return keys{}, errors.New("wechatpay configuration: " + strings.Join(problems, "; "))
	}
	return k, nil
}

// defaultTransferScene is 现金营销, the scene WECHATPAY_TRANSFER_SCENE_ID
// defaults to.
const defaultTransferScene = "1000"

// maxTransferText is WeChat Pay's limit on a transfer's remark and on each
// part of a report info, in characters.
const maxTransferText = 32

// reportInfo is one of transfer_scene_report_infos.
type reportInfo struct {
	InfoType    string `json:"info_type"`
	InfoContent string `json:"info_content"`
}

// parseReportInfos reads "info_type=info_content;info_type=info_content".
// Spaces around the parts and empty items (a trailing semicolon) are
// ignored.
func parseReportInfos(s string) ([]reportInfo, error) {
	var infos []reportInfo
	for i, item := range strings.Split(s, ";") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		typ, content, ok := strings.Cut(item, "=")
		typ, content = strings.TrimSpace(typ), strings.TrimSpace(content)
		switch {
		case !ok || typ == "" || content == "":
			return nil, fmt.Errorf("item %d is not info_type=info_content with both parts set", i+1)
		case utf8.RuneCountInString(typ) > maxTransferText || utf8.RuneCountInString(content) > maxTransferText:
			return nil, fmt.Errorf("item %d: info_type and info_content must be at most %d characters each", i+1, maxTransferText)
		}
		infos = append(infos, reportInfo{InfoType: typ, InfoContent: content})
	}
	return infos, nil
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

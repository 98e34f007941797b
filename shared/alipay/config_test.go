package alipay_test

import (
	"bytes"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/alipay"
)

const (
	testAppID    = "2021000000000042"
	testSellerID = "2088000000000042"
)

// keyConfig is a complete public-key-mode configuration with the test keys.
func keyConfig() alipay.Config {
	k := keysOnce()
	return alipay.Config{
		AppID: testAppID, PrivateKey: k.appPKCS8PEM, PublicKey: k.alipayPublicPEM, SellerID: testSellerID,
		NotifyURL: "https://pay.example.com/callbacks/alipay", GatewayURL: alipay.DefaultGatewayURL, Timeout: 10 * time.Second,
	}
}

// certConfig is a complete certificate-mode configuration.
func certConfig() alipay.Config {
	k := keysOnce()
	cfg := keyConfig()
	cfg.PublicKey = ""
	cfg.AppCert, cfg.RootCert, cfg.AlipayCert = k.appCertPEM, k.rootCertPEM, k.alipayCertPEM
	return cfg
}

func TestDisabledConfig(t *testing.T) {
	t.Parallel()
	cfg := alipay.Config{PrivateKey: "anything", GatewayURL: alipay.DefaultGatewayURL}
	if cfg.Enabled() {
		t.Fatal("a Config without AppID is enabled")
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("a disabled Config must validate, got %v", err)
	}
	if _, err := alipay.New(cfg, nil); err == nil || !strings.Contains(err.Error(), "ALIPAY_APP_ID") {
		t.Fatalf("New on a disabled Config = %v, want an error naming ALIPAY_APP_ID", err)
	}
	if !(alipay.Config{AppID: " "}).Enabled() {
		t.Fatal("an AppID of spaces must count as set, so that New names it")
	}
}

func TestNewNamesBadSettings(t *testing.T) {
	t.Parallel()
	k := keysOnce()
	small := newKey(1024)
	smallPEM := pemText("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(small))
	// A PEM whose body looks like a key but is not one: it must not be echoed.
	garbage := "-----BEGIN PRIVATE KEY-----\nTUlJRXZRSUJBREFOQmdrcWhraUc5dzBCQVFFRkFBU0NCS2N3Z2dTakFnRUFBb0lCQVFDNjhz\n-----END PRIVATE KEY-----\n"
	for _, tc := range []struct {
		name   string
		modify func(*alipay.Config)
		want   []string // every part must be in the error
	}{
		{"bad app id", func(c *alipay.Config) { c.AppID = "app-2021" }, []string{"ALIPAY_APP_ID"}},
		{"app id of spaces", func(c *alipay.Config) { c.AppID = "  " }, []string{"ALIPAY_APP_ID"}},
		{"no private key", func(c *alipay.Config) { c.PrivateKey = "" }, []string{"ALIPAY_APP_PRIVATE_KEY is required"}},
		{"garbage private key", func(c *alipay.Config) { c.PrivateKey = garbage }, []string{"ALIPAY_APP_PRIVATE_KEY"}},
		{"not base64 either", func(c *alipay.Config) { c.PrivateKey = "not a key at all!" }, []string{"ALIPAY_APP_PRIVATE_KEY", "neither PEM nor base64"}},
		{"public key as private key", func(c *alipay.Config) { c.PrivateKey = k.alipayPublicPEM }, []string{"ALIPAY_APP_PRIVATE_KEY", "PUBLIC KEY"}},
		{"EC private key", func(c *alipay.Config) { c.PrivateKey = ecKeyPEM(t) }, []string{"ALIPAY_APP_PRIVATE_KEY", "not an RSA private key"}},
		{"1024-bit key", func(c *alipay.Config) { c.PrivateKey = smallPEM }, []string{"ALIPAY_APP_PRIVATE_KEY", "2048"}},
		{"no Alipay key", func(c *alipay.Config) { c.PublicKey = "" }, []string{"ALIPAY_PUBLIC_KEY is required"}},
		{"garbage Alipay key", func(c *alipay.Config) { c.PublicKey = strings.ReplaceAll(garbage, "PRIVATE", "PUBLIC") }, []string{"ALIPAY_PUBLIC_KEY"}},
		{"private key as Alipay key", func(c *alipay.Config) { c.PublicKey = k.appPKCS1PEM }, []string{"ALIPAY_PUBLIC_KEY", "want PUBLIC KEY"}},
		{"both modes", func(c *alipay.Config) {
			c.AppCert, c.RootCert, c.AlipayCert = k.appCertPEM, k.rootCertPEM, k.alipayCertPEM
		}, []string{"ALIPAY_PUBLIC_KEY", "not both"}},
		{"one certificate", func(c *alipay.Config) { c.PublicKey, c.AppCert = "", k.appCertPEM }, []string{"ALIPAY_ROOT_CERT and ALIPAY_PUBLIC_CERT"}},
		{"two certificates", func(c *alipay.Config) {
			c.PublicKey, c.AppCert, c.AlipayCert = "", k.appCertPEM, k.alipayCertPEM
		}, []string{"certificate mode needs ALIPAY_ROOT_CERT"}},
		{"application certificate of another key", func(c *alipay.Config) {
			*c = certConfig()
			c.AppCert = k.strangerCertPEM
		}, []string{"ALIPAY_APP_CERT does not certify the key in ALIPAY_APP_PRIVATE_KEY"}},
		{"root that is not a certificate", func(c *alipay.Config) { *c = certConfig(); c.RootCert = k.alipayPublicPEM }, []string{"ALIPAY_ROOT_CERT", "no PEM CERTIFICATE block"}},
		{"Alipay certificate unreadable", func(c *alipay.Config) {
			*c = certConfig()
			c.AlipayCert = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"
		}, []string{"ALIPAY_PUBLIC_CERT", "no certificate that can be read"}},
		{"no seller", func(c *alipay.Config) { c.SellerID = "" }, []string{"ALIPAY_SELLER_ID is required"}},
		{"bad seller", func(c *alipay.Config) { c.SellerID = "1088000000000042" }, []string{"ALIPAY_SELLER_ID must be"}},
		{"no notify URL", func(c *alipay.Config) { c.NotifyURL = "" }, []string{"ALIPAY_NOTIFY_URL is required"}},
		{"relative notify URL", func(c *alipay.Config) { c.NotifyURL = "/callbacks/alipay" }, []string{"ALIPAY_NOTIFY_URL must be an absolute"}},
		{"notify URL with a query", func(c *alipay.Config) { c.NotifyURL += "?id=1" }, []string{"ALIPAY_NOTIFY_URL must not carry a query"}},
		{"plain http to the production gateway", func(c *alipay.Config) { c.NotifyURL = "http://pay.example.com/callbacks/alipay" }, []string{"ALIPAY_NOTIFY_URL must be https"}},
		{"bad gateway", func(c *alipay.Config) { c.GatewayURL = "openapi.alipay.com/gateway.do" }, []string{"ALIPAY_GATEWAY_URL"}},
		{"gateway with a query", func(c *alipay.Config) { c.GatewayURL = "https://openapi.alipay.com/gateway.do?charset=utf-8" }, []string{"ALIPAY_GATEWAY_URL"}},
		{"negative timeout", func(c *alipay.Config) { c.Timeout = -time.Second }, []string{"ALIPAY_TIMEOUT"}},
		{"several at once", func(c *alipay.Config) { c.SellerID, c.NotifyURL, c.PublicKey = "", "", "" },
			[]string{"ALIPAY_SELLER_ID", "ALIPAY_NOTIFY_URL", "ALIPAY_PUBLIC_KEY"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := keyConfig()
			tc.modify(&cfg)
			client, err := alipay.New(cfg, nil)
			if err == nil {
				t.Fatalf("New accepted the configuration: %v", client)
			}
			if verr := cfg.Validate(); verr == nil || verr.Error() != err.Error() {
				t.Errorf("Validate = %v, want the same error as New: %v", verr, err)
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			for _, piece := range append(secretPieces(cfg.PrivateKey, garbage, smallPEM), pemBody(garbage)) {
				if strings.Contains(err.Error(), piece) {
					t.Errorf("error reveals key material: %s", err)
				}
			}
		})
	}
}

func TestNewAcceptsEveryWayOfGivingKeys(t *testing.T) {
	t.Parallel()
	k := keysOnce()
	oneLine := func(s string) string { return strings.ReplaceAll(strings.TrimSpace(s), "\n", `\n`) }
	for _, tc := range []struct {
		name   string
		modify func(*alipay.Config)
	}{
		{"PKCS#8 PEM", func(c *alipay.Config) {}},
		{"PKCS#1 PEM", func(c *alipay.Config) { c.PrivateKey = k.appPKCS1PEM }},
		{"bare base64 from Alipay's key tool", func(c *alipay.Config) { c.PrivateKey = k.appPKCS8Base64 }},
		{"one-line PEM with \\n", func(c *alipay.Config) { c.PrivateKey, c.PublicKey = oneLine(k.appPKCS1PEM), oneLine(k.alipayPublicPEM) }},
		{"surrounding blanks", func(c *alipay.Config) { c.PrivateKey = "\n  " + k.appPKCS8PEM + "  \n" }},
		{"Alipay key as base64 from the console", func(c *alipay.Config) { c.PublicKey = k.alipayPublicBase64 }},
		{"certificate mode", func(c *alipay.Config) { *c = certConfig() }},
		{"certificate mode, one-line PEMs", func(c *alipay.Config) {
			*c = certConfig()
			c.AppCert, c.RootCert, c.AlipayCert = oneLine(c.AppCert), oneLine(c.RootCert), oneLine(c.AlipayCert)
		}},
		{"sandbox gateway, http notify URL", func(c *alipay.Config) {
			c.GatewayURL = "https://openapi-sandbox.dl.alipaydev.com/gateway.do"
			c.NotifyURL = "http://127.0.0.1:8080/callbacks/alipay"
		}},
		{"default timeout and gateway", func(c *alipay.Config) { c.Timeout, c.GatewayURL = 0, "" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := keyConfig()
			tc.modify(&cfg)
			client, err := alipay.New(cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			if client.AppID() != testAppID {
				t.Errorf("AppID() = %q", client.AppID())
			}
		})
	}
}

// In the certificate mode every request names the application's and the
// root's certificates (app_cert_sn, alipay_root_cert_sn), which Alipay
// requires; in the public-key mode neither.
func TestCertificateModeNamesTheCertificates(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		cfg   alipay.Config
		certs bool
	}{
		{"certificate mode", certConfig(), true},
		{"public-key mode", keyConfig(), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			forms := make(chan url.Values, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_ = r.ParseForm()
				forms <- r.PostForm
				w.WriteHeader(http.StatusBadGateway)
			}))
			defer srv.Close()
			cfg := tc.cfg
			cfg.GatewayURL = srv.URL + "/gateway.do"
			client, err := alipay.New(cfg, srv.Client())
			if err != nil {
				t.Fatal(err)
			}
			_, _ = client.Query(t.Context(), "CP20250101000000abc")
			form := <-forms
			for _, name := range []string{"app_cert_sn", "alipay_root_cert_sn"} {
				if got := form.Get(name) != ""; got != tc.certs {
					t.Errorf("%s present = %v, want %v (form %v)", name, got, tc.certs, form)
				}
			}
			if form.Get("app_id") != testAppID || form.Get("sign_type") != "RSA2" || form.Get("method") != "alipay.trade.query" {
				t.Errorf("unexpected request: %v", form)
			}
		})
	}
}

func TestConfigNeverRevealsSecrets(t *testing.T) {
	t.Parallel()
	cfg := keyConfig()
	secrets := secretPieces(cfg.PrivateKey)

	var jsonLog, textLog bytes.Buffer
	slog.New(slog.NewJSONHandler(&jsonLog, nil)).Info("start", "alipay", cfg, "nested", struct{ Alipay alipay.Config }{cfg})
	slog.New(slog.NewTextHandler(&textLog, nil)).Info("start", "alipay", cfg, "nested", struct{ Alipay alipay.Config }{cfg})
	marshalled, err := json.Marshal(struct{ Alipay alipay.Config }{cfg})
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{
		"slog JSON": jsonLog.String(), "slog text": textLog.String(), "json": string(marshalled), "String": cfg.String(),
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		outputs[verb] = fmt.Sprintf(verb, cfg)
		outputs[verb+" pointer"] = fmt.Sprintf(verb, &cfg)
		outputs[verb+" nested"] = fmt.Sprintf(verb, struct{ Alipay alipay.Config }{cfg})
	}
	client, err := alipay.New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	outputs["client %+v"] = fmt.Sprintf("%+v", client)
	for name, out := range outputs {
		for _, secret := range secrets {
			if strings.Contains(out, secret) {
				t.Errorf("%s reveals the private key: %s", name, out)
			}
		}
	}
	// The rest stays visible: the output is useful, and the check above
	// looked at something.
	for _, name := range []string{"slog JSON", "slog text", "%v", "%+v nested"} {
		if !strings.Contains(outputs[name], testAppID) || !strings.Contains(outputs[name], testSellerID) {
			t.Errorf("%s lost the non-secret settings: %s", name, outputs[name])
		}
	}
	if !strings.Contains(outputs["slog JSON"], `"app_private_key":"[REDACTED]"`) || !strings.Contains(outputs["%v"], "PrivateKey:[REDACTED]") {
		t.Errorf("the private key is not marked redacted: %s / %s", outputs["slog JSON"], outputs["%v"])
	}
}

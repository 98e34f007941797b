package wechatpay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cloudpay/cloudpay/shared/wechatpay"
	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

// devConfig is a complete configuration with the simulator's development
// credentials; apiURL is where the SDK's calls go.
func devConfig(apiURL, notifyURL string) wechatpay.Config {
	return wechatpay.Config{
		MchID: wechatsim.DevMchID, AppID: wechatsim.DefaultAppID, MchSerial: wechatsim.DevMerchantSerial,
		PrivateKey: wechatsim.DevMerchantPrivateKeyPEM, APIv3Key: wechatsim.DevAPIv3Key,
		PublicKey: wechatsim.DevPlatformPublicKeyPEM, PublicKeyID: wechatsim.DevPublicKeyID,
		NotifyURL: notifyURL, APIURL: apiURL,
	}
}

// pemBody is the base64 part of a PEM, the part that would leak a key.
func pemBody(pemText string) string {
	lines := strings.Split(strings.TrimSpace(pemText), "\n")
	return strings.Join(lines[1:len(lines)-1], "")
}

func TestConfigNeverRevealsSecrets(t *testing.T) {
	cfg := devConfig("http://127.0.0.1:1", "https://pay.example.com/callbacks/v3")
	secrets := []string{wechatsim.DevAPIv3Key, pemBody(wechatsim.DevMerchantPrivateKeyPEM)}
	// A few characters of the key's body are enough to count as a leak.
	for _, line := range strings.Split(wechatsim.DevMerchantPrivateKeyPEM, "\n")[1:4] {
		secrets = append(secrets, line[10:40])
	}

	var jsonLog, textLog bytes.Buffer
	slog.New(slog.NewJSONHandler(&jsonLog, nil)).Info("start", "wechatpay", cfg, "nested", struct{ WeChat wechatpay.Config }{cfg})
	slog.New(slog.NewTextHandler(&textLog, nil)).Info("start", "wechatpay", cfg, "nested", struct{ WeChat wechatpay.Config }{cfg})
	marshalled, err := json.Marshal(struct{ WeChat wechatpay.Config }{cfg})
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]string{
		"slog JSON": jsonLog.String(),
		"slog text": textLog.String(),
		"json":      string(marshalled),
		"String":    cfg.String(),
	}
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%d"} {
		outputs[verb] = fmt.Sprintf(verb, cfg)
		outputs[verb+" pointer"] = fmt.Sprintf(verb, &cfg)
		outputs[verb+" nested"] = fmt.Sprintf(verb, struct{ WeChat wechatpay.Config }{cfg})
	}
	for name, out := range outputs {
		for _, secret := range secrets {
			if strings.Contains(out, secret) {
				t.Errorf("%s reveals a secret: %s", name, out)
			}
		}
	}
	// The rest stays visible: the output is useful, and the check above
	// looked at something.
	for _, name := range []string{"slog JSON", "slog text", "%v", "%+v nested"} {
		if !strings.Contains(outputs[name], wechatsim.DevMchID) || !strings.Contains(outputs[name], wechatsim.DevPublicKeyID) {
			t.Errorf("%s lost the non-secret settings: %s", name, outputs[name])
		}
	}
	if !strings.Contains(outputs["slog JSON"], `"apiv3_key":"[REDACTED]"`) || !strings.Contains(outputs["%v"], "PrivateKey:[REDACTED]") {
		t.Errorf("secrets are not marked redacted: %s / %s", outputs["slog JSON"], outputs["%v"])
	}
}

func TestNewNamesBadSettings(t *testing.T) {
	missingFile := filepath.Join(t.TempDir(), "secret-dir-name", "apiclient_key.pem")
	for _, tc := range []struct {
		name   string
		change func(*wechatpay.Config)
		want   []string // every one must be named
		hidden string   // must not appear
	}{
		{"nothing set", func(c *wechatpay.Config) { *c = wechatpay.Config{} },
			[]string{"WECHATPAY_MCH_ID", "WECHATPAY_APPID", "WECHATPAY_MCH_SERIAL", "WECHATPAY_PRIVATE_KEY or WECHATPAY_PRIVATE_KEY_FILE",
				"WECHATPAY_APIV3_KEY", "WECHATPAY_PUBLIC_KEY or WECHATPAY_PUBLIC_KEY_FILE", "WECHATPAY_PUBLIC_KEY_ID", "WECHATPAY_NOTIFY_URL"}, ""},
		{"merchant id", func(c *wechatpay.Config) { c.MchID = " " }, []string{"WECHATPAY_MCH_ID is required"}, ""},
		{"both private keys", func(c *wechatpay.Config) { c.PrivateKeyFile = "/run/secrets/key.pem" },
			[]string{"only one of WECHATPAY_PRIVATE_KEY and WECHATPAY_PRIVATE_KEY_FILE"}, ""},
		{"private key not PEM", func(c *wechatpay.Config) { c.PrivateKey = "MIIEvQIBADANsecretmaterial" },
			[]string{"WECHATPAY_PRIVATE_KEY: not a PEM block"}, "secretmaterial"},
		{"private key is a public key", func(c *wechatpay.Config) { c.PrivateKey = wechatsim.DevMerchantPublicKeyPEM },
			[]string{"WECHATPAY_PRIVATE_KEY: PEM block"}, pemBody(wechatsim.DevMerchantPublicKeyPEM)[:40]},
		{"private key file missing", func(c *wechatpay.Config) { c.PrivateKey, c.PrivateKeyFile = "", missingFile },
			[]string{"WECHATPAY_PRIVATE_KEY_FILE: the file cannot be read"}, "secret-dir-name"},
		{"APIv3 key length", func(c *wechatpay.Config) { c.APIv3Key = "short-apiv3-secret" },
			[]string{"WECHATPAY_APIV3_KEY must be exactly 32 bytes"}, "short-apiv3-secret"},
		{"public key garbled", func(c *wechatpay.Config) {
			c.PublicKey = strings.Replace(wechatsim.DevPlatformPublicKeyPEM, "MIIB", "MIIC", 1)
		}, []string{"WECHATPAY_PUBLIC_KEY: not a valid PKIX public key"}, ""},
		{"public key id", func(c *wechatpay.Config) { c.PublicKeyID = "5157F09EFDC096DE" }, []string{"WECHATPAY_PUBLIC_KEY_ID must start with PUB_KEY_ID_"}, ""},
		{"notify URL relative", func(c *wechatpay.Config) { c.NotifyURL = "/callbacks/v3" }, []string{"WECHATPAY_NOTIFY_URL must be an absolute"}, ""},
		{"notify URL query", func(c *wechatpay.Config) { c.NotifyURL = "https://pay.example.com/v3?token=x" }, []string{"WECHATPAY_NOTIFY_URL must not carry a query"}, "token=x"},
		{"notify URL plain http for real WeChat", func(c *wechatpay.Config) { c.APIURL, c.NotifyURL = "", "http://pay.example.com/v3" },
			[]string{"WECHATPAY_NOTIFY_URL must be https"}, ""},
		{"API URL", func(c *wechatpay.Config) { c.APIURL = "localhost:8080" }, []string{"WECHATPAY_API_URL must be an http(s) URL"}, ""},
		{"report info without content", func(c *wechatpay.Config) { c.TransferReportInfos = "活动名称=回收奖励;奖励说明" },
			[]string{"WECHATPAY_TRANSFER_REPORT_INFOS: item 2 is not info_type=info_content"}, ""},
		{"report info without type", func(c *wechatpay.Config) { c.TransferReportInfos = "=回收奖励" },
			[]string{"WECHATPAY_TRANSFER_REPORT_INFOS: item 1"}, ""},
		{"report info too long", func(c *wechatpay.Config) {
			c.TransferReportInfos = "活动名称=回收奖励;奖励说明=" + strings.Repeat("长", 33)
		}, []string{"WECHATPAY_TRANSFER_REPORT_INFOS: item 2: info_type and info_content must be at most 32 characters"}, ""},
		{"transfer scene too long", func(c *wechatpay.Config) { c.TransferSceneID = strings.Repeat("1", 37) },
			[]string{"WECHATPAY_TRANSFER_SCENE_ID must be at most 36 characters"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := devConfig("http://127.0.0.1:1/sim", "https://pay.example.com/callbacks/v3")
			tc.change(&cfg)
			_, err := wechatpay.New(context.Background(), cfg, nil)
			if err == nil {
				t.Fatal("New accepted the configuration")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if tc.hidden != "" && strings.Contains(err.Error(), tc.hidden) {
				t.Errorf("error %q echoes the value", err)
			}
		})
	}
}

// Keys come inline, with their newlines escaped by a one-line console, or
// from files; the production API URL needs no rewriting.
func TestNewAcceptsEveryWayOfGivingKeys(t *testing.T) {
	dir := t.TempDir()
	keyFile, pubFile := filepath.Join(dir, "apiclient_key.pem"), filepath.Join(dir, "pub_key.pem")
	if err := os.WriteFile(keyFile, []byte(wechatsim.DevMerchantPrivateKeyPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pubFile, []byte(wechatsim.DevPlatformPublicKeyPEM), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		change func(*wechatpay.Config)
	}{
		{"inline", func(*wechatpay.Config) {}},
		{"files", func(c *wechatpay.Config) {
			c.PrivateKey, c.PrivateKeyFile, c.PublicKey, c.PublicKeyFile = "", keyFile, "", pubFile
		}},
		{"escaped newlines", func(c *wechatpay.Config) {
			c.PrivateKey = strings.ReplaceAll(c.PrivateKey, "\n", `\n`)
			c.PublicKey = strings.ReplaceAll(c.PublicKey, "\n", `\n`)
		}},
		{"production URL", func(c *wechatpay.Config) { c.APIURL = "" }},
		// 32 characters (not bytes) per part, spaces and a trailing
		// semicolon as a console may leave them.
		{"transfer settings", func(c *wechatpay.Config) {
			c.TransferSceneID, c.TransferPerception = "1005", "劳务报酬"
			c.TransferReportInfos = " 岗位类型 = " + strings.Repeat("回", 32) + " ; 报酬说明=回收收益提现;"
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := devConfig("http://127.0.0.1:1/sim", "https://pay.example.com/callbacks/v3")
			tc.change(&cfg)
			gw, err := wechatpay.New(context.Background(), cfg, nil)
			if err != nil {
				t.Fatal(err)
			}
			if gw.MerchantID() != wechatsim.DevMchID {
				t.Fatalf("MerchantID = %q", gw.MerchantID())
			}
			if out := fmt.Sprintf("%+v %#v", gw, gw); strings.Contains(out, wechatsim.DevAPIv3Key) || !strings.Contains(out, wechatsim.DevMchID) {
				t.Fatalf("a printed Client shows a secret or nothing: %s", out)
			}
		})
	}
}

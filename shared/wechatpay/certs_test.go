package wechatpay_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/wechatpay"
	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

// certificateMode is a merchant registered before WeChat Pay's public
// keys: no public key, platform certificates downloaded.
func certificateMode(c *wechatpay.Config) {
	c.PublicKey, c.PublicKeyFile, c.PublicKeyID = "", "", ""
	c.PlatformCerts = "download"
}

// switchOver is a merchant WeChat is moving to the public key: both.
func switchOver(c *wechatpay.Config) { c.PlatformCerts = "download" }

// verified reports whether the channel accepted a genuine payment
// notification and a signed answer, as the simulator signs them now.
func verified(t *testing.T, s *stack, no string) (notification, answer bool) {
	t.Helper()
	pay := s.paid(t, no)
	_, err := s.gw.QueryOrder(context.Background(), no)
	return pay.Callback.OK && s.inbox.last(t).err == nil, err == nil
}

// forgedRefused checks that notifications signed by a stranger, or naming
// a key nobody configured, are refused.
func forgedRefused(t *testing.T, s *stack, no string) {
	t.Helper()
	s.prepay(t, no)
	for _, kind := range []string{wechatsim.ForgeBadSignature, wechatsim.ForgeUnknownSerial, wechatsim.ForgeTampered} {
		d, err := s.sim.ForgeV3(context.Background(), wechatsim.ForgeV3Request{Kind: kind, OutTradeNo: no})
		if err != nil {
			t.Fatal(err)
		}
		if got := s.inbox.last(t); cloudpay.ErrorCode(got.err) != cloudpay.CodeBadSignature || d.OK {
			t.Errorf("%s notification in %s signing: %v, delivery %+v", kind, s.sim.Signing(), got.err, d)
		}
	}
}

func TestPlatformCertificateMode(t *testing.T) {
	t.Parallel()
	s := newStackWith(t, wechatsim.Config{Signing: wechatsim.SignCertificate}, 5*time.Second, certificateMode, nil)
	if n := len(s.sim.Calls("certificates")); n != 1 {
		t.Fatalf("certificate downloads at start: %d, want 1", n)
	}
	if n, a := verified(t, s, "CERT0001"); !n || !a {
		t.Fatalf("signed by the platform certificate: notification %v, answer %v", n, a)
	}
	forgedRefused(t, s, "CERT0002")
	// A merchant in this mode trusts nothing signed by a public key it
	// never configured.
	refused(t, s, "CERT0003", wechatsim.SignPublicKey)
}

// refused prepays no while the simulator signs as the channel expects,
// then switches it to mode: WeChat's notification of the payment and its
// answer to a query are both refused.
func refused(t *testing.T, s *stack, no, mode string) {
	t.Helper()
	s.prepay(t, no)
	s.sim.SetSigning(mode)
	pay, err := s.sim.Pay(context.Background(), no)
	if err != nil {
		t.Fatal(err)
	}
	if got := s.inbox.last(t); pay.Callback.OK || cloudpay.ErrorCode(got.err) != cloudpay.CodeBadSignature {
		t.Errorf("notification signed in %s mode: delivery %+v, %v", mode, pay.Callback, got.err)
	}
	if _, err := s.gw.QueryOrder(context.Background(), no); err == nil {
		t.Errorf("an answer signed in %s mode was accepted", mode)
	}
}

func TestSwitchOverAcceptsEitherSignatureAndNothingElse(t *testing.T) {
	t.Parallel()
	s := newStackWith(t, wechatsim.Config{Signing: wechatsim.SignCertificate}, 5*time.Second, switchOver, nil)
	for i, mode := range []string{wechatsim.SignCertificate, wechatsim.SignPublicKey, wechatsim.SignCertificate} {
		s.sim.SetSigning(mode)
		no := "SWOVER0" + string(rune('1'+i))
		if n, a := verified(t, s, no+"A"); !n || !a {
			t.Fatalf("%s during the switch-over: notification %v, answer %v", mode, n, a)
		}
		forgedRefused(t, s, no+"F")
	}
}

func TestPublicKeyModeRefusesCertificateSignatures(t *testing.T) {
	t.Parallel()
	s := newStackWith(t, wechatsim.Config{}, 5*time.Second, nil, nil)
	refused(t, s, "PUBONLY01", wechatsim.SignCertificate)
	if n := len(s.sim.Calls("certificates")); n != 0 {
		t.Fatalf("a public-key merchant downloaded certificates: %d", n)
	}
}

// A withdrawal's real name travels encrypted with the platform
// certificate, named in Wechatpay-Serial, for a merchant in that mode.
func TestTransferForACertificateMerchant(t *testing.T) {
	t.Parallel()
	headers := &headerLog{}
	s := newStackWith(t, wechatsim.Config{Signing: wechatsim.SignCertificate}, 5*time.Second, func(c *wechatpay.Config) {
		certificateMode(c)
		transferSettings(c)
	}, &http.Client{Transport: headers})
	req := transfer("CERTTRF01")
	req.UserName = "张三"
	if _, err := s.gw.CreateTransfer(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if h := headers.get(prefix + "/v3/fund-app/mch-transfer/transfer-bills"); h.Get("Wechatpay-Serial") != wechatsim.DevPlatformCertSerial {
		t.Fatalf("Wechatpay-Serial %q, want the platform certificate's", h.Get("Wechatpay-Serial"))
	}
	if v, ok := s.sim.Transfer("CERTTRF01"); !ok || v.UserName != "张三" {
		t.Fatalf("WeChat read the name as %+v", v)
	}
}

func TestVerificationSettingsAreChecked(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		change func(*wechatpay.Config)
		want   []string
	}{
		{"neither mode", func(c *wechatpay.Config) { c.PublicKey, c.PublicKeyID = "", "" },
			[]string{"WECHATPAY_PUBLIC_KEY_ID", "WECHATPAY_PLATFORM_CERTS"}},
		{"an unknown certificate mode", func(c *wechatpay.Config) { c.PlatformCerts = "yes" }, []string{"WECHATPAY_PLATFORM_CERTS"}},
		{"a public key id without its key", func(c *wechatpay.Config) { c.PublicKey = ""; c.PlatformCerts = "download" },
			[]string{"WECHATPAY_PUBLIC_KEY"}},
	} {
		cfg := devConfig("http://127.0.0.1:1", "https://example.com/callbacks/v3")
		tc.change(&cfg)
		_, err := wechatpay.New(context.Background(), cfg, nil)
		for _, w := range tc.want {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%s: %v, want it to name %s", tc.name, err, w)
			}
		}
	}
	// The certificates cannot be had: refused at start, naming the setting.
	cfg := devConfig("http://127.0.0.1:1", "https://example.com/callbacks/v3")
	certificateMode(&cfg)
	if _, err := wechatpay.New(context.Background(), cfg, &http.Client{Timeout: time.Second}); err == nil || !strings.Contains(err.Error(), "WECHATPAY_PLATFORM_CERTS") {
		t.Errorf("unreachable certificates: %v", err)
	}
}

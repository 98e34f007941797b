package alipaysim_test

import (
	"context"
	"crypto/rsa"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/smartwalle/alipay/v3"

	"github.com/cloudpay/cloudpay/shared/alipaysim"
)

func TestNotificationRetriedUntilExactlySuccess(t *testing.T) {
	t.Parallel()
	e := newEnv(t, alipaysim.Config{RetryDelays: fastRetries})
	// Anything but the seven characters is a failure: Alipay retries.
	rc := newReceiver(t, "fail", "success\n", " success", "SUCCESS")
	e.precreate(t, "N1", "88.88", rc.url())

	paid := e.pay(t, "N1")
	waitFor(t, "the notification to be acknowledged", func() bool {
		tr, _ := e.sim.Trade("N1")
		return tr.NotifyAcked
	})

	ds := e.sim.Deliveries("N1")
	if len(ds) != 5 {
		t.Fatalf("%d deliveries, want 5: %+v", len(ds), ds)
	}
	for i, d := range ds {
		if d.Attempt != i+1 || d.NotifyID != paid.NotifyID || d.NotifyID == "" || d.OK != (i == 4) || d.URL != rc.url() {
			t.Errorf("delivery %d = %+v", i, d)
		}
		if want := map[bool]string{true: alipaysim.TriggerPay, false: alipaysim.TriggerRetry}[i == 0]; d.Trigger != want {
			t.Errorf("delivery %d trigger %q, want %q", i, d.Trigger, want)
		}
	}
	got := rc.received()
	if len(got) != 5 {
		t.Fatalf("receiver got %d notifications, want 5", len(got))
	}
	for i, form := range got {
		n, err := e.client.DecodeNotification(context.Background(), form)
		if err != nil {
			t.Fatalf("notification %d: SDK DecodeNotification: %v", i, err)
		}
		if n.NotifyId != paid.NotifyID || n.NotifyType != "trade_status_sync" || n.TradeStatus != alipay.TradeStatusSuccess ||
			n.AppId != alipaysim.DevAppID || n.SellerId != alipaysim.DevSellerID || n.OutTradeNo != "N1" ||
			n.TradeNo != paid.TradeNo || n.TotalAmount != "88.88" || n.ReceiptAmount != "88.88" ||
			n.BuyerId != alipaysim.DevBuyerID || n.GmtPayment == "" || n.NotifyTime == "" || n.SignType != "RSA2" || n.Charset != "utf-8" {
			t.Errorf("notification %d = %+v", i, n)
		}
	}

	// Tampering with any member breaks the signature.
	tampered := url.Values{}
	for k, v := range got[0] {
		tampered[k] = v
	}
	tampered.Set("total_amount", "0.01")
	if _, err := e.client.DecodeNotification(context.Background(), tampered); !errors.Is(err, rsa.ErrVerification) {
		t.Errorf("tampered notification: err = %v, want rsa.ErrVerification", err)
	}

	// Sent again by hand: same notify_id, acknowledged.
	d, err := e.sim.Notify(context.Background(), "N1")
	if err != nil || !d.OK || d.NotifyID != paid.NotifyID || d.Trigger != alipaysim.TriggerNotify {
		t.Errorf("Notify = %+v, %v", d, err)
	}
}

func TestNotificationWithoutRetries(t *testing.T) {
	t.Parallel()
	e := newEnv(t, alipaysim.Config{RetryDelays: []time.Duration{}})
	rc := newReceiver(t, "fail")
	e.precreate(t, "N2", "1.00", rc.url())
	e.pay(t, "N2")
	// No redelivery was scheduled: Close waits for background work, then nothing more came.
	e.sim.Close()
	ds := e.sim.Deliveries("N2")
	if len(ds) != 1 || ds[0].OK || ds[0].Reply != "fail" || ds[0].Error == "" {
		t.Errorf("deliveries = %+v, want one failed attempt", ds)
	}
	if tr, _ := e.sim.Trade("N2"); tr.NotifyAcked {
		t.Error("trade acknowledged")
	}
}

func TestPayWithoutNotifyURL(t *testing.T) {
	t.Parallel()
	e := newEnv(t, alipaysim.Config{})
	e.precreate(t, "N3", "1.00", "")
	if tr := e.pay(t, "N3"); tr.Status != alipaysim.StatusSuccess {
		t.Fatalf("Pay = %+v", tr)
	}
	if ds := e.sim.Deliveries("N3"); len(ds) != 0 {
		t.Errorf("deliveries without notify_url: %+v", ds)
	}
	if _, err := e.sim.Notify(context.Background(), "N3"); err == nil {
		t.Error("Notify of a trade without notify_url succeeded")
	}
}

// merchantAccepts is what a merchant does with a notification after the SDK verified it
// (https://opendocs.alipay.com/open/270/105902): app_id, seller_id, a known
// out_trade_no and its amount.
func merchantAccepts(n *alipay.Notification, totals map[string]string) bool {
	total, known := totals[n.OutTradeNo]
	return n.AppId == alipaysim.DevAppID && n.SellerId == alipaysim.DevSellerID && known && n.TotalAmount == total
}

func TestForgedNotificationsAreRefused(t *testing.T) {
	t.Parallel()
	e := newEnv(t, alipaysim.Config{})
	rc := newReceiver(t)
	e.precreate(t, "F1", "5.00", rc.url())
	totals := map[string]string{"F1": "5.00"}

	for _, kind := range []string{alipaysim.ForgeBadSignature, alipaysim.ForgeWrongApp, alipaysim.ForgeWrongSeller,
		alipaysim.ForgeWrongAmount, alipaysim.ForgeUnknownTrade} {
		t.Run(kind, func(t *testing.T) {
			d, err := e.sim.Forge(context.Background(), alipaysim.ForgeRequest{Kind: kind, OutTradeNo: "F1"})
			if err != nil || !d.Forged || d.ForgeKind != kind || d.URL != rc.url() {
				t.Fatalf("Forge = %+v, %v", d, err)
			}
			n, err := e.client.DecodeNotification(context.Background(), d.Form())
			if kind == alipaysim.ForgeBadSignature {
				if !errors.Is(err, rsa.ErrVerification) {
					t.Errorf("bad_signature: SDK err = %v, want rsa.ErrVerification", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("SDK refused a %s notification signed by Alipay's key: %v", kind, err)
			}
			if merchantAccepts(n, totals) {
				t.Errorf("the merchant's checks accept a %s notification: %+v", kind, n)
			}
		})
	}
	if tr, _ := e.sim.Trade("F1"); tr.Status != alipaysim.StatusWaitBuyerPay || tr.Scanned {
		t.Errorf("forging changed the trade: %+v", tr)
	}
	// The genuine one passes both.
	e.pay(t, "F1")
	ds := e.sim.Deliveries("F1")
	genuine := ds[len(ds)-1]
	n, err := e.client.DecodeNotification(context.Background(), genuine.Form())
	if err != nil || !merchantAccepts(n, totals) || genuine.Forged {
		t.Errorf("genuine notification: %+v, %v", n, err)
	}
	if _, err := e.sim.Forge(context.Background(), alipaysim.ForgeRequest{Kind: "nonsense", OutTradeNo: "F1"}); err == nil {
		t.Error("Forge with an unknown kind succeeded")
	}
	d, err := e.sim.Forge(context.Background(), alipaysim.ForgeRequest{Kind: alipaysim.ForgeUnknownTrade, URL: rc.url()})
	if err != nil || d.Form().Get("out_trade_no") == "" {
		t.Errorf("unknown_trade without a trade = %+v, %v", d, err)
	}
}

// A merchant's notify handler written with the SDK alone: GetTradeNotification (parse and
// verify) and ACKNotification (200 "success").
func TestMerchantHandlerWithSDK(t *testing.T) {
	t.Parallel()
	e := newEnv(t, alipaysim.Config{RetryDelays: []time.Duration{}})
	var mu sync.Mutex
	var accepted []*alipay.Notification
	merchant := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := e.client.GetTradeNotification(r) // deprecated in favour of DecodeNotification; both must work
		if err != nil {
			http.Error(w, "fail", http.StatusBadRequest)
			return
		}
		mu.Lock()
		accepted = append(accepted, n)
		mu.Unlock()
		e.client.ACKNotification(w)
	}))
	t.Cleanup(merchant.Close)

	e.precreate(t, "M1", "0.01", merchant.URL)
	e.pay(t, "M1")
	if tr, _ := e.sim.Trade("M1"); !tr.NotifyAcked {
		t.Errorf("the SDK handler did not acknowledge: %+v", e.sim.Deliveries("M1"))
	}
	d, err := e.sim.Forge(context.Background(), alipaysim.ForgeRequest{Kind: alipaysim.ForgeBadSignature, OutTradeNo: "M1"})
	if err != nil || d.OK || d.Status != http.StatusBadRequest {
		t.Errorf("forged notification to the SDK handler = %+v, %v", d, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(accepted) != 1 || accepted[0].OutTradeNo != "M1" || accepted[0].TotalAmount != "0.01" {
		t.Errorf("accepted = %+v", accepted)
	}
}

package shipping_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/miniapp"
	"github.com/cloudpay/cloudpay/shared/shipping"
	"github.com/cloudpay/cloudpay/shared/testkit"
	"github.com/cloudpay/cloudpay/shared/wechat"
	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

var ctx = context.Background()

func express(key string) shipping.NewShipment {
	return shipping.NewShipment{Key: key, Logistics: wechat.LogisticsExpress, Mode: wechat.DeliveryUnified,
		Items: []wechat.ShippingItem{{TrackingNo: "YT8759710021515", ExpressCompany: "YTO", ItemDesc: "年度会员礼盒*1", ReceiverContact: "153****6068"}}}
}

// uploaded returns what WeChat's trade management holds for an order.
func uploaded(t *testing.T, s *testkit.Stack, no string) (int, bool) {
	t.Helper()
	sh, ok := s.Sim.MiniProgramShipment(s.Order(no).TransactionID)
	return sh.Uploads, ok && sh.ViaToken == (s.Channel == wechat.V3)
}

// Shipping is uploaded once per order and key however often it is asked
// for, on both paths (the open interface without a token, access tokens
// elsewhere), and the order shows it with one order.shipped event.
func TestShippingIsUploadedOncePerOrderAndKey(t *testing.T) {
	t.Parallel()
	testkit.ForEachChannel(t, func(t *testing.T, ch string) {
		s := testkit.New(t, testkit.Channel(ch))
		s.Paid("SHIP000001", testkit.Alice, 500)
		var wg sync.WaitGroup
		for range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, _, err := s.Shipping.Ship(ctx, "SHIP000001", express("parcel-1")); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		sh, created, err := s.Shipping.Ship(ctx, "SHIP000001", express("parcel-1"))
		if err != nil || created || sh.Status != shipping.StatusUploaded {
			t.Fatalf("again: %+v created %v, %v", sh, created, err)
		}
		if n, ok := uploaded(t, s, "SHIP000001"); n != 1 || !ok {
			t.Fatalf("uploads at WeChat: %d (path as expected: %v)", n, ok)
		}
		if o := s.Order("SHIP000001"); o.ShippingState != "shipped" {
			t.Fatalf("order shipping state %q", o.ShippingState)
		}
		shipped := 0
		for _, e := range s.Events("SHIP000001") {
			if e.Type == cloudpay.EventOrderShipped {
				shipped++
			}
		}
		if shipped != 1 {
			t.Fatalf("%d order.shipped events", shipped)
		}
		other := express("parcel-1")
		other.Items[0].TrackingNo = "SF0000000001"
		if _, _, err := s.Shipping.Ship(ctx, "SHIP000001", other); cloudpay.ErrorCode(err) != cloudpay.CodeShippingConflict {
			t.Fatalf("the key for another upload: %v", err)
		}
	})
}

// WeChat not knowing the payment yet (right after it) or unreachable:
// the upload stays pending and close-expired sends it with backoff.
func TestAnUploadWeChatCannotTakeIsRetriedByTheJob(t *testing.T) {
	t.Parallel()
	s := testkit.New(t, testkit.Channel(wechat.V3))
	s.Paid("SHIP000002", testkit.Alice, 500)
	s.Sim.MiniProgramFail(10060001, -1)
	sh, _, err := s.Shipping.Ship(ctx, "SHIP000002", express("k"))
	if err != nil || sh.Status != shipping.StatusPending || sh.Attempts != 1 {
		t.Fatalf("first try: %+v, %v", sh, err)
	}
	if r := s.Job.Run(ctx); r.ShippingSent != 0 {
		t.Fatalf("sent before its turn: %+v", r)
	}
	for i, wait := range []time.Duration{31 * time.Second, 61 * time.Second} {
		s.Advance(wait)
		if r := s.Job.Run(ctx); r.ShippingSent != 1 || len(r.Errors) != 0 {
			t.Fatalf("pass %d: %+v", i, r)
		}
	}
	got, err := s.Shipping.Get(ctx, "SHIP000002", "k")
	if err != nil || got.Status != shipping.StatusUploaded || got.Attempts != 3 {
		t.Fatalf("after the passes: %+v, %v", got, err)
	}
	if n, _ := uploaded(t, s, "SHIP000002"); n != 1 {
		t.Fatalf("uploads at WeChat: %d", n)
	}
}

// WeChat refusing for good is recorded with its words and not retried.
func TestAnUploadWeChatRefusesIsNotRetried(t *testing.T) {
	t.Parallel()
	s := testkit.New(t, testkit.Channel(wechat.CloudHosting))
	s.Paid("SHIP000003", testkit.Alice, 500)
	for _, key := range []string{"first", "update"} {
		if _, _, err := s.Shipping.Ship(ctx, "SHIP000003", express(key)); err != nil {
			t.Fatal(err)
		}
	}
	_, _, err := s.Shipping.Ship(ctx, "SHIP000003", express("third"))
	if cloudpay.ErrorCode(err) != cloudpay.CodeShippingRefused {
		t.Fatalf("a second update: %v", err)
	}
	s.Advance(time.Hour)
	if r := s.Job.Run(ctx); r.ShippingSent != 0 {
		t.Fatalf("a refused upload was sent again: %+v", r)
	}
}

func TestShippingInputIsChecked(t *testing.T) {
	t.Parallel()
	s := testkit.New(t, testkit.Channel(wechat.CloudHosting))
	s.Paying("SHIP000004", testkit.Alice, 500)
	if _, _, err := s.Shipping.Ship(ctx, "SHIP000004", express("k")); cloudpay.ErrorCode(err) != cloudpay.CodeOrderNotPaid {
		t.Fatalf("an unpaid order: %v", err)
	}
	s.Paid("SHIP000005", testkit.Alice, 500)
	for _, tc := range []struct {
		body  map[string]any
		field string
	}{
		{map[string]any{"logistics_type": "express", "shipping_list": []any{map[string]any{"item_desc": "x"}}}, "idempotency_key"},
		{map[string]any{"idempotency_key": "k", "logistics_type": "drone", "shipping_list": []any{map[string]any{"item_desc": "x"}}}, "logistics_type"},
		{map[string]any{"idempotency_key": "k", "logistics_type": "express", "shipping_list": []any{map[string]any{"item_desc": "x"}}}, "shipping_list[0].tracking_no"},
		{map[string]any{"idempotency_key": "k", "logistics_type": "express", "shipping_list": []any{
			map[string]any{"item_desc": "x", "tracking_no": "SF1", "express_company": "SF"}}}, "shipping_list[0].contact"},
		{map[string]any{"idempotency_key": "k", "logistics_type": "virtual", "shipping_list": []any{}}, "shipping_list"},
		{map[string]any{"idempotency_key": "k", "logistics_type": "virtual", "delivery_mode": "all", "shipping_list": []any{map[string]any{"item_desc": "x"}}}, "delivery_mode"},
		{map[string]any{"idempotency_key": "k", "logistics_type": "virtual", "is_all_delivered": true, "shipping_list": []any{map[string]any{"item_desc": "x"}}}, "is_all_delivered"},
	} {
		r := s.Do("POST", s.CreatePaymentURL+"/orders/SHIP000005/shipping", tc.body, testkit.Admin())
		if r.Status != http.StatusBadRequest || r.ErrorField() != tc.field {
			t.Errorf("%v: %d %s, want a 400 naming %s", tc.body, r.Status, r.Raw, tc.field)
		}
	}
	if n, _ := uploaded(t, s, "SHIP000005"); n != 0 {
		t.Fatal("bad input reached WeChat")
	}
	r := s.Do("POST", s.CreatePaymentURL+"/orders/SHIP000005/shipping", map[string]any{"idempotency_key": "k", "logistics_type": "virtual",
		"shipping_list": []any{map[string]any{"item_desc": "年度会员"}}}, testkit.Admin())
	if r.Status != http.StatusCreated || r.Body["status"] != "uploaded" || r.Body["logistics_type"] != "virtual" {
		t.Fatalf("virtual: %d %s", r.Status, r.Raw)
	}
}

// The option for services: every paid order gets a virtual-goods upload,
// sent by close-expired once WeChat has had time to learn of the payment.
func TestVirtualGoodsAreShippedAutomatically(t *testing.T) {
	t.Parallel()
	s := testkit.New(t, testkit.Channel(wechat.V3), testkit.AutoVirtualShipping())
	s.Paid("SHIP000006", testkit.Alice, 500)
	sh, err := s.Shipping.Get(ctx, "SHIP000006", "auto")
	if err != nil || sh.Status != shipping.StatusPending || sh.Logistics != wechat.LogisticsVirtual || !sh.Auto {
		t.Fatalf("after the payment: %+v, %v", sh, err)
	}
	s.Advance(11 * time.Second)
	if r := s.Job.Run(ctx); r.ShippingSent != 1 {
		t.Fatalf("pass: %+v", r)
	}
	if n, _ := uploaded(t, s, "SHIP000006"); n != 1 || s.Order("SHIP000006").ShippingState != "shipped" {
		t.Fatalf("uploads %d, order %+v", n, s.Order("SHIP000006"))
	}
}

// One access token for many callers: 20 uploads at once, one stable_token call.
func TestTheAccessTokenIsFetchedOnceUnderConcurrentCallers(t *testing.T) {
	t.Parallel()
	s := testkit.New(t, testkit.Channel(wechat.V3))
	for i := range 20 {
		s.Paid(fmt.Sprintf("TOKEN%05d", i), testkit.Alice, 100)
	}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, _, err := s.Shipping.Ship(ctx, fmt.Sprintf("TOKEN%05d", i), express("k")); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if n := s.Sim.TokensIssued(); n != 1 {
		t.Fatalf("stable_token called %d times, want 1", n)
	}
	managed, err := s.Shipping.TradeManaged(ctx)
	if err != nil || !managed {
		t.Fatalf("trade managed: %v, %v", managed, err)
	}
	s.Sim.SetTradeManaged(false)
	if managed, err := s.Shipping.TradeManaged(ctx); err != nil || managed {
		t.Fatalf("trade managed after the switch: %v, %v", managed, err)
	}
}

// A busy platform is tried again; WeChat saying it holds this very upload
// already (the answer to an earlier try was lost) is success.
func TestBusyIsRetriedAndAlreadyHeldIsSuccess(t *testing.T) {
	t.Parallel()
	s := testkit.New(t, testkit.Channel(wechat.CloudHosting))
	s.Paid("SHIP000007", testkit.Alice, 500)
	s.Paid("SHIP000008", testkit.Alice, 500)
	s.Sim.MiniProgramFail(10060012)
	if sh, _, err := s.Shipping.Ship(ctx, "SHIP000007", express("k")); err != nil || sh.Status != shipping.StatusPending {
		t.Fatalf("busy: %+v, %v", sh, err)
	}
	s.Sim.MiniProgramFail(10060023)
	if sh, _, err := s.Shipping.Ship(ctx, "SHIP000008", express("k")); err != nil || sh.Status != shipping.StatusUploaded {
		t.Fatalf("already held: %+v, %v", sh, err)
	}
	s.Advance(time.Minute)
	if r := s.Job.Run(ctx); r.ShippingSent != 1 {
		t.Fatalf("pass: %+v", r)
	}
	if got, _ := s.Shipping.Get(ctx, "SHIP000007", "k"); got.Status != shipping.StatusUploaded {
		t.Fatalf("after the pass: %+v", got)
	}
}

// A failure to reach the platform never shows the access token: not in
// the error, the stored upload, or the answer.
func TestTheAccessTokenNeverShows(t *testing.T) {
	t.Parallel()
	s := testkit.New(t, testkit.Channel(wechat.V3))
	const secretToken = "SIMTOKEN_never_shown_0123456789"
	if err := s.Store.SaveAccessToken(ctx, miniapp.AccessToken{AppID: wechatsim.DefaultAppID, Token: secretToken, ExpiresAt: s.Now().Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	c, err := miniapp.New(miniapp.Config{APIURL: "http://127.0.0.1:1", AppID: wechatsim.DefaultAppID, Secret: wechatsim.DevAppSecret, Timeout: time.Second},
		s.Store, nil, s.Now)
	if err != nil {
		t.Fatal(err)
	}
	err = c.UploadShipping(ctx, wechat.ShippingInfo{TransactionID: "4200000000000000000000000000", Logistics: wechat.LogisticsVirtual,
		Mode: wechat.DeliveryUnified, Items: []wechat.ShippingItem{{ItemDesc: "x"}}, UploadTime: s.Now(), PayerOpenID: testkit.Alice})
	if err == nil || strings.Contains(err.Error(), secretToken) || strings.Contains(fmt.Sprintf("%+v", err), secretToken) {
		t.Fatalf("error: %v", err)
	}
	if cfg := fmt.Sprintf("%v %+v %#v", c, miniapp.Config{Secret: wechatsim.DevAppSecret}, miniapp.Config{Secret: wechatsim.DevAppSecret}); strings.Contains(cfg, wechatsim.DevAppSecret) {
		t.Fatalf("the secret shows: %s", cfg)
	}
}

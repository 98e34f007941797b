package wechatpay_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/wechat"
	"github.com/cloudpay/cloudpay/shared/wechatpay"
	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

// reportInfos is scene 1000's report, as an operator would configure it.
const reportInfos = "活动名称=回收奖励;奖励说明=回收收益提现"

func transferSettings(c *wechatpay.Config) {
	c.TransferReportInfos = reportInfos
	c.TransferPerception = "现金奖励"
}

// headerLog records the headers of the requests the channel sends.
type headerLog struct {
	mu      sync.Mutex
	headers map[string]http.Header // by path
}

func (l *headerLog) RoundTrip(r *http.Request) (*http.Response, error) {
	l.mu.Lock()
	if l.headers == nil {
		l.headers = map[string]http.Header{}
	}
	l.headers[r.URL.Path] = r.Header.Clone()
	l.mu.Unlock()
	return http.DefaultTransport.RoundTrip(r)
}

func (l *headerLog) get(path string) http.Header {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.headers[path]
}

func transfer(no string) wechat.TransferRequest {
	return wechat.TransferRequest{OutBillNo: no, OpenID: "oUser0001", AmountFen: 150, Remark: "回收收益提现"}
}

// transferStack is a stack with the transfer settings configured.
func transferStack(t *testing.T, simCfg wechatsim.Config, timeout time.Duration) *stack {
	t.Helper()
	return newStackWith(t, simCfg, timeout, transferSettings, nil)
}

func TestTransferConfirmedByTheUser(t *testing.T) {
	headers := &headerLog{}
	s := newStackWith(t, wechatsim.Config{}, 5*time.Second, transferSettings, &http.Client{Transport: headers})
	ctx := context.Background()
	req := transfer("V3TRF001")
	req.UserName = "张三"

	res, err := s.gw.CreateTransfer(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if res.OutBillNo != "V3TRF001" || res.State != wechat.TransferWaitUserConfirm || res.PackageInfo == "" || res.TransferBillNo == "" ||
		res.MchID != wechatsim.DevMchID || time.Since(res.CreatedAt).Abs() > time.Minute || res.CreatedAt.Location() != time.UTC {
		t.Fatalf("created: %+v", res)
	}

	call, body := lastCall(t, s.sim, "transfer")
	if call.Path != "/v3/fund-app/mch-transfer/transfer-bills" {
		t.Fatalf("path at WeChat %q", call.Path)
	}
	if body["appid"] != wechatsim.DefaultAppID || body["out_bill_no"] != "V3TRF001" || body["transfer_scene_id"] != "1000" ||
		body["openid"] != "oUser0001" || body["transfer_amount"] != 150.0 || body["transfer_remark"] != "回收收益提现" ||
		!strings.HasSuffix(body["notify_url"].(string), "/callbacks/v3") || body["user_recv_perception"] != "现金奖励" {
		t.Fatalf("transfer request %v", body)
	}
	infos, _ := body["transfer_scene_report_infos"].([]any)
	if len(infos) != 2 ||
		infos[0].(map[string]any)["info_type"] != "活动名称" || infos[0].(map[string]any)["info_content"] != "回收奖励" ||
		infos[1].(map[string]any)["info_type"] != "奖励说明" || infos[1].(map[string]any)["info_content"] != "回收收益提现" {
		t.Fatalf("report infos %v", body["transfer_scene_report_infos"])
	}
	// The name travels encrypted, under the key the serial names, and
	// WeChat reads it back.
	if name, _ := body["user_name"].(string); name == "" || strings.Contains(name, "张三") {
		t.Fatalf("user_name on the wire: %q", name)
	}
	if h := headers.get(prefix + "/v3/fund-app/mch-transfer/transfer-bills"); h.Get("Wechatpay-Serial") != wechatsim.DevPublicKeyID {
		t.Fatalf("Wechatpay-Serial %q", h.Get("Wechatpay-Serial"))
	}
	v, ok := s.sim.Transfer("V3TRF001")
	if !ok || v.UserName != "张三" {
		t.Fatalf("at WeChat: %+v", v)
	}

	q, err := s.gw.QueryTransfer(ctx, "V3TRF001")
	if err != nil || q.State != wechat.TransferWaitUserConfirm || q.TransferBillNo != res.TransferBillNo || q.AmountFen != 150 ||
		q.OpenID != "oUser0001" || q.MchID != wechatsim.DevMchID {
		t.Fatalf("waiting: %+v %v", q, err)
	}
	if c, _ := lastCall(t, s.sim, "querytransfer"); c.Path != "/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/V3TRF001" {
		t.Fatalf("query path %q", c.Path)
	}

	before := s.inbox.count()
	if _, err := s.sim.ConfirmTransfer(ctx, "V3TRF001"); err != nil {
		t.Fatal(err)
	}
	q = waitTransfer(t, s, "V3TRF001", wechat.TransferSuccess)
	if q.TransferBillNo != res.TransferBillNo || q.AmountFen != 150 || q.FailReason != "" || q.UpdatedAt.IsZero() {
		t.Fatalf("succeeded: %+v", q)
	}

	// WeChat notifies the outcome.
	n := waitNotification(t, s, before)
	if n.EventType != "MCHTRANSFER.BILL.FINISHED" || n.Transfer == nil || n.Resource != nil || n.Transaction != nil || n.Refund != nil {
		t.Fatalf("notification %+v", n)
	}
	if tr := *n.Transfer; tr.OutBillNo != "V3TRF001" || tr.TransferBillNo != res.TransferBillNo || tr.State != wechat.TransferSuccess ||
		tr.AmountFen != 150 || tr.OpenID != "oUser0001" || tr.MchID != wechatsim.DevMchID ||
		tr.CreatedAt.IsZero() || tr.UpdatedAt.IsZero() || tr.PackageInfo != "" {
		t.Fatalf("notified transfer %+v", tr)
	}
}

// waitTransfer queries the bill until it reaches state: WeChat may finish
// a confirmed transfer a little later.
func waitTransfer(t *testing.T, s *stack, no string, state wechat.TransferState) wechat.TransferResult {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		q, err := s.gw.QueryTransfer(context.Background(), no)
		if err != nil {
			t.Fatal(err)
		}
		if q.State == state {
			return q
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s is %s, want %s", no, q.State, state)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitNotification waits for the notification after the first before and
// returns it parsed.
func waitNotification(t *testing.T, s *stack, before int) wechatpay.Notification {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for s.inbox.count() <= before {
		if time.Now().After(deadline) {
			t.Fatal("no notification arrived")
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.inbox.mu.Lock()
	got := s.inbox.got[before]
	s.inbox.mu.Unlock()
	if got.err != nil {
		t.Fatal(got.err)
	}
	return got.n
}

func TestTransferWithoutOptionalFields(t *testing.T) {
	headers := &headerLog{}
	// Scene 1005 with its own report; no perception, no name.
	s := newStackWith(t, wechatsim.Config{}, 5*time.Second, func(c *wechatpay.Config) {
		c.TransferSceneID, c.TransferReportInfos = "1005", "岗位类型=回收员;报酬说明=回收收益"
	}, &http.Client{Transport: headers})
	if _, err := s.gw.CreateTransfer(context.Background(), transfer("V3TRF002")); err != nil {
		t.Fatal(err)
	}
	_, body := lastCall(t, s.sim, "transfer")
	if _, ok := body["user_name"]; ok {
		t.Fatalf("user_name sent without a name: %v", body)
	}
	if _, ok := body["user_recv_perception"]; ok {
		t.Fatalf("empty perception sent: %v", body)
	}
	if body["transfer_scene_id"] != "1005" || len(body["transfer_scene_report_infos"].([]any)) != 2 {
		t.Fatalf("transfer request %v", body)
	}
	if v, ok := s.sim.Transfer("V3TRF002"); !ok || v.UserName != "" {
		t.Fatalf("at WeChat: %+v", v)
	}
}

func TestTransferThatWeChatDoesNotKnow(t *testing.T) {
	s := transferStack(t, wechatsim.Config{}, 5*time.Second)
	q, err := s.gw.QueryTransfer(context.Background(), "NEVER0001")
	if err != nil || q != (wechat.TransferResult{OutBillNo: "NEVER0001", State: wechat.TransferNotExist}) {
		t.Fatalf("unknown bill: %+v %v", q, err)
	}
}

func TestCancelTransfer(t *testing.T) {
	s := transferStack(t, wechatsim.Config{}, 5*time.Second)
	ctx := context.Background()
	created, err := s.gw.CreateTransfer(ctx, transfer("V3TRF003"))
	if err != nil {
		t.Fatal(err)
	}
	before := s.inbox.count()
	res, err := s.gw.CancelTransfer(ctx, "V3TRF003")
	if err != nil {
		t.Fatal(err)
	}
	if res.OutBillNo != "V3TRF003" || res.TransferBillNo != created.TransferBillNo ||
		(res.State != wechat.TransferCanceling && res.State != wechat.TransferCancelled) {
		t.Fatalf("cancel: %+v", res)
	}
	if c, _ := lastCall(t, s.sim, "canceltransfer"); c.Path != "/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/V3TRF003/cancel" {
		t.Fatalf("cancel path %q", c.Path)
	}
	waitTransfer(t, s, "V3TRF003", wechat.TransferCancelled)
	n := waitNotification(t, s, before)
	if n.Transfer == nil || n.Transfer.OutBillNo != "V3TRF003" || n.Transfer.State != wechat.TransferCancelled {
		t.Fatalf("notification %+v", n)
	}
	// Confirming a cancelled bill changes nothing.
	if _, err := s.sim.ConfirmTransfer(ctx, "V3TRF003"); err == nil {
		t.Fatal("a cancelled bill was confirmed")
	}
}

func TestTransferThatFails(t *testing.T) {
	s := transferStack(t, wechatsim.Config{}, 5*time.Second)
	ctx := context.Background()
	if _, err := s.gw.CreateTransfer(ctx, transfer("V3TRF004")); err != nil {
		t.Fatal(err)
	}
	before := s.inbox.count()
	if _, err := s.sim.SettleTransfer(ctx, "V3TRF004", "FAIL", "ACCOUNT_FROZEN"); err != nil {
		t.Fatal(err)
	}
	q := waitTransfer(t, s, "V3TRF004", wechat.TransferFail)
	if q.FailReason != "ACCOUNT_FROZEN" {
		t.Fatalf("failed: %+v", q)
	}
	n := waitNotification(t, s, before)
	if n.Transfer == nil || n.Transfer.State != wechat.TransferFail || n.Transfer.FailReason != "ACCOUNT_FROZEN" {
		t.Fatalf("notification %+v", n)
	}

	// The user declines in the mini program.
	if _, err := s.gw.CreateTransfer(ctx, transfer("V3TRF014")); err != nil {
		t.Fatal(err)
	}
	v, err := s.sim.DeclineTransfer(ctx, "V3TRF014")
	if err != nil {
		t.Fatal(err)
	}
	if v.Callback == nil || !v.Callback.OK || v.Callback.Status != http.StatusNoContent {
		t.Fatalf("delivery %+v", v.Callback)
	}
	if q, err := s.gw.QueryTransfer(ctx, "V3TRF014"); err != nil || q.State != wechat.TransferFail || q.FailReason != v.FailReason || q.FailReason == "" {
		t.Fatalf("declined: %+v %v", q, err)
	}
}

// A merchant whose transfers need no confirmation gets PROCESSING, no
// package_info, and then the outcome.
func TestTransferWithoutUserConfirmation(t *testing.T) {
	s := transferStack(t, wechatsim.Config{TransferNoConfirm: true}, 5*time.Second)
	before := s.inbox.count()
	res, err := s.gw.CreateTransfer(context.Background(), transfer("V3TRF006"))
	if err != nil {
		t.Fatal(err)
	}
	if res.State != wechat.TransferProcessing && res.State != wechat.TransferSuccess || res.PackageInfo != "" {
		t.Fatalf("created: %+v", res)
	}
	waitTransfer(t, s, "V3TRF006", wechat.TransferSuccess)
	if n := waitNotification(t, s, before); n.Transfer == nil || n.Transfer.State != wechat.TransferSuccess {
		t.Fatalf("notification %+v", n)
	}
}

// What WeChat Pay would refuse for its form is refused before any call.
func TestTransferRequestsRefusedBeforeSending(t *testing.T) {
	s := transferStack(t, wechatsim.Config{}, 5*time.Second)
	ctx := context.Background()
	for _, tc := range []struct {
		name, field string
		change      func(*wechat.TransferRequest)
	}{
		{"remark of 33 characters", "remark", func(r *wechat.TransferRequest) { r.Remark = strings.Repeat("提", 33) }},
		{"no remark", "remark", func(r *wechat.TransferRequest) { r.Remark = "" }},
		{"bill number with a dash", "out_bill_no", func(r *wechat.TransferRequest) { r.OutBillNo = "V3-TRF" }},
		{"no amount", "amount_fen", func(r *wechat.TransferRequest) { r.AmountFen = 0 }},
		{"no openid", "openid", func(r *wechat.TransferRequest) { r.OpenID = "" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := transfer("V3TRF005")
			tc.change(&req)
			_, err := s.gw.CreateTransfer(ctx, req)
			var de *cloudpay.Error
			if !errors.As(err, &de) || de.Code != cloudpay.CodeInvalidField || de.Field != tc.field {
				t.Fatalf("err = %v, want INVALID_FIELD %s", err, tc.field)
			}
		})
	}
	// 32 characters, not bytes: a Chinese remark of 32 goes through.
	req := transfer("V3TRF005")
	req.Remark = strings.Repeat("提", 32)
	if _, err := s.gw.CreateTransfer(ctx, req); err != nil {
		t.Fatal(err)
	}
	if n := len(s.sim.Calls("transfer")); n != 1 {
		t.Fatalf("%d transfer calls reached WeChat, want 1", n)
	}
	if _, err := s.gw.QueryTransfer(ctx, "../V3TRF005"); cloudpay.ErrorCode(err) != cloudpay.CodeInvalidField {
		t.Fatalf("query of a malformed number: %v", err)
	}
}

// WeChat Pay's own refusals reach the use cases in a WeChatError.
func TestTransferRefusalsCarryWeChatsCodeAndStatus(t *testing.T) {
	s := transferStack(t, wechatsim.Config{TransferMinFen: 10, TransferMaxFen: 20000}, 5*time.Second)
	ctx := context.Background()
	if _, err := s.gw.CreateTransfer(ctx, transfer("V3TRE001")); err != nil {
		t.Fatal(err)
	}
	calls := map[string]func() error{
		"transfer":       func() error { _, err := s.gw.CreateTransfer(ctx, transfer("V3TRE002")); return err },
		"querytransfer":  func() error { _, err := s.gw.QueryTransfer(ctx, "V3TRE001"); return err },
		"canceltransfer": func() error { _, err := s.gw.CancelTransfer(ctx, "V3TRE001"); return err },
	}
	for _, tc := range []struct {
		api, code string
		status    int
	}{
		{"transfer", "PARAM_ERROR", 400},
		{"transfer", "NOT_ENOUGH", 403},
		{"transfer", "NO_AUTH", 403},
		{"transfer", "FREQUENCY_LIMITED", 429},
		{"querytransfer", "SYSTEM_ERROR", 500},
		{"canceltransfer", "INVALID_REQUEST", 400},
		{"canceltransfer", "503", 503},
	} {
		t.Run(tc.api+" "+tc.code, func(t *testing.T) {
			if err := s.sim.AddFault(wechatsim.Fault{API: tc.api, Mode: wechatsim.ModeFail, Count: 1, Code: tc.code}); err != nil {
				t.Fatal(err)
			}
			err := calls[tc.api]()
			if got := cloudpay.ErrorCode(err); got != cloudpay.CodeWeChatError {
				t.Fatalf("code %s (%v), want WECHAT_ERROR", got, err)
			}
			wantCode := tc.code
			if tc.code == "503" {
				wantCode = "SYSTEM_ERROR"
			}
			we, ok := wechat.ErrorOf(err)
			if !ok || we.Code != wantCode || we.HTTPStatus != tc.status {
				t.Fatalf("WeChatError %+v (found %v), want %s HTTP %d", we, ok, wantCode, tc.status)
			}
		})
	}
	if _, ok := s.sim.Transfer("V3TRE002"); ok {
		t.Fatal("a refused transfer was made")
	}

	// Outside the scene's range, WeChat refuses on its own.
	small := transfer("V3TRE003")
	small.AmountFen = 9
	_, err := s.gw.CreateTransfer(ctx, small)
	if we, ok := wechat.ErrorOf(err); !ok || we.Code != "INVALID_REQUEST" || we.HTTPStatus != 400 {
		t.Fatalf("below the minimum: %v", err)
	}
}

// An unanswered transfer may have been made: WECHAT_TIMEOUT, and the bill
// is found by its number.
func TestTransferNotAnsweredInTime(t *testing.T) {
	s := transferStack(t, wechatsim.Config{}, 300*time.Millisecond)
	ctx := context.Background()
	if err := s.sim.AddFault(wechatsim.Fault{API: "transfer", Mode: wechatsim.ModeTimeout, Count: 1}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	_, err := s.gw.CreateTransfer(ctx, transfer("V3TRT001"))
	if cloudpay.ErrorCode(err) != cloudpay.CodeWeChatTimeout {
		t.Fatalf("err = %v, want WECHAT_TIMEOUT", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("the call took %s: not bounded by the timeout", d)
	}
	q, err := s.gw.QueryTransfer(ctx, "V3TRT001")
	if err != nil || q.State != wechat.TransferWaitUserConfirm {
		t.Fatalf("query after the timeout: %+v %v", q, err)
	}
	// Asking again under the same number is safe: it is the same bill.
	again, err := s.gw.CreateTransfer(ctx, transfer("V3TRT001"))
	if err != nil || again.TransferBillNo != q.TransferBillNo || again.State != wechat.TransferWaitUserConfirm || again.PackageInfo == "" {
		t.Fatalf("created again: %+v %v", again, err)
	}
	if v, _ := s.sim.Transfer("V3TRT001"); v.Requests != 2 || len(s.sim.Transfers("")) != 1 {
		t.Fatalf("at WeChat: %+v", v)
	}
	for _, api := range []string{"querytransfer", "canceltransfer"} {
		if err := s.sim.AddFault(wechatsim.Fault{API: api, Mode: wechatsim.ModeTimeout, Count: 1}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.gw.QueryTransfer(ctx, "V3TRT001"); cloudpay.ErrorCode(err) != cloudpay.CodeWeChatTimeout {
		t.Fatalf("query: err = %v, want WECHAT_TIMEOUT", err)
	}
	if _, err := s.gw.CancelTransfer(ctx, "V3TRT001"); cloudpay.ErrorCode(err) != cloudpay.CodeWeChatTimeout {
		t.Fatalf("cancel: err = %v, want WECHAT_TIMEOUT", err)
	}
}

func TestTransferAnswerWithAForeignSignatureIsRefused(t *testing.T) {
	stranger, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	s := transferStack(t, wechatsim.Config{PlatformKey: stranger}, 5*time.Second)
	ctx := context.Background()
	_, err = s.gw.CreateTransfer(ctx, transfer("V3TRS001"))
	if cloudpay.ErrorCode(err) != cloudpay.CodeWeChatError || !strings.Contains(err.Error(), "failed signature verification") {
		t.Fatalf("create: err = %v, want WECHAT_ERROR failing signature verification", err)
	}
	if _, err := s.gw.QueryTransfer(ctx, "V3TRS001"); cloudpay.ErrorCode(err) != cloudpay.CodeWeChatError ||
		!strings.Contains(err.Error(), "failed signature verification") {
		t.Fatalf("query: err = %v", err)
	}
	if _, ok := s.sim.Transfer("V3TRS001"); !ok {
		t.Fatal("the transfer did not reach WeChat")
	}
}

func TestForgedTransferNotificationsAreRefused(t *testing.T) {
	s := transferStack(t, wechatsim.Config{}, 5*time.Second)
	ctx := context.Background()
	if _, err := s.gw.CreateTransfer(ctx, transfer("V3TRN001")); err != nil {
		t.Fatal(err)
	}
	for _, kind := range []string{wechatsim.ForgeBadSignature, wechatsim.ForgeSignTest, wechatsim.ForgeStale, wechatsim.ForgeTampered,
		wechatsim.ForgeUnknownSerial, wechatsim.ForgeBadResource} {
		t.Run(kind, func(t *testing.T) {
			before := s.inbox.count()
			d, err := s.sim.ForgeV3(ctx, wechatsim.ForgeV3Request{Kind: kind, OutBillNo: "V3TRN001"})
			if err != nil {
				t.Fatal(err)
			}
			if s.inbox.count() != before+1 {
				t.Fatalf("the forgery was not delivered: %+v", d)
			}
			got := s.inbox.last(t)
			if cloudpay.ErrorCode(got.err) != cloudpay.CodeBadSignature {
				t.Fatalf("err = %v, want BAD_SIGNATURE (parsed %+v)", got.err, got.n)
			}
			if d.OK || d.Status != http.StatusUnauthorized || strings.Contains(got.err.Error(), "V3TRN") {
				t.Fatalf("delivery %+v, err %v", d, got.err)
			}
		})
	}
	if v, _ := s.sim.Transfer("V3TRN001"); v.State != "WAIT_USER_CONFIRM" {
		t.Fatalf("forgeries changed WeChat: %+v", v)
	}
}

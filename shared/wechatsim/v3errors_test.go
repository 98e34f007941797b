package wechatsim_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments/jsapi"
	"github.com/wechatpay-apiv3/wechatpay-go/services/payments/native"
	"github.com/wechatpay-apiv3/wechatpay-go/services/refunddomestic"
	"github.com/wechatpay-apiv3/wechatpay-go/services/transferbatch"

	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

// refusal asserts that err is a signed v3 error answer with status, code and exactly
// WeChat's message.
func refusal(t *testing.T, err error, status int, code, message string) {
	t.Helper()
	apiError(t, err, status, code)
	var ae *core.APIError
	errors.As(err, &ae)
	if ae.Message != message {
		t.Fatalf("message %q, want %q", ae.Message, message)
	}
}

// The API v3 answers of WeChat's documented error tables (see the comments on each rule
// in v3.go, v3native.go, v3refund.go, v3transfer.go and v3batches.go).
func TestV3DocumentedErrors(t *testing.T) {
	e := newV3Env(t, nil)
	ctx := context.Background()
	svc := &jsapi.JsapiApiService{Client: e.sdk}
	nsvc := &native.NativeApiService{Client: e.sdk}
	refunds := &refunddomestic.RefundsApiService{Client: e.sdk}

	prepayID := e.prepay(t, "ERRTAB01")
	e.prepay(t, "ERRPAID1")
	if _, err := e.sim.Pay(ctx, "ERRPAID1"); err != nil {
		t.Fatal(err)
	}
	e.prepay(t, "ERRCLOS1")
	closeOrder := func(no string) error {
		_, err := svc.CloseOrder(ctx, jsapi.CloseOrderRequest{OutTradeNo: core.String(no), Mchid: core.String(wechatsim.DevMchID)})
		return err
	}
	if err := closeOrder("ERRCLOS1"); err != nil {
		t.Fatal(err)
	}

	t.Run("prepay again", func(t *testing.T) {
		reused := func(t *testing.T, mod func(*jsapi.PrepayRequest)) {
			t.Helper()
			req := e.prepayReq("ERRTAB01", 100)
			mod(&req)
			_, _, err := svc.Prepay(ctx, req)
			refusal(t, err, http.StatusBadRequest, "INVALID_REQUEST", "201 商户订单号重复")
		}
		t.Run("same parameters: the same prepay_id", func(t *testing.T) {
			if again := e.prepay(t, "ERRTAB01"); again != prepayID {
				t.Fatalf("prepay_id %s, want %s", again, prepayID)
			}
		})
		t.Run("other amount", func(t *testing.T) { reused(t, func(r *jsapi.PrepayRequest) { r.Amount.Total = core.Int64(101) }) })
		t.Run("other payer", func(t *testing.T) { reused(t, func(r *jsapi.PrepayRequest) { r.Payer.Openid = core.String("oUser9") }) })
		t.Run("other attach", func(t *testing.T) { reused(t, func(r *jsapi.PrepayRequest) { r.Attach = core.String("a2") }) })
		t.Run("no attach", func(t *testing.T) { reused(t, func(r *jsapi.PrepayRequest) { r.Attach = nil }) })
		t.Run("other description", func(t *testing.T) {
			reused(t, func(r *jsapi.PrepayRequest) { r.Description = core.String("Another order") })
		})
		t.Run("other notify_url", func(t *testing.T) {
			reused(t, func(r *jsapi.PrepayRequest) { r.NotifyUrl = core.String(e.sink.url("/notify/other")) })
		})
		t.Run("native, other amount", func(t *testing.T) {
			e.nativePrepay(t, e.nativeReq("ERRNAT01", 100))
			_, _, err := nsvc.Prepay(ctx, e.nativeReq("ERRNAT01", 101))
			refusal(t, err, http.StatusBadRequest, "INVALID_REQUEST", "201 商户订单号重复")
		})
		if v, _ := e.sim.Order("ERRTAB01"); v.TotalFee != 100 || v.PrepayID != prepayID || v.TradeState != "NOTPAY" {
			t.Fatalf("the refused prepays changed the order: %+v", v)
		}
	})

	t.Run("paid and closed orders", func(t *testing.T) {
		_, _, err := svc.Prepay(ctx, e.prepayReq("ERRPAID1", 100))
		refusal(t, err, http.StatusBadRequest, "ORDERPAID", "该订单已支付")
		_, _, err = nsvc.Prepay(ctx, e.nativeReq("ERRPAID1", 100))
		refusal(t, err, http.StatusBadRequest, "ORDERPAID", "该订单已支付")
		_, _, err = svc.Prepay(ctx, e.prepayReq("ERRCLOS1", 100))
		refusal(t, err, http.StatusBadRequest, "ORDER_CLOSED", "订单已关闭")
		refusal(t, closeOrder("ERRPAID1"), http.StatusBadRequest, "ORDERPAID", "订单已支付")
		if err := closeOrder("ERRCLOS1"); err != nil {
			t.Fatalf("closing a closed order again: %v, want 204", err)
		}
	})

	t.Run("unknown order, refund and transfer bill", func(t *testing.T) {
		_, _, err := svc.QueryOrderByOutTradeNo(ctx, jsapi.QueryOrderByOutTradeNoRequest{
			OutTradeNo: core.String("NOSUCH01"), Mchid: core.String(wechatsim.DevMchID)})
		refusal(t, err, http.StatusNotFound, "ORDER_NOT_EXIST", "订单不存在")
		_, _, err = svc.QueryOrderById(ctx, jsapi.QueryOrderByIdRequest{
			TransactionId: core.String("4200000000000000000000000001"), Mchid: core.String(wechatsim.DevMchID)})
		refusal(t, err, http.StatusNotFound, "ORDER_NOT_EXIST", "订单不存在")
		refusal(t, closeOrder("NOSUCH01"), http.StatusNotFound, "ORDER_NOT_EXIST", "订单不存在")

		_, _, err = refunds.Create(ctx, e.refundReq("NOSUCH01", "ERRREF01", 10))
		refusal(t, err, http.StatusNotFound, "RESOURCE_NOT_EXISTS", "订单不存在")
		_, _, err = refunds.Create(ctx, e.refundReq("ERRCLOS1", "ERRREF01", 10))
		refusal(t, err, http.StatusNotFound, "RESOURCE_NOT_EXISTS", "订单不存在")
		_, _, err = refunds.Create(ctx, e.refundReq("ERRTAB01", "ERRREF01", 10)) // unpaid
		refusal(t, err, http.StatusNotFound, "RESOURCE_NOT_EXISTS", "订单不存在")
		_, _, err = refunds.QueryByOutRefundNo(ctx, refunddomestic.QueryByOutRefundNoRequest{OutRefundNo: core.String("ERRREF01")})
		refusal(t, err, http.StatusNotFound, "RESOURCE_NOT_EXISTS", "退款单不存在")

		const bills = "https://api.mch.weixin.qq.com/v3/fund-app/mch-transfer/transfer-bills"
		_, err = e.sdk.Get(ctx, bills+"/out-bill-no/NOSUCHBILL1")
		refusal(t, err, http.StatusNotFound, "NOT_FOUND", "记录不存在")
		_, err = e.sdk.Get(ctx, bills+"/transfer-bill-no/1330000000000000000000000000000000000001")
		refusal(t, err, http.StatusNotFound, "NOT_FOUND", "记录不存在")
		_, err = e.sdk.Post(ctx, bills+"/out-bill-no/NOSUCHBILL1/cancel", map[string]any{})
		refusal(t, err, http.StatusNotFound, "NOT_FOUND", "记录不存在")
	})

	t.Run("refund rules", func(t *testing.T) {
		if _, _, err := refunds.Create(ctx, e.refundReq("ERRPAID1", "ERRREF02", 100)); err != nil {
			t.Fatal(err)
		}
		_, _, err := refunds.Create(ctx, e.refundReq("ERRPAID1", "ERRREF03", 1))
		apiError(t, err, http.StatusBadRequest, "INVALID_REQUEST") // more than the order's amount
		for _, f := range []struct {
			code   string
			status int
		}{{"NOT_ENOUGH", 403}, {"USER_ACCOUNT_ABNORMAL", 403}, {"NO_AUTH", 403}} {
			if err := e.sim.AddFault(wechatsim.Fault{API: "refund", Mode: wechatsim.ModeFail, Count: 1, Code: f.code}); err != nil {
				t.Fatal(err)
			}
			_, _, err := refunds.Create(ctx, e.refundReq("ERRPAID1", "ERRREF04", 1))
			apiError(t, err, f.status, f.code)
		}
	})
}

// The pre-2025 商家转账到零钱 API answers a merchant on the new 商家转账 403 NO_AUTH, signed, on
// every path, after checking the request's signature (v3batches.go).
func TestV3OldTransferAPI(t *testing.T) {
	e := newV3Env(t, nil)
	ctx := context.Background()
	batches := &transferbatch.TransferBatchApiService{Client: e.sdk}
	details := &transferbatch.TransferDetailApiService{Client: e.sdk}
	const message = "当前商户号接入升级版本功能，暂不支持使用升级前功能，请在产品中心-商家转账-前往功能查看接口文档"

	for _, tt := range []struct {
		name string
		call func() error
	}{
		{"initiate", func() error {
			_, _, err := batches.InitiateBatchTransfer(ctx, transferbatch.InitiateBatchTransferRequest{
				Appid: core.String(wechatsim.DefaultAppID), OutBatchNo: core.String("OLDBATCH1"),
				BatchName: core.String("refunds"), BatchRemark: core.String("refunds"),
				TotalAmount: core.Int64(100), TotalNum: core.Int64(1),
				TransferDetailList: []transferbatch.TransferDetailInput{{
					OutDetailNo: core.String("OLDDETAIL1"), TransferAmount: core.Int64(100),
					TransferRemark: core.String("refund"), Openid: core.String("oUser1"),
				}},
			})
			return err
		}},
		{"batch by out_batch_no", func() error {
			_, _, err := batches.GetTransferBatchByOutNo(ctx, transferbatch.GetTransferBatchByOutNoRequest{
				OutBatchNo: core.String("OLDBATCH1"), NeedQueryDetail: core.Bool(false)})
			return err
		}},
		{"batch by batch_id", func() error {
			_, _, err := batches.GetTransferBatchByNo(ctx, transferbatch.GetTransferBatchByNoRequest{
				BatchId: core.String("1030000071100999991182020050700019480001"), NeedQueryDetail: core.Bool(false)})
			return err
		}},
		{"detail by out numbers", func() error {
			_, _, err := details.GetTransferDetailByOutNo(ctx, transferbatch.GetTransferDetailByOutNoRequest{
				OutBatchNo: core.String("OLDBATCH1"), OutDetailNo: core.String("OLDDETAIL1")})
			return err
		}},
		{"detail by ids", func() error {
			_, _, err := details.GetTransferDetailByNo(ctx, transferbatch.GetTransferDetailByNoRequest{
				BatchId: core.String("1030000071100999991182020050700019480001"), DetailId: core.String("1040000071100999991182020050700019500100")})
			return err
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			refusal(t, tt.call(), http.StatusForbidden, "NO_AUTH", message)
		})
	}
	if n := len(e.sim.Calls("transferbatch")); n != 5 {
		t.Fatalf("%d old transfer API calls logged, want 5", n)
	}
	if len(e.sim.Transfers("")) != 0 {
		t.Fatal("the old API made a transfer bill")
	}

	t.Run("the signature is checked first", func(t *testing.T) {
		resp, raw := e.raw(t, http.MethodPost, "/v3/transfer/batches", `{"appid":"x"}`, func(a *authParts) {
			a.signature = "bm90IGEgc2lnbmF0dXJl"
		})
		if resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("status %d %s, want 401 SIGN_ERROR", resp.StatusCode, raw)
		}
		checkSigned(t, resp.Header, raw)
	})
}

// A JSAPI prepay made again with another time_expire is refused: time_expire "仅在用户
// 首次下单时可设置，且不允许后续修改，尝试修改将导致错误" (JSAPI下单,
// https://pay.weixin.qq.com/doc/v3/merchant/4012525167); with the same one it answers the
// same prepay_id.
func TestV3JsapiTimeExpireCannotChange(t *testing.T) {
	t.Parallel()
	e := newV3Env(t, nil)
	svc := &jsapi.JsapiApiService{Client: e.sdk}
	first := e.prepay(t, "ERRTEXP1")
	if again := e.prepay(t, "ERRTEXP1"); again != first {
		t.Fatalf("the same request again: prepay_id %s, want %s", again, first)
	}
	req := e.prepayReq("ERRTEXP1", 100)
	req.TimeExpire = core.Time(prepayExpiry.Add(time.Minute))
	_, _, err := svc.Prepay(context.Background(), req)
	refusal(t, err, http.StatusBadRequest, "INVALID_REQUEST", "201 商户订单号重复")
}

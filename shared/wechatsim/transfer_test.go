package wechatsim_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wechatpay-apiv3/wechatpay-go/core"

	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

const transferBase = "https://api.mch.weixin.qq.com/v3/fund-app/mch-transfer/transfer-bills"

type reportInfo struct {
	InfoType    string `json:"info_type"`
	InfoContent string `json:"info_content"`
}

// transferBody is the create request as a merchant would declare it for the SDK's core
// client: user_name is encrypted in place by client.EncryptRequest.
type transferBody struct {
	Appid                    string       `json:"appid"`
	OutBillNo                string       `json:"out_bill_no"`
	TransferSceneID          string       `json:"transfer_scene_id"`
	Openid                   string       `json:"openid"`
	UserName                 *string      `json:"user_name,omitempty" encryption:"EM_APIV3"`
	TransferAmount           int64        `json:"transfer_amount"`
	TransferRemark           string       `json:"transfer_remark"`
	NotifyURL                string       `json:"notify_url,omitempty"`
	UserRecvPerception       string       `json:"user_recv_perception,omitempty"`
	TransferSceneReportInfos []reportInfo `json:"transfer_scene_report_infos,omitempty"`
}

type transferCreated struct {
	OutBillNo      string `json:"out_bill_no"`
	TransferBillNo string `json:"transfer_bill_no"`
	CreateTime     string `json:"create_time"`
	State          string `json:"state"`
	FailReason     string `json:"fail_reason"`
	PackageInfo    string `json:"package_info"`
}

type transferBill struct {
	MchID          string `json:"mch_id"`
	OutBillNo      string `json:"out_bill_no"`
	TransferBillNo string `json:"transfer_bill_no"`
	Appid          string `json:"appid"`
	State          string `json:"state"`
	TransferAmount int64  `json:"transfer_amount"`
	TransferRemark string `json:"transfer_remark"`
	FailReason     string `json:"fail_reason"`
	Openid         string `json:"openid"`
	CreateTime     string `json:"create_time"`
	UpdateTime     string `json:"update_time"`
}

type transferCancelled struct {
	OutBillNo      string `json:"out_bill_no"`
	TransferBillNo string `json:"transfer_bill_no"`
	State          string `json:"state"`
	UpdateTime     string `json:"update_time"`
}

func (e *v3env) transferReq(no string, amount int64) transferBody {
	return transferBody{
		Appid: wechatsim.DefaultAppID, OutBillNo: no, TransferSceneID: "1005", Openid: "oUser1",
		TransferAmount: amount, TransferRemark: "佣金提现", NotifyURL: e.sink.url("/notify/transfer"),
		UserRecvPerception: "劳务报酬",
		TransferSceneReportInfos: []reportInfo{
			{InfoType: "岗位类型", InfoContent: "推广员"}, {InfoType: "报酬说明", InfoContent: "3月佣金"},
		},
	}
}

// postTransfer creates a bill through client.Request, encrypting user_name first and
// naming the key it used in Wechatpay-Serial, as a merchant must.
func postTransfer(ctx context.Context, c *core.Client, req transferBody) (transferCreated, *core.APIResult, error) {
	var out transferCreated
	serial, err := c.EncryptRequest(ctx, &req)
	if err != nil {
		return out, nil, err
	}
	h := http.Header{}
	h.Set("Wechatpay-Serial", serial)
	res, err := c.Request(ctx, http.MethodPost, transferBase, h, nil, req, "application/json")
	if err != nil {
		return out, res, err
	}
	return out, res, core.UnMarshalResponse(res.Response, &out)
}

func (e *v3env) createTransfer(t *testing.T, req transferBody) transferCreated {
	t.Helper()
	out, _, err := postTransfer(context.Background(), e.sdk, req)
	if err != nil {
		t.Fatalf("create transfer %s: %v", req.OutBillNo, err)
	}
	return out
}

func getTransfer(ctx context.Context, c *core.Client, no string) (transferBill, error) {
	var out transferBill
	res, err := c.Get(ctx, transferBase+"/out-bill-no/"+no)
	if err != nil {
		return out, err
	}
	return out, core.UnMarshalResponse(res.Response, &out)
}

func (e *v3env) queryTransfer(t *testing.T, no string) transferBill {
	t.Helper()
	out, err := getTransfer(context.Background(), e.sdk, no)
	if err != nil {
		t.Fatalf("query transfer %s: %v", no, err)
	}
	return out
}

func cancelTransfer(ctx context.Context, c *core.Client, no string) (transferCancelled, error) {
	var out transferCancelled
	res, err := c.Post(ctx, transferBase+"/out-bill-no/"+no+"/cancel", map[string]any{})
	if err != nil {
		return out, err
	}
	return out, core.UnMarshalResponse(res.Response, &out)
}

func (e *v3env) view(t *testing.T, no string) wechatsim.TransferView {
	t.Helper()
	v, ok := e.sim.Transfer(no)
	if !ok {
		t.Fatalf("no transfer %s at WeChat", no)
	}
	return v
}

// lastNotify is the last notification the merchant received; it must have parsed.
func (e *v3env) lastNotify(t *testing.T) parsedNotify {
	t.Helper()
	got := e.sink.received()
	if len(got) == 0 {
		t.Fatal("no notification received")
	}
	n := got[len(got)-1]
	if n.err != nil {
		t.Fatalf("the SDK rejected a genuine notification: %v", n.err)
	}
	return n
}

// The unmodified SDK's core client creates, queries and cancels transfer bills; the
// simulator decrypts user_name; the user's confirmation sends a notification the SDK's
// handler accepts.
func TestTransferSDK(t *testing.T) {
	e := newV3Env(t, nil)
	ctx := context.Background()
	req := e.transferReq("TB0001", 250_000)
	req.UserName = core.String("张三")
	created := e.createTransfer(t, req)
	if created.OutBillNo != "TB0001" || len(created.TransferBillNo) != 40 || created.State != "WAIT_USER_CONFIRM" ||
		created.PackageInfo == "" || created.CreateTime != "2025-03-01T12:05:06+08:00" || created.FailReason != "" {
		t.Fatalf("created %+v", created)
	}
	if *req.UserName == "张三" {
		t.Fatal("EncryptRequest did not encrypt user_name")
	}
	if calls := e.sim.Calls("transfer"); len(calls) != 1 || strings.Contains(string(calls[0].Body), "张三") {
		t.Fatalf("calls %+v", calls)
	}
	v := e.view(t, "TB0001")
	if v.UserName != "张三" || v.State != "WAIT_USER_CONFIRM" || v.PackageInfo != created.PackageInfo ||
		v.TransferBillNo != created.TransferBillNo || v.AmountFen != 250_000 || v.OpenID != "oUser1" ||
		v.Remark != "佣金提现" || v.SceneID != "1005" || v.NotifyURL != e.sink.url("/notify/transfer") ||
		v.Requests != 1 || !v.CreatedAt.Equal(e.clock.Now()) || v.FailReason != "" {
		t.Fatalf("view %+v", v)
	}

	t.Run("query", func(t *testing.T) {
		q := e.queryTransfer(t, "TB0001")
		want := transferBill{MchID: wechatsim.DevMchID, OutBillNo: "TB0001", TransferBillNo: created.TransferBillNo,
			Appid: wechatsim.DefaultAppID, State: "WAIT_USER_CONFIRM", TransferAmount: 250_000, TransferRemark: "佣金提现",
			Openid: "oUser1", CreateTime: "2025-03-01T12:05:06+08:00", UpdateTime: "2025-03-01T12:05:06+08:00"}
		if q != want {
			t.Fatalf("query %+v, want %+v", q, want)
		}
		res, err := e.sdk.Get(ctx, transferBase+"/transfer-bill-no/"+created.TransferBillNo)
		var byID transferBill
		if err != nil || core.UnMarshalResponse(res.Response, &byID) != nil || byID != want {
			t.Fatalf("query by transfer_bill_no: %+v %v", byID, err)
		}
	})

	t.Run("the user confirms", func(t *testing.T) {
		e.clock.Add(time.Minute)
		v, err := e.sim.ConfirmTransfer(ctx, "TB0001")
		if err != nil || v.State != "SUCCESS" || v.PackageInfo != "" || v.Callback == nil || !v.Callback.OK ||
			v.Callback.Trigger != "confirm" || v.Callback.OutBillNo != "TB0001" || v.Callback.EventType != "MCHTRANSFER.BILL.FINISHED" ||
			!v.CallbackAcked {
			t.Fatalf("confirm %+v %v", v, err)
		}
		n := e.lastNotify(t)
		if n.path != "/notify/transfer" || n.eventType != "MCHTRANSFER.BILL.FINISHED" || n.summary != "商家转账单据终态通知" ||
			n.originalType != "mch_payment" || n.associatedData != "mch_payment" {
			t.Fatalf("notification %+v", n)
		}
		want := map[string]any{
			"mchid": wechatsim.DevMchID, "out_bill_no": "TB0001", "transfer_bill_no": created.TransferBillNo,
			"state": "SUCCESS", "transfer_amount": 250_000.0, "openid": "oUser1",
			"create_time": "2025-03-01T12:05:06+08:00", "update_time": "2025-03-01T12:06:06+08:00",
		}
		if len(n.content) != len(want) {
			t.Errorf("content %v", n.content)
		}
		for k, w := range want {
			if n.content[k] != w {
				t.Errorf("content.%s = %v, want %v", k, n.content[k], w)
			}
		}
		if q := e.queryTransfer(t, "TB0001"); q.State != "SUCCESS" || q.UpdateTime != "2025-03-01T12:06:06+08:00" {
			t.Fatalf("query %+v", q)
		}
	})
	t.Run("a final bill cannot be cancelled", func(t *testing.T) {
		_, err := cancelTransfer(ctx, e.sdk, "TB0001")
		apiError(t, err, 400, "INVALID_REQUEST")
	})
	t.Run("replay", func(t *testing.T) {
		d, err := e.sim.NotifyTransfer(ctx, "TB0001")
		if err != nil || !d.OK || d.Trigger != "notify" || e.lastNotify(t).content["state"] != "SUCCESS" {
			t.Fatalf("replay %+v %v", d, err)
		}
		if ds := e.sim.TransferDeliveries("TB0001"); len(ds) != 2 {
			t.Fatalf("deliveries %+v", ds)
		}
	})
	t.Run("unknown bills", func(t *testing.T) {
		_, err := getTransfer(ctx, e.sdk, "NOSUCH")
		apiError(t, err, 404, "NOT_FOUND")
		_, err = cancelTransfer(ctx, e.sdk, "NOSUCH")
		apiError(t, err, 404, "NOT_FOUND")
		_, err = e.sdk.Get(ctx, transferBase+"/transfer-bill-no/1330000000")
		apiError(t, err, 404, "NOT_FOUND")
	})
}

// Every path through the state machine, with its notification.
func TestTransferStates(t *testing.T) {
	ctx := context.Background()
	cancel := func(t *testing.T, e *v3env, no string) {
		c, err := cancelTransfer(ctx, e.sdk, no)
		if err != nil || c.State != "CANCELING" || c.OutBillNo != no || c.TransferBillNo == "" || c.UpdateTime != "2025-03-01T12:05:06+08:00" {
			t.Fatalf("cancel %+v %v", c, err)
		}
	}
	for _, tt := range []struct {
		name      string
		mod       func(*wechatsim.Config)
		created   string // state the create call answers
		act       func(t *testing.T, e *v3env, no string)
		state     string
		reason    string
		trigger   string
		updatedAt time.Time
	}{
		{name: "confirm", created: "WAIT_USER_CONFIRM", state: "SUCCESS", trigger: "confirm",
			act: func(t *testing.T, e *v3env, no string) {
				if _, err := e.sim.ConfirmTransfer(ctx, no); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "decline", created: "WAIT_USER_CONFIRM", state: "FAIL", reason: "USER_REFUSED", trigger: "decline",
			act: func(t *testing.T, e *v3env, no string) {
				if v, err := e.sim.DeclineTransfer(ctx, no); err != nil || v.Callback == nil || !v.Callback.OK {
					t.Fatalf("%+v %v", v, err)
				}
			}},
		{name: "cancel while waiting", created: "WAIT_USER_CONFIRM", state: "CANCELLED", trigger: "cancel", act: cancel},
		{name: "no confirmation needed", created: "PROCESSING", state: "SUCCESS", trigger: "settle",
			mod: func(c *wechatsim.Config) { c.TransferNoConfirm = true }},
		{name: "overdue", created: "WAIT_USER_CONFIRM", state: "FAIL", reason: "OVERDUE_CLOSE", trigger: "overdue",
			updatedAt: time.Date(2025, 3, 2, 4, 5, 6, 0, time.UTC),
			act: func(t *testing.T, e *v3env, no string) {
				e.clock.Add(24*time.Hour - time.Second)
				if q := e.queryTransfer(t, no); q.State != "WAIT_USER_CONFIRM" {
					t.Fatalf("closed a second early: %+v", q)
				}
				e.clock.Add(time.Minute)
				q := e.queryTransfer(t, no)
				if q.State != "FAIL" || q.FailReason != "OVERDUE_CLOSE" || q.UpdateTime != "2025-03-02T12:05:06+08:00" {
					t.Fatalf("query %+v", q)
				}
			}},
		{name: "overdue with a shorter window, found by the confirm", created: "WAIT_USER_CONFIRM", state: "FAIL",
			reason: "OVERDUE_CLOSE", trigger: "overdue", updatedAt: time.Date(2025, 3, 1, 4, 15, 6, 0, time.UTC),
			mod: func(c *wechatsim.Config) { c.TransferConfirmWindow = 10 * time.Minute },
			act: func(t *testing.T, e *v3env, no string) {
				e.clock.Add(time.Hour)
				_, err := e.sim.ConfirmTransfer(ctx, no)
				if err == nil || !strings.Contains(err.Error(), "TRANSFER_NOT_WAITING") || !strings.Contains(err.Error(), "OVERDUE_CLOSE") {
					t.Fatalf("confirm of an overdue bill: %v", err)
				}
			}},
		{name: "never overdue with a negative window", created: "WAIT_USER_CONFIRM", state: "SUCCESS", trigger: "confirm",
			mod: func(c *wechatsim.Config) { c.TransferConfirmWindow = -1 },
			act: func(t *testing.T, e *v3env, no string) {
				e.clock.Add(30 * 24 * time.Hour)
				if _, err := e.sim.ConfirmTransfer(ctx, no); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "settle SUCCESS", created: "WAIT_USER_CONFIRM", state: "SUCCESS", trigger: "settle",
			act: func(t *testing.T, e *v3env, no string) {
				if _, err := e.sim.SettleTransfer(ctx, no, "SUCCESS", ""); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "settle FAIL with a reason", created: "WAIT_USER_CONFIRM", state: "FAIL", reason: "PAYEE_ACCOUNT_ABNORMAL", trigger: "settle",
			act: func(t *testing.T, e *v3env, no string) {
				if _, err := e.sim.SettleTransfer(ctx, no, "FAIL", "PAYEE_ACCOUNT_ABNORMAL"); err != nil {
					t.Fatal(err)
				}
			}},
		{name: "settle FAIL without a reason", created: "WAIT_USER_CONFIRM", state: "FAIL", reason: "OTHER_FAIL_REASON_TYPE", trigger: "settle",
			act: func(t *testing.T, e *v3env, no string) {
				if _, err := e.sim.SettleTransfer(ctx, no, "FAIL", ""); err != nil {
					t.Fatal(err)
				}
			}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newV3Env(t, tt.mod)
			created := e.createTransfer(t, e.transferReq("STATE1", 100))
			if created.State != tt.created || (created.PackageInfo != "") != (tt.created == "WAIT_USER_CONFIRM") {
				t.Fatalf("created %+v", created)
			}
			if tt.act != nil {
				tt.act(t, e, "STATE1")
			}
			eventually(t, "the final state's notification", func() bool {
				ds := e.sim.TransferDeliveries("STATE1")
				return len(ds) == 1 && ds[0].OK
			})
			d := e.sim.TransferDeliveries("STATE1")[0]
			v := e.view(t, "STATE1")
			if v.State != tt.state || v.FailReason != tt.reason || v.PackageInfo != "" || !v.CallbackAcked ||
				d.Trigger != tt.trigger || d.Attempt != 1 || d.Kind != "v3_notify" || d.OutTradeNo != "" {
				t.Fatalf("view %+v, delivery %+v", v, d)
			}
			if !tt.updatedAt.IsZero() && !v.UpdatedAt.Equal(tt.updatedAt) {
				t.Fatalf("updated_at %v, want %v", v.UpdatedAt, tt.updatedAt)
			}
			n := e.lastNotify(t)
			reason, _ := n.content["fail_reason"].(string)
			if n.content["state"] != tt.state || reason != tt.reason || n.content["out_bill_no"] != "STATE1" {
				t.Fatalf("notification content %v", n.content)
			}
			q := e.queryTransfer(t, "STATE1")
			if q.State != tt.state || q.FailReason != tt.reason {
				t.Fatalf("query %+v", q)
			}
			if len(e.sink.received()) != 1 {
				t.Fatalf("%d notifications, want 1", len(e.sink.received()))
			}
		})
	}
}

// WeChat's rules for a new bill, and resubmission of an out_bill_no.
func TestTransferRules(t *testing.T) {
	e := newV3Env(t, func(c *wechatsim.Config) {
		c.TransferMinFen = 10
		c.TransferMaxFen = 300_000
	})
	ctx := context.Background()
	first := e.createTransfer(t, e.transferReq("RULE01", 100))
	// another client whose requests carry a Wechatpay-Serial that is not the public key's
	wrongSerial := sdkClientWith(t, e.pre.URL, 10*time.Second, func(r *http.Request) {
		r.Header.Set("Wechatpay-Serial", "PUB_KEY_ID_0000000000000000000000000000000000")
	})
	noSerial := sdkClientWith(t, e.pre.URL, 10*time.Second, func(r *http.Request) { r.Header.Del("Wechatpay-Serial") })
	scene1000 := func(infos ...reportInfo) func(*transferBody) {
		return func(b *transferBody) { b.TransferSceneID, b.TransferSceneReportInfos = "1000", infos }
	}
	activity, reward := reportInfo{"活动名称", "春季活动"}, reportInfo{"奖励说明", "邀请奖励"}
	for _, tt := range []struct {
		name   string
		no     string
		mod    func(*transferBody)
		client *core.Client
		status int
		code   string
		msg    string // in the message
	}{
		{name: "other appid", mod: func(b *transferBody) { b.Appid = "wxother" }, status: 400, code: "INVALID_REQUEST"},
		{name: "out_bill_no with a dash", no: "RULE-1", status: 400, code: "PARAM_ERROR", msg: "out_bill_no"},
		{name: "out_bill_no of 33", no: strings.Repeat("a", 33), status: 400, code: "PARAM_ERROR", msg: "out_bill_no"},
		{name: "out_bill_no of 32", no: strings.Repeat("a", 32), status: 200},
		{name: "out_bill_no of 1", no: "b", status: 200},
		{name: "no scene", mod: func(b *transferBody) { b.TransferSceneID = "" }, status: 400, code: "PARAM_ERROR", msg: "transfer_scene_id"},
		{name: "no openid", mod: func(b *transferBody) { b.Openid = "" }, status: 400, code: "PARAM_ERROR", msg: "openid"},
		{name: "zero amount", mod: func(b *transferBody) { b.TransferAmount = 0 }, status: 400, code: "PARAM_ERROR", msg: "transfer_amount"},
		{name: "no remark", mod: func(b *transferBody) { b.TransferRemark = "" }, status: 400, code: "PARAM_ERROR", msg: "transfer_remark"},
		{name: "remark of 33 characters", mod: func(b *transferBody) { b.TransferRemark = strings.Repeat("佣", 33) }, status: 400, code: "PARAM_ERROR", msg: "transfer_remark"},
		{name: "remark of 32 characters", mod: func(b *transferBody) { b.TransferRemark = strings.Repeat("佣", 32) }, status: 200},
		{name: "notify_url with a query", mod: func(b *transferBody) { b.NotifyURL += "?x=1" }, status: 400, code: "PARAM_ERROR", msg: "notify_url"},
		{name: "notify_url not http", mod: func(b *transferBody) { b.NotifyURL = "ftp://x/y" }, status: 400, code: "PARAM_ERROR", msg: "notify_url"},
		{name: "no notify_url", mod: func(b *transferBody) { b.NotifyURL = "" }, status: 200},
		{name: "scene 1000 without report infos", mod: scene1000(), status: 400, code: "PARAM_ERROR", msg: "需传入转账场景报备信息，请检查"},
		{name: "scene 1000 with one", mod: scene1000(activity), status: 400, code: "PARAM_ERROR", msg: "需传入转账场景报备信息，请检查"},
		{name: "scene 1000 with three", mod: scene1000(activity, reward, reward), status: 400, code: "PARAM_ERROR", msg: "需传入转账场景报备信息，请检查"},
		{name: "scene 1000 with other types", mod: scene1000(activity, reportInfo{"岗位类型", "x"}), status: 400, code: "PARAM_ERROR", msg: "需传入转账场景报备信息，请检查"},
		{name: "scene 1000 with the two", mod: scene1000(reward, activity), status: 200},
		{name: "report info content of 33", mod: scene1000(activity, reportInfo{"奖励说明", strings.Repeat("奖", 33)}), status: 400, code: "PARAM_ERROR", msg: "info_content"},
		{name: "2000 CNY without a name", mod: func(b *transferBody) { b.TransferAmount = 200_000 }, status: 400, code: "PARAM_ERROR", msg: "user_name"},
		{name: "2000 CNY with a name", mod: func(b *transferBody) { b.TransferAmount, b.UserName = 200_000, core.String("李四") }, status: 200},
		{name: "1999.99 CNY without a name", mod: func(b *transferBody) { b.TransferAmount = 199_999 }, status: 200},
		{name: "name with another serial", client: wrongSerial, mod: func(b *transferBody) { b.UserName = core.String("李四") }, status: 400, code: "PARAM_ERROR", msg: "Wechatpay-Serial"},
		{name: "name without a serial", client: noSerial, mod: func(b *transferBody) { b.UserName = core.String("李四") }, status: 400, code: "PARAM_ERROR", msg: "Wechatpay-Serial"},
		{name: "no name, another serial", client: wrongSerial, status: 200},
		{name: "below the minimum", mod: func(b *transferBody) { b.TransferAmount = 9 }, status: 400, code: "INVALID_REQUEST", msg: "超过单笔转账上下限，核实产品设置是否准确"},
		{name: "the minimum", mod: func(b *transferBody) { b.TransferAmount = 10 }, status: 200},
		{name: "above the maximum", mod: func(b *transferBody) { b.TransferAmount, b.UserName = 300_001, core.String("李四") }, status: 400, code: "INVALID_REQUEST", msg: "超过单笔转账上下限"},
		{name: "resubmit, other amount", no: "RULE01", mod: func(b *transferBody) { b.TransferAmount = 101 }, status: 400, code: "INVALID_REQUEST", msg: "RULE01"},
		{name: "resubmit, other openid", no: "RULE01", mod: func(b *transferBody) { b.Openid = "oUser2" }, status: 400, code: "INVALID_REQUEST", msg: "RULE01"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			no := tt.no
			if no == "" {
				no = "R" + strings.Map(func(r rune) rune {
					if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
						return r
					}
					return -1
				}, tt.name)
				if len(no) > 32 {
					no = no[:32]
				}
			}
			req := e.transferReq(no, 100)
			if tt.mod != nil {
				tt.mod(&req)
			}
			c := tt.client
			if c == nil {
				c = e.sdk
			}
			before := len(e.sim.Transfers(""))
			out, _, err := postTransfer(ctx, c, req)
			if tt.status == 200 {
				if err != nil || out.State != "WAIT_USER_CONFIRM" || out.OutBillNo != no {
					t.Fatalf("create %+v %v", out, err)
				}
				if req.UserName != nil {
					if v := e.view(t, no); v.UserName != "李四" {
						t.Fatalf("decrypted name %q", v.UserName)
					}
				}
				return
			}
			apiError(t, err, tt.status, tt.code)
			var ae *core.APIError
			errors.As(err, &ae)
			if !strings.Contains(ae.Message, tt.msg) {
				t.Fatalf("message %q does not mention %q", ae.Message, tt.msg)
			}
			if after := len(e.sim.Transfers("")); after != before {
				t.Fatalf("a refused call created a bill (%d → %d)", before, after)
			}
		})
	}
	t.Run("a name that is not encrypted", func(t *testing.T) {
		body := `{"appid":"` + wechatsim.DefaultAppID + `","out_bill_no":"PLAIN1","transfer_scene_id":"1005","openid":"oUser1",` +
			`"user_name":"王五","transfer_amount":100,"transfer_remark":"x"}`
		_, err := e.sdk.Request(ctx, http.MethodPost, transferBase, nil, nil, body, "application/json")
		apiError(t, err, 400, "PARAM_ERROR")
	})
	t.Run("resubmit with the same openid and amount", func(t *testing.T) {
		req := e.transferReq("RULE01", 100)
		req.TransferRemark = "另一个备注" // not compared
		again := e.createTransfer(t, req)
		if again != first {
			t.Fatalf("resubmit answered %+v, want %+v", again, first)
		}
		if _, err := e.sim.DeclineTransfer(ctx, "RULE01"); err != nil {
			t.Fatal(err)
		}
		again = e.createTransfer(t, e.transferReq("RULE01", 100))
		if again.State != "FAIL" || again.FailReason != "USER_REFUSED" || again.PackageInfo != "" || again.TransferBillNo != first.TransferBillNo {
			t.Fatalf("resubmit of a failed bill %+v", again)
		}
		v := e.view(t, "RULE01")
		if v.Requests != 5 || v.Remark != "佣金提现" { // two conflicting resubmissions counted too
			t.Fatalf("view %+v", v)
		}
		if n := len(e.sim.Transfers("oUser2")); n != 0 {
			t.Fatalf("%d bills to oUser2", n)
		}
	})
	t.Run("cancel twice", func(t *testing.T) {
		e.createTransfer(t, e.transferReq("TWICE1", 100))
		if _, err := cancelTransfer(ctx, e.sdk, "TWICE1"); err != nil {
			t.Fatal(err)
		}
		eventually(t, "CANCELLED", func() bool { return e.view(t, "TWICE1").State == "CANCELLED" })
		_, err := cancelTransfer(ctx, e.sdk, "TWICE1")
		apiError(t, err, 400, "INVALID_REQUEST")
	})
}

// The control routes: WeChat's view, the user's side, settle and replay.
func TestTransferControl(t *testing.T) {
	e := newV3Env(t, nil)
	for _, no := range []string{"CTL001", "CTL002", "CTL003"} {
		e.createTransfer(t, e.transferReq(no, 100))
	}
	other := e.transferReq("CTL004", 100)
	other.Openid = "oUser9"
	e.createTransfer(t, other)

	status, out := e.control(t, "GET", "/transfers/CTL001", nil)
	if status != 200 || out["state"] != "WAIT_USER_CONFIRM" || out["transfer_amount"] != 100.0 || out["package_info"] == "" ||
		out["openid"] != "oUser1" || out["requests"] != 1.0 || out["transfer_remark"] != "佣金提现" || out["transfer_scene_id"] != "1005" {
		t.Fatalf("GET /transfers/CTL001: %d %v", status, out)
	}
	status, out = e.control(t, "GET", "/transfers?openid=oUser9", nil)
	if list, _ := out["transfers"].([]any); status != 200 || len(list) != 1 || list[0].(map[string]any)["out_bill_no"] != "CTL004" {
		t.Fatalf("GET /transfers?openid=oUser9: %d %v", status, out)
	}
	status, out = e.control(t, "GET", "/transfers", nil)
	if list, _ := out["transfers"].([]any); status != 200 || len(list) != 4 || list[3].(map[string]any)["out_bill_no"] != "CTL004" {
		t.Fatalf("GET /transfers: %d %v", status, out)
	}

	for _, tt := range []struct {
		name, method, path string
		body               any
		status             int
		code               string // error code prefix, or the state answered
	}{
		{"confirm", "POST", "/transfers/CTL001/confirm", nil, 200, "SUCCESS"},
		{"confirm again", "POST", "/transfers/CTL001/confirm", nil, 409, "TRANSFER_NOT_WAITING"},
		{"decline a confirmed bill", "POST", "/transfers/CTL001/decline", nil, 409, "TRANSFER_NOT_WAITING"},
		{"decline with {}", "POST", "/transfers/CTL002/decline", map[string]any{}, 200, "FAIL"},
		{"confirm with a body", "POST", "/transfers/CTL003/confirm", map[string]any{"x": 1}, 400, "INVALID_FIELD: x"},
		{"confirm unknown", "POST", "/transfers/NOPE/confirm", nil, 404, "TRANSFER_NOT_FOUND"},
		{"view unknown", "GET", "/transfers/NOPE", nil, 404, "TRANSFER_NOT_FOUND"},
		{"settle without a state", "POST", "/transfers/CTL003/settle", map[string]any{}, 400, "INVALID_FIELD: state"},
		{"settle to CANCELLED", "POST", "/transfers/CTL003/settle", map[string]any{"state": "CANCELLED"}, 400, "INVALID_FIELD: state"},
		{"settle SUCCESS with a reason", "POST", "/transfers/CTL003/settle", map[string]any{"state": "SUCCESS", "fail_reason": "X"}, 400, "INVALID_FIELD: fail_reason"},
		{"settle unknown", "POST", "/transfers/NOPE/settle", map[string]any{"state": "SUCCESS"}, 404, "TRANSFER_NOT_FOUND"},
		{"notify a waiting bill", "POST", "/transfers/CTL003/notify", nil, 409, "TRANSFER_NOT_FINAL"},
		{"settle FAIL", "POST", "/transfers/CTL003/settle", map[string]any{"state": "FAIL", "fail_reason": "ACCOUNT_FROZEN"}, 200, "FAIL"},
		{"settle FAIL again", "POST", "/transfers/CTL003/settle", map[string]any{"state": "FAIL"}, 200, "FAIL"},
		{"settle a final bill otherwise", "POST", "/transfers/CTL003/settle", map[string]any{"state": "SUCCESS"}, 409, "TRANSFER_FINAL"},
		{"notify unknown", "POST", "/transfers/NOPE/notify", nil, 404, "TRANSFER_NOT_FOUND"},
		{"wrong method", "DELETE", "/transfers/CTL003", nil, 405, "METHOD_NOT_ALLOWED"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			status, out := e.control(t, tt.method, tt.path, tt.body)
			got := errorCode(out)
			if status == 200 {
				got, _ = out["state"].(string)
			}
			if status != tt.status || !strings.HasPrefix(got, tt.code) {
				t.Fatalf("got %d %q %v", status, got, out)
			}
		})
	}
	if v := e.view(t, "CTL003"); v.FailReason != "ACCOUNT_FROZEN" {
		t.Fatalf("a repeated settle changed the bill: %+v", v)
	}
	if v := e.view(t, "CTL002"); v.FailReason != "USER_REFUSED" {
		t.Fatalf("declined bill %+v", v)
	}
	if n := len(e.sim.TransferDeliveries("CTL003")); n != 1 {
		t.Fatalf("%d deliveries for CTL003, want 1 (the repeated settle sends nothing)", n)
	}

	t.Run("notify replays the final state", func(t *testing.T) {
		status, out := e.control(t, "POST", "/transfers/CTL002/notify", nil)
		n := e.lastNotify(t)
		if status != 200 || out["ok"] != true || out["trigger"] != "notify" || out["out_bill_no"] != "CTL002" ||
			n.content["state"] != "FAIL" || n.content["fail_reason"] != "USER_REFUSED" {
			t.Fatalf("%d %v; notification %v", status, out, n.content)
		}
	})
	t.Run("callbacks by out_bill_no", func(t *testing.T) {
		status, out := e.control(t, "GET", "/callbacks?out_bill_no=CTL002", nil)
		list, _ := out["deliveries"].([]any)
		if status != 200 || len(list) != 2 {
			t.Fatalf("%d %v", status, out)
		}
		for _, d := range list {
			if d := d.(map[string]any); d["out_bill_no"] != "CTL002" || d["event_type"] != "MCHTRANSFER.BILL.FINISHED" {
				t.Fatalf("delivery %v", d)
			}
		}
	})
	t.Run("the view closes an overdue bill", func(t *testing.T) {
		e.createTransfer(t, e.transferReq("CTL005", 100))
		e.clock.Add(25 * time.Hour)
		status, out := e.control(t, "GET", "/transfers?openid=oUser1", nil)
		list, _ := out["transfers"].([]any)
		last := list[len(list)-1].(map[string]any)
		if status != 200 || last["out_bill_no"] != "CTL005" || last["state"] != "FAIL" || last["fail_reason"] != "OVERDUE_CLOSE" {
			t.Fatalf("%d %v", status, last)
		}
		eventually(t, "the overdue notification", func() bool {
			ds := e.sim.TransferDeliveries("CTL005")
			return len(ds) == 1 && ds[0].OK && ds[0].Trigger == "overdue"
		})
	})
}

// Forged MCHTRANSFER.BILL.FINISHED notifications claim SUCCESS and are rejected by the SDK.
func TestTransferForged(t *testing.T) {
	e := newV3Env(t, nil)
	ctx := context.Background()
	e.createTransfer(t, e.transferReq("FORGE1", 100))
	for _, kind := range []string{"bad_signature", "signtest", "stale", "tampered", "unknown_serial", "bad_resource"} {
		t.Run(kind, func(t *testing.T) {
			before := len(e.sink.received())
			d, err := e.sim.ForgeV3(ctx, wechatsim.ForgeV3Request{Kind: kind, OutBillNo: "FORGE1"})
			if err != nil {
				t.Fatal(err)
			}
			got := e.sink.received()
			if len(got) != before+1 || got[before].err == nil {
				t.Fatalf("the SDK accepted a %s notification: %+v", kind, got[before:])
			}
			var c map[string]any
			if d.OK || d.Status != 401 || !d.Forged || d.ForgeKind != kind || d.OutBillNo != "FORGE1" ||
				d.EventType != "MCHTRANSFER.BILL.FINISHED" || d.URL != e.sink.url("/notify/transfer") ||
				json.Unmarshal(d.Plaintext, &c) != nil || c["state"] != "SUCCESS" || c["out_bill_no"] != "FORGE1" {
				t.Fatalf("delivery %+v", d)
			}
		})
	}
	t.Run("POST /forge", func(t *testing.T) {
		status, out := e.control(t, "POST", "/forge", map[string]any{"kind": "stale", "out_bill_no": "FORGE1", "url": e.sink.url("/x")})
		if status != 200 || out["forged"] != true || out["ok"] != false || out["out_bill_no"] != "FORGE1" || out["url"] != e.sink.url("/x") {
			t.Fatalf("%d %v", status, out)
		}
		status, out = e.control(t, "POST", "/forge", map[string]any{"kind": "stale", "out_bill_no": "NOPE"})
		if status != 404 || !strings.HasPrefix(errorCode(out), "TRANSFER_NOT_FOUND") {
			t.Fatalf("%d %v", status, out)
		}
	})
	v := e.view(t, "FORGE1")
	if v.State != "WAIT_USER_CONFIRM" || v.CallbackAcked || len(e.sim.TransferDeliveries("FORGE1")) != 7 {
		t.Fatalf("forgeries changed the bill: %+v", v)
	}
	t.Run("a genuine one still goes through", func(t *testing.T) {
		v, err := e.sim.ConfirmTransfer(ctx, "FORGE1")
		if err != nil || !v.Callback.OK || e.lastNotify(t).content["state"] != "SUCCESS" {
			t.Fatalf("%+v %v", v, err)
		}
	})
}

// Lost and duplicated notifications, and redelivery until acknowledged.
func TestTransferNotificationDelivery(t *testing.T) {
	fast := func(c *wechatsim.Config) {
		c.RetryDelays = []time.Duration{time.Millisecond, time.Millisecond, time.Millisecond}
	}
	ctx := context.Background()
	t.Run("redelivered until acknowledged", func(t *testing.T) {
		e := newV3Env(t, fast)
		e.createTransfer(t, e.transferReq("REDEL1", 100))
		e.sink.reply(500, 503)
		v, err := e.sim.ConfirmTransfer(ctx, "REDEL1")
		if err != nil || v.Callback.OK || v.Callback.Status != 500 || v.CallbackAcked {
			t.Fatalf("first delivery %+v %v", v, err)
		}
		eventually(t, "the acknowledged notification", func() bool { return e.view(t, "REDEL1").CallbackAcked })
		ds := e.sim.TransferDeliveries("REDEL1")
		if len(ds) != 3 || ds[1].Trigger != "retry" || ds[2].Attempt != 3 || !ds[2].OK {
			t.Fatalf("deliveries %+v", ds)
		}
	})
	t.Run("dropped: the merchant must query", func(t *testing.T) {
		e := newV3Env(t, fast)
		e.createTransfer(t, e.transferReq("DROP01", 100))
		addFault(t, e.env, map[string]any{"api": "v3_notify", "mode": "drop", "count": 1})
		v, err := e.sim.SettleTransfer(ctx, "DROP01", "SUCCESS", "")
		if err != nil || !v.Callback.Dropped || len(e.sink.received()) != 0 {
			t.Fatalf("%+v %v", v, err)
		}
		if q := e.queryTransfer(t, "DROP01"); q.State != "SUCCESS" {
			t.Fatalf("query %+v", q)
		}
	})
	t.Run("duplicated", func(t *testing.T) {
		e := newV3Env(t, nil)
		e.createTransfer(t, e.transferReq("DUP001", 100))
		addFault(t, e.env, map[string]any{"api": "v3_notify", "mode": "duplicate", "count": 1})
		if _, err := e.sim.DeclineTransfer(ctx, "DUP001"); err != nil {
			t.Fatal(err)
		}
		got := e.sink.received()
		if len(got) != 2 || got[0].err != nil || got[1].err != nil || got[0].content["state"] != "FAIL" || got[1].content["state"] != "FAIL" {
			t.Fatalf("received %+v", got)
		}
	})
	t.Run("a bill without notify_url", func(t *testing.T) {
		e := newV3Env(t, nil)
		req := e.transferReq("NOURL1", 100)
		req.NotifyURL = ""
		e.createTransfer(t, req)
		v, err := e.sim.ConfirmTransfer(ctx, "NOURL1")
		if err != nil || v.State != "SUCCESS" || v.Callback.OK || !strings.Contains(v.Callback.Error, "notify_url") {
			t.Fatalf("%+v %v", v, err)
		}
	})
}

// The transfer, querytransfer and canceltransfer faults.
func TestTransferFaults(t *testing.T) {
	e := newV3Env(t, nil)
	ctx := context.Background()
	for _, tt := range []struct {
		code   any
		status int
		want   string
	}{
		{nil, 500, "SYSTEM_ERROR"},
		{"SYSTEM_ERROR", 500, "SYSTEM_ERROR"},
		{"NOT_ENOUGH", 403, "NOT_ENOUGH"},
		{"NO_AUTH", 403, "NO_AUTH"},
		{"INVALID_REQUEST", 400, "INVALID_REQUEST"},
		{"PARAM_ERROR", 400, "PARAM_ERROR"},
		{"FREQUENCY_LIMITED", 429, "FREQUENCY_LIMITED"},
		{"NOT_FOUND", 404, "NOT_FOUND"},
		{503, 503, "SYSTEM_ERROR"},
	} {
		t.Run("transfer fail "+strings.Trim(jsonString(tt.code), `"`), func(t *testing.T) {
			f := map[string]any{"api": "transfer", "mode": "fail", "count": 1}
			if tt.code != nil {
				f["code"] = tt.code
			}
			addFault(t, e.env, f)
			_, _, err := postTransfer(ctx, e.sdk, e.transferReq("FAULT1", 100))
			apiError(t, err, tt.status, tt.want)
			if _, ok := e.sim.Transfer("FAULT1"); ok {
				t.Fatal("a failed call created the bill")
			}
		})
	}
	impatient := sdkClient(t, e.pre.URL, 200*time.Millisecond)
	var created transferCreated
	t.Run("transfer timeout creates the bill without answering", func(t *testing.T) {
		addFault(t, e.env, map[string]any{"api": "transfer", "mode": "timeout", "count": 1})
		if _, _, err := postTransfer(ctx, impatient, e.transferReq("FAULT1", 100)); err == nil {
			t.Fatal("the call answered")
		}
		v, ok := e.sim.Transfer("FAULT1")
		if !ok || v.State != "WAIT_USER_CONFIRM" {
			t.Fatalf("WeChat did not act on the timed-out call: %+v", v)
		}
		created = e.createTransfer(t, e.transferReq("FAULT1", 100))
		if created.TransferBillNo != v.TransferBillNo || e.view(t, "FAULT1").Requests != 2 {
			t.Fatalf("the retry got another bill: %+v", created)
		}
	})
	t.Run("transfer delay", func(t *testing.T) {
		addFault(t, e.env, map[string]any{"api": "transfer", "mode": "delay", "count": 1, "delay_ms": 60})
		start := time.Now()
		e.createTransfer(t, e.transferReq("FAULT2", 100))
		if time.Since(start) < 60*time.Millisecond {
			t.Fatalf("answered after %v", time.Since(start))
		}
	})
	t.Run("querytransfer fail", func(t *testing.T) {
		addFault(t, e.env, map[string]any{"api": "querytransfer", "mode": "fail", "count": 1, "code": "SYSTEM_ERROR"})
		_, err := getTransfer(ctx, e.sdk, "FAULT1")
		apiError(t, err, 500, "SYSTEM_ERROR")
		if q := e.queryTransfer(t, "FAULT1"); q.State != "WAIT_USER_CONFIRM" {
			t.Fatalf("query %+v", q)
		}
	})
	t.Run("querytransfer delay", func(t *testing.T) {
		addFault(t, e.env, map[string]any{"api": "querytransfer", "mode": "delay", "count": 1, "delay_ms": 60})
		start := time.Now()
		e.queryTransfer(t, "FAULT1")
		if time.Since(start) < 60*time.Millisecond {
			t.Fatalf("answered after %v", time.Since(start))
		}
	})
	t.Run("querytransfer timeout", func(t *testing.T) {
		addFault(t, e.env, map[string]any{"api": "querytransfer", "mode": "timeout", "count": 1})
		if _, err := getTransfer(ctx, impatient, "FAULT1"); err == nil {
			t.Fatal("the call answered")
		}
	})
	t.Run("canceltransfer fail does not cancel", func(t *testing.T) {
		addFault(t, e.env, map[string]any{"api": "canceltransfer", "mode": "fail", "count": 1, "code": "NO_AUTH"})
		_, err := cancelTransfer(ctx, e.sdk, "FAULT1")
		apiError(t, err, 403, "NO_AUTH")
		if v := e.view(t, "FAULT1"); v.State != "WAIT_USER_CONFIRM" {
			t.Fatalf("view %+v", v)
		}
	})
	t.Run("canceltransfer timeout cancels without answering", func(t *testing.T) {
		addFault(t, e.env, map[string]any{"api": "canceltransfer", "mode": "timeout", "count": 1})
		if _, err := cancelTransfer(ctx, impatient, "FAULT1"); err == nil {
			t.Fatal("the call answered")
		}
		eventually(t, "CANCELLED", func() bool { return e.view(t, "FAULT1").State == "CANCELLED" })
		if q := e.queryTransfer(t, "FAULT1"); q.State != "CANCELLED" {
			t.Fatalf("query %+v", q)
		}
		eventually(t, "the notification", func() bool {
			ds := e.sim.TransferDeliveries("FAULT1")
			return len(ds) == 1 && ds[0].OK && ds[0].Trigger == "cancel"
		})
	})
	t.Run("canceltransfer delay", func(t *testing.T) {
		addFault(t, e.env, map[string]any{"api": "canceltransfer", "mode": "delay", "count": 1, "delay_ms": 60})
		start := time.Now()
		if c, err := cancelTransfer(ctx, e.sdk, "FAULT2"); err != nil || c.State != "CANCELING" {
			t.Fatalf("%+v %v", c, err)
		}
		if time.Since(start) < 60*time.Millisecond {
			t.Fatalf("answered after %v", time.Since(start))
		}
	})
	t.Run("transfer faults take only API modes", func(t *testing.T) {
		for _, api := range []string{"transfer", "querytransfer", "canceltransfer"} {
			status, out := e.control(t, "POST", "/faults", map[string]any{"api": api, "mode": "drop", "count": 1})
			if status != 400 || !strings.HasPrefix(errorCode(out), "INVALID_FIELD: mode") {
				t.Fatalf("%s: %d %q", api, status, errorCode(out))
			}
		}
		status, out := e.control(t, "POST", "/faults", map[string]any{"api": "nope", "mode": "fail", "count": 1})
		if status != 400 || !strings.Contains(errorCode(out), "canceltransfer") {
			t.Fatalf("%d %q", status, errorCode(out))
		}
	})
	t.Run("calls are logged", func(t *testing.T) {
		if n := len(e.sim.Calls("transfer")); n != 12 {
			t.Fatalf("%d transfer calls", n)
		}
		calls := e.sim.Calls("canceltransfer")
		if len(calls) != 3 || calls[0].Path != "/v3/fund-app/mch-transfer/transfer-bills/out-bill-no/FAULT1/cancel" {
			t.Fatalf("calls %+v", calls)
		}
	})
}

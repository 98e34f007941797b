package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/serve"
)

// demo starts a private stack (fresh data directory, free port) and walks a
// whole payment through the production routes, printing every step.
func demo(ctx context.Context, cfg config, out io.Writer) error {
	dir, err := os.MkdirTemp("", "cloudpay-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	cfg.DataDir, cfg.MongoURI, cfg.SimPort, cfg.SimURL = dir, "", 0, "" // a private simulator too
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	log := slog.New(slog.DiscardHandler)
	s, err := build(ctx, cfg, ln, log)
	if err != nil {
		ln.Close()
		return err
	}
	defer s.close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() { _ = serve.Serve(ctx, serve.Config{}, ln, s.handler, log) }()

	w := walker{out: out, client: &http.Client{Timeout: 10 * time.Second}}
	const openid = "oDemoUser0001"
	admin := map[string]string{"Authorization": "Bearer " + cfg.AdminTokens[0]}
	user := map[string]string{"X-WX-OPENID": openid, "X-WX-SOURCE": "wx_client", "X-Forwarded-For": "203.0.113.7"}
	no := fmt.Sprintf("DEMO%d", time.Now().Unix())
	refundKey := no + "-refund-1"
	refundNo := cloudpay.OutRefundNoForKey(refundKey)

	steps := []struct {
		title, method, url string
		body               any
		header             map[string]string
		want               int
	}{
		{"1. The business back end creates an order (bearer token)", "POST", s.base + "/create-payment/orders",
			map[string]any{"out_trade_no": no, "openid": openid, "amount_fen": 2590, "description": "Go course, 1 seat"}, admin, 201},
		{"2. The mini-program asks for payment parameters (X-WX-OPENID)", "POST", s.base + "/create-payment/payments",
			map[string]any{"out_trade_no": no}, user, 200},
		{"3. The user pays in WeChat (the simulator), which calls back payment-callback", "POST", s.base + "/sim/pay",
			map[string]any{"out_trade_no": no}, nil, 200},
		{"4. The mini-program reads the order status", "GET", s.base + "/create-payment/payments/" + no, nil, user, 200},
		{"5. WeChat's side of the truth", "GET", s.base + "/sim/orders/" + no, nil, nil, 200},
		{"6. WeChat delivers the callback again: acknowledged, nothing changes", "POST", s.base + "/sim/notify",
			map[string]any{"out_trade_no": no}, nil, 200},
		{"7. Paying twice is refused", "POST", s.base + "/create-payment/payments", map[string]any{"out_trade_no": no}, user, 409},
		{"8. The back end refunds part of it; the idempotency key fixes out_refund_no", "POST", s.base + "/refund/refunds",
			map[string]any{"out_trade_no": no, "amount_fen": 1000, "reason": "one lesson cancelled", "idempotency_key": refundKey}, admin, 202},
		{"9. The same request again: the same refund, nothing new at WeChat", "POST", s.base + "/refund/refunds",
			map[string]any{"out_trade_no": no, "amount_fen": 1000, "reason": "one lesson cancelled", "idempotency_key": refundKey}, admin, 200},
		{"10. The refund, with WeChat's live status", "GET", s.base + "/refund/refunds/" + refundNo, nil, admin, 200},
		{"11. More than is left is refused", "POST", s.base + "/refund/refunds",
			map[string]any{"out_trade_no": no, "amount_fen": 1591, "reason": "too much", "idempotency_key": no + "-refund-2"}, admin, 422},
		{"12. The back end credits the user's wallet, once per credit_id", "POST", s.base + "/withdraw/wallets/" + openid + "/credits",
			map[string]any{"credit_id": no + "-reward", "amount_fen": 5000, "memo": "recycling reward"}, admin, 201},
		{"13. The user withdraws to their WeChat balance: WeChat waits for them (package_info)", "POST", s.base + "/withdraw/withdrawals",
			map[string]any{"amount_fen": 3000, "idempotency_key": no + "-withdraw-1"}, user, 201},
		{"14. The user confirms in wx.requestMerchantTransfer (the simulator); WeChat notifies", "POST",
			s.base + "/sim/transfers/" + cloudpay.WithdrawalID(openid, no+"-withdraw-1") + "/confirm", nil, nil, 200},
		{"15. The wallet shows the money paid out", "GET", s.base + "/withdraw/wallet", nil, user, 200},
		{"16. The scheduled job makes a pass (close-expired, the scheduler's token)", "POST", s.base + "/close-expired/run",
			nil, map[string]string{"Authorization": "Bearer " + cfg.JobToken}, 200},
	}
	for _, st := range steps {
		if err := w.step(st.title, st.method, st.url, st.body, st.header, st.want); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "\nDemo complete (%s channel): order created, paid once, confirmed with WeChat, partly refunded once; a withdrawal paid out once.\n", cfg.Channel)
	return nil
}

type walker struct {
	out    io.Writer
	client *http.Client
}

func (w walker) step(title, method, url string, body any, header map[string]string, want int) error {
	fmt.Fprintf(w.out, "\n== %s\n%s %s\n", title, method, url)
	var rd io.Reader
	if body != nil {
		raw, _ := json.Marshal(body)
		fmt.Fprintf(w.out, "  %s\n", raw)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var pretty bytes.Buffer
	if json.Indent(&pretty, raw, "  ", "  ") != nil {
		pretty.Reset()
		pretty.Write(raw)
	}
	fmt.Fprintf(w.out, "→ %d\n  %s\n", resp.StatusCode, pretty.String())
	if resp.StatusCode != want {
		return fmt.Errorf("%s: got HTTP %d, want %d", title, resp.StatusCode, want)
	}
	return nil
}

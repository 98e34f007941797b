package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

const (
	refundFen     = 50 // each bench order is at least 100 fen
	refundBudget  = 120 * time.Second
	progressEvery = 50 * time.Millisecond
)

type refundResult struct {
	items, succeeded, failed, atWeChatOnce int
	wall                                   time.Duration
	perSecond                              float64
	problems                               []string
}

// refundBatch starts the refund binary on the callback run's database and
// refunds part of the first n bench orders (paid by then) in one batch: the
// batch runs after its 202, WeChat's refund callbacks reach the running
// payment-callback, and the wall time ends when GET /refunds/batches/:id
// reports every item done.
func refundBatch(ctx context.Context, bin string, env baseEnv, sim *wechatsim.Simulator, n int) (refundResult, error) {
	res := refundResult{items: n}
	port, err := freePort()
	if err != nil {
		return res, err
	}
	p, err := startHealthy(ctx, bin, "refund", port, env)
	if err != nil {
		return res, err
	}
	defer p.stop()

	type item struct {
		OutTradeNo string `json:"out_trade_no"`
		AmountFen  int64  `json:"amount_fen"`
		Reason     string `json:"reason"`
		Key        string `json:"key"`
	}
	items := make([]item, n)
	for i := range n {
		items[i] = item{OutTradeNo: orderNo(i), AmountFen: refundFen, Reason: "bench", Key: fmt.Sprintf("bench-refund-%d", i)}
	}
	body := map[string]any{"idempotency_key": fmt.Sprintf("bench-batch-%d", time.Now().UnixNano()), "label": "bench", "items": items}
	client := &http.Client{Timeout: requestTimeout}
	defer client.CloseIdleConnections()
	auth := map[string]string{"Authorization": "Bearer " + adminToken}

	start := time.Now()
	var created struct {
		BatchID string `json:"batch_id"`
	}
	if err := call(ctx, client, http.MethodPost, p.url+"/refunds/batch", body, auth, http.StatusAccepted, &created); err != nil {
		return res, err
	}
	for {
		var pr struct {
			Total, Done, Succeeded, Failed int
		}
		if err := call(ctx, client, http.MethodGet, p.url+"/refunds/batches/"+created.BatchID, nil, auth, http.StatusOK, &pr); err != nil {
			return res, err
		}
		if pr.Done == pr.Total {
			res.wall = time.Since(start)
			res.succeeded, res.failed = pr.Succeeded, pr.Failed
			break
		}
		if time.Since(start) > refundBudget {
			res.wall = time.Since(start)
			res.succeeded, res.failed = pr.Succeeded, pr.Failed
			res.problems = append(res.problems, fmt.Sprintf("batch not done after %s: %d of %d", refundBudget, pr.Done, pr.Total))
			break
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(progressEvery):
		}
	}
	res.perSecond = float64(res.succeeded) / res.wall.Seconds()
	// What WeChat saw: one refund per order, whatever retries happened.
	for i := range n {
		if rs := sim.Refunds(orderNo(i)); len(rs) == 1 && rs[0].RefundFee == refundFen {
			res.atWeChatOnce++
		} else if len(res.problems) < maxProblems {
			res.problems = append(res.problems, fmt.Sprintf("%s: %d refunds at WeChat", orderNo(i), len(rs)))
		}
	}
	if res.failed > 0 {
		res.problems = append(res.problems, logLines(p, 3)...)
	}
	return res, nil
}

// call sends a JSON request and decodes the reply into out.
func call(ctx context.Context, client *http.Client, method, url string, body any, header map[string]string, want int, out any) error {
	var rd io.Reader
	if body != nil {
		raw, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s: %w", method, url, err)
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: HTTP %d, want %d: %s", method, url, resp.StatusCode, want, reply)
	}
	if err := json.Unmarshal(reply, out); err != nil {
		return fmt.Errorf("%s %s: %w", method, url, err)
	}
	return nil
}

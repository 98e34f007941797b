package httpapi

import (
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/job"
	"github.com/cloudpay/cloudpay/shared/operator"
	"github.com/cloudpay/cloudpay/shared/outbox"
	"github.com/cloudpay/cloudpay/shared/payment"
	"github.com/cloudpay/cloudpay/shared/refund"
	"github.com/cloudpay/cloudpay/shared/withdraw"
)

// Every JSON body a handler writes is one of the views below, built from
// domain and use-case values by the function beside it: the wire format
// (README, design.md §3) lives here and nowhere else. Field order is the
// order on the wire; money is fen as an integer; times are as stored (UTC).

// mapSlice converts each element; nil stays nil, so a body keeps "null"
// where the use case returned no slice at all.
func mapSlice[T, V any](xs []T, view func(T) V) []V {
	if xs == nil {
		return nil
	}
	out := make([]V, len(xs))
	for i, x := range xs {
		out[i] = view(x)
	}
	return out
}

// --- every function ---

// healthView answers GET /healthz. Keys in alphabetical order, as before.
type healthView struct {
	Function string `json:"function"`
	Status   string `json:"status"`
}

// errorBody is every error answer: {"error":{"code","message","field"?}}.
type errorBody struct {
	Error errorView `json:"error"`
}

type errorView struct {
	Code    cloudpay.Code `json:"code"`
	Message string        `json:"message"`
	Field   string        `json:"field,omitempty"`
}

// --- create-payment ---

// orderView is an order as the merchant's back end and the user see it.
type orderView struct {
	OutTradeNo    string     `json:"out_trade_no"`
	OpenID        string     `json:"openid"`
	AmountFen     int64      `json:"amount_fen"`
	Description   string     `json:"description"`
	Attach        string     `json:"attach,omitempty"`
	Status        string     `json:"status"`
	CreatedAt     time.Time  `json:"created_at"`
	ExpiresAt     time.Time  `json:"expires_at"`
	TransactionID string     `json:"transaction_id,omitempty"` // WeChat's transaction_id, or Alipay's trade_no
	PaidAt        *time.Time `json:"paid_at,omitempty"`
	// Method is how it is being or was paid: jsapi, native, h5, balance,
	// alipay_qr, alipay_wap (the newest attempt's while unpaid).
	Method  string `json:"method,omitempty"`
	Adopted bool   `json:"adopted,omitempty"` // paid outside cloudpay; recorded from WeChat's answer
}

func viewOrder(o cloudpay.Order) orderView {
	return orderView{
		OutTradeNo: o.OutTradeNo, OpenID: o.OpenID, AmountFen: int64(o.AmountFen),
		Description: o.Description, Attach: o.Attach, Status: string(o.Status),
		CreatedAt: o.CreatedAt.UTC(), ExpiresAt: o.ExpiresAt.UTC(), TransactionID: o.TransactionID, PaidAt: utc(o.PaidAt),
		Method: string(o.Method), Adopted: o.Adopted,
	}
}

func utc(t *time.Time) *time.Time {
	if t == nil || t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// paymentView answers POST /payments: what the page passes to
// wx.requestPayment, with the order's amount and deadline.
type paymentView struct {
	OutTradeNo string            `json:"out_trade_no"`
	AmountFen  int64             `json:"amount_fen"`
	ExpiresAt  time.Time         `json:"expires_at"`
	Payment    paymentParamsView `json:"payment"`
}

// paymentParamsView is the object wx.requestPayment takes, in its own
// camelCase names.
type paymentParamsView struct {
	AppID     string `json:"appId"`
	TimeStamp string `json:"timeStamp"`
	NonceStr  string `json:"nonceStr"`
	Package   string `json:"package"`
	SignType  string `json:"signType"`
	PaySign   string `json:"paySign"`
}

func viewPayment(p payment.Payment) paymentView {
	return paymentView{
		OutTradeNo: p.Order.OutTradeNo, AmountFen: int64(p.Order.AmountFen), ExpiresAt: p.Order.ExpiresAt.UTC(),
		Payment: paymentParamsView{
			AppID: p.Params.AppID, TimeStamp: p.Params.TimeStamp, NonceStr: p.Params.NonceStr,
			Package: p.Params.Package, SignType: p.Params.SignType, PaySign: p.Params.PaySign,
		},
	}
}

// --- payment-callback: WeChat's replies ---

// cloudHostingReply is what Cloud Hosting expects: errcode 0 stops retries,
// anything else makes WeChat deliver the callback again later.
type cloudHostingReply struct {
	ErrCode int    `json:"errcode"`
	ErrMsg  string `json:"errmsg"`
}

// v3Reply is API v3's failure body; success is a bare 204.
type v3Reply struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// --- refund ---

// refundView is a refund as the merchant's back end, the console and the
// user see it.
type refundView struct {
	OutRefundNo    string       `json:"out_refund_no"`
	OutTradeNo     string       `json:"out_trade_no"`
	TransactionID  string       `json:"transaction_id,omitempty"`
	OpenID         string       `json:"openid"`
	AmountFen      int64        `json:"amount_fen"`
	TotalFen       int64        `json:"total_fen"`
	Reason         string       `json:"reason,omitempty"`
	Status         string       `json:"status"`
	Retryable      bool         `json:"retryable,omitempty"`
	Source         string       `json:"source"`
	IdempotencyKey string       `json:"idempotency_key,omitempty"`
	BatchID        string       `json:"batch_id,omitempty"`
	Label          string       `json:"label,omitempty"`
	Note           string       `json:"note,omitempty"`
	CreatedBy      string       `json:"created_by,omitempty"` // the named token that asked for it
	FourEyes       bool         `json:"four_eyes,omitempty"`  // waits for another named token's approval
	RefundID       string       `json:"refund_id,omitempty"`
	Account        string       `json:"account,omitempty"`
	Attempts       int          `json:"attempts"`
	LastError      *failureView `json:"last_error,omitempty"`
	NotBefore      time.Time    `json:"not_before,omitzero"`
	CreatedAt      time.Time    `json:"created_at"`
	UpdatedAt      time.Time    `json:"updated_at"`
	SucceededAt    *time.Time   `json:"succeeded_at,omitempty"`
}

func viewRefund(r cloudpay.Refund) refundView {
	return refundView{
		OutRefundNo: r.OutRefundNo, OutTradeNo: r.OutTradeNo, TransactionID: r.TransactionID, OpenID: r.OpenID,
		AmountFen: int64(r.AmountFen), TotalFen: int64(r.TotalFen), Reason: r.Reason,
		Status: string(r.Status), Retryable: r.Retryable, Source: r.Source,
		IdempotencyKey: r.IdempotencyKey, BatchID: r.BatchID, Label: r.Label, Note: r.Note,
		CreatedBy: r.CreatedBy, FourEyes: r.FourEyes, RefundID: r.RefundID, Account: r.Account, Attempts: r.Attempts, LastError: viewFailure(r.LastError),
		NotBefore: r.NotBefore, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt, SucceededAt: r.SucceededAt,
	}
}

// failureView is the last error a refund, a batch item or a withdrawal met.
type failureView struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func viewFailure(f *cloudpay.Failure) *failureView {
	if f == nil {
		return nil
	}
	return &failureView{Code: f.Code, Message: f.Message}
}

// refundDetailView answers GET /refunds/{out_refund_no}: the refund with
// WeChat's live word on it.
type refundDetailView struct {
	refundView
	WeChat *liveView `json:"wechat,omitempty"`
}

// liveView is WeChat's current word on a refund, or why it could not be had.
type liveView struct {
	Status       string `json:"status"`
	RefundID     string `json:"refund_id,omitempty"`
	AmountFen    int64  `json:"amount_fen,omitempty"`
	Account      string `json:"account,omitempty"`
	Error        string `json:"error,omitempty"`
	ErrorMessage string `json:"error_message,omitempty"`
}

func viewRefundDetail(r cloudpay.Refund, live *refund.Live) refundDetailView {
	d := refundDetailView{refundView: viewRefund(r)}
	if live != nil {
		d.WeChat = &liveView{
			Status: string(live.State), RefundID: live.RefundID, AmountFen: int64(live.AmountFen),
			Account: live.Account, Error: live.Error, ErrorMessage: live.ErrorDetail,
		}
	}
	return d
}

// refundPageView answers GET /refunds: a page and the totals of everything
// the filter selects.
type refundPageView struct {
	Refunds    []refundView `json:"refunds"`
	NextCursor string       `json:"next_cursor,omitempty"`
	Totals     totalsView   `json:"totals"`
}

type totalsView struct {
	Count     int64 `json:"count"`
	AmountFen int64 `json:"amount_fen"`
}

func viewRefundPage(p refund.Page) refundPageView {
	return refundPageView{
		Refunds: mapSlice(p.Refunds, viewRefund), NextCursor: p.NextCursor,
		Totals: totalsView{Count: p.Totals.Count, AmountFen: int64(p.Totals.AmountFen)},
	}
}

// batchCreatedView answers POST /refunds/batch. Keys in alphabetical
// order, as before.
type batchCreatedView struct {
	BatchID string `json:"batch_id"`
	Created bool   `json:"created"`
}

// batchProgressView answers GET /refunds/batches/{id}: a progress bar.
type batchProgressView struct {
	BatchID     string          `json:"batch_id"`
	Label       string          `json:"label,omitempty"`
	Total       int             `json:"total"`
	Done        int             `json:"done"`
	Succeeded   int             `json:"succeeded"`
	Failed      int             `json:"failed"`
	Processing  int             `json:"processing"`
	AmountFen   int64           `json:"amount_fen"`
	RefundedFen int64           `json:"refunded_fen"`
	CreatedAt   time.Time       `json:"created_at"`
	Items       []batchItemView `json:"items"`
}

type batchItemView struct {
	Key           string            `json:"key"`
	OutTradeNo    string            `json:"out_trade_no"`
	TransactionID string            `json:"transaction_id,omitempty"`
	Extra         map[string]string `json:"extra,omitempty"`
	OutRefundNo   string            `json:"out_refund_no"`
	AmountFen     int64             `json:"amount_fen"`
	Status        string            `json:"status"`
	Retryable     bool              `json:"retryable,omitempty"`
	Error         *failureView      `json:"error,omitempty"`
}

func viewBatchProgress(p refund.Progress) batchProgressView {
	return batchProgressView{
		BatchID: p.BatchID, Label: p.Label, Total: p.Total, Done: p.Done, Succeeded: p.Succeeded,
		Failed: p.Failed, Processing: p.Processing, AmountFen: int64(p.AmountFen), RefundedFen: int64(p.RefundedFen),
		CreatedAt: p.CreatedAt,
		Items: mapSlice(p.Items, func(it refund.ProgressItem) batchItemView {
			return batchItemView{
				Key: it.Key, OutTradeNo: it.OutTradeNo, TransactionID: it.TransactionID, Extra: it.Extra,
				OutRefundNo: it.OutRefundNo, AmountFen: int64(it.AmountFen),
				Status: it.Status, Retryable: it.Retryable, Error: viewFailure(it.Error),
			}
		}),
	}
}

// --- the console (refund function) ---

// consoleOrderView is an order as the console shows it: every field of the
// stored projection a person may want, more than orderView carries.
type consoleOrderView struct {
	OutTradeNo    string     `json:"out_trade_no"`
	OpenID        string     `json:"openid"`
	AmountFen     int64      `json:"amount_fen"`
	Description   string     `json:"description"`
	Attach        string     `json:"attach,omitempty"`
	ExpireMinutes int        `json:"expire_minutes"`
	Status        string     `json:"status"`
	CreatedAt     time.Time  `json:"created_at"`
	ExpiresAt     time.Time  `json:"expires_at"`
	TransactionID string     `json:"transaction_id,omitempty"`
	Method        string     `json:"method,omitempty"`   // how it is being paid or was paid; none before a payment began
	TradeNo       string     `json:"trade_no,omitempty"` // the number WeChat knows the payment by, when not out_trade_no
	PaidAt        *time.Time `json:"paid_at,omitempty"`
	RefundedFen   int64      `json:"refunded_fen,omitempty"`
	ShippingState string     `json:"shipping_state,omitempty"` // shipped or partly_shipped once WeChat took an upload
	UpdatedAt     time.Time  `json:"updated_at"`
}

func viewConsoleOrder(o cloudpay.Order) consoleOrderView {
	return consoleOrderView{
		OutTradeNo: o.OutTradeNo, OpenID: o.OpenID, AmountFen: int64(o.AmountFen), Description: o.Description,
		Attach: o.Attach, ExpireMinutes: o.ExpireMinutes, Status: string(o.Status),
		CreatedAt: o.CreatedAt, ExpiresAt: o.ExpiresAt, TransactionID: o.TransactionID, PaidAt: o.PaidAt,
		Method: string(o.Method), TradeNo: o.TradeNo, RefundedFen: int64(o.RefundedFen), ShippingState: o.ShippingState,
		UpdatedAt: o.UpdatedAt,
	}
}

// ordersPageView answers GET /admin/api/orders, newest first.
type ordersPageView struct {
	Orders     []consoleOrderView `json:"orders"`
	NextCursor string             `json:"next_cursor,omitempty"`
}

func viewOrdersPage(p operator.OrdersPage) ordersPageView {
	return ordersPageView{Orders: mapSlice(p.Orders, viewConsoleOrder), NextCursor: p.NextCursor}
}

// orderDetailView answers GET /admin/api/orders/{out_trade_no}: the order,
// its refunds and the refund ledger's amounts.
type orderDetailView struct {
	Order         consoleOrderView `json:"order"`
	RefundableFen int64            `json:"refundable_fen"`
	RefundedFen   int64            `json:"refunded_fen"`
	ReservedFen   int64            `json:"reserved_fen"`
	RefundCount   int              `json:"refund_count"`
	Refunds       []refundView     `json:"refunds"`
}

func viewOrderDetail(d operator.OrderDetail) orderDetailView {
	return orderDetailView{
		Order: viewConsoleOrder(d.Order), RefundableFen: int64(d.RefundableFen), RefundedFen: int64(d.RefundedFen),
		ReservedFen: int64(d.ReservedFen), RefundCount: d.RefundCount, Refunds: mapSlice(d.Refunds, viewRefund),
	}
}

// --- withdraw ---

// walletView is a user's balance.
type walletView struct {
	OpenID            string `json:"openid"`
	AvailableFen      int64  `json:"available_fen"`
	FrozenFen         int64  `json:"frozen_fen"`
	WithdrawnTodayFen int64  `json:"withdrawn_today_fen"`
	WithdrawalsToday  int    `json:"withdrawals_today"`
	CreditedFen       int64  `json:"credited_fen"`
	DebitedFen        int64  `json:"debited_fen"`
}

func viewWallet(w withdraw.Wallet) walletView {
	return walletView{
		OpenID: w.OpenID, AvailableFen: int64(w.AvailableFen), FrozenFen: int64(w.FrozenFen),
		WithdrawnTodayFen: int64(w.WithdrawnTodayFen), WithdrawalsToday: w.WithdrawalsToday,
		CreditedFen: int64(w.CreditedFen), DebitedFen: int64(w.DebitedFen),
	}
}

// creditView answers POST /wallets/{openid}/credits. Keys in alphabetical
// order, as before.
type creditView struct {
	AmountFen int64      `json:"amount_fen"`
	Created   bool       `json:"created"`
	CreditID  string     `json:"credit_id"`
	Wallet    walletView `json:"wallet"`
}

// profileView answers PUT /wallets/{openid}/profile; the name itself is
// never sent back.
type profileView struct {
	OpenID         string `json:"openid"`
	RealNameOnFile bool   `json:"real_name_on_file"`
}

// withdrawalView is a withdrawal as its user and the console see it.
type withdrawalView struct {
	ID             string       `json:"id"`
	OpenID         string       `json:"openid"`
	AmountFen      int64        `json:"amount_fen"`
	IdempotencyKey string       `json:"idempotency_key"`
	Status         string       `json:"status"`
	PackageInfo    string       `json:"package_info,omitempty"` // for wx.requestMerchantTransfer
	MchID          string       `json:"mch_id,omitempty"`
	TransferBillNo string       `json:"transfer_bill_no,omitempty"`
	FailReason     string       `json:"fail_reason,omitempty"`
	Attempts       int          `json:"attempts"`
	LastError      *failureView `json:"last_error,omitempty"`
	CreatedAt      time.Time    `json:"created_at"`
	UpdatedAt      time.Time    `json:"updated_at"`
	FinishedAt     *time.Time   `json:"finished_at,omitempty"`
}

func viewWithdrawal(w cloudpay.Withdrawal) withdrawalView {
	return withdrawalView{
		ID: w.ID, OpenID: w.OpenID, AmountFen: int64(w.AmountFen), IdempotencyKey: w.IdempotencyKey,
		Status: string(w.Status), PackageInfo: w.PackageInfo, MchID: w.MchID, TransferBillNo: w.TransferBillNo,
		FailReason: w.FailReason, Attempts: w.Attempts, LastError: viewFailure(w.LastError),
		CreatedAt: w.CreatedAt, UpdatedAt: w.UpdatedAt, FinishedAt: w.FinishedAt,
	}
}

// withdrawalsView answers GET /withdrawals and GET /admin/api/withdrawals.
type withdrawalsView struct {
	Withdrawals []withdrawalView `json:"withdrawals"`
}

func viewWithdrawals(ws []cloudpay.Withdrawal) withdrawalsView {
	return withdrawalsView{Withdrawals: mapSlice(ws, viewWithdrawal)}
}

// --- close-expired ---

// jobReportView answers POST /run: what one pass did. (job.Report keeps
// its own json tags: on Lambda the runtime returns it as the scheduled
// invocation's result.)
type jobReportView struct {
	Pass              string          `json:"pass"`
	StartedAt         time.Time       `json:"started_at"`
	FinishedAt        time.Time       `json:"finished_at"`
	Closed            int             `json:"closed"`
	PaidLate          int             `json:"paid_late"`
	Repaired          int             `json:"repaired"`
	RefundsSynced     int             `json:"refunds_synced"`
	RefundsRetried    int             `json:"refunds_retried"`
	RefundsGivenUp    int             `json:"refunds_given_up"`
	BatchItemsResumed int             `json:"batch_items_resumed"`
	WithdrawalsSynced int             `json:"withdrawals_synced"`
	NotificationsSent int             `json:"notifications_sent"`
	Skipped           int             `json:"skipped"`
	Errors            []itemErrorView `json:"errors"`
}

type itemErrorView struct {
	Step    string `json:"step"`
	Subject string `json:"subject"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func viewJobReport(r job.Report) jobReportView {
	return jobReportView{
		Pass: r.Pass, StartedAt: r.StartedAt, FinishedAt: r.FinishedAt, Closed: r.Closed, PaidLate: r.PaidLate,
		Repaired: r.Repaired, RefundsSynced: r.RefundsSynced, RefundsRetried: r.RefundsRetried, RefundsGivenUp: r.RefundsGivenUp,
		BatchItemsResumed: r.BatchItemsResumed, WithdrawalsSynced: r.WithdrawalsSynced,
		NotificationsSent: r.NotificationsSent, Skipped: r.Skipped,
		Errors: mapSlice(r.Errors, func(e cloudpay.ItemError) itemErrorView {
			return itemErrorView{Step: e.Step, Subject: e.Subject, Code: e.Code, Message: e.Message}
		}),
	}
}

// deadLetterView is a business event whose delivery gave up (or, after a
// redelivery, how that went).
type deadLetterView struct {
	ID            string         `json:"id"`
	Type          string         `json:"type"`
	Subject       string         `json:"subject"`
	Data          map[string]any `json:"data"`
	Status        string         `json:"status"`
	Attempts      int            `json:"attempts"`
	NextAttemptAt time.Time      `json:"next_attempt_at"`
	CreatedAt     time.Time      `json:"created_at"`
	LastError     string         `json:"last_error,omitempty"`
	LastAttemptAt time.Time      `json:"last_attempt_at,omitzero"`
	DeliveredAt   time.Time      `json:"delivered_at,omitzero"`
}

func viewDeadLetter(l outbox.Letter) deadLetterView {
	return deadLetterView{
		ID: l.ID, Type: string(l.Type), Subject: l.Subject, Data: l.Data, Status: string(l.Status),
		Attempts: l.Attempts, NextAttemptAt: l.NextAttemptAt, CreatedAt: l.CreatedAt,
		LastError: l.LastError, LastAttemptAt: l.LastAttemptAt, DeliveredAt: l.DeliveredAt,
	}
}

// deadLettersView answers GET /dead-letters: never null, an empty list.
type deadLettersView struct {
	DeadLetters []deadLetterView `json:"dead_letters"`
}

func viewDeadLetters(ls []outbox.Letter) deadLettersView {
	if ls == nil {
		ls = []outbox.Letter{}
	}
	return deadLettersView{DeadLetters: mapSlice(ls, viewDeadLetter)}
}

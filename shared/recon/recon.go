// Package recon reconciles a day of WeChat Pay against cloudpay: WeChat's
// daily trade bill is downloaded, kept, and compared with the settlements
// and refunds cloudpay recorded. A payment or refund that WeChat made and
// cloudpay does not know (another system's payment, a refund made in the
// merchant platform) is adopted from WeChat's word; every other difference
// is reported for a person, once per day and kind, with a
// reconciliation.mismatch event.
package recon

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

// Line is one line of WeChat's trade bill as reconciliation reads it: a
// payment, or a refund of one.
type Line struct {
	Refund        bool
	TransactionID string
	OutTradeNo    string
	RefundID      string // refund lines
	OutRefundNo   string // refund lines
	State         string // 交易状态 of a payment (SUCCESS), 退款状态 of a refund (SUCCESS, PROCESSING, …)
	AmountFen     cloudpay.Fen
	FeeUnits      int64 // 手续费, in the bill package's unit (bill.Fee)
}

// Difference kinds.
const (
	UnknownPayment = "unknown_payment" // paid at WeChat, unknown here: adopted
	UnknownRefund  = "unknown_refund"  // refunded at WeChat, unknown here: adopted
	MissingPayment = "missing_payment" // paid here, not in WeChat's bill
	MissingRefund  = "missing_refund"  // refunded here, not in WeChat's bill
	AmountDiffers  = "amount"          // both hold it, with other amounts
	StatusDiffers  = "status"          // both hold it, in other states
)

// Difference is one thing WeChat's bill and cloudpay disagree on.
type Difference struct {
	Kind          string       `bson:"kind"`
	OutTradeNo    string       `bson:"out_trade_no,omitempty"`
	TransactionID string       `bson:"transaction_id,omitempty"`
	OutRefundNo   string       `bson:"out_refund_no,omitempty"`
	WeChatFen     cloudpay.Fen `bson:"wechat_fen"`
	OurFen        cloudpay.Fen `bson:"our_fen"`
	WeChatState   string       `bson:"wechat_state,omitempty"`
	OurState      string       `bson:"our_state,omitempty"`
	// Resolved says what cloudpay did about it: "adopted", or empty when a
	// person must look.
	Resolved string `bson:"resolved,omitempty"`
	Note     string `bson:"note,omitempty"`
}

// Report statuses.
const (
	Done        = "done"         // compared; the differences are all there are
	NoStatement = "no_statement" // WeChat has no bill for the day: compared with nothing
)

// Report is one day's reconciliation.
type Report struct {
	Date        string       `bson:"_id"` // the Beijing day, 2006-01-02
	Status      string       `bson:"status"`
	Payments    int          `bson:"payments"` // lines in WeChat's bill
	PaymentsFen cloudpay.Fen `bson:"payments_fen"`
	Refunds     int          `bson:"refunds"`
	RefundsFen  cloudpay.Fen `bson:"refunds_fen"`
	FeeUnits    int64        `bson:"fee_units"`
	// What cloudpay recorded on the day.
	OurPayments    int          `bson:"our_payments"`
	OurPaymentsFen cloudpay.Fen `bson:"our_payments_fen"`
	OurRefunds     int          `bson:"our_refunds"`
	OurRefundsFen  cloudpay.Fen `bson:"our_refunds_fen"`
	Differences    []Difference `bson:"differences"`
	CreatedAt      time.Time    `bson:"created_at"`
}

// Bill is one of WeChat's bills as downloaded: the day's evidence beside
// its report, gzip-compressed (a MongoDB document holds 16 MB: a bill of
// a few hundred thousand rows).
type Bill struct {
	ID           string    `bson:"_id"` // date:kind
	Date         string    `bson:"date"`
	Kind         string    `bson:"kind"` // trade or fundflow
	Gzip         []byte    `bson:"gzip"`
	Size         int       `bson:"size"` // uncompressed
	DownloadedAt time.Time `bson:"downloaded_at"`
}

// Adopters record what WeChat did that cloudpay did not see.
type Adopters struct {
	// Payment adopts a payment by its transaction_id (payment.Service.Adopt).
	Payment func(ctx context.Context, transactionID string) error
	// Refund adopts a refund WeChat holds under outRefundNo (refund.Service.AdoptRefund).
	Refund func(ctx context.Context, outRefundNo, outTradeNo string) error
}

// Parser reads a downloaded trade bill into lines (shared/bill).
type Parser func(raw []byte) ([]Line, error)

// Service reconciles days.
type Service struct {
	store Store
	bills wechat.Bills
	parse Parser
	adopt Adopters
	log   *slog.Logger
	now   func() time.Time
}

// New builds the service.
func New(store Store, bills wechat.Bills, parse Parser, adopt Adopters, log *slog.Logger, now func() time.Time) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	return &Service{store: store, bills: bills, parse: parse, adopt: adopt, log: log, now: now}
}

// ValidDate checks a Beijing day as the API takes it.
func ValidDate(date string) (time.Time, error) {
	day, err := time.ParseInLocation(time.DateOnly, date, cloudpay.Beijing)
	if err != nil {
		return time.Time{}, cloudpay.FieldError("date", "date must be a day as 2006-01-02")
	}
	return day, nil
}

// Reconcile downloads WeChat's trade bill of date (a Beijing day) and
// compares it with what cloudpay recorded; it stores and returns the
// report. A bill WeChat has not generated yet is CodeBillNotReady (not a
// failure: try after 10:00 Beijing the next day). Running it again is
// safe: adopted items are found the second time, events are keyed by day,
// kind and number.
func (s *Service) Reconcile(ctx context.Context, date string) (Report, error) {
	day, err := ValidDate(date)
	if err != nil {
		return Report{}, err
	}
	status := Done
	raw, err := s.bills.DownloadBill(ctx, wechat.TradeBill, date)
	var lines []Line
	switch cloudpay.ErrorCode(err) {
	case "":
		if lines, err = s.parse(raw); err != nil {
			return Report{}, fmt.Errorf("reconcile %s: WeChat's bill: %w", date, err)
		}
		if err := s.keep(ctx, date, wechat.TradeBill, raw); err != nil {
			return Report{}, err
		}
	case cloudpay.CodeNoStatement:
		status = NoStatement
	default:
		return Report{}, err
	}
	// The fund-flow bill is kept beside it where the channel has one (API
	// v3): the day's movements of the merchant's balance, for people.
	if flow, err := s.bills.DownloadBill(ctx, wechat.FundFlowBill, date); err == nil {
		if err := s.keep(ctx, date, wechat.FundFlowBill, flow); err != nil {
			return Report{}, err
		}
	} else if code := cloudpay.ErrorCode(err); code != cloudpay.CodeBillUnsupported && code != cloudpay.CodeNoStatement {
		s.log.WarnContext(ctx, "fund-flow bill not downloaded", "date", date, "error", err)
	}
	r := Report{Date: date, Status: status, CreatedAt: s.now().UTC()}
	if err := s.compare(ctx, &r, day, lines); err != nil {
		return Report{}, err
	}
	if err := s.store.SaveReport(ctx, r); err != nil {
		return Report{}, err
	}
	for _, d := range r.Differences {
		if err := s.store.EnqueueEvent(ctx, mismatchEvent(date, d, r.CreatedAt)); err != nil {
			return r, err
		}
	}
	if len(r.Differences) > 0 {
		s.log.WarnContext(ctx, "reconciliation found differences", "date", date, "differences", len(r.Differences))
	}
	return r, nil
}

// keep stores a downloaded bill, compressed.
func (s *Service) keep(ctx context.Context, date string, kind wechat.BillKind, raw []byte) error {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(raw); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return s.store.SaveBill(ctx, Bill{ID: date + ":" + string(kind), Date: date, Kind: string(kind),
		Gzip: buf.Bytes(), Size: len(raw), DownloadedAt: s.now().UTC()})
}

func mismatchEvent(date string, d Difference, now time.Time) cloudpay.Event {
	number := d.OutRefundNo
	if number == "" {
		number = d.OutTradeNo
	}
	data := map[string]any{
		"date": date, "kind": d.Kind, "out_trade_no": d.OutTradeNo, "transaction_id": d.TransactionID,
		"out_refund_no": d.OutRefundNo, "wechat_fen": int64(d.WeChatFen), "our_fen": int64(d.OurFen),
		"wechat_state": d.WeChatState, "our_state": d.OurState, "resolved": d.Resolved,
	}
	return cloudpay.NewEvent(cloudpay.EventReconMismatch, date+":"+d.Kind+":"+number, data, now)
}

// compare fills r from WeChat's lines and what cloudpay recorded on day.
// WeChat's trade bill holds a day's payments by their payment time and its
// refunds by the time WeChat accepted them ("以交易的支付成功时间或商户退款
// 受理成功时间判断",
// https://pay.weixin.qq.com/docs/partner/products/bill-download/introduction/fund-bill.html);
// cloudpay's own side is read by payment time and by refund success time,
// so a refund accepted just before midnight and settled after it can show
// as missing on one day and unknown-but-ours on the next: each difference
// names its numbers for a person to see that.
func (s *Service) compare(ctx context.Context, r *Report, day time.Time, lines []Line) error {
	from, to := day, day.AddDate(0, 0, 1)
	billPaid := map[string]bool{}
	billRefunded := map[string]bool{}
	for _, l := range lines {
		r.FeeUnits += l.FeeUnits
		if l.Refund {
			r.Refunds++
			r.RefundsFen += l.AmountFen
			billRefunded[l.OutRefundNo] = true
			if err := s.compareRefund(ctx, r, l); err != nil {
				return err
			}
			continue
		}
		r.Payments++
		r.PaymentsFen += l.AmountFen
		billPaid[l.OutTradeNo] = true
		if err := s.comparePayment(ctx, r, l); err != nil {
			return err
		}
	}
	paid, err := s.store.SettlementsPaidBetween(ctx, from, to)
	if err != nil {
		return err
	}
	for _, st := range paid {
		if st.PaidMethod().Provider() != cloudpay.ProviderWeChat {
			continue // paid from the wallet or with Alipay: WeChat's bill never holds it
		}
		r.OurPayments++
		r.OurPaymentsFen += st.AmountFen
		if !billPaid[st.WeChatTradeNo()] {
			r.Differences = append(r.Differences, Difference{Kind: MissingPayment, OutTradeNo: st.OutTradeNo,
				TransactionID: st.TransactionID, OurFen: st.AmountFen, OurState: string(st.Outcome)})
		}
	}
	refunds, err := s.store.RefundsSucceededBetween(ctx, from, to)
	if err != nil {
		return err
	}
	for _, rf := range refunds {
		if rf.PaidBy != "" && rf.PaidBy.Provider() != cloudpay.ProviderWeChat {
			continue // back to the wallet or through Alipay: WeChat's bill never holds it
		}
		r.OurRefunds++
		r.OurRefundsFen += rf.AmountFen
		if !billRefunded[rf.OutRefundNo] {
			r.Differences = append(r.Differences, Difference{Kind: MissingRefund, OutTradeNo: rf.OutTradeNo,
				OutRefundNo: rf.OutRefundNo, OurFen: rf.AmountFen, OurState: string(rf.Status)})
		}
	}
	slices.SortStableFunc(r.Differences, func(a, b Difference) int {
		if a.Kind != b.Kind {
			if a.Kind < b.Kind {
				return -1
			}
			return 1
		}
		return 0
	})
	return nil
}

// orderNo is the order a bill line's out_trade_no belongs to: itself, or
// the order of one of cloudpay's later payment attempts.
func (s *Service) orderNo(ctx context.Context, tradeNo string) (string, error) {
	if !cloudpay.IsAttemptNo(tradeNo) {
		return tradeNo, nil
	}
	p, found, err := s.store.Prepay(ctx, tradeNo)
	if err != nil || !found {
		return tradeNo, err
	}
	return p.OutTradeNo, nil
}

func (s *Service) comparePayment(ctx context.Context, r *Report, l Line) error {
	no, err := s.orderNo(ctx, l.OutTradeNo)
	if err != nil {
		return err
	}
	st, found, err := s.store.Settlement(ctx, no)
	if err != nil {
		return err
	}
	if found && st.Outcome == cloudpay.SettledPaid && st.WeChatTradeNo() != l.OutTradeNo && l.State == "SUCCESS" {
		// The order was paid under another attempt: this is a second payment.
		r.Differences = append(r.Differences, Difference{Kind: UnknownPayment, OutTradeNo: l.OutTradeNo, TransactionID: l.TransactionID,
			WeChatFen: l.AmountFen, WeChatState: l.State, OurState: string(st.Outcome),
			Note: "a second payment of order " + no + ", which was paid under " + st.WeChatTradeNo() + ": refund it"})
		return nil
	}
	d := Difference{OutTradeNo: l.OutTradeNo, TransactionID: l.TransactionID, WeChatFen: l.AmountFen, WeChatState: l.State}
	switch {
	case (!found || st.Outcome != cloudpay.SettledPaid) && l.State == "SUCCESS":
		d.Kind = UnknownPayment
		if found {
			d.OurState = string(st.Outcome)
		}
		d.Resolved, d.Note = s.tryAdopt(ctx, func() error { return s.adopt.Payment(ctx, l.TransactionID) }, s.adopt.Payment != nil)
	case !found || st.Outcome != cloudpay.SettledPaid:
		return nil // revoked at WeChat and never recorded here: no money either side
	case st.AmountFen != l.AmountFen:
		d.Kind, d.OurFen, d.OurState = AmountDiffers, st.AmountFen, string(st.Outcome)
	case l.State != "SUCCESS":
		d.Kind, d.OurFen, d.OurState = StatusDiffers, st.AmountFen, string(st.Outcome)
	default:
		return nil
	}
	r.Differences = append(r.Differences, d)
	return nil
}

func (s *Service) compareRefund(ctx context.Context, r *Report, l Line) error {
	rf, err := s.store.Refund(ctx, l.OutRefundNo)
	found := err == nil
	if err != nil && cloudpay.ErrorCode(err) != cloudpay.CodeRefundNotFound {
		return err
	}
	d := Difference{OutTradeNo: l.OutTradeNo, TransactionID: l.TransactionID, OutRefundNo: l.OutRefundNo,
		WeChatFen: l.AmountFen, WeChatState: l.State}
	switch {
	case !found && l.State == "SUCCESS":
		d.Kind = UnknownRefund
		d.Resolved, d.Note = s.tryAdopt(ctx, func() error { return s.adopt.Refund(ctx, l.OutRefundNo, l.OutTradeNo) }, s.adopt.Refund != nil)
	case !found:
		return nil // WeChat accepted it, not settled yet: a later bill or its callback brings it
	case rf.AmountFen != l.AmountFen:
		d.Kind, d.OurFen, d.OurState = AmountDiffers, rf.AmountFen, string(rf.Status)
	case l.State == "SUCCESS" && rf.Status != cloudpay.RefundSucceeded:
		d.Kind, d.OurFen, d.OurState = StatusDiffers, rf.AmountFen, string(rf.Status)
	default:
		return nil
	}
	r.Differences = append(r.Differences, d)
	return nil
}

// tryAdopt adopts what WeChat holds and cloudpay does not; a failure is
// reported on the difference, for a person, not as the run's error.
func (s *Service) tryAdopt(ctx context.Context, adopt func() error, enabled bool) (resolved, note string) {
	if !enabled {
		return "", "adoption is not enabled in this function"
	}
	if err := adopt(); err != nil {
		s.log.WarnContext(ctx, "reconciliation could not adopt", "error", err)
		msg := err.Error()
		var e *cloudpay.Error
		if errors.As(err, &e) {
			msg = e.Message
		}
		return "", "not adopted: " + string(cloudpay.ErrorCode(err)) + ": " + msg
	}
	return "adopted", ""
}

// Get returns a day's report, if that day was reconciled.
func (s *Service) Get(ctx context.Context, date string) (Report, error) {
	if _, err := ValidDate(date); err != nil {
		return Report{}, err
	}
	r, found, err := s.store.Report(ctx, date)
	if err == nil && !found {
		err = cloudpay.Errorf(cloudpay.CodeNotFound, "%s has not been reconciled", date)
	}
	return r, err
}

// List returns the latest reports, newest first.
func (s *Service) List(ctx context.Context, limit int) ([]Report, error) {
	if limit <= 0 || limit > 400 {
		limit = 60
	}
	return s.store.Reports(ctx, limit)
}

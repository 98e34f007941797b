// Package recon reconciles a day of the payment channels against
// cloudpay: WeChat's daily trade bill — and Alipay's, where Alipay is
// configured — is downloaded, kept, and compared with the settlements and
// refunds cloudpay recorded through that channel. A payment or refund that
// WeChat made and cloudpay does not know (another system's payment, a
// refund made in the merchant platform) is adopted from WeChat's word; a
// payment Alipay took under one of cloudpay's own numbers is adopted from
// Alipay's word; every other difference is reported for a person, once per
// day, channel and kind, with a reconciliation.mismatch event.
package recon

import (
	"bytes"
	"cmp"
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

// Line is one line of a channel's trade bill as reconciliation reads it:
// a payment, or a refund of one.
type Line struct {
	Refund        bool
	TransactionID string // WeChat's transaction_id, Alipay's trade_no
	OutTradeNo    string
	RefundID      string // refund lines
	OutRefundNo   string // refund lines (Alipay's out_request_no)
	State         string // 交易状态 of a payment (SUCCESS), 退款状态 of a refund (SUCCESS, PROCESSING, …)
	AmountFen     cloudpay.Fen
	FeeUnits      int64 // 手续费 charged (returned: negative), in the bill package's unit (bill.Fee)
}

// Channels whose bills are compared (Difference.Channel).
const (
	WeChat = cloudpay.ProviderWeChat
	Alipay = cloudpay.ProviderAlipay
)

// Difference kinds.
const (
	UnknownPayment = "unknown_payment" // paid at WeChat, unknown here: adopted
	UnknownRefund  = "unknown_refund"  // refunded at WeChat, unknown here: adopted
	MissingPayment = "missing_payment" // paid here, not in WeChat's bill
	MissingRefund  = "missing_refund"  // refunded here, not in WeChat's bill
	AmountDiffers  = "amount"          // both hold it, with other amounts
	StatusDiffers  = "status"          // both hold it, in other states
)

// Difference is one thing a channel's bill and cloudpay disagree on.
type Difference struct {
	// Channel is whose bill: WeChat or Alipay (empty in reports made
	// before Alipay's bill was read: WeChat).
	Channel       string `bson:"channel,omitempty"`
	Kind          string `bson:"kind"`
	OutTradeNo    string `bson:"out_trade_no,omitempty"`
	TransactionID string `bson:"transaction_id,omitempty"` // WeChat's transaction_id, Alipay's trade_no
	OutRefundNo   string `bson:"out_refund_no,omitempty"`
	// BillFen and BillState are the channel's bill's (stored under their
	// first names, from when WeChat's was the only bill).
	BillFen   cloudpay.Fen `bson:"wechat_fen"`
	OurFen    cloudpay.Fen `bson:"our_fen"`
	BillState string       `bson:"wechat_state,omitempty"`
	OurState  string       `bson:"our_state,omitempty"`
	// Resolved says what cloudpay did about it: "adopted", or empty when a
	// person must look.
	Resolved string `bson:"resolved,omitempty"`
	Note     string `bson:"note,omitempty"`
}

// Report statuses.
const (
	Done        = "done"         // compared; the differences are all there are
	NoStatement = "no_statement" // the channel has no bill for the day: compared with nothing
)

// Totals is one channel's side of a day: its bill's lines and what
// cloudpay recorded through that channel.
type Totals struct {
	Status      string       `bson:"status"`
	Payments    int          `bson:"payments"` // lines in the channel's bill
	PaymentsFen cloudpay.Fen `bson:"payments_fen"`
	Refunds     int          `bson:"refunds"`
	RefundsFen  cloudpay.Fen `bson:"refunds_fen"`
	FeeUnits    int64        `bson:"fee_units"` // fees charged less fees returned (bill.Fee units)
	// What cloudpay recorded on the day through the channel.
	OurPayments    int          `bson:"our_payments"`
	OurPaymentsFen cloudpay.Fen `bson:"our_payments_fen"`
	OurRefunds     int          `bson:"our_refunds"`
	OurRefundsFen  cloudpay.Fen `bson:"our_refunds_fen"`
}

// Report is one day's reconciliation. Its own totals are WeChat's (as
// they were before cloudpay took Alipay); Alipay's are beside them.
type Report struct {
	Date   string `bson:"_id"` // the Beijing day, 2006-01-02
	Totals `bson:",inline"`
	// Alipay is the day against Alipay's bill, when Alipay is configured.
	Alipay      *Totals      `bson:"alipay,omitempty"`
	Differences []Difference `bson:"differences"`
	CreatedAt   time.Time    `bson:"created_at"`
}

// Bill is one of the channels' bills as downloaded: the day's evidence
// beside its report, gzip-compressed (a MongoDB document holds 16 MB: a
// bill of a few hundred thousand rows).
type Bill struct {
	ID           string    `bson:"_id"` // date:kind
	Date         string    `bson:"date"`
	Kind         string    `bson:"kind"` // trade or fundflow (WeChat's), alipay_trade (Alipay's ZIP)
	Gzip         []byte    `bson:"gzip"`
	Size         int       `bson:"size"` // uncompressed
	DownloadedAt time.Time `bson:"downloaded_at"`
}

// Adopters record what a channel did that cloudpay did not see.
type Adopters struct {
	// Payment adopts a WeChat payment by its transaction_id (payment.Service.Adopt).
	Payment func(ctx context.Context, transactionID string) error
	// Refund adopts a refund WeChat holds under outRefundNo (refund.Service.AdoptRefund).
	Refund func(ctx context.Context, outRefundNo, outTradeNo string) error
	// Attempt records a payment a channel holds under one of cloudpay's
	// own numbers, asking the channel that carried it
	// (payment.Service.AdoptAttempt); Alipay's unknown payments.
	Attempt func(ctx context.Context, tradeNo string) error
}

// Parser reads a downloaded trade bill into lines (shared/bill).
type Parser func(raw []byte) ([]Line, error)

// AlipayBills is Alipay's daily trade bill (alipay.Gateway).
type AlipayBills interface {
	// DownloadTradeBill returns the bill of a Beijing day as Alipay serves
	// it; a day without one is CodeNoStatement.
	DownloadTradeBill(ctx context.Context, day string) ([]byte, error)
}

// Service reconciles days.
type Service struct {
	store       Store
	bills       wechat.Bills
	parse       Parser
	alipay      AlipayBills // nil: Alipay is not configured
	parseAlipay Parser
	adopt       Adopters
	log         *slog.Logger
	now         func() time.Time
}

// Option configures a Service.
type Option func(*Service)

// WithAlipay reconciles each day against Alipay's trade bill too, read by
// parse (AlipayLines).
func WithAlipay(bills AlipayBills, parse Parser) Option {
	return func(s *Service) { s.alipay, s.parseAlipay = bills, parse }
}

// New builds the service.
func New(store Store, bills wechat.Bills, parse Parser, adopt Adopters, log *slog.Logger, now func() time.Time, opts ...Option) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if now == nil {
		now = time.Now
	}
	s := &Service{store: store, bills: bills, parse: parse, adopt: adopt, log: log, now: now}
	for _, o := range opts {
		o(s)
	}
	return s
}

// ValidDate checks a Beijing day as the API takes it.
func ValidDate(date string) (time.Time, error) {
	day, err := time.ParseInLocation(time.DateOnly, date, cloudpay.Beijing)
	if err != nil {
		return time.Time{}, cloudpay.FieldError("date", "date must be a day as 2006-01-02")
	}
	return day, nil
}

// Reconcile downloads WeChat's trade bill of date (a Beijing day) — and
// Alipay's, where Alipay is configured — and compares each with what
// cloudpay recorded through that channel; it stores and returns the
// report. A bill WeChat has not generated yet is CodeBillNotReady (not a
// failure: try after 10:00 Beijing the next day). Running it again is
// safe: adopted items are found the second time, events are keyed by day,
// channel, kind and number.
func (s *Service) Reconcile(ctx context.Context, date string) (Report, error) {
	day, err := ValidDate(date)
	if err != nil {
		return Report{}, err
	}
	wechatLines, status, err := s.download(ctx, date, string(wechat.TradeBill), s.parse,
		func() ([]byte, error) { return s.bills.DownloadBill(ctx, wechat.TradeBill, date) })
	if err != nil {
		return Report{}, err
	}
	// The fund-flow bill is kept beside it where the channel has one (API
	// v3): the day's movements of the merchant's balance, for people.
	if flow, err := s.bills.DownloadBill(ctx, wechat.FundFlowBill, date); err == nil {
		if err := s.keep(ctx, date, string(wechat.FundFlowBill), flow); err != nil {
			return Report{}, err
		}
	} else if code := cloudpay.ErrorCode(err); code != cloudpay.CodeBillUnsupported && code != cloudpay.CodeNoStatement {
		s.log.WarnContext(ctx, "fund-flow bill not downloaded", "date", date, "error", err)
	}
	var alipayLines []Line
	var alipayStatus string
	if s.alipay != nil {
		alipayLines, alipayStatus, err = s.download(ctx, date, alipayTradeBill, s.parseAlipay,
			func() ([]byte, error) { return s.alipay.DownloadTradeBill(ctx, date) })
		if err != nil {
			return Report{}, err
		}
	}

	r := Report{Date: date, Totals: Totals{Status: status}, CreatedAt: s.now().UTC()}
	if err := s.compare(ctx, &r.Totals, &r.Differences, WeChat, day, wechatLines); err != nil {
		return Report{}, err
	}
	if s.alipay != nil {
		r.Alipay = &Totals{Status: alipayStatus}
		if err := s.compare(ctx, r.Alipay, &r.Differences, Alipay, day, alipayLines); err != nil {
			return Report{}, err
		}
	}
	slices.SortStableFunc(r.Differences, func(a, b Difference) int {
		return cmp.Or(cmp.Compare(channelOf(a), channelOf(b)), cmp.Compare(a.Kind, b.Kind))
	})
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

// alipayTradeBill is the kind Alipay's trade bill is kept under.
const alipayTradeBill = "alipay_trade"

// download fetches one channel's trade bill, keeps it and reads its lines.
// A day without a bill is compared with nothing (NoStatement).
func (s *Service) download(ctx context.Context, date, kind string, parse Parser, fetch func() ([]byte, error)) ([]Line, string, error) {
	raw, err := fetch()
	switch cloudpay.ErrorCode(err) {
	case "":
	case cloudpay.CodeNoStatement:
		return nil, NoStatement, nil
	default:
		return nil, "", err
	}
	lines, err := parse(raw)
	if err != nil {
		return nil, "", fmt.Errorf("reconcile %s: the %s bill: %w", date, kind, err)
	}
	if err := s.keep(ctx, date, kind, raw); err != nil {
		return nil, "", err
	}
	return lines, Done, nil
}

// keep stores a downloaded bill, compressed.
func (s *Service) keep(ctx context.Context, date, kind string, raw []byte) error {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(raw); err != nil {
		return err
	}
	if err := zw.Close(); err != nil {
		return err
	}
	return s.store.SaveBill(ctx, Bill{ID: date + ":" + kind, Date: date, Kind: kind,
		Gzip: buf.Bytes(), Size: len(raw), DownloadedAt: s.now().UTC()})
}

// channelOf is the channel of a difference, WeChat for reports made
// before there were two.
func channelOf(d Difference) string {
	if d.Channel == "" {
		return WeChat
	}
	return d.Channel
}

func mismatchEvent(date string, d Difference, now time.Time) cloudpay.Event {
	number := d.OutRefundNo
	if number == "" {
		number = d.OutTradeNo
	}
	key := date + ":" + d.Kind + ":" + number
	if channelOf(d) != WeChat {
		key = date + ":" + channelOf(d) + ":" + d.Kind + ":" + number
	}
	data := map[string]any{
		"date": date, "channel": channelOf(d), "kind": d.Kind, "out_trade_no": d.OutTradeNo, "transaction_id": d.TransactionID,
		"out_refund_no": d.OutRefundNo, "bill_fen": int64(d.BillFen), "our_fen": int64(d.OurFen),
		"bill_state": d.BillState, "our_state": d.OurState, "resolved": d.Resolved,
		// Their names from when WeChat's was the only bill.
		"wechat_fen": int64(d.BillFen), "wechat_state": d.BillState,
	}
	return cloudpay.NewEvent(cloudpay.EventReconMismatch, key, data, now)
}

// recordedDay is what cloudpay recorded as paid and refunded on a day.
type recordedDay struct {
	paid    []cloudpay.Settlement
	refunds []cloudpay.Refund
}

// recorded reads cloudpay's side of day: payments by their payment time,
// refunds by their success time.
func (s *Service) recorded(ctx context.Context, day time.Time) (recordedDay, error) {
	from, to := day, day.AddDate(0, 0, 1)
	paid, err := s.store.SettlementsPaidBetween(ctx, from, to)
	if err != nil {
		return recordedDay{}, err
	}
	refunds, err := s.store.RefundsSucceededBetween(ctx, from, to)
	if err != nil {
		return recordedDay{}, err
	}
	return recordedDay{paid: paid, refunds: refunds}, nil
}

// compare fills t and diffs from one channel's lines and what cloudpay
// recorded on the day through that channel.
//
// WeChat's trade bill holds a day's payments by their payment time and its
// refunds by the time WeChat accepted them ("以交易的支付成功时间或商户退款
// 受理成功时间判断",
// https://pay.weixin.qq.com/docs/partner/products/bill-download/introduction/fund-bill.html);
// Alipay's by their 完成时间, the payment's and the refund's. cloudpay's
// own side is read by payment time and by refund success time, so a
// refund accepted just before midnight and settled after it can show as
// missing on one day and unknown-but-ours on the next: each difference
// names its numbers for a person to see that.
//
// cloudpay's side is read after the bill's lines were compared, so what
// was adopted from them counts as recorded.
func (s *Service) compare(ctx context.Context, t *Totals, diffs *[]Difference, channel string, day time.Time, lines []Line) error {
	c := comparison{s: s, channel: channel, diffs: diffs}
	billPaid := map[string]bool{}
	billRefunded := map[string]bool{}
	for _, l := range lines {
		t.FeeUnits += l.FeeUnits
		if l.Refund {
			t.Refunds++
			t.RefundsFen += l.AmountFen
			billRefunded[l.OutRefundNo] = true
			if err := c.refund(ctx, l); err != nil {
				return err
			}
			continue
		}
		t.Payments++
		t.PaymentsFen += l.AmountFen
		billPaid[l.OutTradeNo] = true
		if err := c.payment(ctx, l); err != nil {
			return err
		}
	}
	ours, err := s.recorded(ctx, day)
	if err != nil {
		return err
	}
	for _, st := range ours.paid {
		if st.PaidMethod().Provider() != channel {
			continue // paid from the wallet or through the other channel: this bill never holds it
		}
		t.OurPayments++
		t.OurPaymentsFen += st.AmountFen
		if !billPaid[st.WeChatTradeNo()] {
			c.add(Difference{Kind: MissingPayment, OutTradeNo: st.OutTradeNo,
				TransactionID: st.TransactionID, OurFen: st.AmountFen, OurState: string(st.Outcome)})
		}
	}
	for _, rf := range ours.refunds {
		paidBy := rf.PaidBy.Provider()
		if rf.PaidBy == "" {
			paidBy = WeChat // refunded before refunds kept how the payment was made
		}
		if paidBy != channel {
			continue // back to the wallet or through the other channel: this bill never holds it
		}
		t.OurRefunds++
		t.OurRefundsFen += rf.AmountFen
		if !billRefunded[rf.OutRefundNo] {
			c.add(Difference{Kind: MissingRefund, OutTradeNo: rf.OutTradeNo,
				OutRefundNo: rf.OutRefundNo, OurFen: rf.AmountFen, OurState: string(rf.Status)})
		}
	}
	return nil
}

// comparison compares one channel's lines.
type comparison struct {
	s       *Service
	channel string
	diffs   *[]Difference
}

func (c comparison) add(d Difference) {
	d.Channel = c.channel
	*c.diffs = append(*c.diffs, d)
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

func (c comparison) payment(ctx context.Context, l Line) error {
	s := c.s
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
		c.add(Difference{Kind: UnknownPayment, OutTradeNo: l.OutTradeNo, TransactionID: l.TransactionID,
			BillFen: l.AmountFen, BillState: l.State, OurState: string(st.Outcome),
			Note: "a second payment of order " + no + ", which was paid under " + st.WeChatTradeNo() + ": refund it"})
		return nil
	}
	d := Difference{OutTradeNo: l.OutTradeNo, TransactionID: l.TransactionID, BillFen: l.AmountFen, BillState: l.State}
	switch {
	case (!found || st.Outcome != cloudpay.SettledPaid) && l.State == "SUCCESS":
		d.Kind = UnknownPayment
		if found {
			d.OurState = string(st.Outcome)
		}
		d.Resolved, d.Note, err = c.adoptPayment(ctx, l, no, found)
		if err != nil {
			return err
		}
	case !found || st.Outcome != cloudpay.SettledPaid:
		return nil // revoked at WeChat and never recorded here: no money either side
	case st.AmountFen != l.AmountFen:
		d.Kind, d.OurFen, d.OurState = AmountDiffers, st.AmountFen, string(st.Outcome)
	case l.State != "SUCCESS":
		d.Kind, d.OurFen, d.OurState = StatusDiffers, st.AmountFen, string(st.Outcome)
	default:
		return nil
	}
	c.add(d)
	return nil
}

// adoptPayment records a payment the bill holds and cloudpay does not:
// WeChat's by its transaction_id (it may be another system's payment);
// Alipay's only under cloudpay's own numbers, asking Alipay about that
// attempt.
func (c comparison) adoptPayment(ctx context.Context, l Line, orderNo string, settled bool) (resolved, note string, err error) {
	s := c.s
	if c.channel == WeChat {
		resolved, note = s.tryAdopt(ctx, func() error { return s.adopt.Payment(ctx, l.TransactionID) }, s.adopt.Payment != nil)
		return resolved, note, nil
	}
	if !settled {
		if ours, err := s.ordered(ctx, orderNo); err != nil || !ours {
			return "", "paid at Alipay under a number cloudpay never issued: look in Alipay's merchant platform (cloudpay adopts payments made elsewhere from WeChat only)", err
		}
	}
	resolved, note = s.tryAdopt(ctx, func() error { return s.adopt.Attempt(ctx, l.OutTradeNo) }, s.adopt.Attempt != nil)
	return resolved, note, nil
}

// ordered reports whether cloudpay holds an order numbered no.
func (s *Service) ordered(ctx context.Context, no string) (bool, error) {
	_, err := s.store.Order(ctx, no)
	switch cloudpay.ErrorCode(err) {
	case "":
		return true, nil
	case cloudpay.CodeOrderNotFound:
		return false, nil
	}
	return false, err
}

func (c comparison) refund(ctx context.Context, l Line) error {
	s := c.s
	rf, err := s.store.Refund(ctx, l.OutRefundNo)
	found := err == nil
	if err != nil && cloudpay.ErrorCode(err) != cloudpay.CodeRefundNotFound {
		return err
	}
	d := Difference{OutTradeNo: l.OutTradeNo, TransactionID: l.TransactionID, OutRefundNo: l.OutRefundNo,
		BillFen: l.AmountFen, BillState: l.State}
	switch {
	case !found && l.State == "SUCCESS" && c.channel == WeChat:
		d.Kind = UnknownRefund
		d.Resolved, d.Note = s.tryAdopt(ctx, func() error { return s.adopt.Refund(ctx, l.OutRefundNo, l.OutTradeNo) }, s.adopt.Refund != nil)
	case !found && l.State == "SUCCESS":
		// Made in Alipay's merchant platform, or by another system: the
		// order here still counts that money as refundable.
		d.Kind = UnknownRefund
		d.Note = "refunded at Alipay under a request number cloudpay never issued: look in Alipay's merchant platform; cloudpay does not adopt Alipay's refunds"
	case !found:
		return nil // WeChat accepted it, not settled yet: a later bill or its callback brings it
	case rf.AmountFen != l.AmountFen:
		d.Kind, d.OurFen, d.OurState = AmountDiffers, rf.AmountFen, string(rf.Status)
	case l.State == "SUCCESS" && rf.Status != cloudpay.RefundSucceeded:
		d.Kind, d.OurFen, d.OurState = StatusDiffers, rf.AmountFen, string(rf.Status)
	default:
		return nil
	}
	c.add(d)
	return nil
}

// tryAdopt adopts what a channel holds and cloudpay does not; a failure is
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

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
	// Alipay's part only, which does not stop the day (WeChat's is kept)
	// and is tried again by the job: not compared yet.
	NotReady = "not_ready" // Alipay has no bill yet for a day cloudpay moved money through Alipay
	Failed   = "failed"    // Alipay's bill could not be had or read (Totals.Error says why)
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
	// Error says why a part is NotReady or Failed.
	Error string `bson:"error,omitempty"`
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

// Complete reports whether every channel's bill of the day was compared
// (or the channel had none); an incomplete day is reconciled again.
func (r Report) Complete() bool {
	return r.Alipay == nil || r.Alipay.Status == Done || r.Alipay.Status == NoStatement
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
	// Attempt records a payment channel holds under one of cloudpay's own
	// numbers, asking that channel, which must be the one cloudpay used
	// the number with (payment.Service.AdoptAttempt); Alipay's unknown
	// payments.
	Attempt func(ctx context.Context, channel, tradeNo string) error
}

// Parser reads a downloaded trade bill into lines (shared/bill).
type Parser func(raw []byte) ([]Line, error)

// AlipayParser reads Alipay's trade bill of day into lines, refusing a
// bill of another day or another merchant (AlipayLines).
type AlipayParser func(day time.Time, raw []byte) ([]Line, error)

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
	parseAlipay AlipayParser
	adopt       Adopters
	log         *slog.Logger
	now         func() time.Time
}

// Option configures a Service.
type Option func(*Service)

// WithAlipay reconciles each day against Alipay's trade bill too, read by
// parse (AlipayLines).
func WithAlipay(bills AlipayBills, parse AlipayParser) Option {
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
	if day.After(s.now()) {
		return Report{}, cloudpay.FieldError("date", "%s has not begun in Beijing: no bill can hold it", date)
	}
	raw, status, err := s.download(ctx, date, string(wechat.TradeBill),
		func() ([]byte, error) { return s.bills.DownloadBill(ctx, wechat.TradeBill, date) })
	if err != nil {
		return Report{}, err
	}
	var wechatLines []Line
	if raw != nil {
		if wechatLines, err = s.parse(raw); err != nil {
			return Report{}, unreadableBill("WeChat", date, err)
		}
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
	r := Report{Date: date, Totals: Totals{Status: status}, CreatedAt: s.now().UTC()}
	if err := s.compare(ctx, &r.Totals, &r.Differences, WeChat, day, wechatLines); err != nil {
		return Report{}, err
	}
	if s.alipay != nil {
		if r.Alipay, err = s.reconcileAlipay(ctx, &r.Differences, date, day); err != nil {
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

// download fetches one channel's trade bill and keeps it, before reading
// it, so that a bill that cannot be read is there for a person. A day
// without a bill is compared with nothing (NoStatement, raw nil).
func (s *Service) download(ctx context.Context, date, kind string, fetch func() ([]byte, error)) ([]byte, string, error) {
	raw, err := fetch()
	switch cloudpay.ErrorCode(err) {
	case "":
	case cloudpay.CodeNoStatement:
		return nil, NoStatement, nil
	default:
		return nil, "", err
	}
	if err := s.keep(ctx, date, kind, raw); err != nil {
		return nil, "", err
	}
	return raw, Done, nil
}

// unreadableBill is a channel's bill that cannot be read: the channel's
// failure (502), not the service's.
func unreadableBill(channel, date string, err error) error {
	return &cloudpay.Error{Code: cloudpay.CodeWeChatError,
		Message: fmt.Sprintf("%s's bill of %s cannot be read: %v", channel, date, err), Err: err}
}

// reconcileAlipay compares the day with Alipay's trade bill. Unlike
// WeChat's, Alipay's bill does not hold the day up: when it cannot be had
// or read, WeChat's part is kept and Alipay's is NotReady or Failed, which
// the job tries again; only the store's failures are errors.
//
// Alipay answers isp.bill_not_exist both for a day without a bill and for
// a bill not made yet ("一般于次日9点前生成，特殊情况可能延迟",
// https://opendocs.alipay.com/open/204/106262): a day on which cloudpay
// took or gave back money through Alipay has a bill, so it is waited for.
func (s *Service) reconcileAlipay(ctx context.Context, diffs *[]Difference, date string, day time.Time) (*Totals, error) {
	t := &Totals{}
	raw, status, err := s.download(ctx, date, alipayTradeBill,
		func() ([]byte, error) { return s.alipay.DownloadTradeBill(ctx, date) })
	if err != nil && isStoreError(err) {
		return nil, err
	}
	if err != nil {
		s.log.WarnContext(ctx, "Alipay's bill not downloaded", "date", date, "error", err)
		t.Status, t.Error = Failed, errorText(err)
		return t, nil
	}
	if status == NoStatement {
		ours, err := s.recorded(ctx, day)
		if err != nil {
			return nil, err
		}
		if ours.through(Alipay) {
			t.Status, t.Error = NotReady, "Alipay has no bill of the day yet, though cloudpay took or gave back money through Alipay on it"
			return t, nil
		}
	}
	var lines []Line
	if raw != nil {
		if lines, err = s.parseAlipay(day, raw); err != nil {
			s.log.WarnContext(ctx, "Alipay's bill cannot be read", "date", date, "error", err)
			t.Status, t.Error = Failed, "Alipay's bill cannot be read: "+err.Error()
			return t, nil
		}
	}
	t.Status = status
	return t, s.compare(ctx, t, diffs, Alipay, day, lines)
}

// isStoreError tells the store's failures (the run's) from the channel's
// (Alipay's part's).
func isStoreError(err error) bool {
	switch cloudpay.ErrorCode(err) {
	case cloudpay.CodeStoreBusy, cloudpay.CodeInternal:
		return true
	}
	var ce *cloudpay.Error
	return !errors.As(err, &ce)
}

// errorText is an error for people: the domain's message, else the error.
func errorText(err error) string {
	var e *cloudpay.Error
	if errors.As(err, &e) {
		return e.Message
	}
	return err.Error()
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
		// Alipay's out_request_no is unique within its trade only
		// ("需要保证在交易号下唯一", https://opendocs.alipay.com/open/02ekfk),
		// and a row of another system's may lack out_trade_no.
		if d.OutRefundNo != "" {
			number = d.OutTradeNo + ":" + d.OutRefundNo
		}
		if number == "" {
			number = d.TransactionID
		}
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

// through reports whether any of the day's payments or refunds went
// through channel.
func (r recordedDay) through(channel string) bool {
	for _, st := range r.paid {
		if st.PaidMethod().Provider() == channel {
			return true
		}
	}
	for _, rf := range r.refunds {
		if refundChannel(rf) == channel {
			return true
		}
	}
	return false
}

// refundChannel is the channel a refund went back through: its payment's
// ("" for the wallet), WeChat's for refunds made before refunds kept it.
func refundChannel(rf cloudpay.Refund) string {
	if rf.PaidBy == "" {
		return WeChat
	}
	return rf.PaidBy.Provider()
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
		if refundChannel(rf) != channel {
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

// usedWith tells whether cloudpay used a payment number (ours) and with
// which channel: its attempt's ("" for a wallet attempt), WeChat's for an
// order without stored attempts (prepaid before they were kept, or
// adopted from WeChat).
func (s *Service) usedWith(ctx context.Context, tradeNo string) (channel string, ours bool, err error) {
	p, found, err := s.store.Prepay(ctx, tradeNo)
	if err != nil || found {
		return p.Method.Provider(), found, err
	}
	if ours, err := s.ordered(ctx, tradeNo); err != nil || !ours {
		return "", false, err
	}
	return WeChat, true, nil
}

func (c comparison) payment(ctx context.Context, l Line) error {
	s := c.s
	used, ours, err := s.usedWith(ctx, l.OutTradeNo)
	if err != nil {
		return err
	}
	if ours && used != c.channel {
		// Another system's payment under a number cloudpay used with the
		// other channel (or the wallet): not that order's, whatever its
		// amount.
		if l.State == "SUCCESS" {
			with := used
			if with == "" {
				with = "the wallet"
			}
			c.add(Difference{Kind: UnknownPayment, OutTradeNo: l.OutTradeNo, TransactionID: l.TransactionID,
				BillFen: l.AmountFen, BillState: l.State,
				Note: "paid through " + c.channel + " under " + l.OutTradeNo + ", a number cloudpay used with " + with + ": not that order's payment; look in the merchant platform"})
		}
		return nil
	}
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
	resolved, note = s.tryAdopt(ctx, func() error { return s.adopt.Attempt(ctx, c.channel, l.OutTradeNo) }, s.adopt.Attempt != nil)
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
	if found {
		order, err := s.orderNo(ctx, l.OutTradeNo)
		if err != nil {
			return err
		}
		if refundChannel(rf) != c.channel || rf.OutTradeNo != order {
			// Another refund under one of cloudpay's refund numbers: not ours.
			if l.State == "SUCCESS" {
				d.Kind = UnknownRefund
				d.Note = "refunded through " + c.channel + " under " + l.OutRefundNo + ", the number of cloudpay's refund of order " +
					rf.OutTradeNo + ": not that refund; look in the merchant platform"
				c.add(d)
			}
			return nil
		}
	}
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
		if code := cloudpay.ErrorCode(err); code != "" {
			msg = string(code) + ": " + msg
		}
		return "", "not adopted: " + msg
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

// Package refund holds the refund use cases: refunds from the business back
// end (single and in batches), refund requests from users with review, and
// settling what WeChat says happened. The refundable amount of an order is
// an append-only ledger (docs/design.md §4); out_refund_no is fixed when a
// refund is created and reused by every retry and query.
package refund

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/crashpoint"
	"github.com/cloudpay/cloudpay/shared/effect"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

// Config holds WeChat's refund rules and how fast cloudpay may call.
type Config struct {
	MinInterval      time.Duration `env:"REFUND_MIN_INTERVAL, default=60s"` // WeChat: ≥ 1 min between refunds of one order
	MaxPerOrder      int           `env:"REFUND_MAX_PER_ORDER, default=50"`
	MaxAge           time.Duration `env:"REFUND_MAX_AGE, default=8760h"` // none after a year
	RatePerSecond    int           `env:"REFUND_RATE_PER_SECOND, default=100"`
	BatchConcurrency int           `env:"REFUND_BATCH_CONCURRENCY, default=8"`
	MaxBatchItems    int           `env:"REFUND_MAX_BATCH_ITEMS, default=1000"`
	RetryBudget      int           `env:"REFUND_RETRY_BUDGET, default=8"` // attempts before a refund failed for now is left to people
	// FourEyesFen: an admin refund of more than this waits for approval by
	// another named token than the one that asked (0: off).
	FourEyesFen cloudpay.Fen `env:"REFUND_FOUR_EYES_FEN, default=0"`
}

// wechatMaxRate is WeChat's refund limit per merchant (calls per second).
const wechatMaxRate = 150

// Service is the refund use cases. Build one per process.
type Service struct {
	store Store
	gw    wechat.Refunds
	ali   AlipayRefunds // nil: Alipay is not configured
	cfg   Config
	log   *slog.Logger
	now   func() time.Time
	rate  limiter
	chain *effect.Engine[cloudpay.Refund, wechat.RefundResult, Outcome]
	adopt Adopter // nil: refunds by transaction_id are off
	// wallet takes refunds of orders paid from the balance (nil: such a
	// refund cannot be sent).
	wallet Wallet

	inFlight, peak atomic.Int64
	calls          atomic.Int64
	batches        sync.Map // batch IDs running in this process
	bg             sync.WaitGroup
	base           context.Context // ends background batch runs on Close
	stop           context.CancelFunc
}

// Option adjusts a Service.
type Option func(*Service)

// WithClock replaces the clock (tests).
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// Adopter records a payment made outside cloudpay, named by WeChat's
// transaction_id or by its out_trade_no, from WeChat's answer, and returns
// its out_trade_no (payment.Service.Adopt).
// With payer set (a user asking), another payer's payment is refused
// before anything is recorded.
type Adopter func(ctx context.Context, outTradeNo, transactionID, payer string) (string, error)

// WithAdopter lets refunds name a payment by transaction_id.
func WithAdopter(a Adopter) Option { return func(s *Service) { s.adopt = a } }

// Wallet is where refunds of orders paid from the balance go
// (shared/withdraw.Balance): one ledger entry per refund number.
type Wallet interface {
	GiveBack(ctx context.Context, openid, ref string, kind cloudpay.WalletEntryKind, amount cloudpay.Fen, outTradeNo, outRefundNo string) (cloudpay.WalletEntry, error)
	Entry(ctx context.Context, ref string) (cloudpay.WalletEntry, bool, error)
}

// WithWallet lets refunds of balance payments go back to the balance.
func WithWallet(w Wallet) Option { return func(s *Service) { s.wallet = w } }

// AlipayRefunds is Alipay's refunds in the channel vocabulary (shared/alipay
// translates). Alipay asks for the payment's out_trade_no with a refund's
// number (out_request_no).
type AlipayRefunds interface {
	Refund(ctx context.Context, req wechat.RefundRequest) (wechat.RefundResult, error)
	QueryRefundOf(ctx context.Context, outTradeNo, outRefundNo string) (wechat.RefundResult, error)
}

// WithAlipay lets refunds of payments made with Alipay go back through Alipay.
func WithAlipay(a AlipayRefunds) Option { return func(s *Service) { s.ali = a } }

// errNoAlipay answers for a refund of an Alipay payment where Alipay is not configured.
var errNoAlipay = cloudpay.Errorf(cloudpay.CodeMethodNotSupported,
	"the order was paid with Alipay, which is not configured: set ALIPAY_APP_ID and the other ALIPAY_ settings")

// queryRefund asks whoever holds r's money about it.
func (s *Service) queryRefund(ctx context.Context, r cloudpay.Refund) (wechat.RefundResult, error) {
	if r.PaidBy.Provider() == cloudpay.ProviderAlipay {
		if s.ali == nil {
			return wechat.RefundResult{}, errNoAlipay
		}
		return s.ali.QueryRefundOf(ctx, r.WeChatTradeNo(), r.OutRefundNo)
	}
	return s.gw.QueryRefund(ctx, r.OutRefundNo)
}

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(s *Service) { s.log = l } }

// New builds the service.
func New(store Store, gw wechat.Refunds, cfg Config, opts ...Option) *Service {
	if cfg.MaxPerOrder <= 0 || cfg.MaxPerOrder > 50 {
		cfg.MaxPerOrder = 50
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = 365 * 24 * time.Hour
	}
	if cfg.RatePerSecond <= 0 || cfg.RatePerSecond > wechatMaxRate {
		cfg.RatePerSecond = 100
	}
	if cfg.BatchConcurrency <= 0 {
		cfg.BatchConcurrency = 8
	}
	if cfg.MaxBatchItems <= 0 {
		cfg.MaxBatchItems = 1000
	}
	if cfg.RetryBudget <= 0 {
		cfg.RetryBudget = 8
	}
	s := &Service{store: store, gw: gw, cfg: cfg, log: slog.New(slog.DiscardHandler), now: time.Now}
	s.rate.every = time.Second / time.Duration(cfg.RatePerSecond)
	s.base, s.stop = context.WithCancel(context.Background())
	for _, o := range opts {
		o(s)
	}
	s.chain = effect.New(refunds{s}, store, s.clock, s.log)
	return s
}

func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Millisecond) }

// Wait blocks until background batch runs started by this service end.
func (s *Service) Wait() { s.bg.Wait() }

// Close stops background batch runs between two refunds and waits for
// them. What they leave is picked up by a later run or by SendDue: every
// item is a keyed refund, so nothing is lost or done twice.
func (s *Service) Close() {
	s.stop()
	s.bg.Wait()
}

// Stats reports the calls made to WeChat and the most made at once.
type Stats struct {
	Calls        int64
	PeakInFlight int64
}

// Stats returns the service's call counters.
func (s *Service) Stats() Stats { return Stats{Calls: s.calls.Load(), PeakInFlight: s.peak.Load()} }

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// limiter spaces calls evenly: at most one per every, across goroutines.
type limiter struct {
	mu    sync.Mutex
	next  time.Time
	every time.Duration
}

func (l *limiter) wait(ctx context.Context) error {
	l.mu.Lock()
	now := time.Now()
	at := l.next
	if at.Before(now) {
		at = now
	}
	l.next = at.Add(l.every)
	l.mu.Unlock()
	if d := time.Until(at); d > 0 && !sleepCtx(ctx, d) {
		return ctx.Err()
	}
	return nil
}

// NewRefund is a refund the business back end asks for.
type NewRefund struct {
	OutTradeNo     string
	TransactionID  string // instead of OutTradeNo: a payment made outside cloudpay, adopted on the way
	AmountFen      cloudpay.Fen
	Reason         string
	IdempotencyKey string
	// CreatedBy is the named admin token asking (empty: unnamed).
	CreatedBy string
}

const (
	maxReason = 80 // WeChat's limit on the reason shown to the payer
	maxKey    = 128
	maxNote   = 200
	maxLabel  = 64
)

func validateRefund(outTradeNo string, amount cloudpay.Fen, reason string) error {
	if !cloudpay.ValidOutTradeNo(outTradeNo) {
		return cloudpay.FieldError("out_trade_no", "out_trade_no must be 6-32 characters of digits, letters and _-|*")
	}
	if amount <= 0 || amount > cloudpay.MaxFen {
		return cloudpay.FieldError("amount_fen", "amount_fen must be a positive integer number of fen, at most %d", cloudpay.MaxFen)
	}
	if len([]rune(reason)) > maxReason || !cloudpay.Printable(reason) {
		return cloudpay.FieldError("reason", "reason must be at most %d characters of printable text", maxReason)
	}
	return nil
}

func validateKey(field, key string) error {
	if key == "" || len(key) > maxKey || !cloudpay.Printable(key) {
		return cloudpay.FieldError(field, "%s must be 1-%d bytes of printable text", field, maxKey)
	}
	return nil
}

// Create records a refund and, when its turn has come, sends it. The
// idempotency key fixes the out_refund_no: the same key with the same order
// and amount returns the same refund (created false); with others it is a
// conflict. A refund whose order had another refund less than a minute ago
// waits for its turn (status approved, not_before set).
func (s *Service) Create(ctx context.Context, n NewRefund) (cloudpay.Refund, bool, error) {
	if err := validateRefund(orPlaceholder(n.OutTradeNo, n.TransactionID), n.AmountFen, n.Reason); err != nil {
		return cloudpay.Refund{}, false, err
	}
	if err := validateKey("idempotency_key", n.IdempotencyKey); err != nil {
		return cloudpay.Refund{}, false, err
	}
	no, err := s.OrderOf(ctx, n.OutTradeNo, n.TransactionID)
	if err != nil {
		return cloudpay.Refund{}, false, err
	}
	r := cloudpay.Refund{
		OutRefundNo: cloudpay.OutRefundNoForKey(n.IdempotencyKey), OutTradeNo: no, TransactionID: n.TransactionID,
		AmountFen: n.AmountFen, Reason: n.Reason, Source: cloudpay.SourceAdmin, IdempotencyKey: n.IdempotencyKey,
		CreatedBy: n.CreatedBy, FourEyes: s.cfg.FourEyesFen > 0 && n.AmountFen > s.cfg.FourEyesFen,
	}
	return s.create(ctx, r)
}

// placeholderNo stands for an order named by transaction_id while the
// rest of a request is checked, before WeChat is asked.
const placeholderNo = "TRANSACTION"

func orPlaceholder(outTradeNo, transactionID string) string {
	if outTradeNo == "" && transactionID != "" {
		return placeholderNo
	}
	return outTradeNo
}

// OrderOf is the order a refund names: out_trade_no as given, or the
// payment WeChat holds under transaction_id, adopted on the way (its
// amount and payer are WeChat's). Exactly one must be given.
func (s *Service) OrderOf(ctx context.Context, outTradeNo, transactionID string) (string, error) {
	return s.orderOf(ctx, outTradeNo, transactionID, "")
}

// OrderOfPayer is OrderOf for a user's request: a payment named by
// transaction_id must be the user's, and is adopted only if it is.
func (s *Service) OrderOfPayer(ctx context.Context, openid, outTradeNo, transactionID string) (string, error) {
	return s.orderOf(ctx, outTradeNo, transactionID, openid)
}

func (s *Service) orderOf(ctx context.Context, outTradeNo, transactionID, payer string) (string, error) {
	switch {
	case transactionID == "":
		return outTradeNo, nil
	case outTradeNo != "":
		return "", cloudpay.FieldError("transaction_id", "give transaction_id or out_trade_no, not both")
	case !wechat.ValidTransactionID(transactionID):
		return "", cloudpay.FieldError("transaction_id", "transaction_id must be 1-32 digits")
	case s.adopt == nil:
		return "", cloudpay.FieldError("transaction_id", "refunds by transaction_id are not enabled in this function")
	}
	return s.adopt(ctx, "", transactionID, payer)
}

// create reserves r's amount (round 1) unless r exists, stores it and sends
// it if its turn has come.
func (s *Service) create(ctx context.Context, r cloudpay.Refund) (cloudpay.Refund, bool, error) {
	held, err := s.store.Refund(ctx, r.OutRefundNo)
	if err == nil {
		if held.OutTradeNo != r.OutTradeNo || held.AmountFen != r.AmountFen {
			return cloudpay.Refund{}, false, conflict(held)
		}
		held, err = s.resume(ctx, held)
		return held, false, err
	}
	if cloudpay.ErrorCode(err) != cloudpay.CodeRefundNotFound {
		return cloudpay.Refund{}, false, fmt.Errorf("create refund: %w", err)
	}
	now := s.clock()
	st, payer, err := s.paid(ctx, r.OutTradeNo, now)
	if err != nil {
		return cloudpay.Refund{}, false, err
	}
	r.OpenID, r.TotalFen = payer, st.AmountFen
	// WeChat knows the payment by the attempt that was paid; a payment
	// from the balance is refunded to the balance.
	r.TradeNo = st.TradeNo
	if st.Method == cloudpay.MethodBalance || st.Method.Provider() == cloudpay.ProviderAlipay {
		r.PaidBy = st.Method
	}
	r.Status, r.Round = cloudpay.RefundApproved, 1
	if r.Source == cloudpay.SourceUser || r.FourEyes {
		r.Status = cloudpay.RefundPendingReview
	}
	r.CreatedAt, r.UpdatedAt = now, now
	e, appended, err := s.reserve(ctx, r, st, now)
	if err != nil {
		return cloudpay.Refund{}, false, err
	}
	crashpoint.Here("refund.after-reserve")
	// The entry holds the refund as reserved: ours, or, if a concurrent
	// create with the same key won, theirs, which then decides.
	if e.Refund == nil || e.Refund.OutTradeNo != r.OutTradeNo || e.Refund.AmountFen != r.AmountFen {
		return cloudpay.Refund{}, false, cloudpay.Errorf(cloudpay.CodeRefundConflict,
			"refund %s exists for another order or amount", r.OutRefundNo)
	}
	r = *e.Refund
	r.ReserveSeq = e.Seq
	held, _, err = s.store.InsertRefund(ctx, r)
	if err != nil {
		return cloudpay.Refund{}, false, fmt.Errorf("create refund: %w", err)
	}
	if held.Round < r.Round {
		// A batch run recorded a refusal (round 0) while this reservation
		// was being made: the reservation is the truth.
		if err := s.store.SaveRefund(ctx, r); err != nil {
			return cloudpay.Refund{}, false, fmt.Errorf("create refund: %w", err)
		}
	} else {
		r = held
	}
	r, err = s.resume(ctx, r)
	return r, appended, err
}

func conflict(held cloudpay.Refund) error {
	return cloudpay.Errorf(cloudpay.CodeRefundConflict,
		"idempotency key already used for refund %s of order %s (%d fen)", held.OutRefundNo, held.OutTradeNo, held.AmountFen)
}

// paid returns the settlement proving an order was paid and the order's
// user, and refuses orders that cannot be refunded.
func (s *Service) paid(ctx context.Context, outTradeNo string, now time.Time) (st cloudpay.Settlement, payer string, err error) {
	st, found, err := s.store.Settlement(ctx, outTradeNo)
	if err != nil {
		return cloudpay.Settlement{}, "", fmt.Errorf("refund: %w", err)
	}
	if !found || st.Outcome != cloudpay.SettledPaid {
		if _, err := s.store.Order(ctx, outTradeNo); err != nil {
			return cloudpay.Settlement{}, "", err // no such order
		}
		return cloudpay.Settlement{}, "", cloudpay.Errorf(cloudpay.CodeOrderNotPaid, "order %s is not paid", outTradeNo)
	}
	if !st.PaidAt.IsZero() && now.Sub(st.PaidAt) > s.cfg.MaxAge {
		return cloudpay.Settlement{}, "", cloudpay.Errorf(cloudpay.CodeRefundTooLate,
			"order %s was paid on %s: WeChat refunds orders up to a year after payment", outTradeNo, st.PaidAt.Format(time.DateOnly))
	}
	if st.OpenID != "" {
		// The payer WeChat named, which the settlement checked to be the
		// order's user: the order itself need not be read.
		return st, st.OpenID, nil
	}
	o, err := s.store.Order(ctx, outTradeNo)
	return st, o.OpenID, err
}

// first is the totals of an order before its first ledger entry.
func first(st cloudpay.Settlement) cloudpay.RefundEntry {
	return cloudpay.RefundEntry{PaidFen: st.AmountFen}
}

// reserve appends the reservation of r's current round. Refunds that need
// no review get their turn (slot) in the same entry.
func (s *Service) reserve(ctx context.Context, r cloudpay.Refund, st cloudpay.Settlement, now time.Time) (cloudpay.RefundEntry, bool, error) {
	snapshot := r
	return s.store.AppendRefundEntry(ctx, r.OutTradeNo, reserveRef(r.OutRefundNo, r.Round),
		func(tail cloudpay.RefundEntry, found bool) (cloudpay.RefundEntry, error) {
			if !found {
				tail = first(st)
			}
			if r.AmountFen > tail.RefundableFen() {
				return cloudpay.RefundEntry{}, cloudpay.Errorf(cloudpay.CodeRefundExceeds,
					"refund of %d fen exceeds what order %s can still refund (%d fen)", r.AmountFen, r.OutTradeNo, max(tail.RefundableFen(), 0))
			}
			if tail.Count >= s.cfg.MaxPerOrder {
				return cloudpay.RefundEntry{}, cloudpay.Errorf(cloudpay.CodeRefundLimit,
					"order %s already has %d refunds, WeChat's limit", r.OutTradeNo, tail.Count)
			}
			e := next(tail, cloudpay.EntryReserve, r, now)
			e.ReservedFen += r.AmountFen
			e.Count++
			if r.Status != cloudpay.RefundPendingReview {
				e.Slot, e.NextSlot = s.slot(tail, r, now)
				snapshot.NotBefore = e.Slot
			}
			snap := snapshot
			e.Refund = &snap
			return e, nil
		})
}

// slot is a refund's turn: now, or a minute after the order's last one
// (WeChat's spacing). A refund to the balance does not wait, and does not
// hold up the next one: WeChat never hears of it.
func (s *Service) slot(tail cloudpay.RefundEntry, r cloudpay.Refund, now time.Time) (slot, nextSlot time.Time) {
	if r.PaidBy == cloudpay.MethodBalance {
		return now, tail.NextSlot
	}
	slot = now
	if tail.NextSlot.After(now) {
		slot = tail.NextSlot
	}
	return slot, slot.Add(s.cfg.MinInterval)
}

// next starts the entry after tail: same totals, a new movement.
func next(tail cloudpay.RefundEntry, kind cloudpay.RefundEntryKind, r cloudpay.Refund, now time.Time) cloudpay.RefundEntry {
	return cloudpay.RefundEntry{
		Kind: kind, OutRefundNo: r.OutRefundNo, AmountFen: r.AmountFen, CreatedAt: now,
		PaidFen: tail.PaidFen, ReservedFen: tail.ReservedFen, RefundedFen: tail.RefundedFen,
		Count: tail.Count, NextSlot: tail.NextSlot,
	}
}

func reserveRef(outRefundNo string, round int) string {
	return fmt.Sprintf("reserve:%s:%d", outRefundNo, round)
}
func endRef(outRefundNo string, round int) string {
	return fmt.Sprintf("end:%s:%d", outRefundNo, round)
}
func reviewRef(outRefundNo string) string { return "review:" + outRefundNo }

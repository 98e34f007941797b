// Package withdraw holds the wallet and withdrawal use cases: credits from
// the business back end, the user's balance, and withdrawals to the user's
// WeChat balance through WeChat Pay's transfer bills. A wallet is an
// append-only ledger (docs/design.md §4): no credit applies twice and no
// withdrawal spends the same money twice.
package withdraw

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/effect"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

// Config holds the merchant's withdrawal limits.
type Config struct {
	MinFen     int64  `env:"WITHDRAW_MIN_FEN, default=10"`       // WeChat's smallest transfer is 0.1 CNY
	MaxFen     int64  `env:"WITHDRAW_MAX_FEN, default=20000"`    // per withdrawal; WeChat's default scene range ends at 200 CNY
	DailyCount int    `env:"WITHDRAW_DAILY_COUNT, default=10"`   // per user and Beijing day
	DailyFen   int64  `env:"WITHDRAW_DAILY_FEN, default=100000"` // per user and Beijing day
	Remark     string `env:"WITHDRAW_REMARK, default=余额提现"`      // shown to the user, ≤ 32 characters
}

// RealNameFen is WeChat's threshold: transfers of 2000 CNY and more must
// carry the payee's real name.
const RealNameFen cloudpay.Fen = 200_000

// Service is the wallet and withdrawal use cases. Build one per process.
type Service struct {
	store Store
	gw    wechat.Transfers
	cfg   Config
	log   *slog.Logger
	now   func() time.Time
	chain *effect.Engine[cloudpay.Withdrawal, wechat.TransferResult, Outcome]
}

// Option adjusts a Service.
type Option func(*Service)

// WithClock replaces the clock (tests).
func WithClock(now func() time.Time) Option { return func(s *Service) { s.now = now } }

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(s *Service) { s.log = l } }

// New builds the service.
func New(store Store, gw wechat.Transfers, cfg Config, opts ...Option) *Service {
	if cfg.Remark == "" {
		cfg.Remark = "余额提现"
	}
	s := &Service{store: store, gw: gw, cfg: cfg, log: slog.New(slog.DiscardHandler), now: time.Now}
	for _, o := range opts {
		o(s)
	}
	s.chain = effect.New(transfers{s}, store, s.clock, s.log)
	return s
}

func (s *Service) clock() time.Time { return s.now().UTC().Truncate(time.Millisecond) }

const (
	maxCreditID = 64
	maxMemo     = 128
	maxKey      = 128
	maxRealName = 64
)

func validOpenID(openid string) error {
	if !cloudpay.ValidOpenID(openid) {
		return cloudpay.FieldError("openid", "openid is malformed")
	}
	return nil
}

func validAmount(amount cloudpay.Fen) error {
	if amount <= 0 || amount > cloudpay.MaxFen {
		return cloudpay.FieldError("amount_fen", "amount_fen must be a positive integer number of fen, at most %d", cloudpay.MaxFen)
	}
	return nil
}

func validText(field, v string, min, max int) error {
	if len(v) < min || len([]rune(v)) > max || !cloudpay.Printable(v) {
		return cloudpay.FieldError(field, "%s must be %d-%d characters of printable text", field, min, max)
	}
	return nil
}

// Wallet is a user's balance.
type Wallet struct {
	OpenID            string       `json:"openid"`
	AvailableFen      cloudpay.Fen `json:"available_fen"`
	FrozenFen         cloudpay.Fen `json:"frozen_fen"`
	WithdrawnTodayFen cloudpay.Fen `json:"withdrawn_today_fen"` // frozen or paid today (Beijing), failures excluded
	WithdrawalsToday  int          `json:"withdrawals_today"`
	CreditedFen       cloudpay.Fen `json:"credited_fen"`
	DebitedFen        cloudpay.Fen `json:"debited_fen"`
}

func (s *Service) wallet(openid string, e cloudpay.WalletEntry) Wallet {
	w := Wallet{OpenID: openid, AvailableFen: e.AvailableFen, FrozenFen: e.FrozenFen, CreditedFen: e.CreditedFen, DebitedFen: e.DebitedFen}
	if e.Day == cloudpay.BeijingDay(s.clock()) {
		w.WithdrawnTodayFen, w.WithdrawalsToday = e.DayFen, e.DayCount
	}
	return w
}

// Wallet returns a user's balance from the newest ledger entry.
func (s *Service) Wallet(ctx context.Context, openid string) (Wallet, error) {
	if err := validOpenID(openid); err != nil {
		return Wallet{}, err
	}
	tail, _, err := s.store.WalletTail(ctx, openid)
	if err != nil {
		return Wallet{}, fmt.Errorf("wallet: %w", err)
	}
	return s.wallet(openid, tail), nil
}

// Credit adds money to a user's wallet once per credit_id: the same
// credit again returns the wallet (created false); a credit_id reused for
// another user or amount is a conflict.
func (s *Service) Credit(ctx context.Context, openid, creditID string, amount cloudpay.Fen, memo string) (Wallet, bool, error) {
	if err := validOpenID(openid); err != nil {
		return Wallet{}, false, err
	}
	if err := validText("credit_id", creditID, 1, maxCreditID); err != nil {
		return Wallet{}, false, err
	}
	if err := validAmount(amount); err != nil {
		return Wallet{}, false, err
	}
	if err := validText("memo", memo, 0, maxMemo); err != nil {
		return Wallet{}, false, err
	}
	now := s.clock()
	e, appended, err := s.store.AppendWalletEntry(ctx, openid, "credit:"+creditID,
		func(tail cloudpay.WalletEntry, found bool) (cloudpay.WalletEntry, error) {
			e := next(tail, cloudpay.EntryCredit, amount, now)
			e.CreditID, e.Memo = creditID, memo
			e.CreditedFen += amount
			e.AvailableFen += amount
			return e, nil
		})
	if err != nil {
		return Wallet{}, false, fmt.Errorf("credit: %w", err)
	}
	if e.OpenID != openid || e.AmountFen != amount {
		return Wallet{}, false, cloudpay.Errorf(cloudpay.CodeCreditConflict, "credit_id %s was used for another user or amount", creditID)
	}
	w, err := s.Wallet(ctx, openid)
	return w, appended, err
}

// next starts the entry after tail: same totals, a new movement.
func next(tail cloudpay.WalletEntry, kind cloudpay.WalletEntryKind, amount cloudpay.Fen, now time.Time) cloudpay.WalletEntry {
	return cloudpay.WalletEntry{
		Kind: kind, AmountFen: amount, CreatedAt: now,
		CreditedFen: tail.CreditedFen, AvailableFen: tail.AvailableFen, FrozenFen: tail.FrozenFen, DebitedFen: tail.DebitedFen,
		Day: tail.Day, DayCount: tail.DayCount, DayFen: tail.DayFen,
	}
}

// SetRealName records the name WeChat checks on transfers of 2000 CNY and more.
func (s *Service) SetRealName(ctx context.Context, openid, name string) error {
	if err := validOpenID(openid); err != nil {
		return err
	}
	if err := validText("real_name", name, 1, maxRealName); err != nil {
		return err
	}
	return s.store.SaveProfile(ctx, Profile{OpenID: openid, RealName: name, UpdatedAt: s.clock()})
}

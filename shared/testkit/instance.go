package testkit

import (
	"context"
	"errors"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudhosting"
	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/mongostore"
	"github.com/cloudpay/cloudpay/shared/wechatpay"
)

// Another instance of a function, as the tests build one beside the
// stack's: on the stack's database and simulator, with its own gateway,
// and, to test what a crash leaves behind, a store that dies at a write.

// CloudHostingGateway is a Cloud Hosting client of the stack's simulator,
// patient with a loaded machine.
func (s *Stack) CloudHostingGateway() *cloudhosting.Client {
	cfg := s.cloudHostingConfig()
	cfg.EnvID, cfg.Timeout = EnvID, Patience
	return cloudhosting.New(cfg, nil)
}

// V3Gateway is an API v3 client of the stack's simulator, as its
// development merchant, patient with a loaded machine.
func (s *Stack) V3Gateway() *wechatpay.Client {
	s.t.Helper()
	cfg := s.v3Config()
	cfg.Timeout = Patience
	gw, err := wechatpay.New(context.Background(), cfg, nil)
	if err != nil {
		s.t.Fatalf("testkit: API v3 gateway: %v", err)
	}
	return gw
}

// ErrCrash is what a write of a crashed instance returns: it never happened.
var ErrCrash = errors.New("the instance crashed")

// CrashingStore is the store of an instance that dies at the write named
// At (a method name): that write fails, and nothing after it happens.
type CrashingStore struct {
	*mongostore.Store
	At string
}

func (c CrashingStore) InsertRefund(ctx context.Context, r cloudpay.Refund) (cloudpay.Refund, bool, error) {
	if c.At == "InsertRefund" {
		return cloudpay.Refund{}, false, ErrCrash
	}
	return c.Store.InsertRefund(ctx, r)
}

func (c CrashingStore) SaveRefund(ctx context.Context, r cloudpay.Refund) error {
	if c.At == "SaveRefund" {
		return ErrCrash
	}
	return c.Store.SaveRefund(ctx, r)
}

func (c CrashingStore) ProjectOrderRefunds(ctx context.Context, no string, st cloudpay.OrderStatus, fen cloudpay.Fen, seq int64, now time.Time) error {
	if c.At == "ProjectOrderRefunds" {
		return ErrCrash
	}
	return c.Store.ProjectOrderRefunds(ctx, no, st, fen, seq, now)
}

func (c CrashingStore) InsertWithdrawal(ctx context.Context, w cloudpay.Withdrawal) (cloudpay.Withdrawal, bool, error) {
	if c.At == "InsertWithdrawal" {
		return cloudpay.Withdrawal{}, false, ErrCrash
	}
	return c.Store.InsertWithdrawal(ctx, w)
}

func (c CrashingStore) SaveWithdrawal(ctx context.Context, w cloudpay.Withdrawal) error {
	if c.At == "SaveWithdrawal" {
		return ErrCrash
	}
	return c.Store.SaveWithdrawal(ctx, w)
}

func (c CrashingStore) ClaimPrepayEnd(ctx context.Context, e cloudpay.PrepayEnd) (cloudpay.PrepayEnd, bool, error) {
	if c.At == "ClaimPrepayEnd" {
		return cloudpay.PrepayEnd{}, false, ErrCrash
	}
	return c.Store.ClaimPrepayEnd(ctx, e)
}

func (c CrashingStore) ClaimSettlement(ctx context.Context, st cloudpay.Settlement) (cloudpay.Settlement, bool, error) {
	if c.At == "ClaimSettlement" {
		return cloudpay.Settlement{}, false, ErrCrash
	}
	return c.Store.ClaimSettlement(ctx, st)
}

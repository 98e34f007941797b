package refund

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/effect"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

// Retry sends a refund again under the same out_refund_no. A refund whose
// result is unknown is first looked up at WeChat; one refused for good (or
// never reserved) reserves its amount again, under the rules of now.
func (s *Service) Retry(ctx context.Context, outRefundNo string) (cloudpay.Refund, error) {
	r, err := s.get(ctx, outRefundNo)
	if err != nil {
		return cloudpay.Refund{}, err
	}
	switch r.Status {
	case cloudpay.RefundApproved:
		return s.resume(ctx, r)
	case cloudpay.RefundProcessing, cloudpay.RefundAbnormal:
		res, err := s.queryRefund(ctx, r)
		if err != nil {
			return r, fmt.Errorf("retry refund %s: %w", outRefundNo, err)
		}
		if res.State != wechat.RefundNotExist {
			r, err = s.chain.Apply(ctx, r, res)
			if err == nil && r.Status == cloudpay.RefundAbnormal {
				err = cloudpay.Errorf(cloudpay.CodeRefundState,
					"refund %s is abnormal at WeChat (the payer's account cannot receive it): settle it in the merchant platform", outRefundNo)
			}
			return r, err
		}
		return s.send(ctx, r)
	case cloudpay.RefundFailed:
		if r.Retryable && r.Round > 0 {
			return s.send(ctx, r)
		}
		return s.reserveAgain(ctx, r)
	}
	return cloudpay.Refund{}, cloudpay.Errorf(cloudpay.CodeRefundState, "refund %s is %s and cannot be retried", outRefundNo, r.Status)
}

// reserveAgain starts a new round for a refund that holds no reservation.
func (s *Service) reserveAgain(ctx context.Context, r cloudpay.Refund) (cloudpay.Refund, error) {
	if r.OutTradeNo == "" {
		// A batch item named by transaction_id that was refused before
		// its payment was adopted: adopt it now.
		no, err := s.OrderOf(ctx, "", r.TransactionID)
		if err != nil {
			return r, err
		}
		r.OutTradeNo = no
	}
	now := s.clock()
	st, _, err := s.paid(ctx, r.OutTradeNo, now)
	if err != nil {
		return r, err
	}
	r.Round++
	r.Status, r.Retryable, r.UpdatedAt = cloudpay.RefundApproved, false, now
	if r.TotalFen == 0 {
		r.TotalFen = st.AmountFen
	}
	e, _, err := s.reserve(ctx, r, st, now)
	if err != nil {
		return cloudpay.Refund{}, err
	}
	r.NotBefore, r.LastError, r.ReserveSeq = e.Slot, nil, e.Seq
	if err := s.store.SaveRefund(ctx, r); err != nil {
		return r, err
	}
	return s.resume(ctx, r)
}

func (s *Service) get(ctx context.Context, outRefundNo string) (cloudpay.Refund, error) {
	if !cloudpay.ValidOutRefundNo(outRefundNo) {
		return cloudpay.Refund{}, cloudpay.FieldError("out_refund_no", "out_refund_no is malformed")
	}
	r, err := s.store.Refund(ctx, outRefundNo)
	if err != nil {
		return r, err
	}
	return s.chain.Current(ctx, r)
}

// Live is WeChat's current word on a refund, next to ours.
type Live struct {
	State       wechat.RefundState
	RefundID    string
	AmountFen   cloudpay.Fen
	Account     string
	Error       string // WeChat could not be asked
	ErrorDetail string
}

// Detail returns a refund with WeChat's live status, recording that status
// if it settles the refund. WeChat failing to answer is reported in Live,
// not as an error.
func (s *Service) Detail(ctx context.Context, outRefundNo string) (cloudpay.Refund, *Live, error) {
	r, err := s.get(ctx, outRefundNo)
	if err != nil {
		return cloudpay.Refund{}, nil, err
	}
	if r.Attempts == 0 {
		return r, nil, nil // never sent: WeChat knows nothing of it
	}
	res, err := s.queryRefund(ctx, r)
	if err != nil {
		e := &cloudpay.Error{}
		errors.As(err, &e)
		return r, &Live{Error: string(cloudpay.ErrorCode(err)), ErrorDetail: e.Message}, nil
	}
	live := &Live{State: res.State, RefundID: res.RefundID, AmountFen: res.RefundFen, Account: res.Account}
	if settled, err := s.chain.Apply(ctx, r, res); err == nil {
		r = settled
	} else if !errors.Is(err, errMismatch) {
		return r, live, err
	}
	return r, live, nil
}

// confirmSpacing is the least time between two queries that unsigned
// refund callbacks make WeChat answer about one refund.
const confirmSpacing = 10 * time.Second

// Confirm handles an unsigned refund callback: only WeChat's answer
// to a query by out_refund_no is recorded, never the callback's word.
func (s *Service) Confirm(ctx context.Context, hint wechat.RefundHint) (wechat.Verdict, error) {
	if hint.MchID != "" && hint.MchID != s.gw.MerchantID() {
		return wechat.OtherMerchant, nil
	}
	r, err := s.store.Refund(ctx, hint.OutRefundNo)
	if cloudpay.ErrorCode(err) == cloudpay.CodeRefundNotFound {
		return s.confirmOutside(ctx, hint)
	}
	if err != nil {
		return "", fmt.Errorf("confirm refund: %w", err)
	}
	if r.Status.Final() {
		return wechat.AlreadyRecorded, nil
	}
	// One query per refund per window, however many callbacks name it: on
	// API v3 deployments this route is public (docs/design.md §4).
	if ok, err := s.store.ClaimAction(ctx, "confirm-refund", r.OutRefundNo, cloudpay.Nonce(), confirmSpacing, s.clock()); err != nil {
		return "", fmt.Errorf("confirm refund: %w", err)
	} else if !ok {
		return wechat.Throttled, nil
	}
	res, err := s.queryRefund(ctx, r)
	if err != nil {
		return "", fmt.Errorf("confirm refund: %w", err)
	}
	return s.settle(ctx, r, res)
}

// Record records a refund notification whose signature was verified.
func (s *Service) Record(ctx context.Context, res wechat.RefundResult) (wechat.Verdict, error) {
	if res.MchID != "" && res.MchID != s.gw.MerchantID() {
		return wechat.OtherMerchant, nil
	}
	r, err := s.store.Refund(ctx, res.OutRefundNo)
	if cloudpay.ErrorCode(err) == cloudpay.CodeRefundNotFound {
		// WeChat's own word about a refund cloudpay did not make.
		return s.adoptOutside(ctx, res)
	}
	if err != nil {
		return "", fmt.Errorf("refund notification: %w", err)
	}
	if r.Status.Final() {
		return wechat.AlreadyRecorded, nil
	}
	return s.settle(ctx, r, res)
}

func (s *Service) settle(ctx context.Context, r cloudpay.Refund, res wechat.RefundResult) (wechat.Verdict, error) {
	switch res.State {
	case wechat.RefundSuccess, wechat.RefundClosed, wechat.RefundAbnormal:
	default:
		return wechat.NotSettled, nil
	}
	ctx, cancel := effect.Detach(ctx)
	defer cancel()
	before := r.Status
	after, err := s.chain.Apply(ctx, r, res)
	if errors.Is(err, errMismatch) {
		return wechat.Mismatch, nil
	}
	if err != nil {
		return "", err
	}
	if after.Status == before {
		return wechat.AlreadyRecorded, nil
	}
	return wechat.Recorded, nil
}

// SendDue sends approved refunds whose turn has come, up to limit, and
// reports how many it sent.
func (s *Service) SendDue(ctx context.Context, limit int) (int, error) {
	due, err := s.store.RefundsDue(ctx, cloudpay.RefundApproved, s.clock(), limit)
	if err != nil {
		return 0, err
	}
	sent := 0
	for _, r := range due {
		if ctx.Err() != nil {
			break
		}
		if _, err := s.resume(ctx, r); err != nil {
			s.log.ErrorContext(ctx, "send due refund", "out_refund_no", r.OutRefundNo, "error", err)
			continue
		}
		sent++
	}
	return sent, nil
}

// Page is one page of a refund listing.
type Page struct {
	Refunds    []cloudpay.Refund `json:"refunds"`
	NextCursor string            `json:"next_cursor,omitempty"`
	Totals     Totals            `json:"totals"`
}

// Filter selects refunds for List.

// MaxPage bounds a listing page.
const MaxPage = 200

// List returns refunds matching f, newest first, from cursor on.
func (s *Service) List(ctx context.Context, f Filter, cursor string, limit int) (Page, error) {
	if limit == 0 {
		limit = 50
	}
	if limit < 1 || limit > MaxPage {
		return Page{}, cloudpay.FieldError("limit", "limit must be between 1 and %d", MaxPage)
	}
	if f.Status != "" && !knownStatus(f.Status) {
		return Page{}, cloudpay.FieldError("status", "status %q is not a refund status", f.Status)
	}
	if f.OutTradeNo != "" && !cloudpay.ValidOutTradeNo(f.OutTradeNo) {
		return Page{}, cloudpay.FieldError("out_trade_no", "out_trade_no is malformed")
	}
	if f.OpenID != "" && !cloudpay.ValidOpenID(f.OpenID) {
		return Page{}, cloudpay.FieldError("openid", "openid is malformed")
	}
	if len(f.BatchID) > 64 || len(f.Label) > maxLabel || !cloudpay.Printable(f.BatchID+f.Label) {
		return Page{}, cloudpay.FieldError("label", "batch_id and label must be short printable text")
	}
	var after *cloudpay.Cursor
	if cursor != "" {
		c, err := cloudpay.DecodeCursor(cursor)
		if err != nil {
			return Page{}, err
		}
		after = &c
	}
	refunds, next, totals, err := s.store.ListRefunds(ctx, f, after, limit)
	if err != nil {
		return Page{}, err
	}
	if refunds == nil {
		refunds = []cloudpay.Refund{}
	}
	for i, r := range refunds {
		if refunds[i], err = s.chain.Current(ctx, r); err != nil {
			return Page{}, err
		}
	}
	return Page{Refunds: refunds, NextCursor: next, Totals: totals}, nil
}

func knownStatus(st cloudpay.RefundStatus) bool {
	switch st {
	case cloudpay.RefundPendingReview, cloudpay.RefundApproved, cloudpay.RefundRejected, cloudpay.RefundProcessing,
		cloudpay.RefundSucceeded, cloudpay.RefundFailed, cloudpay.RefundClosed, cloudpay.RefundAbnormal:
		return true
	}
	return false
}

package refund

import (
	"context"
	"fmt"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

// Reconciled is what the scheduled job did to a refund.
type Reconciled string

const (
	ReconciledNothing Reconciled = ""         // nothing due
	ReconciledSynced  Reconciled = "synced"   // WeChat was asked; its answer is recorded
	ReconciledRetried Reconciled = "retried"  // sent (again), with the same out_refund_no
	ReconciledGivenUp Reconciled = "given_up" // the retry budget is used up: failed for good
)

// retryBackoff spaces the job's retries of a refund WeChat refused for now,
// by the number of attempts made so far.
var retryBackoff = []time.Duration{time.Minute, 5 * time.Minute, 15 * time.Minute, time.Hour, 3 * time.Hour, 6 * time.Hour}

func backoff(attempts int) time.Duration {
	if attempts < 1 {
		return 0
	}
	return retryBackoff[min(attempts, len(retryBackoff))-1]
}

// abnormalRecheck spaces the job's queries of an abnormal refund, which
// waits for the merchant to settle it in the merchant platform.
const abnormalRecheck = time.Hour

// Reconcile moves a refund on, for the job: a queued refund whose turn has
// come is sent; one sent without a final answer (or abnormal) is looked up
// at WeChat, and sent again with the same number only if WeChat does not
// know it; one refused for now is retried with backoff, within the retry
// budget, and given up when the budget is used. Retried means a call went
// to WeChat, nothing less.
func (s *Service) Reconcile(ctx context.Context, outRefundNo string) (Reconciled, error) {
	r, err := s.get(ctx, outRefundNo)
	if err != nil {
		return ReconciledNothing, err
	}
	now := s.clock()
	switch r.Status {
	case cloudpay.RefundApproved:
		if r.NotBefore.After(now) {
			return ReconciledNothing, nil
		}
		return s.sendAgain(ctx, r)
	case cloudpay.RefundProcessing, cloudpay.RefundAbnormal:
		if r.Status == cloudpay.RefundAbnormal && r.NotBefore.After(now) {
			return ReconciledNothing, nil
		}
		res, err := s.queryRefund(ctx, r)
		if err != nil {
			return ReconciledNothing, err
		}
		if res.State == wechat.RefundNotExist {
			if r.Status == cloudpay.RefundAbnormal {
				return ReconciledNothing, nil
			}
			// Sent, no answer, and WeChat has nothing: the call never
			// arrived. The attempt claim keeps a call still in flight from
			// being doubled.
			return s.sendAgain(ctx, r)
		}
		_, err = s.chain.Apply(ctx, r, res)
		return ReconciledSynced, err
	case cloudpay.RefundFailed:
		due := r.NotBefore
		if due.IsZero() { // recorded before retries were scheduled
			due = r.UpdatedAt.Add(backoff(r.Attempts))
		}
		if !r.Retryable || due.After(now) {
			return ReconciledNothing, nil
		}
		if r.Attempts >= s.cfg.RetryBudget {
			return s.giveUp(ctx, r)
		}
		return s.sendAgain(ctx, r)
	}
	return ReconciledNothing, nil
}

// sendAgain sends r and tells whether a call went to WeChat: send returns
// without one while another attempt's lease holds.
func (s *Service) sendAgain(ctx context.Context, r cloudpay.Refund) (Reconciled, error) {
	_, called, err := s.chain.Send(ctx, r)
	if called {
		return ReconciledRetried, err
	}
	return ReconciledNothing, err
}

// giveUp ends a refund whose retry budget is used up: WeChat refused it
// for now RetryBudget times. It becomes failed for good with the code
// RETRY_BUDGET_EXHAUSTED, for an operator (the console shows it; a retry
// reserves again under today's rules). Its amount is released only once
// WeChat confirms it holds no refund under the number: an earlier attempt
// may have reached it after all.
func (s *Service) giveUp(ctx context.Context, r cloudpay.Refund) (Reconciled, error) {
	after, released, err := s.chain.Abandon(ctx, r, &cloudpay.Failure{Code: string(cloudpay.CodeRetryBudgetExhausted),
		Message: fmt.Sprintf("WeChat refused this refund for now %d times; retry it or settle it in the merchant platform", r.Attempts)})
	switch {
	case released:
		return ReconciledGivenUp, err
	case after.Status != r.Status || after.Retryable != r.Retryable:
		return ReconciledSynced, err // WeChat had it after all
	}
	return ReconciledNothing, err // someone else is sending it
}

// ResumeBatch creates the items of a batch that have no refund yet (a run
// that stopped early: a frozen Lambda instance, a restart) and reports how
// many it created. Queued items are sent by Reconcile. A batch whose every
// item has its refund is marked complete, and the job looks at it no more.
func (s *Service) ResumeBatch(ctx context.Context, id string) (int, error) {
	b, err := s.store.Batch(ctx, id)
	if err != nil {
		return 0, err
	}
	created := 0
	for _, it := range b.Items {
		if ctx.Err() != nil {
			return created, ctx.Err()
		}
		_, err := s.store.Refund(ctx, it.OutRefundNo)
		if err == nil {
			continue
		}
		if cloudpay.ErrorCode(err) != cloudpay.CodeRefundNotFound {
			return created, err
		}
		s.runItem(ctx, b, it)
		created++
	}
	if created == 0 {
		return 0, s.store.MarkBatchComplete(ctx, id, s.clock())
	}
	return created, nil
}

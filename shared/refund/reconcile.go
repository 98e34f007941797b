package refund

import (
	"context"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

// Reconciled is what the scheduled job did to a refund.
type Reconciled string

const (
	ReconciledNothing Reconciled = ""        // nothing due
	ReconciledSynced  Reconciled = "synced"  // WeChat was asked; its answer is recorded
	ReconciledRetried Reconciled = "retried" // sent (again), with the same out_refund_no
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

// Reconcile moves a refund on, for the job: a queued refund whose turn has
// come is sent; one sent without a final answer (or abnormal) is looked up
// at WeChat, and sent again with the same number only if WeChat does not
// know it; one refused for now is retried with backoff, within the retry
// budget.
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
		_, err := s.send(ctx, r)
		return ReconciledRetried, err
	case cloudpay.RefundProcessing, cloudpay.RefundAbnormal:
		res, err := s.gw.QueryRefund(ctx, r.OutRefundNo)
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
			_, err := s.send(ctx, r)
			return ReconciledRetried, err
		}
		_, err = s.apply(ctx, r, res)
		return ReconciledSynced, err
	case cloudpay.RefundFailed:
		if !r.Retryable || r.Attempts >= s.cfg.RetryBudget || now.Before(r.UpdatedAt.Add(backoff(r.Attempts))) {
			return ReconciledNothing, nil
		}
		_, err := s.send(ctx, r)
		return ReconciledRetried, err
	}
	return ReconciledNothing, nil
}

// ResumeBatch creates the items of a batch that have no refund yet (a run
// that stopped early: a frozen Lambda instance, a restart) and reports how
// many it created. Queued items are sent by Reconcile.
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
	return created, nil
}

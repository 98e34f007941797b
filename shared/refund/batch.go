package refund

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/wechat"
)

// NewBatch is a batch of refunds from the business back end.
type NewBatch struct {
	IdempotencyKey string
	Label          string
	Items          []BatchItem
	CreatedBy      string // the named admin token asking
}

// CreateBatch records a batch and starts it in the background. The same
// key with the same items returns the same batch (created false) and
// resumes it; with other items it is a conflict. Items are refunds keyed
// by their own key, so an item resubmitted in any batch refunds once.
func (s *Service) CreateBatch(ctx context.Context, nb NewBatch) (string, bool, error) {
	if err := validateKey("idempotency_key", nb.IdempotencyKey); err != nil {
		return "", false, err
	}
	if len([]rune(nb.Label)) > maxLabel || !cloudpay.Printable(nb.Label) {
		return "", false, cloudpay.FieldError("label", "label must be at most %d characters of printable text", maxLabel)
	}
	if len(nb.Items) == 0 || len(nb.Items) > s.cfg.MaxBatchItems {
		return "", false, cloudpay.FieldError("items", "items must hold 1-%d refunds", s.cfg.MaxBatchItems)
	}
	digest := sha256.New()
	seen := make(map[string]int, len(nb.Items))
	items := make([]BatchItem, len(nb.Items))
	for i, it := range nb.Items {
		if err := validateItem(it); err != nil {
			e := err.(*cloudpay.Error)
			e.Field = fmt.Sprintf("items[%d].%s", i, e.Field)
			e.Message = fmt.Sprintf("items[%d]: %s", i, e.Message)
			return "", false, e
		}
		if err := validateKey(fmt.Sprintf("items[%d].key", i), it.Key); err != nil {
			return "", false, err
		}
		if j, dup := seen[it.Key]; dup {
			return "", false, cloudpay.FieldError(fmt.Sprintf("items[%d].key", i), "items[%d] and items[%d] have the same key", j, i)
		}
		seen[it.Key] = i
		items[i] = BatchItem{OutTradeNo: it.OutTradeNo, TransactionID: it.TransactionID, Extra: it.Extra,
			AmountFen: it.AmountFen, Reason: it.Reason, Key: it.Key, OutRefundNo: cloudpay.OutRefundNoForKey(it.Key)}
		fmt.Fprintf(digest, "%q %d %q %q\n", it.OutTradeNo, it.AmountFen, it.Reason, it.Key)
		if it.TransactionID != "" || len(it.Extra) > 0 {
			// Only items that name these hash them, so batches stored
			// before they existed keep their digest.
			fmt.Fprintf(digest, "+ %q", it.TransactionID)
			for _, k := range slices.Sorted(maps.Keys(it.Extra)) {
				fmt.Fprintf(digest, " %q=%q", k, it.Extra[k])
			}
			fmt.Fprintln(digest)
		}
	}
	sum := sha256.Sum256([]byte("batch-key:" + nb.IdempotencyKey))
	var total cloudpay.Fen
	for _, it := range items {
		total += it.AmountFen
	}
	b := Batch{
		ID: "RB" + hex.EncodeToString(sum[:12]), IdempotencyKey: nb.IdempotencyKey, Label: nb.Label,
		Digest: hex.EncodeToString(digest.Sum(nil)), Items: items, CreatedAt: s.clock(),
		CreatedBy: nb.CreatedBy, FourEyes: s.cfg.FourEyesFen > 0 && total > s.cfg.FourEyesFen,
	}
	held, created, err := s.store.InsertBatch(ctx, b)
	if err != nil {
		return "", false, err
	}
	if held.Digest != b.Digest || held.Label != b.Label {
		return "", false, cloudpay.Errorf(cloudpay.CodeBatchConflict, "batch key %q was used for other items", nb.IdempotencyKey)
	}
	s.startBatch(held.ID)
	return held.ID, created, nil
}

// Limits on the caller's own columns of a batch item.
const (
	maxExtra      = 10
	maxExtraKey   = 32
	maxExtraValue = 128
)

// validateItem checks one batch item: the refund, and the columns kept with it.
func validateItem(it BatchItem) error {
	if it.OutTradeNo != "" && it.TransactionID != "" {
		return cloudpay.FieldError("transaction_id", "give transaction_id or out_trade_no, not both")
	}
	if it.TransactionID != "" && !wechat.ValidTransactionID(it.TransactionID) {
		return cloudpay.FieldError("transaction_id", "transaction_id must be 1-32 digits")
	}
	if err := validateRefund(orPlaceholder(it.OutTradeNo, it.TransactionID), it.AmountFen, it.Reason); err != nil {
		return err
	}
	if len(it.Extra) > maxExtra {
		return cloudpay.FieldError("extra", "at most %d extra columns", maxExtra)
	}
	for k, v := range it.Extra {
		if k == "" || len(k) > maxExtraKey || !cloudpay.Printable(k) || strings.ContainsAny(k, ".$") {
			return cloudpay.FieldError("extra", "extra column names must be 1-%d printable bytes without . or $", maxExtraKey)
		}
		if len(v) > maxExtraValue || !cloudpay.Printable(v) {
			return cloudpay.FieldError("extra", "extra column %q must be at most %d printable bytes", k, maxExtraValue)
		}
	}
	return nil
}

// batchBudget bounds one background run of a batch; what is left (refunds
// waiting a minute for their turn, say) is sent by SendDue.
const batchBudget = 30 * time.Minute

// startBatch runs a batch in the background unless this process runs it
// already. Another process running it at the same time is harmless: every
// item is a keyed refund and every call an attempt claim.
func (s *Service) startBatch(id string) {
	if _, running := s.batches.LoadOrStore(id, true); running {
		return
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		defer s.batches.Delete(id)
		ctx, cancel := context.WithTimeout(s.base, batchBudget)
		defer cancel()
		if err := s.RunBatch(ctx, id); err != nil {
			s.log.ErrorContext(ctx, "batch run stopped", "batch_id", id, "error", err)
		}
	}()
}

// RunBatch creates and sends the refunds of a batch: several at a time,
// within the merchant-wide call rate, and then waits for the items that
// queue behind another refund of the same order.
func (s *Service) RunBatch(ctx context.Context, id string) error {
	b, err := s.store.Batch(ctx, id)
	if err != nil {
		return err
	}
	sem := make(chan struct{}, s.cfg.BatchConcurrency)
	var wg sync.WaitGroup
	for _, it := range b.Items {
		if ctx.Err() != nil {
			break
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			s.runItem(ctx, b, it)
		}()
	}
	wg.Wait()
	for ctx.Err() == nil {
		wait, err := s.sendBatchDue(ctx, b)
		if err != nil {
			return err
		}
		if wait <= 0 {
			return nil
		}
		if !sleepCtx(ctx, wait) {
			return ctx.Err()
		}
	}
	return ctx.Err()
}

// runItem creates one item's refund. A refusal by the rules is recorded on
// the item's refund (failed, nothing reserved), so the batch shows it and
// a retry can reserve again.
func (s *Service) runItem(ctx context.Context, b Batch, it BatchItem) {
	r := cloudpay.Refund{
		OutRefundNo: it.OutRefundNo, OutTradeNo: it.OutTradeNo, TransactionID: it.TransactionID, AmountFen: it.AmountFen, Reason: it.Reason,
		Source: cloudpay.SourceBatch, IdempotencyKey: it.Key, BatchID: b.ID, Label: b.Label,
		CreatedBy: b.CreatedBy, FourEyes: b.FourEyes,
	}
	no, err := s.OrderOf(ctx, it.OutTradeNo, it.TransactionID)
	if err == nil {
		r.OutTradeNo = no
		_, _, err = s.create(ctx, r)
	}
	switch cloudpay.ErrorCode(err) {
	case "":
		return
	case cloudpay.CodeOrderNotFound, cloudpay.CodeOrderNotPaid, cloudpay.CodeRefundExceeds,
		cloudpay.CodeRefundLimit, cloudpay.CodeRefundTooLate,
		cloudpay.CodeTransactionNotFound, cloudpay.CodeOtherMerchant, cloudpay.CodeInvalidField, cloudpay.CodeOrderConflict:
		now := s.clock()
		r.Status, r.CreatedAt, r.UpdatedAt = cloudpay.RefundFailed, now, now
		// Refused by our rules or for want of a payment: our code, whatever
		// WeChat's words were (ORDERNOTEXIST is TRANSACTION_NOT_FOUND here).
		r.LastError = &cloudpay.Failure{Code: string(cloudpay.ErrorCode(err)), Message: wechat.FailureOf(err).Message}
		if _, _, err := s.store.InsertRefund(ctx, r); err != nil {
			s.log.ErrorContext(ctx, "record refused batch item", "out_refund_no", r.OutRefundNo, "error", err)
		}
	default:
		s.log.ErrorContext(ctx, "batch item", "batch_id", b.ID, "out_refund_no", r.OutRefundNo, "error", err)
	}
}

// sendBatchDue sends the batch's queued items whose turn has come and
// returns how long until the next one's turn (0: none left).
func (s *Service) sendBatchDue(ctx context.Context, b Batch) (time.Duration, error) {
	var wait time.Duration
	for _, it := range b.Items {
		r, err := s.store.Refund(ctx, it.OutRefundNo)
		if cloudpay.ErrorCode(err) == cloudpay.CodeRefundNotFound {
			continue
		}
		if err != nil {
			return 0, err
		}
		if r.Status != cloudpay.RefundApproved {
			continue
		}
		if d := r.NotBefore.Sub(s.clock()); d > 0 {
			if wait == 0 || d < wait {
				wait = d
			}
			continue
		}
		if _, err := s.resume(ctx, r); err != nil {
			return 0, err
		}
	}
	return wait, nil
}

// Progress is a batch's state: the data of a progress bar.
type Progress struct {
	BatchID     string
	Label       string
	Total       int
	Done        int // succeeded + failed
	Succeeded   int
	Failed      int          // failed, closed (retryable failures too)
	Processing  int          // not created yet, queued, sent, abnormal
	AmountFen   cloudpay.Fen // of all items
	RefundedFen cloudpay.Fen
	CreatedAt   time.Time
	Items       []ProgressItem
}

// ProgressItem is one item's state.
type ProgressItem struct {
	Key           string
	OutTradeNo    string
	TransactionID string
	Extra         map[string]string
	OutRefundNo   string
	AmountFen     cloudpay.Fen
	Status        string // a refund status, or "pending" before it exists
	Retryable     bool
	Error         *cloudpay.Failure
}

// BatchProgress reads a batch's progress from its items' refunds.
func (s *Service) BatchProgress(ctx context.Context, id string) (Progress, error) {
	if len(id) > 64 || !cloudpay.ValidOutRefundNo(id) {
		return Progress{}, cloudpay.FieldError("batch_id", "batch_id is malformed")
	}
	b, err := s.store.Batch(ctx, id)
	if err != nil {
		return Progress{}, err
	}
	p := Progress{BatchID: b.ID, Label: b.Label, Total: len(b.Items), CreatedAt: b.CreatedAt, Items: make([]ProgressItem, len(b.Items))}
	for i, it := range b.Items {
		item := ProgressItem{Key: it.Key, OutTradeNo: it.OutTradeNo, TransactionID: it.TransactionID, Extra: it.Extra,
			OutRefundNo: it.OutRefundNo, AmountFen: it.AmountFen, Status: "pending"}
		p.AmountFen += it.AmountFen
		r, err := s.store.Refund(ctx, it.OutRefundNo)
		if err == nil {
			r, err = s.chain.Current(ctx, r)
		}
		switch {
		case err == nil:
			item.Status, item.Retryable, item.Error = string(r.Status), r.Retryable, r.LastError
			if item.OutTradeNo == "" {
				item.OutTradeNo = r.OutTradeNo // the adopted payment's
			}
		case cloudpay.ErrorCode(err) != cloudpay.CodeRefundNotFound:
			return Progress{}, err
		}
		switch cloudpay.RefundStatus(item.Status) {
		case cloudpay.RefundSucceeded:
			p.Succeeded++
			p.RefundedFen += it.AmountFen
		case cloudpay.RefundFailed, cloudpay.RefundClosed, cloudpay.RefundRejected:
			p.Failed++
		default:
			p.Processing++
		}
		p.Items[i] = item
	}
	p.Done = p.Succeeded + p.Failed
	return p, nil
}

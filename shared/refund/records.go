package refund

import (
	"fmt"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// Batch is a batch of refunds as submitted and stored.
type Batch struct {
	ID             string      `bson:"_id"`
	IdempotencyKey string      `bson:"idempotency_key"`
	Label          string      `bson:"label,omitempty"`
	Digest         string      `bson:"digest"` // of the items, to tell a resubmission from a conflict
	Items          []BatchItem `bson:"items"`
	CreatedAt      time.Time   `bson:"created_at"`
	// CreatedBy is the named admin token that asked; FourEyes marks a batch
	// whose total is over REFUND_FOUR_EYES_FEN: each of its refunds waits for
	// another named token's approval.
	CreatedBy string `bson:"created_by,omitempty"`
	FourEyes  bool   `bson:"four_eyes,omitempty"`
	// CompletedAt is when every item was found with its refund: the job
	// stops looking at the batch.
	CompletedAt time.Time `bson:"completed_at,omitempty"` // omitempty: the driver ignores omitzero, and the job scans for its absence
}

// BatchItem is one refund of a batch.
type BatchItem struct {
	OutTradeNo    string            `bson:"out_trade_no"`
	TransactionID string            `bson:"transaction_id,omitempty"` // instead of OutTradeNo: a payment made outside cloudpay
	Extra         map[string]string `bson:"extra,omitempty"`          // the caller's own columns (user id, nickname), kept and shown
	AmountFen     cloudpay.Fen      `bson:"amount_fen"`
	Reason        string            `bson:"reason,omitempty"`
	Key           string            `bson:"key"`           // the item's idempotency key: it fixes the item's out_refund_no
	OutRefundNo   string            `bson:"out_refund_no"` // derived from Key when the batch is stored
}

// Outcome is the claim that ends one round of a refund: inserted once, it
// decides between refunded and released, and it is found by _id, so every
// writer of the refund's projection can check it cheaply.
type Outcome struct {
	ID          string                   `bson:"_id"` // out_refund_no:round
	OutRefundNo string                   `bson:"out_refund_no"`
	Round       int                      `bson:"round"`
	Kind        cloudpay.RefundEntryKind `bson:"kind"`    // settle or release
	Outcome     cloudpay.RefundStatus    `bson:"outcome"` // succeeded, closed or failed
	RefundID    string                   `bson:"refund_id,omitempty"`
	SucceededAt time.Time                `bson:"succeeded_at,omitzero"`
	CreatedAt   time.Time                `bson:"created_at"`
}

// OutcomeID names the outcome claim of a refund's round.
func OutcomeID(outRefundNo string, round int) string {
	return fmt.Sprintf("%s:%d", outRefundNo, round)
}

// Filter selects refunds for a listing; empty fields match anything.
type Filter struct {
	OutTradeNo string
	Status     cloudpay.RefundStatus
	OpenID     string
	BatchID    string
	Label      string
}

// Totals sums the refunds a filter selects.
type Totals struct {
	Count     int64        `json:"count"`
	AmountFen cloudpay.Fen `json:"amount_fen"`
}

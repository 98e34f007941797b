package cloudpay

import (
	"crypto/sha256"
	"encoding/hex"
	"regexp"
	"strconv"
	"time"
)

// RefundStatus is the refund state machine of docs/design.md §4:
// pending_review → approved | rejected; approved → processing →
// succeeded | failed (retryable or not) | closed | abnormal.
type RefundStatus string

const (
	RefundPendingReview RefundStatus = "pending_review"
	RefundApproved      RefundStatus = "approved" // accepted here, waiting for its turn at WeChat
	RefundRejected      RefundStatus = "rejected"
	RefundProcessing    RefundStatus = "processing" // sent; WeChat's answer pending or unknown
	RefundSucceeded     RefundStatus = "succeeded"
	RefundFailed        RefundStatus = "failed"
	RefundClosed        RefundStatus = "closed"
	RefundAbnormal      RefundStatus = "abnormal"
)

// Final reports whether nothing more can happen to a refund in this status.
// A failed refund that is retryable is not final.
func (s RefundStatus) Final() bool {
	return s == RefundRejected || s == RefundSucceeded || s == RefundClosed
}

var outRefundNoPattern = regexp.MustCompile(`^[0-9A-Za-z_\-|*@]{1,64}$`)

// ValidOutRefundNo reports whether s follows WeChat's rule for merchant
// refund numbers: 1–64 characters of digits, letters and _-|*@.
func ValidOutRefundNo(s string) bool { return outRefundNoPattern.MatchString(s) }

// OutRefundNoForKey derives the refund number of an idempotency key, so
// that every submission of the same key names the same refund at WeChat.
func OutRefundNoForKey(key string) string {
	sum := sha256.Sum256([]byte("refund-key:" + key))
	return "RF" + hex.EncodeToString(sum[:16])
}

// NewOutRefundNo generates a refund number for a refund without a key.
func NewOutRefundNo(now time.Time) string {
	return "RQ" + now.In(Beijing).Format("20060102150405") + randomString(16)
}

// Refund sources: who asked for the refund.
const (
	SourceAdmin   = "admin"   // POST /refunds from the business back end
	SourceBatch   = "batch"   // an item of POST /refunds/batch
	SourceUser    = "user"    // POST /refund-requests from the mini-program
	SourceOutside = "outside" // made outside cloudpay (the merchant platform), adopted from WeChat's word
)

// Failure is the last error a refund or withdrawal met, kept for people
// and retries.
type Failure struct {
	Code    string `json:"code" bson:"code"` // ours (e.g. REFUND_EXCEEDS_PAID) or WeChat's (e.g. SYSTEM_ERROR)
	Message string `json:"message" bson:"message"`
}

// Refund is a refund as people see it. It is a projection of the refund
// ledger and the attempt claims (docs/design.md §4); OutRefundNo never changes.
type Refund struct {
	OutRefundNo   string `json:"out_refund_no" bson:"_id"`
	OutTradeNo    string `json:"out_trade_no" bson:"out_trade_no"`
	TransactionID string `json:"transaction_id,omitempty" bson:"transaction_id,omitempty"` // when the refund named the payment by WeChat's number
	OpenID        string `json:"openid" bson:"openid"`
	// TradeNo is the number WeChat knows the payment by, when it is not
	// the order's own (an order paid under a later attempt); PaidBy is
	// balance for an order paid from the wallet, whose refunds go back to
	// the wallet and never to WeChat.
	TradeNo        string       `json:"-" bson:"trade_no,omitempty"`
	PaidBy         PayMethod    `json:"paid_by,omitempty" bson:"paid_by,omitempty"`
	AmountFen      Fen          `json:"amount_fen" bson:"amount_fen"`
	TotalFen       Fen          `json:"total_fen" bson:"total_fen"` // the order's amount
	Reason         string       `json:"reason,omitempty" bson:"reason,omitempty"`
	Status         RefundStatus `json:"status" bson:"status"`
	Retryable      bool         `json:"retryable,omitempty" bson:"retryable,omitempty"`
	Source         string       `json:"source" bson:"source"`
	IdempotencyKey string       `json:"idempotency_key,omitempty" bson:"idempotency_key,omitempty"`
	BatchID        string       `json:"batch_id,omitempty" bson:"batch_id,omitempty"`
	Label          string       `json:"label,omitempty" bson:"label,omitempty"`
	Note           string       `json:"note,omitempty" bson:"note,omitempty"` // the reviewer's
	// CreatedBy is the named admin token that asked for it (OPERATORS);
	// FourEyes marks a refund over REFUND_FOUR_EYES_FEN that waits for
	// another named token's approval.
	CreatedBy string `json:"created_by,omitempty" bson:"created_by,omitempty"`
	FourEyes  bool   `json:"four_eyes,omitempty" bson:"four_eyes,omitempty"`
	RefundID  string `json:"refund_id,omitempty" bson:"refund_id,omitempty"`
	Account   string `json:"account,omitempty" bson:"account,omitempty"`
	Round     int    `json:"-" bson:"round"` // reservation round; 0: nothing reserved yet
	// ReserveSeq is the ledger entry that reserved this round: the round's
	// end is appended after it, so a writer starts looking there.
	ReserveSeq  int64      `json:"-" bson:"reserve_seq,omitempty"`
	Attempts    int        `json:"attempts" bson:"attempts"`
	LastError   *Failure   `json:"last_error,omitempty" bson:"last_error,omitempty"`
	NotBefore   time.Time  `json:"not_before,omitzero" bson:"not_before,omitzero"` // its turn at WeChat
	CreatedAt   time.Time  `json:"created_at" bson:"created_at"`
	UpdatedAt   time.Time  `json:"updated_at" bson:"updated_at"`
	SucceededAt *time.Time `json:"succeeded_at,omitempty" bson:"succeeded_at,omitempty"`
}

// WeChatTradeNo is the out_trade_no WeChat knows the refunded payment by.
func (r Refund) WeChatTradeNo() string {
	if r.TradeNo != "" {
		return r.TradeNo
	}
	return r.OutTradeNo
}

// RefundEntryKind is the kind of movement of an order's refundable amount.
type RefundEntryKind string

const (
	EntryReserve RefundEntryKind = "reserve" // set aside for a refund (created or requested)
	EntryApprove RefundEntryKind = "approve" // a requested refund approved: it takes a turn
	EntryReject  RefundEntryKind = "reject"  // a requested refund rejected: released
	EntrySettle  RefundEntryKind = "settle"  // refunded by WeChat: reserved becomes refunded
	EntryRelease RefundEntryKind = "release" // failed for good or closed: released
	EntryAdopt   RefundEntryKind = "adopt"   // refunded outside cloudpay (the merchant platform): refunded, never reserved
)

// RefundEntry is one movement in an order's refund ledger. The entries of an
// order are numbered 1, 2, … without gaps (the unique _id is "order:seq"),
// Ref is unique per movement, and each entry carries the totals after it, so
// the newest entry alone answers "how much may still be refunded".
type RefundEntry struct {
	ID          string          `bson:"_id"`
	OutTradeNo  string          `bson:"out_trade_no"`
	Seq         int64           `bson:"seq"`
	Ref         string          `bson:"ref"`
	Kind        RefundEntryKind `bson:"kind"`
	OutRefundNo string          `bson:"out_refund_no"`
	AmountFen   Fen             `bson:"amount_fen"`
	Slot        time.Time       `bson:"slot,omitzero"`     // reserve/approve: when this refund may go to WeChat
	Outcome     RefundStatus    `bson:"outcome,omitempty"` // settle/release/reject: the status it ends in
	CreatedAt   time.Time       `bson:"created_at"`
	// The refund as created (reserve entries of round 1), so that its
	// document can be rebuilt if a crash lost it.
	Refund *Refund `bson:"refund,omitempty"`

	// Totals after this entry.
	PaidFen     Fen       `bson:"paid_fen"`
	ReservedFen Fen       `bson:"reserved_fen"` // set aside for refunds not settled yet
	RefundedFen Fen       `bson:"refunded_fen"` // refunded for good
	Count       int       `bson:"count"`        // refunds that count toward WeChat's limit
	NextSlot    time.Time `bson:"next_slot,omitzero"`
}

// RefundableFen is what may still be refunded after e.
func (e RefundEntry) RefundableFen() Fen { return e.PaidFen - e.ReservedFen - e.RefundedFen }

// LedgerEntryID is the _id of an owner's seq-th ledger entry.
func LedgerEntryID(owner string, seq int64) string {
	return owner + ":" + strconv.FormatInt(seq, 10)
}

// Place puts the entry at seq in an order's ledger under ref.
func (e *RefundEntry) Place(owner, ref string, seq int64) {
	e.ID, e.OutTradeNo, e.Ref, e.Seq = LedgerEntryID(owner, seq), owner, ref, seq
}

// Position reports the entry's seq and ref.
func (e *RefundEntry) Position() (int64, string) { return e.Seq, e.Ref }

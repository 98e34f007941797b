package cloudpay

import (
	"crypto/sha256"
	"encoding/hex"
	"time"
)

// WithdrawalStatus is the withdrawal state machine of docs/design.md §4:
// created → processing → waiting_user → succeeded | failed | cancelled.
type WithdrawalStatus string

const (
	WithdrawalCreated     WithdrawalStatus = "created"      // money frozen, WeChat not called yet
	WithdrawalProcessing  WithdrawalStatus = "processing"   // sent; WeChat's answer pending or unknown
	WithdrawalWaitingUser WithdrawalStatus = "waiting_user" // the user must confirm in the mini-program
	WithdrawalSucceeded   WithdrawalStatus = "succeeded"
	WithdrawalFailed      WithdrawalStatus = "failed"
	WithdrawalCancelled   WithdrawalStatus = "cancelled"
)

// Final reports whether nothing more can happen to the withdrawal.
func (s WithdrawalStatus) Final() bool {
	return s == WithdrawalSucceeded || s == WithdrawalFailed || s == WithdrawalCancelled
}

// Withdrawal is a withdrawal to the user's WeChat balance, as people see it:
// a projection of the wallet ledger and the claims. Its ID is the transfer's
// out_bill_no, fixed at creation and never changed.
type Withdrawal struct {
	ID             string           `bson:"_id"`
	OpenID         string           `bson:"openid"`
	AmountFen      Fen              `bson:"amount_fen"`
	IdempotencyKey string           `bson:"idempotency_key"`
	Status         WithdrawalStatus `bson:"status"`
	PackageInfo    string           `bson:"package_info,omitempty"` // for wx.requestMerchantTransfer
	MchID          string           `bson:"mch_id,omitempty"`
	TransferBillNo string           `bson:"transfer_bill_no,omitempty"`
	FailReason     string           `bson:"fail_reason,omitempty"`
	Attempts       int              `bson:"attempts"`
	LastError      *Failure         `bson:"last_error,omitempty"`
	CreatedAt      time.Time        `bson:"created_at"`
	UpdatedAt      time.Time        `bson:"updated_at"`
	FinishedAt     *time.Time       `bson:"finished_at,omitempty"`
	// FreezeSeq is the wallet entry that froze the money: the ledger's
	// end entry is appended after it, so a reader starts looking there.
	FreezeSeq int64 `bson:"freeze_seq,omitempty"`
}

// WithdrawalID derives a withdrawal's ID (and out_bill_no: at most 32
// digits and letters) from the user and their idempotency key.
func WithdrawalID(openid, key string) string {
	sum := sha256.Sum256([]byte("withdrawal:" + openid + "\x00" + key))
	return "WD" + hex.EncodeToString(sum[:15])
}

// WalletEntryKind is the kind of movement in a wallet.
type WalletEntryKind string

const (
	EntryCredit   WalletEntryKind = "credit"   // money in, from the business back end
	EntryFreeze   WalletEntryKind = "freeze"   // set aside for a withdrawal
	EntryDebit    WalletEntryKind = "debit"    // a withdrawal paid out: frozen money leaves
	EntryUnfreeze WalletEntryKind = "unfreeze" // a withdrawal failed or was cancelled: back to available
	EntryPayment  WalletEntryKind = "payment"  // an order paid from the balance: money leaves
	EntryReversal WalletEntryKind = "reversal" // a balance payment that did not settle its order: money back
	EntryRefund   WalletEntryKind = "refund"   // a refund of an order paid from the balance: money in
)

// WalletEntry is one movement in a user's wallet ledger (docs/design.md §4):
// a unique _id "openid:seq", a unique Ref, and the totals after it.
// At every entry, Available + Frozen + Debited = Credited.
type WalletEntry struct {
	ID           string          `bson:"_id"`
	OpenID       string          `bson:"openid"`
	Seq          int64           `bson:"seq"`
	Ref          string          `bson:"ref"`
	Kind         WalletEntryKind `bson:"kind"`
	AmountFen    Fen             `bson:"amount_fen"`
	CreditID     string          `bson:"credit_id,omitempty"`
	Memo         string          `bson:"memo,omitempty"`
	WithdrawalID string          `bson:"withdrawal_id,omitempty"`
	OutTradeNo   string          `bson:"out_trade_no,omitempty"`  // payment, reversal, refund: the order
	OutRefundNo  string          `bson:"out_refund_no,omitempty"` // refund
	Withdrawal   *Withdrawal     `bson:"withdrawal,omitempty"`    // freeze: the withdrawal as created
	CreatedAt    time.Time       `bson:"created_at"`

	// Totals after this entry.
	CreditedFen  Fen `bson:"credited_fen"`
	AvailableFen Fen `bson:"available_fen"`
	FrozenFen    Fen `bson:"frozen_fen"`
	DebitedFen   Fen `bson:"debited_fen"`
	// Withdrawals (frozen or paid, not failed) on Day, a Beijing date.
	Day      string `bson:"day,omitempty"`
	DayCount int    `bson:"day_count"`
	DayFen   Fen    `bson:"day_fen"`
}

// Place puts the entry at seq in a wallet under ref.
func (e *WalletEntry) Place(owner, ref string, seq int64) {
	e.ID, e.OpenID, e.Ref, e.Seq = LedgerEntryID(owner, seq), owner, ref, seq
}

// Position reports the entry's seq and ref.
func (e *WalletEntry) Position() (int64, string) { return e.Seq, e.Ref }

// Balanced reports whether the entry's totals add up.
func (e WalletEntry) Balanced() bool {
	return e.AvailableFen >= 0 && e.FrozenFen >= 0 && e.AvailableFen+e.FrozenFen+e.DebitedFen == e.CreditedFen
}

// BeijingDay is the Asia/Shanghai calendar day of t, as yyyymmdd.
func BeijingDay(t time.Time) string { return t.In(Beijing).Format("20060102") }

package wechat

// Verdict is what came of one callback or notification, and so what WeChat
// is told: acknowledged (it stops redelivering) or refused (it retries).
type Verdict string

const (
	// Recorded: this callback recorded the outcome.
	Recorded Verdict = "recorded"
	// AlreadyRecorded: the outcome was recorded before; nothing changed.
	AlreadyRecorded Verdict = "already_recorded"
	// UnknownOrder, UnknownRefund, UnknownWithdrawal: nothing of ours has
	// that number; a retry cannot change that.
	UnknownOrder      Verdict = "unknown_order"
	UnknownRefund     Verdict = "unknown_refund"
	UnknownWithdrawal Verdict = "unknown_withdrawal"
	// OtherMerchant: the callback is for another merchant; not ours.
	OtherMerchant Verdict = "other_merchant"
	// NotPaid: WeChat says the order is not paid (a forged or stale callback).
	NotPaid Verdict = "not_paid"
	// NotSettled: WeChat does not confirm a final state of the refund.
	NotSettled Verdict = "not_settled"
	// NotFinal: the transfer bill is not in a final state yet.
	NotFinal Verdict = "not_final"
	// Throttled: WeChat was asked about the same subject moments ago, so
	// this unsigned callback is not confirmed now; if genuine, WeChat's
	// retry is (a flood of forged callbacks costs one query per window).
	Throttled Verdict = "throttled"
	// Mismatch: amount, merchant or order disagree with ours; nothing recorded.
	Mismatch Verdict = "mismatch"
)

// Acknowledge reports whether WeChat should stop redelivering. Not-paid,
// not-settled, throttled and mismatch are refused: if genuine, WeChat's retry finds
// the truth later (and a mismatch keeps alerting); if forged, nobody retries.
func (v Verdict) Acknowledge() bool {
	switch v {
	case Recorded, AlreadyRecorded, UnknownOrder, UnknownRefund, UnknownWithdrawal, OtherMerchant:
		return true
	}
	return false
}

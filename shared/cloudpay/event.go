package cloudpay

import "time"

// EventType names a business notification (docs/design.md §4 outbox).
type EventType string

const (
	EventOrderPaid           EventType = "order.paid"
	EventOrderClosed         EventType = "order.closed"
	EventPaymentDuplicate    EventType = "payment.duplicate" // a second payment of a paid order: give it back
	EventOrderShipped        EventType = "order.shipped"     // its shipping is uploaded to WeChat's trade management
	EventRefundSucceeded     EventType = "refund.succeeded"
	EventRefundFailed        EventType = "refund.failed"
	EventRefundAdopted       EventType = "refund.adopted"          // a refund made outside cloudpay (the merchant platform), now in the ledger
	EventReconMismatch       EventType = "reconciliation.mismatch" // WeChat's record and ours differ: a person looks
	EventWithdrawalSucceeded EventType = "withdrawal.succeeded"
	EventWithdrawalFailed    EventType = "withdrawal.failed"
)

// EventStatus is where an outbox event is in its delivery.
type EventStatus string

const (
	EventPending   EventStatus = "pending"
	EventDelivered EventStatus = "delivered"
	EventDead      EventStatus = "dead"
)

// Event is a business notification waiting in the outbox. Its ID is derived
// from what happened (type and subject), so recording it twice is harmless.
type Event struct {
	ID            string         `bson:"_id"`
	Type          EventType      `bson:"type"`
	Subject       string         `bson:"subject"` // e.g. the out_trade_no
	Data          map[string]any `bson:"data"`
	Status        EventStatus    `bson:"status"`
	Attempts      int            `bson:"attempts"`
	NextAttemptAt time.Time      `bson:"next_attempt_at"`
	CreatedAt     time.Time      `bson:"created_at"`
}

// NewEvent builds a pending event whose ID is unique per type and subject.
func NewEvent(typ EventType, subject string, data map[string]any, now time.Time) Event {
	return Event{
		ID: string(typ) + ":" + subject, Type: typ, Subject: subject, Data: data,
		Status: EventPending, NextAttemptAt: now, CreatedAt: now,
	}
}

// SettlementOutcome is how an order ended at WeChat.
type SettlementOutcome string

const (
	SettledPaid   SettlementOutcome = "paid"
	SettledClosed SettlementOutcome = "closed"
)

// PaidMethod is how a paid settlement was paid (JSAPI when it predates methods).
func (st Settlement) PaidMethod() PayMethod {
	if st.Method == "" {
		return MethodJSAPI
	}
	return st.Method
}

// WeChatTradeNo is the out_trade_no WeChat knows the settled payment by:
// the attempt paid, or the order's own number.
func (st Settlement) WeChatTradeNo() string {
	if st.TradeNo != "" {
		return st.TradeNo
	}
	return st.OutTradeNo
}

// Settlement is the claim that decides an order's fate: inserted once under
// a unique key, it is the authority on whether the order was paid or closed.
// The order document only mirrors it.
type Settlement struct {
	OutTradeNo    string            `bson:"_id"`
	Outcome       SettlementOutcome `bson:"outcome"`
	TransactionID string            `bson:"transaction_id,omitempty"`
	AmountFen     Fen               `bson:"amount_fen"`
	OpenID        string            `bson:"openid,omitempty"`
	PaidAt        time.Time         `bson:"paid_at,omitzero"`
	Source        string            `bson:"source"` // what proved it: "callback", "query", ...
	// TradeNo is the attempt paid, when it is not the order's own number;
	// Method how it was paid (empty: JSAPI, as before methods existed).
	TradeNo   string    `bson:"trade_no,omitempty"`
	Method    PayMethod `bson:"method,omitempty"`
	CreatedAt time.Time `bson:"created_at"`
}

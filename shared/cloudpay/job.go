package cloudpay

// ItemError is one item the scheduled job could not handle in a pass; the
// pass goes on with the others.
type ItemError struct {
	Step    string `json:"step"`    // e.g. "close", "refunds", "notifications"
	Subject string `json:"subject"` // the order, refund, withdrawal or event
	Code    string `json:"code"`
	Message string `json:"message"`
}

package cloudpay

import (
	"fmt"
	"time"
)

// AuditID is the id of an entry made at at: ids sort as their times, and
// entries of one instant stay apart.
func AuditID(at time.Time) string { return fmt.Sprintf("%019d-%s", at.UnixNano(), Nonce()) }

// Role is what a named admin token may do (docs/design.md §3, "Operators").
type Role string

const (
	RoleViewer   Role = "viewer"   // reads everything
	RoleOperator Role = "operator" // refunds and batches, wallet credits, shipping
	RoleApprover Role = "approver" // approves or rejects requests, retries, redelivers
	RoleService  Role = "service"  // the merchant's back end: orders, refunds, credits; no console
	// RoleAdmin is a token of ADMIN_TOKENS, from before named tokens: every role.
	RoleAdmin Role = "admin"
)

// ValidRole reports whether r can be given to a named token.
func ValidRole(r Role) bool {
	switch r {
	case RoleViewer, RoleOperator, RoleApprover, RoleService:
		return true
	}
	return false
}

// Audit outcomes.
const (
	AuditDone    = "done"    // answered 2xx
	AuditRefused = "refused" // the token may not (403), or the request was refused (4xx)
	AuditFailed  = "failed"  // cloudpay could not (5xx)
)

// AuditEntry is one state-changing admin call, appended in the request
// before its answer: who, what, when and with what result. Append-only;
// never a token, key or secret.
type AuditEntry struct {
	// ID orders the log: the entry's time in nanoseconds (19 digits) and a
	// random suffix, made here (request ids come from callers).
	ID        string    `bson:"_id"`
	RequestID string    `bson:"request_id"`
	Actor     string    `bson:"actor"`
	Role      Role      `bson:"role"`
	Function  string    `bson:"function"`
	Method    string    `bson:"method"`
	Route     string    `bson:"route"`   // the route's pattern, e.g. /refunds/:out_refund_no/approve
	Subject   string    `bson:"subject"` // the order, refund, wallet, batch, day… it acted on
	AmountFen Fen       `bson:"amount_fen,omitempty"`
	Status    int       `bson:"status"`
	Code      Code      `bson:"code,omitempty"` // the error code of a refusal
	Outcome   string    `bson:"outcome"`
	At        time.Time `bson:"at"`
}

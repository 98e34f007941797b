package outbox

import (
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
)

// Record is an outbox event with its delivery bookkeeping, which lives in
// the event's document next to cloudpay.Event's own fields.
type Record struct {
	cloudpay.Event `bson:",inline"`
	LastError      string    `bson:"last_error,omitempty"`
	LastAttemptAt  time.Time `bson:"last_attempt_at,omitzero"`
	DeliveredAt    time.Time `bson:"delivered_at,omitzero"`
}

// Delivery is the outcome of one delivery of an event.
type Delivery struct {
	Status        cloudpay.EventStatus // delivered, pending (retry) or dead
	Attempts      int                  // counting this one
	At            time.Time
	NextAttemptAt time.Time // pending only
	Error         string    // why it failed; empty when delivered
}

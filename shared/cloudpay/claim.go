package cloudpay

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"
)

// Attempt is the claim to make one call to WeChat for an outbound effect
// (a refund, a transfer), so two processes never send it at once
// (docs/design.md §4).
type Attempt struct {
	ID        string    `bson:"_id"`     // subject:n
	Subject   string    `bson:"subject"` // out_refund_no or withdrawal id
	N         int       `bson:"n"`
	StartedAt time.Time `bson:"started_at"`
}

// AttemptID names the claim of attempt n on subject.
func AttemptID(subject string, n int) string { return fmt.Sprintf("%s:%d", subject, n) }

// NextEntry builds the ledger entry that follows tail (found is false for
// an owner without entries). It checks the rules against tail's totals and
// returns an error to refuse; it must not have side effects, because it
// runs again whenever a concurrent writer takes the sequence number first.
type NextEntry[E any] func(tail E, found bool) (E, error)

// Cursor marks where a listing page ended (newest first): the last
// document's creation time and _id.
type Cursor struct {
	CreatedAt time.Time `json:"t"`
	ID        string    `json:"n"`
}

// Encode renders the cursor as an opaque URL-safe token.
func (c Cursor) Encode() string {
	b, _ := json.Marshal(c)
	return base64.RawURLEncoding.EncodeToString(b)
}

// DecodeCursor parses a token made by Encode.
func DecodeCursor(token string) (Cursor, error) {
	var c Cursor
	b, err := base64.RawURLEncoding.DecodeString(token)
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err != nil || c.ID == "" {
		return Cursor{}, FieldError("cursor", "cursor is not one this service returned")
	}
	return c, nil
}

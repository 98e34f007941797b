package outbox_test

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/outbox"
)

func TestVerify(t *testing.T) {
	body := []byte(`{"id":"order.paid:A1","type":"order.paid","subject":"A1","data":{"amount_fen":100},"created_at":"2025-03-01T08:00:00Z","attempt":1}`)
	header := outbox.Sign(secret, t0, body)
	ts := strconv.FormatInt(t0.Unix(), 10)
	v1 := header[len("t="+ts+",v1="):]
	for _, tc := range []struct {
		name   string
		secret string
		header string
		body   []byte
		now    time.Time
		want   error
	}{
		{"valid", secret, header, body, t0, nil},
		{"valid within the tolerance", secret, header, body, t0.Add(5 * time.Minute), nil},
		{"valid with a second v1 (rotation)", secret, "t=" + ts + ",v1=" + v1[:62] + "00,v1=" + v1, body, t0, nil},
		{"changed body", secret, header, append(body[:len(body)-2:len(body)-2], []byte(`2}`)...), t0, outbox.ErrSignatureMismatch},
		{"wrong secret", "another-secret", header, body, t0, outbox.ErrSignatureMismatch},
		{"changed timestamp", secret, "t=" + strconv.FormatInt(t0.Unix()+1, 10) + ",v1=" + v1, body, t0, outbox.ErrSignatureMismatch},
		{"stale timestamp", secret, header, body, t0.Add(5*time.Minute + time.Second), outbox.ErrSignatureExpired},
		{"timestamp from the future", secret, header, body, t0.Add(-6 * time.Minute), outbox.ErrSignatureExpired},
		{"empty header", secret, "", body, t0, outbox.ErrSignatureMalformed},
		{"no timestamp", secret, "v1=" + v1, body, t0, outbox.ErrSignatureMalformed},
		{"no signature", secret, "t=" + ts, body, t0, outbox.ErrSignatureMalformed},
		{"timestamp not a number", secret, "t=yesterday,v1=" + v1, body, t0, outbox.ErrSignatureMalformed},
		{"signed timestamp", secret, "t=+" + ts + ",v1=" + v1, body, t0, outbox.ErrSignatureMalformed},
		{"signature not hex", secret, "t=" + ts + ",v1=" + v1[:62] + "zz", body, t0, outbox.ErrSignatureMalformed},
		{"signature too short", secret, "t=" + ts + ",v1=" + v1[:32], body, t0, outbox.ErrSignatureMalformed},
		{"not key=value", secret, header + ",junk", body, t0, outbox.ErrSignatureMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := outbox.Verify(tc.secret, tc.header, tc.body, tc.now, 5*time.Minute)
			if tc.want == nil && err != nil || tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestSignFormat(t *testing.T) {
	// HMAC-SHA256("k", "1700000000.{}"), computed independently:
	// printf '1700000000.{}' | openssl dgst -sha256 -hmac k
	got := outbox.Sign("k", time.Unix(1700000000, 0), []byte("{}"))
	want := "t=1700000000,v1=c6ef4734033cee2367414a0939385eca0397754aa7a59716da7463a9298b5146"
	if got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

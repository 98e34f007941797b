package mongostore_test

import (
	"context"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/cloudpay"
	"github.com/cloudpay/cloudpay/shared/outbox"
	"github.com/cloudpay/cloudpay/shared/storetest"
)

func TestOutboxBookkeeping(t *testing.T) {
	t.Parallel()
	s := storetest.New(t)
	ctx := context.Background()
	now := time.Date(2025, 3, 1, 8, 0, 0, 0, time.UTC)
	for _, e := range []cloudpay.Event{
		cloudpay.NewEvent(cloudpay.EventOrderPaid, "LATER", nil, now.Add(time.Second)),        // not due yet
		cloudpay.NewEvent(cloudpay.EventOrderPaid, "SECOND", nil, now.Add(-time.Minute)),      // due
		cloudpay.NewEvent(cloudpay.EventOrderPaid, "FIRST", nil, now.Add(-time.Hour)),         // due, waiting longest
		cloudpay.NewEvent(cloudpay.EventOrderClosed, "DELIVERED", nil, now.Add(-2*time.Hour)), // delivered below
	} {
		if err := s.EnqueueEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.RecordDeliveryAttempt(ctx, "order.closed:DELIVERED",
		outbox.Delivery{Status: cloudpay.EventDelivered, Attempts: 2, At: now}); err != nil {
		t.Fatal(err)
	}
	due, err := s.DueEvents(ctx, now, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(due) != 2 || due[0].Subject != "FIRST" || due[1].Subject != "SECOND" {
		t.Fatalf("due events %+v, want FIRST then SECOND", due)
	}
	if due, _ := s.DueEvents(ctx, now, 1); len(due) != 1 || due[0].Subject != "FIRST" {
		t.Fatalf("due events with limit 1: %+v", due)
	}

	next := now.Add(15 * time.Second)
	if err := s.RecordDeliveryAttempt(ctx, "order.paid:FIRST", outbox.Delivery{
		Status: cloudpay.EventPending, Attempts: 1, At: now, NextAttemptAt: next, Error: "HTTP 503"}); err != nil {
		t.Fatal(err)
	}
	e, found, err := s.OutboxEvent(ctx, "order.paid:FIRST")
	if err != nil || !found {
		t.Fatalf("read: found=%v err=%v", found, err)
	}
	if e.Status != cloudpay.EventPending || e.Attempts != 1 || !e.NextAttemptAt.Equal(next) || e.LastError != "HTTP 503" ||
		!e.LastAttemptAt.Equal(now) || !e.DeliveredAt.IsZero() || e.Subject != "FIRST" || !e.CreatedAt.Equal(now.Add(-time.Hour)) {
		t.Fatalf("stored %+v", e)
	}
	// The bookkeeping fields do not disturb readers of cloudpay.Event.
	if evs, err := s.Events(ctx, "FIRST"); err != nil || len(evs) != 1 || evs[0].Attempts != 1 {
		t.Fatalf("events: %+v, %v", evs, err)
	}

	for _, id := range []string{"order.paid:FIRST", "order.paid:SECOND"} {
		if err := s.RecordDeliveryAttempt(ctx, id, outbox.Delivery{Status: cloudpay.EventDead, Attempts: 12, At: now, Error: "EOF"}); err != nil {
			t.Fatal(err)
		}
	}
	dead, err := s.DeadEvents(ctx, 10)
	if err != nil || len(dead) != 2 || dead[0].Subject != "SECOND" || dead[1].Subject != "FIRST" {
		t.Fatalf("dead events %+v (%v), want SECOND then FIRST", dead, err)
	}
	if due, _ := s.DueEvents(ctx, now.Add(time.Hour), 10); len(due) != 1 || due[0].Subject != "LATER" {
		t.Fatalf("due events after the others died: %+v", due)
	}
	if err := s.RecordDeliveryAttempt(ctx, "order.paid:NOSUCH", outbox.Delivery{Status: cloudpay.EventDead}); err == nil {
		t.Fatal("recording an attempt of an unknown event succeeded")
	}
}

package serve_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/cloudpay/cloudpay/shared/serve"
)

// An EventBridge schedule event as Lambda delivers it (recorded shape).
const scheduledEvent = `{
  "version": "0",
  "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
  "detail-type": "Scheduled Event",
  "source": "aws.events",
  "account": "123456789012",
  "time": "2026-11-22T07:00:00Z",
  "region": "ap-east-1",
  "resources": ["arn:aws:events:ap-east-1:123456789012:rule/cloudpay-close-expired"],
  "detail": {}
}`

func TestScheduledRunsThePassWithTheEvent(t *testing.T) {
	var ev events.CloudWatchEvent
	if err := json.Unmarshal([]byte(scheduledEvent), &ev); err != nil {
		t.Fatal(err)
	}
	passes := 0
	h := serve.Scheduled(func(ctx context.Context) map[string]int {
		passes++
		return map[string]int{"closed": 3}
	}, slog.New(slog.DiscardHandler))
	got, err := h(context.Background(), ev)
	if err != nil || passes != 1 || got["closed"] != 3 {
		t.Fatalf("handler: %v, %d passes, %v", err, passes, got)
	}
}

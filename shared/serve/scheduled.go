package serve

import (
	"context"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambda"
)

// Scheduled adapts a job's pass to an EventBridge (CloudWatch Events)
// schedule: the same core an HTTP trigger calls. The pass's report is the
// invocation's result.
func Scheduled[R any](run func(ctx context.Context) R, log *slog.Logger) func(context.Context, events.CloudWatchEvent) (R, error) {
	return func(ctx context.Context, ev events.CloudWatchEvent) (R, error) {
		log.InfoContext(ctx, "scheduled pass", "source", ev.Source, "detail_type", ev.DetailType, "event_id", ev.ID)
		return run(ctx), nil
	}
}

// RunScheduled hands a scheduled handler to the Lambda runtime; it never
// returns.
func RunScheduled[R any](handler func(context.Context, events.CloudWatchEvent) (R, error)) {
	lambda.Start(handler)
}

package httpapi_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-lambda-go/lambdaurl"

	"github.com/cloudpay/cloudpay/shared/httpapi"
)

// A recorded Lambda Function URL event (payload format 2.0) runs through the
// same handler the container serves, wrapped the way serve.Run wraps it.
const functionURLEvent = `{
  "version": "2.0",
  "routeKey": "$default",
  "rawPath": "/orders",
  "rawQueryString": "",
  "headers": {"content-type": "application/json", "authorization": "Bearer test-admin-token", "host": "abc.lambda-url.ap-east-1.on.aws", "x-forwarded-for": "203.0.113.9"},
  "requestContext": {"accountId": "anonymous", "apiId": "abc", "domainName": "abc.lambda-url.ap-east-1.on.aws", "domainPrefix": "abc",
    "http": {"method": "POST", "path": "/orders", "protocol": "HTTP/1.1", "sourceIp": "203.0.113.9", "userAgent": "curl/8"},
    "requestId": "5e2f0c2a-0000-4000-8000-000000000001", "routeKey": "$default", "stage": "$default", "time": "22/Nov/2026:05:50:00 +0000", "timeEpoch": 1795326600000},
  "body": "{\"out_trade_no\":\"LAMBDA001\",\"openid\":\"oAlice_0123456789abcdef\",\"amount_fen\":990,\"description\":\"via lambda\"}",
  "isBase64Encoded": false
}`

func TestLambdaFunctionURLRunsTheSameHandler(t *testing.T) {
	s := newStack(t)
	h := httpapi.CreatePayment(s.service(s.store), httpapi.AdminConfig{Tokens: []string{adminToken}}, httpapi.UserConfig{}, nil)
	var ev events.LambdaFunctionURLRequest
	if err := json.Unmarshal([]byte(functionURLEvent), &ev); err != nil {
		t.Fatal(err)
	}
	resp, err := lambdaurl.Wrap(h)(context.Background(), &ev)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusCreated || !strings.Contains(string(body), `"out_trade_no":"LAMBDA001"`) {
		t.Fatalf("lambda response %d %s", resp.StatusCode, body)
	}
	if resp.Headers["X-Request-Id"] == "" {
		t.Fatalf("no X-Request-Id in %v", resp.Headers)
	}
	if o := s.order("LAMBDA001"); o.AmountFen != 990 {
		t.Fatalf("stored order %+v", o)
	}
}

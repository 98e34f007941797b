// Command refund serves refunds: single, batch, user requests with review,
// retries and queries, and the operator's console — docs/design.md §3. Its
// settings are app.RefundConfig.
package main

import "github.com/cloudpay/cloudpay/shared/app"

func main() { app.Main(app.RefundBinary()) }

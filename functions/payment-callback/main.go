// Command payment-callback receives what WeChat Pay calls back and records
// it only after confirming it — docs/design.md §3. Its settings are
// app.PaymentCallbackConfig.
package main

import "github.com/cloudpay/cloudpay/shared/app"

func main() { app.Main(app.PaymentCallbackBinary()) }

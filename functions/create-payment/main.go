// Command create-payment serves orders (the merchant's back end) and
// payments (the mini-program) — docs/design.md §3. Its settings are
// app.CreatePaymentConfig.
package main

import "github.com/cloudpay/cloudpay/shared/app"

func main() { app.Main(app.CreatePaymentBinary()) }

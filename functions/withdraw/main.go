// Command withdraw serves wallets (credits from the merchant's back end,
// the user's balance) and withdrawals to the user's WeChat balance through
// WeChat Pay's transfer bills — docs/design.md §3. Its settings are
// app.WithdrawConfig.
package main

import "github.com/cloudpay/cloudpay/shared/app"

func main() { app.Main(app.WithdrawBinary()) }

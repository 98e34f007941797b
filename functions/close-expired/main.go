// Command close-expired is the scheduled job — docs/design.md §3: one pass
// closes expired orders, records payments whose callback never came,
// settles refunds and withdrawals left in flight and delivers business
// notifications. Triggered by POST /run (scheduler's token) or, on AWS
// Lambda, by an EventBridge schedule. Its settings are
// app.CloseExpiredConfig.
package main

import "github.com/cloudpay/cloudpay/shared/app"

func main() { app.Main(app.CloseExpiredBinary()) }

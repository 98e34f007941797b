// Command local runs all of cloudpay for development: every function under a
// prefix named after it on one port (8080), the embedded store (FerretDB on
// SQLite under ./.data), and the WeChat Pay simulator on a port of its own
// (8090) with WeChat's paths at its root, as cmd/wechatsim serves it (its
// control routes also answer under /sim/ on 8080). SIM_URL points the functions
// at a simulator already running instead (cmd/wechatsim, or its image). It is
// never deployed. `local demo` walks a whole payment and exits.
package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/cloudpay/cloudpay/shared/job"
	"github.com/cloudpay/cloudpay/shared/outbox"
	"github.com/cloudpay/cloudpay/shared/payment"
	"github.com/cloudpay/cloudpay/shared/refund"
	"github.com/cloudpay/cloudpay/shared/serve"
	"github.com/cloudpay/cloudpay/shared/withdraw"
)

// config reads the production names and falls back to development values
// where a deployed function would refuse to start.
type config struct {
	Port int `env:"PORT, default=8080"`
	// Loopback by default: the development token and /sim/pay must not face a network.
	Host string `env:"HOST, default=127.0.0.1"`
	// The simulator's own port (0: any free one), unless SIM_URL names a
	// simulator running elsewhere.
	SimPort     int      `env:"SIM_PORT, default=8090"`
	SimURL      string   `env:"SIM_URL"`
	DataDir     string   `env:"DATA_DIR, default=./.data"`
	MongoURI    string   `env:"MONGODB_URI"`
	Database    string   `env:"MONGODB_DATABASE, default=cloudpay"`
	AdminTokens []string `env:"ADMIN_TOKENS, default=dev-admin-token"`
	SubMchID    string   `env:"WECHAT_SUB_MCH_ID, default=1900000109"`
	EnvID       string   `env:"CLOUDHOSTING_ENV_ID, default=local-env"`
	LogLevel    string   `env:"LOG_LEVEL, default=info"`
	// Locally nothing sits in front to set X-WX-SOURCE; curl is the caller.
	RequireWXSource bool `env:"REQUIRE_WX_SOURCE, default=false"`
	// cloudhosting or v3; v3 runs the official SDK against the simulator
	// with its development keys.
	Channel string `env:"PAY_CHANNEL, default=cloudhosting"`
	// Scene report infos for transfers (scene 1000 needs these two).
	TransferReportInfos string `env:"WECHATPAY_TRANSFER_REPORT_INFOS, default=活动名称=余额提现;奖励说明=用户提现"`
	// close-expired runs on a ticker locally; 0 turns it off.
	JobInterval time.Duration `env:"JOB_INTERVAL, default=1m"`
	JobToken    string        `env:"JOB_TOKEN, default=dev-job-token"`
	Job         job.Config
	Outbox      outbox.Config // BUSINESS_NOTIFY_URL empty: events stay in the outbox
	Payment     payment.Config
	Refund      refund.Config
	Withdraw    withdraw.Config
}

func main() {
	if err := realMain(context.Background(), os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "local:", err)
		os.Exit(1)
	}
}

func realMain(ctx context.Context, args []string) error {
	var cfg config
	if err := serve.Load(ctx, &cfg); err != nil {
		return err
	}
	switch strings.Join(args, " ") {
	case "":
		return run(ctx, cfg)
	case "demo":
		return demo(ctx, cfg, os.Stdout)
	default:
		return fmt.Errorf("usage: local [demo] (the simulator alone: go run ./cmd/wechatsim)")
	}
}

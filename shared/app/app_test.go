package app_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cloudpay/cloudpay/shared/app"
	"github.com/cloudpay/cloudpay/shared/httpapi"
	"github.com/cloudpay/cloudpay/shared/payment"
	"github.com/cloudpay/cloudpay/shared/serve"
	"github.com/cloudpay/cloudpay/shared/storetest"
	"github.com/cloudpay/cloudpay/shared/wechatsim"
)

// These tests set the process environment, so none of them is parallel.

// unreachable is a store address nothing answers: a build that gets as far
// as connecting fails on it, so an error naming a setting instead proves
// the setting was checked first.
const unreachable = "mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=200&connectTimeoutMS=200"

// cloudHosting is a complete Cloud Hosting deployment without any API v3
// setting.
func cloudHosting(storeURI, database string) map[string]string {
	return map[string]string{
		"MONGODB_URI": storeURI, "MONGODB_DATABASE": database,
		"ADMIN_TOKENS": "adm-token", "JOB_TOKEN": "job-token",
		"PAY_CHANNEL": "cloudhosting", "WECHAT_SUB_MCH_ID": wechatsim.DevMchID, "CLOUDHOSTING_ENV_ID": "test-env",
	}
}

// v3Keys are complete API v3 settings: the simulator's development keys.
var v3Keys = map[string]string{
	"WECHATPAY_MCH_ID": wechatsim.DevMchID, "WECHATPAY_APPID": wechatsim.DefaultAppID,
	"WECHATPAY_MCH_SERIAL": wechatsim.DevMerchantSerial, "WECHATPAY_PRIVATE_KEY": wechatsim.DevMerchantPrivateKeyPEM,
	"WECHATPAY_APIV3_KEY": wechatsim.DevAPIv3Key, "WECHATPAY_PUBLIC_KEY": wechatsim.DevPlatformPublicKeyPEM,
	"WECHATPAY_PUBLIC_KEY_ID": wechatsim.DevPublicKeyID, "WECHATPAY_NOTIFY_URL": "https://pay.example.com/callbacks/v3",
	"WECHATPAY_TRANSFER_REPORT_INFOS": "活动名称=余额提现;奖励说明=用户提现",
}

func with(base map[string]string, more ...map[string]string) map[string]string {
	out := map[string]string{}
	for _, m := range append([]map[string]string{base}, more...) {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// setenv makes vars the whole environment the functions see: every
// variable any function reads is set, empty (which counts as unset) unless
// vars gives it, so nothing leaks in from the shell running the tests.
func setenv(t *testing.T, vars map[string]string) {
	t.Helper()
	for _, name := range envNames(reflect.TypeFor[app.CloseExpiredConfig](), reflect.TypeFor[app.WithdrawConfig]()) {
		t.Setenv(name, "")
	}
	for k, v := range vars {
		t.Setenv(k, v)
	}
}

// envNames lists the env tags of the config structs, nested ones included.
func envNames(types ...reflect.Type) []string {
	var names []string
	for _, typ := range types {
		for i := range typ.NumField() {
			f := typ.Field(i)
			if name, _, _ := strings.Cut(f.Tag.Get("env"), ","); name != "" {
				names = append(names, name)
			} else if f.Type.Kind() == reflect.Struct {
				names = append(names, envNames(f.Type)...)
			}
		}
	}
	return names
}

// loader loads a function's configuration from the environment, as Main
// does, and returns what builds it from that configuration alone.
type loader func(t *testing.T) func(ctx context.Context, opts ...app.Option) (*app.Function, error)

func load[C any](build func(context.Context, C, ...app.Option) (*app.Function, error)) loader {
	return func(t *testing.T) func(ctx context.Context, opts ...app.Option) (*app.Function, error) {
		t.Helper()
		var cfg C
		if err := serve.Load(context.Background(), &cfg); err != nil {
			t.Fatalf("load: %v", err)
		}
		return func(ctx context.Context, opts ...app.Option) (*app.Function, error) { return build(ctx, cfg, opts...) }
	}
}

// channelFunctions are the functions that read PAY_CHANNEL.
var channelFunctions = []struct {
	name string
	load loader
}{
	{"create-payment", load(app.CreatePayment)},
	{"payment-callback", load(app.PaymentCallback)},
	{"refund", load(app.Refund)},
	{"close-expired", load(app.CloseExpired)},
}

func build(t *testing.T, l loader, opts ...app.Option) (*app.Function, error) {
	t.Helper()
	f, err := l(t)(context.Background(), opts...)
	if err == nil {
		t.Cleanup(f.Close)
	}
	return f, err
}

// Only the chosen channel's settings are required, and a missing one is
// named (never its value) before anything connects.
func TestChannelSettingsAreCheckedWhenChosen(t *testing.T) {
	for _, fn := range channelFunctions {
		t.Run(fn.name, func(t *testing.T) {
			for _, tc := range []struct {
				name string
				env  map[string]string
				want []string
			}{
				{"cloudhosting without its merchant", with(cloudHosting(unreachable, "x"), map[string]string{"WECHAT_SUB_MCH_ID": ""}),
					[]string{"WECHAT_SUB_MCH_ID is required when PAY_CHANNEL=cloudhosting"}},
				{"v3 without its keys", with(cloudHosting(unreachable, "x"), map[string]string{"PAY_CHANNEL": "v3"}),
					[]string{"PAY_CHANNEL=v3", "WECHATPAY_MCH_ID is required", "WECHATPAY_APIV3_KEY is required", "WECHATPAY_NOTIFY_URL is required"}},
				{"v3 with a wrong key", with(cloudHosting(unreachable, "x"), v3Keys, map[string]string{"PAY_CHANNEL": "v3", "WECHATPAY_APIV3_KEY": "short-Secret-value"}),
					[]string{"WECHATPAY_APIV3_KEY must be exactly 32 bytes"}},
				{"unknown channel", with(cloudHosting(unreachable, "x"), map[string]string{"PAY_CHANNEL": "v2"}),
					[]string{`PAY_CHANNEL must be "cloudhosting" or "v3", not "v2"`}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					setenv(t, tc.env)
					_, err := build(t, fn.load)
					if err == nil {
						t.Fatal("built without the channel's settings")
					}
					for _, want := range tc.want {
						if !strings.Contains(err.Error(), want) {
							t.Errorf("error %q lacks %q", err, want)
						}
					}
					if strings.Contains(err.Error(), "Secret") || strings.Contains(err.Error(), "mongodb") {
						t.Errorf("error %q shows a value or got as far as the store", err)
					}
				})
			}
		})
	}
}

// A Cloud Hosting deployment needs no WECHATPAY_* setting: each function
// builds and answers, without a v3 client or withdrawals; payment-callback
// then has no v3 notifications to verify.
func TestCloudHostingNeedsNoAPIv3Settings(t *testing.T) {
	store := storetest.Config(t)
	for _, fn := range channelFunctions {
		t.Run(fn.name, func(t *testing.T) {
			setenv(t, cloudHosting(store.URI, store.Database))
			f, err := build(t, fn.load)
			if err != nil {
				t.Fatal(err)
			}
			if f.V3 != nil || f.Withdrawals != nil || f.Store == nil || f.Handler == nil {
				t.Fatalf("built %+v, want no v3 client nor withdrawals, a store and a handler", f)
			}
			if code := call(f.Handler, "GET", "/healthz"); code != http.StatusOK {
				t.Errorf("GET /healthz = %d", code)
			}
			if fn.name == "payment-callback" {
				if code := call(f.Handler, "POST", "/callbacks/v3"); code != http.StatusNotFound {
					t.Errorf("POST /callbacks/v3 without a v3 client = %d, want 404", code)
				}
			}
		})
	}
}

// With WECHATPAY_MCH_ID set beside Cloud Hosting, the functions that settle
// transfers get a v3 client and withdrawals; with it set but the rest
// missing, they refuse to start and say what is missing.
func TestTransfersWhenWeChatPayMerchantIsSet(t *testing.T) {
	store := storetest.Config(t)
	for _, fn := range []struct {
		name string
		load loader
	}{{"payment-callback", load(app.PaymentCallback)}, {"close-expired", load(app.CloseExpired)}} {
		t.Run(fn.name, func(t *testing.T) {
			setenv(t, with(cloudHosting(store.URI, store.Database), v3Keys))
			f, err := build(t, fn.load)
			if err != nil {
				t.Fatal(err)
			}
			if f.V3 == nil || f.Withdrawals == nil {
				t.Fatalf("v3 client %v, withdrawals %v: want both", f.V3, f.Withdrawals)
			}
			if fn.name == "payment-callback" {
				if code := call(f.Handler, "POST", "/callbacks/v3"); code != http.StatusUnauthorized {
					t.Errorf("unsigned POST /callbacks/v3 = %d, want 401 (verified, refused)", code)
				}
			}

			setenv(t, with(cloudHosting(unreachable, "x"), v3Keys, map[string]string{"WECHATPAY_APIV3_KEY": ""}))
			_, err = build(t, fn.load)
			if err == nil || !strings.Contains(err.Error(), "WECHATPAY_APIV3_KEY is required") {
				t.Fatalf("error %v, want one naming WECHATPAY_APIV3_KEY", err)
			}
		})
	}
}

// withdraw needs the API v3 settings whatever PAY_CHANNEL says.
func TestWithdrawNeedsAPIv3(t *testing.T) {
	setenv(t, cloudHosting(unreachable, "x"))
	_, err := build(t, load(app.Withdraw))
	if err == nil || !strings.Contains(err.Error(), "transfers need API v3") || !strings.Contains(err.Error(), "WECHATPAY_MCH_ID is required") {
		t.Fatalf("error %v, want one naming WECHATPAY_MCH_ID", err)
	}

	store := storetest.Config(t)
	setenv(t, with(map[string]string{"MONGODB_URI": store.URI, "MONGODB_DATABASE": store.Database, "ADMIN_TOKENS": "adm-token"}, v3Keys))
	f, err := build(t, load(app.Withdraw))
	if err != nil {
		t.Fatal(err)
	}
	if f.V3 == nil || f.Withdrawals == nil || f.Payments != nil || f.Refunds != nil {
		t.Fatalf("built %+v, want a v3 client and withdrawals only", f)
	}
}

// A builder takes only its config struct: changing the environment after
// loading changes nothing it builds.
func TestBuildersReadOnlyTheirConfig(t *testing.T) {
	store := storetest.Config(t)
	for _, fn := range append(channelFunctions, struct {
		name string
		load loader
	}{"withdraw", load(app.Withdraw)}) {
		t.Run(fn.name, func(t *testing.T) {
			vars := cloudHosting(store.URI, store.Database)
			if fn.name == "withdraw" {
				vars = with(vars, v3Keys)
			}
			setenv(t, vars)
			buildLoaded := fn.load(t)
			// Everything that would fail or change the build, were it read now.
			setenv(t, with(v3Keys, map[string]string{"PAY_CHANNEL": "v2", "MONGODB_URI": unreachable, "JOB_TRIGGER": "cron"}))
			f, err := buildLoaded(context.Background())
			if err != nil {
				t.Fatalf("build read the environment again: %v", err)
			}
			defer f.Close()
			if fn.name != "withdraw" && f.V3 != nil {
				t.Error("WECHATPAY_* set after loading gave the function a v3 client")
			}
		})
	}
}

// close-expired answers schedule events on Lambda unless JOB_TRIGGER=http.
func TestCloseExpiredTrigger(t *testing.T) {
	store := storetest.Config(t)
	for _, tc := range []struct {
		trigger   string
		scheduled bool
		err       string
	}{{"", true, ""}, {"schedule", true, ""}, {"http", false, ""}, {"cron", false, "JOB_TRIGGER must be schedule or http"}} {
		t.Run("JOB_TRIGGER="+tc.trigger, func(t *testing.T) {
			setenv(t, with(cloudHosting(store.URI, store.Database), map[string]string{"JOB_TRIGGER": tc.trigger}))
			f, err := build(t, load(app.CloseExpired))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (f.Scheduled != nil) != tc.scheduled || f.Job == nil || f.Outbox == nil {
				t.Fatalf("scheduled %v, job %v, outbox %v", f.Scheduled != nil, f.Job, f.Outbox)
			}
		})
	}
}

// Functions built on one shared store (WithStore) see each other's writes
// and leave it open on Close; WithClock reaches the services.
func TestSharedStoreAndClock(t *testing.T) {
	shared := storetest.New(t)
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ch := app.ChannelConfig{Channel: "cloudhosting"}
	ch.CloudHosting.SubMchID = wechatsim.DevMchID
	ctx := context.Background()
	create, err := app.CreatePayment(ctx, app.CreatePaymentConfig{Channel: ch, Admin: httpapi.AdminConfig{Tokens: []string{"test-admin"}}}, app.WithStore(shared), app.WithClock(func() time.Time { return at }))
	if err != nil {
		t.Fatal(err)
	}
	o, _, err := create.Payments.CreateOrder(ctx, payment.NewOrder{OutTradeNo: "APPTEST0001", OpenID: "oAppTestUser0001", AmountFen: 100, Description: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if !o.CreatedAt.Equal(at) {
		t.Errorf("order created at %s, want the given clock's %s", o.CreatedAt, at)
	}
	create.Close()
	if create.Store != shared {
		t.Error("create-payment opened a store of its own")
	}

	cb, err := app.PaymentCallback(ctx, app.PaymentCallbackConfig{Channel: ch}, app.WithStore(shared))
	if err != nil {
		t.Fatal(err)
	}
	defer cb.Close()
	if got, err := cb.Payments.Order(ctx, "APPTEST0001"); err != nil || got.Status != o.Status {
		t.Fatalf("payment-callback on the shared store, after create-payment closed: %+v %v", got, err)
	}
}

func call(h http.Handler, method, path string) int {
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader("{}")))
	return rec.Code
}

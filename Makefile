# cloudpay — `make run` starts everything locally; `make test` runs every test.
GO        ?= go
FUNCTIONS := $(filter-out local,$(patsubst functions/%/main.go,%,$(wildcard functions/*/main.go)))
FUNCTION  ?= create-payment
BUILDFLAGS = -trimpath -ldflags "-s -w" -tags nomsgpack
FUZZTIME  ?= 20s
# staticcheck for make lint, pinned (.ci/run installs the same version with go install).
STATICCHECK_VERSION = v0.8.2
STATICCHECK_PKG     = honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

.PHONY: run sim demo test sdkwalk-deps test-short screenshots fuzz build check-deps bench lint image clean

run: ## all functions + embedded store on :8080, the WeChat Pay simulator on :8090
	$(GO) run ./functions/local

sim: ## the WeChat Pay simulator alone on :8090 (docs/simulator.md)
	$(GO) run ./cmd/wechatsim

demo: ## walk one whole payment against a private local stack
	$(GO) run ./functions/local demo

# Tests mostly wait (on the store, which runs in its own process, and on
# the simulator over HTTP), so more of them run at once than there are cores.
TESTPARALLEL ?= 8

# The simulator's non-Go SDK walk needs its npm packages (pinned by package-lock.json);
# without node and npm, or offline, the walk is skipped (CI sets CLOUDPAY_REQUIRE_SDKWALK=1).
SDKWALK = shared/wechatsim/testdata/sdkwalk

sdkwalk-deps:
	@if [ ! -d $(SDKWALK)/node_modules ] && command -v npm >/dev/null 2>&1; then \
		npm ci --prefix $(SDKWALK) --ignore-scripts --no-audit --no-fund --loglevel=error || echo "npm ci failed: the SDK walk will be skipped" >&2; \
	fi

# go vet is make lint's (CI runs both): here it would only add its own compile.
test: sdkwalk-deps ## every test: rules, end-to-end, concurrency, faults, crash points, fuzz seeds, an npm SDK against the simulator
	$(GO) test -race -count=1 -parallel $(TESTPARALLEL) -timeout 20m ./...

test-short: ## fast lane: every package in -short mode, no race detector
	$(GO) test -short -count=1 ./...

# The console test writes its screenshots to bin/console-screenshots (gitignored);
# this refreshes the committed ones the README links. It needs /usr/bin/chromium and
# /usr/bin/chromedriver: without them the test would skip and refresh nothing.
screenshots: ## refresh docs/console/*.png and docs/checkout-*.png from the browser tests in headless Chromium
	@test -x /usr/bin/chromium && test -x /usr/bin/chromedriver || { echo "make screenshots: needs /usr/bin/chromium and /usr/bin/chromedriver (apt-get install chromium chromium-driver)" >&2; exit 1; }
	CONSOLE_SCREENSHOTS=docs/console $(GO) test -count=1 -run '^(TestConsoleInChromium|TestConsoleRolesInChromium)$$' -v ./functions/local
	CLOUDPAY_SCREENSHOTS=1 $(GO) test -count=1 -run '^TestCheckoutInChromium$$' -v ./functions/local

fuzz: ## run each fuzz target for FUZZTIME
	$(GO) test -run='^$$' -fuzz=FuzzDecodeRequests -fuzztime=$(FUZZTIME) ./shared/httpapi
	$(GO) test -run='^$$' -fuzz='^FuzzParsePayCallback$$' -fuzztime=$(FUZZTIME) ./shared/cloudhosting
	$(GO) test -run='^$$' -fuzz='^FuzzParseRefundCallback$$' -fuzztime=$(FUZZTIME) ./shared/cloudhosting
	@for t in FuzzParseTrade FuzzParseFundFlow FuzzParseAlipayTrade FuzzParseAlipayTradeZip FuzzGBK; do \
		$(GO) test -run='^$$' -fuzz="^$$t\$$" -fuzztime=$(FUZZTIME) ./shared/bill || exit 1; \
	done

build: ## static, stripped binaries of the deployable functions into bin/
	@mkdir -p bin
	@for f in $(FUNCTIONS); do \
		echo "build $$f"; \
		CGO_ENABLED=0 $(GO) build $(BUILDFLAGS) -o bin/$$f ./functions/$$f || exit 1; \
	done
	@ls -l bin

check-deps: ## fail if a deployable function links FerretDB or a simulator (its keys are public)
	@for f in $(FUNCTIONS); do \
		if $(GO) list -deps ./functions/$$f | grep -qi ferretdb; then echo "functions/$$f links FerretDB"; exit 1; fi; \
		if $(GO) list -deps ./functions/$$f | grep -q 'cloudpay/shared/[a-z]*sim$$'; then echo "functions/$$f links a simulator"; exit 1; fi; \
	done; echo "no deployable function links FerretDB or a simulator"

bench: ## binary and image sizes, start-up, idle RSS, callback storm, refund batch -> bench/results.md (BENCHFLAGS="-runs 5 ..."); Go benchmarks
	$(GO) run ./bench/harness $(BENCHFLAGS)
	$(GO) test -run='^$$' -bench=. -benchmem ./bench/

# gofmt checks the Go files git knows or would add (not deleted ones) and fails on its
# own errors too (a file that does not parse). staticcheck runs from go install's
# directory when that holds the pinned version, else through go run pkg@version
# (neither touches go.mod).
lint: ## gofmt, go vet, staticcheck
	@files=$$(git ls-files -co --exclude-standard -- '*.go' | while read -r f; do [ ! -e "$$f" ] || echo "$$f"; done); \
	[ -n "$$files" ] || { echo "lint: no Go files" >&2; exit 1; }; \
	out=$$(gofmt -l $$files) || exit 1; \
	[ -z "$$out" ] || { echo "gofmt -l (run gofmt -w on these):"; echo "$$out"; exit 1; }
	$(GO) vet ./...
	@bin="$$($(GO) env GOBIN)"; [ -n "$$bin" ] || bin="$$($(GO) env GOPATH | cut -d: -f1)/bin"; \
	if "$$bin/staticcheck" -version 2>/dev/null | grep -qF '($(STATICCHECK_VERSION:v%=%))'; then \
		echo "$$bin/staticcheck ./..."; "$$bin/staticcheck" ./...; \
	else \
		echo "$(GO) run $(STATICCHECK_PKG) ./..."; $(GO) run $(STATICCHECK_PKG) ./...; \
	fi

# Container images (Dockerfile header): FUNCTION=<name> for one function, FUNCTION=all for
# the all-in-one image (FUNCTION chosen at run time). With a Docker engine, docker builds
# from source; without one, podman builds the prebuilt stage from `make build`'s binaries,
# the host's CA certificates and zone data. IMAGE_BUILDER=docker|podman forces one.
IMAGE         ?= cloudpay-$(FUNCTION)
IMAGE_BUILDER ?=
IMAGE_CONTEXT  = bin/image/$(FUNCTION)
CA_CERTS      ?= /etc/ssl/certs/ca-certificates.crt
ZONEINFO      ?= /usr/share/zoneinfo
.PHONY: image image-docker image-podman image-context image-function-check

image: ## container image: make image FUNCTION=create-payment, FUNCTION=all (every function, FUNCTION chosen at run time), or FUNCTION=wechatsim (the simulator)
	@builder='$(IMAGE_BUILDER)'; \
	if [ -z "$$builder" ]; then \
		if docker info >/dev/null 2>&1; then builder=docker; \
		elif command -v podman >/dev/null 2>&1; then builder=podman; \
		else echo "make image: no Docker engine and no podman (apt-get install podman)" >&2; exit 1; fi; \
	fi; \
	$(MAKE) --no-print-directory image-$$builder

# FUNCTION=wechatsim: the simulator's image (Dockerfile targets wechatsim, wechatsim-prebuilt).
IMAGE_TARGET          = $(if $(filter wechatsim,$(FUNCTION)),wechatsim,runtime)
IMAGE_TARGET_PREBUILT = $(if $(filter wechatsim,$(FUNCTION)),wechatsim-prebuilt,prebuilt)

image-docker: image-function-check
	docker build --build-arg FUNCTION=$(FUNCTION) --target $(IMAGE_TARGET) -t $(IMAGE) .

image-podman: image-context
	podman build --target $(IMAGE_TARGET_PREBUILT) -f Dockerfile -t $(IMAGE) $(IMAGE_CONTEXT)
	@podman image inspect --format '$(IMAGE): {{.Size}} bytes' $(IMAGE)

# bin/image/<FUNCTION>: the prebuilt stage's context, copied to / as it is: laid out as
# the Dockerfile's build stage lays out /out/rootfs (functions/local never goes in).
image-context: image-function-check $(if $(filter wechatsim,$(FUNCTION)),,build)
	@test "$$($(GO) env GOOS)" = linux || { echo "image-context: make build must make linux binaries; use docker" >&2; exit 1; }
	rm -rf $(IMAGE_CONTEXT)
	mkdir -p $(IMAGE_CONTEXT)/etc/ssl/certs $(IMAGE_CONTEXT)/usr/share/zoneinfo/Asia
	cp $(CA_CERTS) $(IMAGE_CONTEXT)/etc/ssl/certs/ca-certificates.crt
	cp $(ZONEINFO)/Asia/Shanghai $(IMAGE_CONTEXT)/usr/share/zoneinfo/Asia/Shanghai
	echo 'nonroot:x:65532:65532::/:/sbin/nologin' > $(IMAGE_CONTEXT)/etc/passwd
	echo 'nonroot:x:65532:' > $(IMAGE_CONTEXT)/etc/group
ifeq ($(FUNCTION),wechatsim)
	CGO_ENABLED=0 $(GO) build $(BUILDFLAGS) -o $(IMAGE_CONTEXT)/wechatsim ./cmd/wechatsim
	mkdir -m 1777 $(IMAGE_CONTEXT)/data
else ifeq ($(FUNCTION),all)
	mkdir -p $(IMAGE_CONTEXT)/app
	cp $(addprefix bin/,$(FUNCTIONS)) $(IMAGE_CONTEXT)/app/
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o $(IMAGE_CONTEXT)/app/launcher ./deploy/launcher
	ln -s app/launcher $(IMAGE_CONTEXT)/function
else
	cp bin/$(FUNCTION) $(IMAGE_CONTEXT)/function
endif

image-function-check:
	@test -n "$(filter $(FUNCTION),$(FUNCTIONS) all wechatsim)" || { echo "FUNCTION=$(FUNCTION): one of $(FUNCTIONS), all, or wechatsim (the simulator)" >&2; exit 1; }

clean:
	rm -rf bin .data

# SAM's makefile build method calls build-<LogicalId> with ARTIFACTS_DIR set.
build-CreatePaymentFunction:
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build $(BUILDFLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/create-payment
build-PaymentCallbackFunction:
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build $(BUILDFLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/payment-callback
build-RefundFunction:
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build $(BUILDFLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/refund
build-WithdrawFunction:
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build $(BUILDFLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/withdraw
build-CloseExpiredFunction:
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build $(BUILDFLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/close-expired

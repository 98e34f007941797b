# cloudpay — `make run` starts everything locally; `make test` runs every test.
GO        ?= go
FUNCTIONS := $(filter-out local,$(patsubst functions/%/main.go,%,$(wildcard functions/*/main.go)))
FUNCTION  ?= create-payment
BUILDFLAGS = -trimpath -ldflags "-s -w" -tags nomsgpack
FUZZTIME  ?= 20s

.PHONY: run demo test test-short fuzz build check-deps bench lint image clean

run: ## all functions + embedded store + WeChat Pay simulator on :8080
	$(GO) run ./functions/local

demo: ## walk one whole payment against a private local stack
	$(GO) run ./functions/local demo

test: ## every test: unit, end-to-end, concurrency, faults, fuzz seeds
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 20m ./...

fuzz: ## run each fuzz target for FUZZTIME
	$(GO) test -run='^$$' -fuzz=FuzzDecodeRequests -fuzztime=$(FUZZTIME) ./shared/httpapi
	$(GO) test -run='^$$' -fuzz=FuzzParsePayCallback -fuzztime=$(FUZZTIME) ./shared/cloudhosting

build: ## static, stripped binaries of the deployable functions into bin/
	@mkdir -p bin
	@for f in $(FUNCTIONS); do \
		echo "build $$f"; \
		CGO_ENABLED=0 $(GO) build $(BUILDFLAGS) -o bin/$$f ./functions/$$f || exit 1; \
	done
	@ls -l bin

check-deps: ## fail if a deployable function links FerretDB
	@for f in $(FUNCTIONS); do \
		if $(GO) list -deps ./functions/$$f | grep -qi ferretdb; then echo "functions/$$f links FerretDB"; exit 1; fi; \
	done; echo "no deployable function links FerretDB"

bench: ## binary and image sizes, start-up, idle RSS, callback storm, refund batch -> bench/results.md (BENCHFLAGS="-runs 5 ..."); Go benchmarks
	$(GO) run ./bench/harness $(BENCHFLAGS)
	$(GO) test -run='^$$' -bench=. -benchmem ./bench/

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet ./...

image: ## container image of one function: make image FUNCTION=create-payment (needs docker)
	docker build --build-arg FUNCTION=$(FUNCTION) -t cloudpay-$(FUNCTION) .

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

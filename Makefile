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

image: ## container image: make image FUNCTION=create-payment, or FUNCTION=all (every function, FUNCTION chosen at run time)
	@builder='$(IMAGE_BUILDER)'; \
	if [ -z "$$builder" ]; then \
		if docker info >/dev/null 2>&1; then builder=docker; \
		elif command -v podman >/dev/null 2>&1; then builder=podman; \
		else echo "make image: no Docker engine and no podman (apt-get install podman)" >&2; exit 1; fi; \
	fi; \
	$(MAKE) --no-print-directory image-$$builder

image-docker: image-function-check
	docker build --build-arg FUNCTION=$(FUNCTION) -t $(IMAGE) .

image-podman: image-context
	podman build --target prebuilt -f Dockerfile -t $(IMAGE) $(IMAGE_CONTEXT)
	@podman image inspect --format '$(IMAGE): {{.Size}} bytes' $(IMAGE)

# bin/image/<FUNCTION>: the prebuilt stage's context, copied to / as it is: laid out as
# the Dockerfile's build stage lays out /out/rootfs (functions/local never goes in).
image-context: image-function-check build
	@test "$$($(GO) env GOOS)" = linux || { echo "image-context: make build must make linux binaries; use docker" >&2; exit 1; }
	rm -rf $(IMAGE_CONTEXT)
	mkdir -p $(IMAGE_CONTEXT)/etc/ssl/certs $(IMAGE_CONTEXT)/usr/share/zoneinfo/Asia
	cp $(CA_CERTS) $(IMAGE_CONTEXT)/etc/ssl/certs/ca-certificates.crt
	cp $(ZONEINFO)/Asia/Shanghai $(IMAGE_CONTEXT)/usr/share/zoneinfo/Asia/Shanghai
	echo 'nonroot:x:65532:65532::/:/sbin/nologin' > $(IMAGE_CONTEXT)/etc/passwd
	echo 'nonroot:x:65532:' > $(IMAGE_CONTEXT)/etc/group
ifeq ($(FUNCTION),all)
	mkdir -p $(IMAGE_CONTEXT)/app
	cp $(addprefix bin/,$(FUNCTIONS)) $(IMAGE_CONTEXT)/app/
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w" -o $(IMAGE_CONTEXT)/app/launcher ./deploy/launcher
	ln -s app/launcher $(IMAGE_CONTEXT)/function
else
	cp bin/$(FUNCTION) $(IMAGE_CONTEXT)/function
endif

image-function-check:
	@test -n "$(filter $(FUNCTION),$(FUNCTIONS) all)" || { echo "FUNCTION=$(FUNCTION): one of $(FUNCTIONS), or all" >&2; exit 1; }

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

# Seal — run `make help` for the targets.
SHELL := /usr/bin/env bash
.DEFAULT_GOAL := help

K8S_VERSION      ?= v1.36.3
SEAL_K8S_TOOLS   ?= $(HOME)/.cache/seal/k8s/$(K8S_VERSION)
HELM_VERSION     ?= v3.22.0
CONTROLLER_TOOLS_VERSION ?= v0.23.0
STATICCHECK_VERSION      ?= v0.8.2
# Go-built tools are cached outside the clone, one folder per version, so a fresh clone (CI's)
# reuses them.
TOOLS            ?= $(HOME)/.cache/seal/tools
CONTROLLER_GEN   := $(TOOLS)/controller-gen-$(CONTROLLER_TOOLS_VERSION)/controller-gen
STATICCHECK      := $(TOOLS)/staticcheck-$(STATICCHECK_VERSION)/staticcheck
HELM             := $(TOOLS)/helm-$(HELM_VERSION)/helm
GO_TEST_FLAGS    ?= -race -count=1
# Where make build writes the binaries.
BIN              ?= bin
# The release version: the chart's appVersion (v-prefixed, v0.1.0), so `make images` pushes the
# tag the chart runs by default. Override with VERSION=v0.2.0-rc.1 (TAG is an older alias).
VERSION          ?= $(or $(TAG),$(shell sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}.*/\1/p' charts/seal/Chart.yaml))
# Every binary reports VERSION (--version, seal.dev/status, sealctl version); make images sets
# the same for the images (hack/ociimage).
VERSION_LDFLAGS  := -X github.com/seal-dev/seal/internal/version.Version=$(VERSION)
# The oldest Kubernetes the chart supports (its kubeVersion), for helm template.
CHART_KUBE_VERSION := 1.29.0
export SEAL_K8S_TOOLS
export SEAL_HELM := $(HELM)

.PHONY: help
help: ## Show the targets
	@awk 'BEGIN{FS=":.*## "} /^[a-zA-Z0-9_-]+:.*## /{printf "  %-12s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build seal-rot, seal-webhook, seal-init, seal-agent, sealctl and seal-keyprovider into bin/ (--version prints VERSION)
	CGO_ENABLED=0 go build -trimpath -ldflags "$(VERSION_LDFLAGS)" -o $(BIN)/seal-rot ./cmd/rot
	CGO_ENABLED=0 go build -trimpath -ldflags "$(VERSION_LDFLAGS)" -o $(BIN)/seal-webhook ./cmd/webhook
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w $(VERSION_LDFLAGS)" -o $(BIN)/seal-init ./cmd/init
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w $(VERSION_LDFLAGS)" -o $(BIN)/seal-agent ./cmd/agent
	CGO_ENABLED=0 go build -trimpath -ldflags "$(VERSION_LDFLAGS)" -o $(BIN)/sealctl ./cmd/sealctl
	CGO_ENABLED=0 go build -trimpath -ldflags "-s -w $(VERSION_LDFLAGS)" -o $(BIN)/seal-keyprovider ./cmd/keyprovider

.PHONY: build-pkcs11
build-pkcs11: ## Build bin/seal-rot with cgo for this machine, for --key-provider pkcs11 (docs/key-custody.md)
	CGO_ENABLED=1 go build -trimpath -ldflags "$(VERSION_LDFLAGS)" -o $(BIN)/seal-rot ./cmd/rot

.PHONY: k8s-tools
k8s-tools: ## Build etcd, kube-apiserver, kube-controller-manager, kubelet into $(SEAL_K8S_TOOLS) (only when absent)
	@hack/k8s-tools.sh "$(SEAL_K8S_TOOLS)"

.PHONY: node-tools
node-tools: ## Install containerd and runc when missing (root) and build the pause image, for the real-node tests
	@hack/node-tools.sh

.PHONY: test-tools
test-tools: ## Install the other real parts tests need when missing (hack/test-tools.d: swtpm, SoftHSM2, age, ...)
	@hack/test-tools.sh

.PHONY: images
images: ## Build seal-rot, seal-webhook, seal-init images (linux/amd64+arm64) and push: make images REGISTRY=host/seal [VERSION=v0.1.0] [SIGN_KEY=cosign.key] [DRY_RUN=1]
	@test -n "$(REGISTRY)" || { echo "images: set REGISTRY, e.g. make images REGISTRY=registry.example.com/seal VERSION=v0.1.0"; exit 1; }
	@go run ./hack/images -registry "$(REGISTRY)" -tag "$(VERSION)" $(if $(SIGN_KEY),-sign-key "$(SIGN_KEY)") $(if $(DRY_RUN),-dry-run)

.PHONY: test
test: k8s-tools node-tools test-tools verify $(HELM) ## Everything: generated-code drift check, unit, integration and e2e tests on a real control plane, with -race
	go test $(GO_TEST_FLAGS) -timeout 25m ./...

.PHONY: chaos
chaos: chaos-webhook
chaos: k8s-tools ## Fault drills at full length (issue #25): kill -9 during state writes 200 times, HA ROT 10,000 redemptions with a kill -9, store faults, rotation drill (test/chaos), webhook outages (chaos-webhook); make test runs short forms
	SEAL_CHAOS_ROUNDS=200 go test $(GO_TEST_FLAGS) -run 'TestKillDuringWrites' ./internal/store/
	set -o pipefail; SEAL_CHAOS_FULL=1 go test $(GO_TEST_FLAGS) -timeout 40m -v -run 'TestHAROTUnderLoad|TestAPIServerOutage|TestStateDirFull|TestRotationDrill' ./test/chaos/ | grep -E '^(=== RUN|--- |ok|FAIL|PASS)|FIGURES'

.PHONY: chaos-webhook
chaos-webhook: k8s-tools ## Webhook outages at full rate (SEAL_OUTAGE_RATE pod creations/s, default 500, 30 s each; the faults at 80% of what the API server sustains when lower); make test runs 30/s for 6 s
	SEAL_OUTAGE_RATE=$${SEAL_OUTAGE_RATE:-500} go test $(GO_TEST_FLAGS) -timeout 20m -run '^TestWebhookOutage$$' -v ./test/e2e/

.PHONY: soak soak-redeem
soak: soak-webhook soak-redeem ## Soak tests (issue #25): long runs checking that RSS and goroutines stay flat

soak-redeem: ## Soak: 200,000 redemptions against a real seal-rot (SEAL_SOAK_REDEMPTIONS); make test runs 5,000
	SEAL_SOAK_REDEMPTIONS=$${SEAL_SOAK_REDEMPTIONS:-200000} go test $(GO_TEST_FLAGS) -timeout 60m -run '^TestSoakRedeem$$' -v ./test/e2e/

.PHONY: e2e-long
e2e-long: k8s-tools node-tools test-tools ## Real-node tests that wait for real lifetimes (a projected token's 10 minutes): about 15 minutes
	SEAL_E2E_LONG=1 go test $(GO_TEST_FLAGS) -timeout 30m -run 'Long$$' ./test/e2e/

.PHONY: test-unit
test-unit: ## Fast tests only: no control plane (go test -short)
	go test $(GO_TEST_FLAGS) -short ./...

.PHONY: e2e
e2e: k8s-tools node-tools $(HELM) ## End-to-end tests on the real control plane
	go test $(GO_TEST_FLAGS) -timeout 25m ./test/e2e/...

.PHONY: bench
bench: ## Benchmarks (the speed goals of the issues)
	go test -run '^$$' -bench . -benchmem ./...

.PHONY: soak-webhook
soak-webhook: k8s-tools ## The real seal-webhook under SEAL_SOAK_REVIEWS reviews (default 1,000,000): RSS, goroutines before/after
	go test -run '^$$' -bench 'ProcessSoak' -benchtime $${SEAL_SOAK_REVIEWS:-1000000}x -timeout 90m ./cmd/webhook/

.PHONY: fuzz
fuzz: ## Run every fuzz target for FUZZTIME each (default 10s), to the end; per-target summary, exit 1 if any failed (FUZZPARALLEL=1 for one worker, FUZZMATCH=REGEX for some targets)
	@hack/fuzz.sh $${FUZZTIME:-10s}

$(CONTROLLER_GEN):
	GOBIN=$(dir $@) go install sigs.k8s.io/controller-tools/cmd/controller-gen@$(CONTROLLER_TOOLS_VERSION)

$(HELM):
	GOBIN=$(dir $@) go install helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)

$(STATICCHECK):
	GOBIN=$(dir $@) go install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

.PHONY: generate
generate: $(CONTROLLER_GEN) ## Regenerate deepcopy code and CRD YAML
	$(CONTROLLER_GEN) object paths=./pkg/apis/...
	$(CONTROLLER_GEN) crd paths=./pkg/apis/... output:crd:dir=charts/seal/files/crds

.PHONY: manifests
manifests: $(HELM) ## Render manifests/seal.yaml from the chart (the plain install for kubectl apply -k manifests/)
	@{ echo "# Rendered from charts/seal by make manifests: edit the chart, not this file."; \
	  $(HELM) template seal charts/seal --namespace seal-system --include-crds --kube-version $(CHART_KUBE_VERSION) --set trustDomain=example.org; } > manifests/seal.yaml.tmp
	@mv manifests/seal.yaml.tmp manifests/seal.yaml

.PHONY: verify
verify: generate manifests ## Fail when generated files (deepcopy, CRDs, manifests/) drift from their sources
	@git diff --exit-code -- pkg/apis charts/seal/files/crds manifests/seal.yaml || { echo "generated files drift: run make generate manifests and commit"; exit 1; }
	@test -z "$$(git status --porcelain -- pkg/apis charts/seal/files/crds manifests/seal.yaml)" || { echo "untracked generated files: run make generate manifests and commit"; exit 1; }

.PHONY: lint
lint: $(STATICCHECK) ## gofmt, go vet, staticcheck
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt: files above need formatting"; exit 1; }
	go vet ./...
	$(STATICCHECK) ./...

DEMO_DIR ?= $(HOME)/.cache/seal/demo

.PHONY: demo
demo: k8s-tools node-tools build ## The whole story on a local control plane, then clean up
	go run ./test/demo --bin bin

.PHONY: demo-up
demo-up: k8s-tools node-tools build ## The demo, left running: prints the KUBECONFIG to explore with kubectl
	@mkdir -p $(DEMO_DIR) && rm -f $(DEMO_DIR)/ready
	@go build -o bin/seal-demo ./test/demo
	@nohup bin/seal-demo --bin bin --keep --dir $(DEMO_DIR)/run --ready-file $(DEMO_DIR)/ready > $(DEMO_DIR)/demo.log 2>&1 & echo $$! > $(DEMO_DIR)/pid
	@for i in $$(seq 1 300); do [ -f $(DEMO_DIR)/ready ] && break; kill -0 $$(cat $(DEMO_DIR)/pid) 2>/dev/null || { cat $(DEMO_DIR)/demo.log; exit 1; }; sleep 1; done
	@cat $(DEMO_DIR)/demo.log

.PHONY: demo-down
demo-down: ## Stop what make demo-up left running
	@if [ -f $(DEMO_DIR)/pid ]; then kill $$(cat $(DEMO_DIR)/pid) 2>/dev/null; while kill -0 $$(cat $(DEMO_DIR)/pid) 2>/dev/null; do sleep 1; done; rm -rf $(DEMO_DIR); echo "demo stopped"; else echo "no demo running"; fi

# Panels the demo cannot fill: it federates no trust domain, and its seal-webhook takes its
# serving certificate from --cert-dir (the expiry gauge is the managed certificate's).
DASHBOARD_ALLOW_EMPTY ?= Federated bundle age,Bundle refreshes / s,Serving certificate expiry (days left)

.PHONY: dashboard-check
dashboard-check: ## After make demo-up: evaluate every Grafana dashboard query on a real Prometheus scraping the demo's seal-rot and seal-webhook
	@bash hack/test-tools.d/promtool.sh
	go run ./hack/dashboardcheck --demo-log $(DEMO_DIR)/demo.log --allow-empty "$(DASHBOARD_ALLOW_EMPTY)"

DEV_CERT_DNS ?= localhost
DEV_CERT_IP  ?= 127.0.0.1

.PHONY: dev-certs
dev-certs: ## Development certificates for seal-webhook --cert-dir into certs/ (see certs/README.md)
	go run ./hack/devcerts --out certs --dns "$(DEV_CERT_DNS)" --ip "$(DEV_CERT_IP)"

.PHONY: clean
clean: ## Remove bin/
	rm -rf bin
